package pluginhost

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// fakeRegistry serves documents and blobs by digest; hook answers a request first.
type fakeRegistry struct {
	mu      sync.Mutex
	docs    map[string][]byte
	blobs   map[string][]byte
	fetches map[string]int
	hook    func(w http.ResponseWriter, r *http.Request) bool
	server  *httptest.Server
}

func newFakeRegistry(t *testing.T) *fakeRegistry {
	f := &fakeRegistry{docs: map[string][]byte{}, blobs: map[string][]byte{}, fetches: map[string]int{}}
	f.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		hook := f.hook
		f.fetches[r.URL.Path]++
		f.mu.Unlock()
		if hook != nil && hook(w, r) {
			return
		}
		parts := strings.Split(r.URL.Path, "/")
		ref := parts[len(parts)-1]
		f.mu.Lock()
		doc, isDoc := f.docs[ref]
		blob, isBlob := f.blobs[ref]
		f.mu.Unlock()
		switch {
		case strings.Contains(r.URL.Path, "/manifests/") && isDoc:
			w.Header().Set("content-type", "application/json")
			w.Write(doc)
		case strings.Contains(r.URL.Path, "/blobs/") && isBlob:
			w.Write(blob)
		default:
			w.WriteHeader(404)
			w.Write([]byte(`{"errors":[{"code":"NOT_FOUND","message":"unknown"}]}`))
		}
	}))
	t.Cleanup(f.server.Close)
	return f
}

func (f *fakeRegistry) host() string { return strings.TrimPrefix(f.server.URL, "http://") }

type publishedSet struct {
	ref, plugin string
	pluginBytes []byte
	key         TrustedKey
}

func rtKey(t *testing.T) (TrustedKey, ed25519.PrivateKey) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	key, err := ParseTrustedKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), "k.pub")
	if err != nil {
		t.Fatal(err)
	}
	return key, priv
}

func (f *fakeRegistry) publishWith(t *testing.T, priv ed25519.PrivateKey, serial int64, content, repo string) (ref string, files map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	writeLock(t, dir, map[string]map[string]interface{}{"hello": entry("libhello.so", content, nil)})
	lock, _ := os.ReadFile(filepath.Join(dir, "builder.lock.json"))
	files = map[string][]byte{"builder.lock.json": lock, "libhello.so": []byte(content)}
	f.mu.Lock()
	defer f.mu.Unlock()
	layers := []map[string]interface{}{{"mediaType": lockfileMedia, "digest": digestOf(lock), "size": len(lock), "annotations": map[string]string{titleAnnotation: "builder.lock.json"}}}
	f.blobs[digestOf(lock)] = lock
	if priv != nil {
		signLockWith(t, dir, priv, serial, map[string]string{"libhello.so": strings.TrimPrefix(digestOf([]byte(content)), "sha256:")})
		sig, _ := os.ReadFile(filepath.Join(dir, "builder.lock.json.sig"))
		files["builder.lock.json.sig"] = sig
		f.blobs[digestOf(sig)] = sig
		layers = append(layers, map[string]interface{}{"mediaType": signatureMedia, "digest": digestOf(sig), "size": len(sig), "annotations": map[string]string{titleAnnotation: "builder.lock.json.sig"}})
	}
	layers = append(layers, map[string]interface{}{"mediaType": pluginMedia, "digest": digestOf([]byte(content)), "size": len(content), "annotations": map[string]string{titleAnnotation: "libhello.so"}})
	f.blobs[digestOf([]byte(content))] = []byte(content)
	manifest, _ := json.Marshal(map[string]interface{}{"schemaVersion": 2, "mediaType": ociManifest, "artifactType": pluginSetArtifact, "layers": layers})
	f.docs[digestOf(manifest)] = manifest
	return f.host() + "/" + repo + "@" + digestOf(manifest), files
}

// publish puts a set of one (non-loadable) plugin into the fake registry, signed unless told.
func (f *fakeRegistry) publish(t *testing.T, signed bool, content string) publishedSet {
	t.Helper()
	key, priv := rtKey(t)
	if !signed {
		priv = nil
	}
	ref, _ := f.publishWith(t, priv, time.Now().UnixMilli(), content, "team/set")
	return publishedSet{ref: ref, plugin: digestOf([]byte(content)), pluginBytes: []byte(content), key: key}
}

func openFrom(t *testing.T, opts RegistryOptions, keys []TrustedKey) (*Host[*testRegistry], []string, error) {
	t.Helper()
	e := env()
	var logs []string
	var mu sync.Mutex
	h, err := Open(Options[*testRegistry]{Registry: &opts, Environment: &e, PrivateDir: t.TempDir(), TrustedKeys: keys, NoCanary: true,
		NewRegistrar: func(string) *testRegistry { return &testRegistry{} },
		Log:          func(level, m string) { mu.Lock(); logs = append(logs, m); mu.Unlock() }})
	if err == nil {
		t.Cleanup(h.Close)
	}
	return h, logs, err
}

func codeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return fmt.Sprintf("not an *Error: %v", err)
}

func nothingKept(t *testing.T, store string) {
	t.Helper()
	for _, sub := range []string{"sets", "tmp"} {
		if entries, _ := os.ReadDir(filepath.Join(store, sub)); len(entries) != 0 {
			t.Fatalf("%s not empty: %v", sub, entries)
		}
	}
}

func TestParseReference(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	for text, want := range map[string]Reference{
		"127.0.0.1:5000/team/plugins@" + d: {Registry: "127.0.0.1:5000", Repository: "team/plugins", Digest: d},
		"ghcr.io/org/set:v1":               {Registry: "ghcr.io", Repository: "org/set", Tag: "v1"},
		"plugins":                          {Registry: "docker.io", Repository: "library/plugins"},
		"[::1]:5000/a:t@" + d:              {Registry: "[::1]:5000", Repository: "a", Tag: "t", Digest: d},
	} {
		if got, err := ParseReference(text); err != nil || got != want {
			t.Fatalf("%s: %#v %v", text, got, err)
		}
	}
	for _, bad := range []string{"", "team/Plugins", "reg.io/a@sha256:abc", "reg.io:99999/a", "reg.io/a//b", "reg.io/a:-x"} {
		if _, err := ParseReference(bad); codeOf(err) != "BAD_REFERENCE" {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	if !isLoopbackRegistry("127.0.0.1:5000") || !isLoopbackRegistry("[::1]:5000") || isLoopbackRegistry("127.0.0.1.evil.io") || isLoopbackRegistry("localhost.evil.io") {
		t.Fatal("loopback look-alikes")
	}
}

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"a/b:c", "127.0.0.1:5000/x@sha256:" + strings.Repeat("0", 64), "[::1]/a", "@", ":", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := ParseReference(s)
		if err != nil {
			if codeOf(err) != "BAD_REFERENCE" {
				t.Fatal(err)
			}
			return
		}
		again, err := ParseReference(ref.String())
		if err != nil || again != ref {
			t.Fatalf("%q → %#v → %#v %v", s, ref, again, err)
		}
	})
}

func FuzzParseSetDocument(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.plugin-builder.plugin-set.v1","layers":[]}`))
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","artifactType":"application/vnd.plugin-builder.plugin-set.v1","manifests":[{}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := parseSetDocument(data, "fuzz", 1<<30)
		if err != nil {
			if codeOf(err) != "SET_INVALID" {
				t.Fatal(err)
			}
			return
		}
		for _, p := range doc.plugins {
			if !pluginPath.MatchString(p.Annotations[titleAnnotation]) {
				t.Fatal("a plugin path outside the pattern")
			}
		}
	})
}

func FuzzParseChallenge(f *testing.F) {
	f.Add(`Bearer realm="https://a/token",service="x"`)
	f.Fuzz(func(t *testing.T, s string) { parseChallenge(s) })
}

func TestRegistrySourceServesAndRestartsOffline(t *testing.T) {
	reg := newFakeRegistry(t)
	set := reg.publish(t, true, hello)
	store := t.TempDir()
	h, logs, err := openFrom(t, RegistryOptions{Ref: set.ref, Store: store}, []TrustedKey{set.key})
	if err != nil {
		t.Fatal(err)
	}
	if r := h.Report(); r.Lockfile.Status != "accepted" || r.Lockfile.Ref != set.ref {
		t.Fatalf("%#v %v", r.Lockfile, logs)
	}
	h.Close()
	reg.server.Close()
	h2, logs, err := openFrom(t, RegistryOptions{Ref: set.ref, Store: store}, []TrustedKey{set.key})
	if err != nil || h2.Report().Lockfile.Status != "accepted" || !strings.Contains(strings.Join(logs, "\n"), "from the store") {
		t.Fatalf("offline: %v %v", err, logs)
	}
	if _, err := h2.ReloadRef("evil.example/team/set@" + strings.Split(set.ref, "@")[1]); codeOf(err) != "REF_NOT_ALLOWED" {
		t.Fatalf("other repository: %v", err)
	}
	if _, err := h2.ReloadRef(reg.host() + "/team/set:v1"); codeOf(err) != "TAG_REFUSED" {
		t.Fatalf("tag: %v", err)
	}
}

func TestRegistrySourceRefusesHostileAnswers(t *testing.T) {
	for name, tc := range map[string]struct {
		hook func(set publishedSet) func(w http.ResponseWriter, r *http.Request) bool
		want string
	}{
		"wrong blob": {func(set publishedSet) func(w http.ResponseWriter, r *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if strings.HasSuffix(r.URL.Path, set.plugin) {
					w.Write([]byte(strings.ToUpper(hello)))
					return true
				}
				return false
			}
		}, "DIGEST_MISMATCH"},
		"endless blob": {func(set publishedSet) func(w http.ResponseWriter, r *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.HasSuffix(r.URL.Path, set.plugin) {
					return false
				}
				chunk := make([]byte, 64<<10)
				for i := 0; i < 1024; i++ {
					if _, err := w.Write(chunk); err != nil {
						break
					}
				}
				return true
			}
		}, "DIGEST_MISMATCH"},
		"redirect loop": {func(set publishedSet) func(w http.ResponseWriter, r *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				http.Redirect(w, r, r.URL.Path+"x", http.StatusFound)
				return true
			}
		}, "REGISTRY_INSECURE"},
		"manifest of other bytes": {func(set publishedSet) func(w http.ResponseWriter, r *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.Contains(r.URL.Path, "/manifests/") {
					return false
				}
				w.Write([]byte(`{"schemaVersion":2}`))
				return true
			}
		}, "DIGEST_MISMATCH"},
		"a stall": {func(set publishedSet) func(w http.ResponseWriter, r *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.HasSuffix(r.URL.Path, set.plugin) {
					return false
				}
				w.Header().Set("content-length", fmt.Sprint(len(hello)))
				w.Write([]byte("h"))
				w.(http.Flusher).Flush()
				time.Sleep(1500 * time.Millisecond)
				return true
			}
			// A stall is transient: retried until PullTimeout, then the first pull fails whole.
		}, "REGISTRY_UNREACHABLE"},
	} {
		t.Run(name, func(t *testing.T) {
			reg := newFakeRegistry(t)
			set := reg.publish(t, true, hello)
			reg.hook = tc.hook(set)
			store := t.TempDir()
			_, _, err := openFrom(t, RegistryOptions{Ref: set.ref, Store: store, PullTimeout: 2 * time.Second, RegistryTimeout: 500 * time.Millisecond}, []TrustedKey{set.key})
			if codeOf(err) != tc.want {
				t.Fatalf("want %s, got %v", tc.want, err)
			}
			nothingKept(t, store)
		})
	}
}

func TestRegistrySourceRefusesAHundredThousandLayers(t *testing.T) {
	reg := newFakeRegistry(t)
	set := reg.publish(t, true, hello)
	many := []byte(`{"schemaVersion":2,"mediaType":"` + ociManifest + `","artifactType":"` + pluginSetArtifact + `","layers":[` + strings.Repeat(`{},`, 99999) + `{}]}`)
	reg.docs[digestOf(many)] = many
	store := t.TempDir()
	_, _, err := openFrom(t, RegistryOptions{Ref: reg.host() + "/team/set@" + digestOf(many), Store: store}, []TrustedKey{set.key})
	if codeOf(err) != "SET_INVALID" || !strings.Contains(err.Error(), "100000 layers") {
		t.Fatalf("%v", err)
	}
	for path, n := range reg.fetches {
		if strings.Contains(path, "/blobs/") && n > 0 {
			t.Fatalf("a blob was fetched: %s", path)
		}
	}
	nothingKept(t, store)
}

func TestRegistrySourceSignatureBeforeAnyPluginBlob(t *testing.T) {
	reg := newFakeRegistry(t)
	set := reg.publish(t, false, hello)
	_, priv, _ := ed25519.GenerateKey(nil)
	_ = priv
	other := reg.publish(t, true, "other")
	store := t.TempDir()
	if _, _, err := openFrom(t, RegistryOptions{Ref: set.ref, Store: store}, []TrustedKey{other.key}); codeOf(err) != "UNSIGNED_LOCKFILE" {
		t.Fatalf("unsigned: %v", err)
	}
	if n := reg.fetches["/v2/team/set/blobs/"+set.plugin]; n != 0 {
		t.Fatalf("the plugin blob was fetched %d times", n)
	}
	if _, _, err := openFrom(t, RegistryOptions{Ref: other.ref, Store: store}, []TrustedKey{set.key}); codeOf(err) != "BAD_SIGNATURE" {
		t.Fatalf("untrusted: %v", err)
	}
	nothingKept(t, store)
}

func TestRegistryDownColdStoreRetriesThenFails(t *testing.T) {
	reg := newFakeRegistry(t)
	set := reg.publish(t, true, hello)
	reg.server.Close()
	started := time.Now()
	_, logs, err := openFrom(t, RegistryOptions{Ref: set.ref, Store: t.TempDir(), PullTimeout: 2500 * time.Millisecond}, []TrustedKey{set.key})
	if codeOf(err) != "REGISTRY_UNREACHABLE" || !strings.Contains(err.Error(), "has no copy") || time.Since(started) < 2*time.Second {
		t.Fatalf("%v after %s", err, time.Since(started))
	}
	if !strings.Contains(strings.Join(logs, "\n"), "retrying in 1 s") {
		t.Fatalf("no backoff logged: %v", logs)
	}
}

func TestStoreLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	first, err := openStore(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openStore(dir, 1<<20); codeOf(err) != "STORE_LOCKED" {
		t.Fatalf("second: %v", err)
	}
	first.close()
	host, _ := os.Hostname()
	os.WriteFile(filepath.Join(dir, "lock"), []byte(`{"host":"`+host+`","pid":4194311,"start":"1","since":"then"}`), 0o644)
	again, err := openStore(dir, 1<<20)
	if err != nil {
		t.Fatalf("stale lock not taken over: %v", err)
	}
	again.close()
	victim := t.TempDir()
	os.WriteFile(filepath.Join(victim, "precious"), []byte("x"), 0o644)
	linked := t.TempDir()
	os.Symlink(victim, filepath.Join(linked, "tmp"))
	if _, err := openStore(linked, 1<<20); codeOf(err) != "WRITE_FAILED" {
		t.Fatalf("tmp link: %v", err)
	}
	if entries, _ := os.ReadDir(victim); len(entries) != 1 {
		t.Fatal("the link's target was touched")
	}
}

// A multi-platform set: an index over one manifest per platform; this host (linux/amd64) fetches
// its own manifest and plugin only, the signature covering both platforms' artifacts.
func TestRegistrySourceMultiPlatformIndex(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the index below names amd64 as this host's platform")
	}
	reg := newFakeRegistry(t)
	arm := env()
	arm.Arch = "aarch64"
	amdSo, armSo := []byte("amd64 plugin bytes"), []byte("arm64 plugin bytes")
	section := func(fp Fingerprint, content []byte) map[string]interface{} {
		return map[string]interface{}{
			"host":    map[string]interface{}{"image": "img", "imageId": "sha256:1", "fingerprint": fp, "fingerprintHash": fp.Hash()},
			"builder": map[string]interface{}{},
			"plugins": map[string]interface{}{"hello": entry("libhello.so", string(content), nil)},
		}
	}
	dir := t.TempDir()
	lock, _ := json.Marshal(map[string]interface{}{"lockfileVersion": 1, "platforms": map[string]interface{}{"linux/amd64": section(env(), amdSo), "linux/arm64": section(arm, armSo)}})
	os.WriteFile(filepath.Join(dir, "builder.lock.json"), lock, 0o644)
	pubKey, priv, _ := ed25519.GenerateKey(nil)
	der, _ := x509.MarshalPKIXPublicKey(pubKey)
	key, _ := ParseTrustedKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), "k.pub")
	signLockWith(t, dir, priv, time.Now().UnixMilli(), map[string]string{
		"linux-amd64/libhello.so": strings.TrimPrefix(digestOf(amdSo), "sha256:"),
		"linux-arm64/libhello.so": strings.TrimPrefix(digestOf(armSo), "sha256:"),
	})
	sig, _ := os.ReadFile(filepath.Join(dir, "builder.lock.json.sig"))
	reg.blobs[digestOf(lock)], reg.blobs[digestOf(sig)], reg.blobs[digestOf(amdSo)], reg.blobs[digestOf(armSo)] = lock, sig, amdSo, armSo
	manifests := []map[string]interface{}{}
	for _, p := range []struct {
		arch, dir string
		so        []byte
	}{{"amd64", "linux-amd64", amdSo}, {"arm64", "linux-arm64", armSo}} {
		m, _ := json.Marshal(map[string]interface{}{"schemaVersion": 2, "mediaType": ociManifest, "artifactType": pluginSetArtifact, "layers": []map[string]interface{}{
			{"mediaType": lockfileMedia, "digest": digestOf(lock), "size": len(lock), "annotations": map[string]string{titleAnnotation: "builder.lock.json"}},
			{"mediaType": signatureMedia, "digest": digestOf(sig), "size": len(sig), "annotations": map[string]string{titleAnnotation: "builder.lock.json.sig"}},
			{"mediaType": pluginMedia, "digest": digestOf(p.so), "size": len(p.so), "annotations": map[string]string{titleAnnotation: p.dir + "/libhello.so"}},
		}})
		reg.docs[digestOf(m)] = m
		manifests = append(manifests, map[string]interface{}{"mediaType": ociManifest, "digest": digestOf(m), "size": len(m), "platform": map[string]string{"os": "linux", "architecture": p.arch}})
	}
	// As skopeo 1.9 writes a copied index: no artifactType on it.
	index, _ := json.Marshal(map[string]interface{}{"schemaVersion": 2, "mediaType": ociIndex, "manifests": manifests})
	reg.docs[digestOf(index)] = index
	store := t.TempDir()
	h, _, err := openFrom(t, RegistryOptions{Ref: reg.host() + "/team/multi@" + digestOf(index), Store: store}, []TrustedKey{key})
	if err != nil {
		t.Fatal(err)
	}
	if r := h.Report(); r.Lockfile.Status != "accepted" || len(r.Plugins) != 1 || r.Plugins[0].File != "linux-amd64/libhello.so" {
		t.Fatalf("%#v", r)
	}
	if n := reg.fetches["/v2/team/multi/blobs/"+digestOf(armSo)]; n != 0 {
		t.Fatalf("the arm64 plugin was fetched %d times", n)
	}
	entries, _ := os.ReadDir(filepath.Join(store, "sets", strings.TrimPrefix(digestOf(index), "sha256:")+"-linux-amd64"))
	names := []string{}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != ".set.json,builder.lock.json,builder.lock.json.sig,linux-amd64" {
		t.Fatalf("laid out: %v", names)
	}
}
