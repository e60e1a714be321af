package pluginhost

// Attacks from the red-team pass on the registry source, kept as tests: a stored set's files
// replaced by an older signed set's, a serving record naming another repository, stalled error
// and token bodies, concurrent reloads by reference over a store at its budget.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func keyOf(ref string) string { return strings.TrimPrefix(strings.Split(ref, "@")[1], "sha256:") }

func TestRedTeamSetDirTamper(t *testing.T) {
	reg := newFakeRegistry(t)
	key, priv := rtKey(t)
	newRef, _ := reg.publishWith(t, priv, 2000, hello, "team/set")
	oldRef, oldFiles := reg.publishWith(t, priv, 1000, "OLD\n", "team/set")
	_ = oldRef
	store := t.TempDir()
	h, _, err := openFrom(t, RegistryOptions{Ref: newRef, Store: store}, []TrustedKey{key})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first: %s serial %d", h.Report().Lockfile.Status, h.Report().Lockfile.Serial)
	h.Close()
	dir := filepath.Join(store, "sets", keyOf(newRef))
	os.Chmod(dir, 0o755)
	for name, data := range oldFiles {
		os.Remove(filepath.Join(dir, name))
		os.WriteFile(filepath.Join(dir, name), data, 0o444)
	}
	reg.server.Close()
	h2, logs, err := openFrom(t, RegistryOptions{Ref: newRef, Store: store}, []TrustedKey{key})
	if err != nil {
		t.Logf("refused: %v", err)
		return
	}
	r := h2.Report()
	t.Logf("after tamper: status=%s ref=%s serial=%d sha=%s plugins=%+v logs=%v", r.Lockfile.Status, r.Lockfile.Ref, r.Lockfile.Serial, r.Lockfile.Sha256, r.Plugins, logs)
	if r.Lockfile.Status == "accepted" && r.Lockfile.Serial == 1000 {
		t.Errorf("BROKEN: serving the older set's lockfile (serial 1000) under Ref %s", r.Lockfile.Ref)
	}
}

func TestRedTeamServingRecordOtherRepo(t *testing.T) {
	for _, signed := range []bool{true, false} {
		t.Run(fmt.Sprint("signed=", signed), func(t *testing.T) {
			reg := newFakeRegistry(t)
			key, priv := rtKey(t)
			keys := []TrustedKey{key}
			if !signed {
				priv, keys = nil, nil
			}
			ref, _ := reg.publishWith(t, priv, 1000, hello, "team/set")
			evil, _ := reg.publishWith(t, priv, 900, "EVIL\n", "evil/other")
			store := t.TempDir()
			h, _, err := openFrom(t, RegistryOptions{Ref: ref, Store: store}, keys)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.ReloadRef(evil); err != nil {
				t.Logf("ReloadRef(evil) refused as expected: %s", codeOf(err))
			}
			h.Close()
			rec, _ := json.Marshal(map[string]string{"from": ref, "serving": evil})
			os.WriteFile(filepath.Join(store, servingRecord), rec, 0o644)
			h2, logs, err := openFrom(t, RegistryOptions{Ref: ref, Store: store}, keys)
			if err != nil {
				t.Fatal(err)
			}
			r := h2.Report()
			t.Logf("status=%s ref=%s serial=%d logs=%v", r.Lockfile.Status, r.Lockfile.Ref, r.Lockfile.Serial, logs)
			if r.Lockfile.Ref == strings.Split(evil, "@")[0]+"@"+strings.Split(evil, "@")[1] && r.Lockfile.Status == "accepted" {
				t.Errorf("BROKEN: resumed %s from a repository not allowed (serial %d < Ref's 1000)", r.Lockfile.Ref, r.Lockfile.Serial)
			}
		})
	}
}

func TestRedTeamStalledBodies(t *testing.T) {
	for name, hook := range map[string]func(w http.ResponseWriter, r *http.Request) bool{
		"404 body stall": func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("content-length", "100")
			w.WriteHeader(404)
			w.Write([]byte("{\"errors\""))
			w.(http.Flusher).Flush()
			time.Sleep(4 * time.Second)
			return true
		},
		"token body stall": func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path == "/token" {
				w.Header().Set("content-length", "100")
				w.Write([]byte("{\"tok"))
				w.(http.Flusher).Flush()
				time.Sleep(4 * time.Second)
				return true
			}
			if r.Header.Get("Authorization") == "" {
				w.Header().Set("www-authenticate", `Bearer realm="http://`+r.Host+`/token",service="x"`)
				w.WriteHeader(401)
				return true
			}
			return false
		},
	} {
		t.Run(name, func(t *testing.T) {
			reg := newFakeRegistry(t)
			set := reg.publish(t, true, hello)
			reg.hook = hook
			started := time.Now()
			_, _, err := openFrom(t, RegistryOptions{Ref: set.ref, Store: t.TempDir(), PullTimeout: 10 * time.Second, RegistryTimeout: 300 * time.Millisecond}, []TrustedKey{set.key})
			took := time.Since(started)
			t.Logf("%s after %s: %v", codeOf(err), took, err)
			if took > 2*time.Second {
				t.Errorf("WEAK: a silent body held the pull %s with RegistryTimeout 300ms", took)
			}
		})
	}
}

// threeSetsAtBudget: sets a, b, c (serials 1000 < 2000 < 3000, one key) and a host opened from a
// over a store whose budget holds no set but the ones it must keep.
func threeSetsAtBudget(t *testing.T) (h *Host[*testRegistry], a, b, c string) {
	t.Helper()
	reg := newFakeRegistry(t)
	key, priv := rtKey(t)
	a, _ = reg.publishWith(t, priv, 1000, hello, "team/set")
	b, _ = reg.publishWith(t, priv, 2000, "B\n", "team/set")
	c, _ = reg.publishWith(t, priv, 3000, "C\n", "team/set")
	h, _, err := openFrom(t, RegistryOptions{Ref: a, Store: t.TempDir(), StoreMaxBytes: 1}, []TrustedKey{key})
	if err != nil {
		t.Fatal(err)
	}
	return h, a, b, c
}

func TestRedTeamConcurrentReloadRef(t *testing.T) {
	h, a, b, c := threeSetsAtBudget(t)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(3)
		go func(i int) { defer wg.Done(); h.ReloadRef([]string{a, b, c}[i%3]) }(i)
		go func() { defer wg.Done(); h.Reload() }()
		go func() { defer wg.Done(); _ = h.Report() }()
	}
	wg.Wait()
	t.Logf("before final Reload: h.src.key=%.8s registry.serving=%.8s a=%.8s b=%.8s c=%.8s", h.src.key, h.registry.serving, keyOf(a), keyOf(b), keyOf(c))
	r := h.Reload()
	t.Logf("final %s serial=%d ref=%s plugins=%v", r.Lockfile.Status, r.Lockfile.Serial, r.Lockfile.Ref, r.Plugins)
	if r.Lockfile.Status != "accepted" {
		t.Errorf("after concurrent reloads the serving set is %s: %s", r.Lockfile.Code, r.Lockfile.Reason)
	}
}

func TestRedTeamSequentialBudget(t *testing.T) {
	h, a, b, c := threeSetsAtBudget(t)
	for _, r := range []string{b, c} {
		if _, err := h.ReloadRef(r); err != nil {
			t.Fatal(err)
		}
	}
	if r := h.Reload(); r.Lockfile.Status != "accepted" {
		t.Errorf("sequential: %s", r.Lockfile.Reason)
	}
	t.Logf("a=%s b=%s c=%s", keyOf(a)[:8], keyOf(b)[:8], keyOf(c)[:8])
}
