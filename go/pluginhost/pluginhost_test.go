package pluginhost

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCanonicalJSONEscapesLikeJSONStringify(t *testing.T) {
	got := canonicalJSON(map[string]interface{}{"b": "x\u2028<&>\"\\\x01\x1f\t", "a": map[string]string{"é": "1", "z": "2", "\U0001F600": "3", "\uFFFD": "4"}})
	// JSON.stringify({a:{…},b:…}) with keys sorted by UTF-16 code units: U+1F600 (D83D…) sorts before U+FFFD.
	want := `{"a":{"z":"2","é":"1","` + "\U0001F600" + `":"3","` + "\uFFFD" + `":"4"},"b":"x` + "\u2028" + `<&>\"\\\u0001\u001f\t"}`
	if got != want {
		t.Fatalf("canonicalJSON:\n got %s\nwant %s", got, want)
	}
}

func TestDecodeUTF8ReplacesMaximalSubparts(t *testing.T) {
	cases := map[string]string{
		"a\xe2\x82b":         "a\uFFFDb",           // truncated 3-byte sequence: one replacement (Go's range gives two)
		"\xf0\x9f\x98":       "\uFFFD",             // truncated at the end
		"\xed\xa0\x80":       "\uFFFD\uFFFD\uFFFD", // a surrogate is not a prefix of any valid sequence
		"\xc0\xaf":           "\uFFFD\uFFFD",
		"ok \xe2\x82\xac ok": "ok € ok",
	}
	for in, want := range cases {
		if got := decodeUTF8([]byte(in)); got != want {
			t.Errorf("decodeUTF8(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseOSReleaseFollowsTheBuilder(t *testing.T) {
	got := parseOSRelease("ID=debian\nVERSION_ID=\"12\"\n  NAME='De\\\"b'  \nBAD=a\rb\nID=ubuntu\n\uFEFFX=1")
	if got["ID"] != "ubuntu" || got["VERSION_ID"] != "12" || got["NAME"] != `De"b` || got["X"] != "1" {
		t.Fatalf("parseOSRelease = %#v", got)
	}
	if _, ok := got["BAD"]; ok {
		t.Fatalf("a value with a carriage return inside does not match the builder's pattern: %#v", got)
	}
}

func TestErrorsMatchByCode(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", refuse(ErrHashMismatch, "p", "m", "f", nil))
	if !errors.Is(err, ErrHashMismatch) || errors.Is(err, ErrSizeMismatch) {
		t.Fatal("errors.Is must match by code")
	}
}

type testRegistry struct{ names []string }

func (r *testRegistry) Names() []string { return r.names }

const hello = "hello world\n"

func env() Fingerprint {
	return Fingerprint{OS: OSFingerprint{"debian", "12"}, Arch: "x86_64", Libc: LibcFingerprint{"glibc", "2.36"},
		Go: &GoFingerprint{Version: runtime.Version(), Settings: map[string]string{}, Deps: map[string]string{}}}
}

func writeLock(t *testing.T, dir string, plugins map[string]map[string]interface{}) {
	t.Helper()
	lock := map[string]interface{}{
		"lockfileVersion": 1,
		"host":            map[string]interface{}{"image": "img", "imageId": "sha256:1", "fingerprint": env(), "fingerprintHash": env().Hash()},
		"builder":         map[string]interface{}{},
		"plugins":         plugins,
	}
	data, _ := json.Marshal(lock)
	if err := os.WriteFile(filepath.Join(dir, "builder.lock.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The test binary is a canary program too, as every program using pluginhost is: a host made by
// open() below starts it again with CanaryEnv set before each load. PLUGINHOST_TEST_CANARY_DIES
// makes that child die as a crashing plugin would take it down.
func TestMain(m *testing.M) {
	if nonce := os.Getenv(CanaryEnv); nonce != "" {
		if sig := os.Getenv("PLUGINHOST_TEST_CANARY_DIES"); sig != "" {
			fmt.Fprintln(os.Stderr, "fatal error: the test canary dies as asked")
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Second)
		}
		os.Exit(runCanary(Options[*testRegistry]{NewRegistrar: func(string) *testRegistry { return &testRegistry{} }}, nonce))
	}
	os.Exit(m.Run())
}

// The canary protocol, run as a build's proof runs it: the verdict of each file on stdout.
func TestCanaryEntryReportsEachLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "libnot.so")
	os.WriteFile(path, []byte("not an ELF"), 0o444)
	sum := sha256.Sum256([]byte("not an ELF"))
	nonce := strings.Repeat("ab", 16)
	run := func(env ...string) (string, int) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), env...)
		out, _ := cmd.Output()
		return string(out), cmd.ProcessState.ExitCode()
	}
	out, code := run(CanaryEnv+"="+nonce, CanaryFilesEnv+"=not="+hex.EncodeToString(sum[:])+"="+path+"\nbad="+strings.Repeat("0", 64)+"="+path)
	want := []string{nonce + " loading " + path, nonce + " failed " + path + " LOAD_FAILED: ", nonce + " loading " + path, nonce + " failed " + path + " HASH_MISMATCH: ", nonce + " done"}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	if code != 1 || len(lines) != len(want) {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Fatalf("line %d: %q, want prefix %q", i, lines[i], w)
		}
	}
	if _, code := run(CanaryEnv + "=not-hex"); code != 2 {
		t.Fatalf("a bad nonce: exit %d", code)
	}
}

// A new version whose canary dies is CANARY_CRASHED with the signal and the child's last words;
// the host process itself is untouched and reports it like any refusal.
func TestCanaryCrashIsReported(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "libp.so"), []byte("bytes"), 0o644)
	writeLock(t, dir, map[string]map[string]interface{}{"p": entry("libp.so", "bytes", nil)})
	t.Setenv("PLUGINHOST_TEST_CANARY_DIES", "1")
	h := open(t, dir)
	s := status(t, h.Report(), "p")
	if s.Code != "CANARY_CRASHED" || !strings.Contains(s.Reason, "killed by signal 9") || !strings.Contains(s.Reason, "the test canary dies as asked") {
		t.Fatalf("p: %#v", s)
	}
}

func entry(file, content string, extra map[string]interface{}) map[string]interface{} {
	sum := sha256.Sum256([]byte(content))
	e := map[string]interface{}{"kind": "go-plugin", "file": file, "sha256": hex.EncodeToString(sum[:]), "size": len(content),
		"inputsHash": "sha256:" + strings.Repeat("0", 64), "goVersion": runtime.Version()}
	for k, v := range extra {
		e[k] = v
	}
	return e
}

func open(t *testing.T, dir string) *Host[*testRegistry] {
	t.Helper()
	e := env()
	h, err := Open(Options[*testRegistry]{Dir: dir, Environment: &e, PrivateDir: t.TempDir(), NewRegistrar: func(string) *testRegistry { return &testRegistry{} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func status(t *testing.T, r Report, name string) PluginStatus {
	t.Helper()
	for _, p := range r.Plugins {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no status for %s in %#v", name, r)
	return PluginStatus{}
}

// Every refusal below happens before plugin.Open: the files are not plugins at all.
func TestRefusalsBeforePluginOpen(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "libswapped.so"), []byte("not hello\n!!"), 0o644)
	os.WriteFile(filepath.Join(dir, "libshort.so"), []byte("hi"), 0o644)
	if err := syscall.Mkfifo(filepath.Join(dir, "libfifo.so"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "real.so"), []byte(hello), 0o644)
	os.Symlink(filepath.Join(dir, "real.so"), filepath.Join(dir, "liblink.so"))
	os.WriteFile(filepath.Join(dir, "libstray.so"), []byte(hello), 0o644)
	os.WriteFile(filepath.Join(dir, "libc.so"), []byte(hello), 0o644)
	os.WriteFile(filepath.Join(dir, "libold.so"), []byte(hello), 0o644)
	writeLock(t, dir, map[string]map[string]interface{}{
		"swapped": entry("libswapped.so", "hello world!", nil),
		"short":   entry("libshort.so", hello, nil),
		"fifo":    entry("libfifo.so", hello, nil),
		"link":    entry("liblink.so", hello, nil),
		"missing": entry("libmissing.so", hello, nil),
		"c":       entry("libc.so", hello, map[string]interface{}{"kind": "c"}),
		"old":     entry("libold.so", hello, map[string]interface{}{"goVersion": "go1.1"}),
		"real":    entry("real.so", hello, map[string]interface{}{"deps": []interface{}{}}),
	})
	done := make(chan Report, 1)
	go func() { done <- open(t, dir).Report() }()
	var r Report
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("opening the host hung (a FIFO must not block it)")
	}
	if r.Lockfile.Status != "accepted" || r.Trust != "unsigned" {
		t.Fatalf("lockfile: %#v", r.Lockfile)
	}
	want := map[string]string{"swapped": "HASH_MISMATCH", "short": "SIZE_MISMATCH", "fifo": "NOT_A_REGULAR_FILE", "link": "NOT_A_REGULAR_FILE",
		"missing": "FILE_MISSING", "c": "NOT_A_GO_PLUGIN", "old": "GO_VERSION_MISMATCH", "real": "LOAD_FAILED", "libstray.so": "UNKNOWN_PLUGIN"}
	for name, code := range want {
		if s := status(t, r, name); s.Status != "rejected" || s.Code != code {
			t.Errorf("%s: %s %s (%s), want rejected %s", name, s.Status, s.Code, s.Reason, code)
		}
	}
	if s := status(t, r, "fifo"); !strings.Contains(s.Reason, "FIFO") {
		t.Errorf("fifo reason: %s", s.Reason)
	}
	if s := status(t, r, "old"); !strings.Contains(s.Reason, "plugin.Open would crash the process") {
		t.Errorf("old reason: %s", s.Reason)
	}
}

func TestEnvironmentAndLockfileRefusals(t *testing.T) {
	dir := t.TempDir()
	h := open(t, dir)
	if r := h.Report(); r.Lockfile.Status != "refused" || r.Lockfile.Code != "LOCKFILE_MISSING" {
		t.Fatalf("no lockfile: %#v", r.Lockfile)
	}
	os.WriteFile(filepath.Join(dir, "builder.lock.json"), []byte(`{"lockfileVersion":1,"host":{}}`), 0o644)
	if r := h.Reload(); r.Lockfile.Code != "LOCKFILE_INVALID" || !strings.Contains(r.Lockfile.Reason, "host.image") {
		t.Fatalf("invalid lockfile: %#v", r.Lockfile)
	}
	os.WriteFile(filepath.Join(dir, "libp.so"), []byte(hello), 0o644)
	writeLock(t, dir, map[string]map[string]interface{}{"p": entry("libp.so", hello, nil)})
	other := env()
	other.Libc.Version = "2.41"
	h2, err := Open(Options[*testRegistry]{Dir: dir, Environment: &other, PrivateDir: t.TempDir(), NewRegistrar: func(string) *testRegistry { return &testRegistry{} }})
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	s := status(t, h2.Report(), "p")
	if s.Code != "ENVIRONMENT_MISMATCH" || !strings.Contains(s.Reason, "libc.version: 2.36 → 2.41") {
		t.Fatalf("environment: %#v", s)
	}
	// A lockfile is a deployed file like the plugins: a link is not followed.
	real := filepath.Join(t.TempDir(), "builder.lock.json")
	os.Rename(filepath.Join(dir, "builder.lock.json"), real)
	os.Symlink(real, filepath.Join(dir, "builder.lock.json"))
	if r := h.Reload(); r.Lockfile.Code != "NOT_A_REGULAR_FILE" {
		t.Fatalf("symlinked lockfile: %#v", r.Lockfile)
	}
	os.Remove(filepath.Join(dir, "builder.lock.json"))
	// The lockfile must not grow without bound.
	os.WriteFile(filepath.Join(dir, "builder.lock.json"), make([]byte, 2<<20), 0o644)
	if r := h.Reload(); r.Lockfile.Code != "LOCKFILE_TOO_LARGE" {
		t.Fatalf("huge lockfile: %#v", r.Lockfile)
	}
}

func TestHandlerRoutes(t *testing.T) {
	h := open(t, t.TempDir())
	const token = "s3cret-s3cret-s3cret"
	server := httptest.NewServer(Handler(h, HandlerOptions{Token: token}))
	defer server.Close()
	do := func(method, path, token string) (int, map[string]interface{}) {
		req, _ := http.NewRequest(method, server.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]interface{}
		json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body
	}
	if code, body := do("GET", "/healthz", ""); code != 200 || body["status"] != "ok" || body["lockfile"] != "refused" {
		t.Fatalf("healthz: %d %v", code, body)
	}
	if code, _ := do("GET", "/plugins", ""); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := do("GET", "/plugins", "wrong"); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	if code, body := do("GET", "/plugins", token); code != 200 || body["trust"] != "unsigned" {
		t.Fatalf("plugins: %d %v", code, body)
	}
	if code, body := do("PUT", "/plugins/reload", token); code != 409 || body["code"] != "LOCKFILE_MISSING" {
		t.Fatalf("reload: %d %v", code, body)
	}
	if code, _ := do("DELETE", "/plugins/reload", token); code != 405 {
		t.Fatalf("reload method: %d", code)
	}
	if code, _ := do("GET", "/nope", token); code != 404 {
		t.Fatalf("unknown route: %d", code)
	}
	if code, _ := do("GET", "/plugins?"+strings.Repeat("a", 3000), token); code != 414 {
		t.Fatalf("long target: %d", code)
	}
}

func TestConcurrentReloadsShareOne(t *testing.T) {
	h := open(t, t.TempDir())
	done := make(chan Report)
	for i := 0; i < 50; i++ {
		go func() { done <- h.Reload() }()
	}
	for i := 0; i < 50; i++ {
		if r := <-done; r.Lockfile.Code != "LOCKFILE_MISSING" {
			t.Fatalf("reload %d: %#v", i, r.Lockfile)
		}
	}
}

// A multi-platform lockfile (host.platforms): this process takes its own platform's section,
// whose artifacts lie in "<os>-<arch>/" under the plugin directory.
func TestMultiPlatformLockfile(t *testing.T) {
	arm := env()
	arm.Arch = "aarch64"
	section := func(fp Fingerprint, file string) map[string]interface{} {
		return map[string]interface{}{
			"host":    map[string]interface{}{"image": "img", "imageId": "sha256:1", "fingerprint": fp, "fingerprintHash": fp.Hash()},
			"builder": map[string]interface{}{},
			"plugins": map[string]interface{}{"p": entry(file, hello, map[string]interface{}{"deps": []interface{}{}})},
		}
	}
	doc := func(platforms map[string]interface{}) []byte {
		data, _ := json.Marshal(map[string]interface{}{"lockfileVersion": 1, "platforms": platforms})
		return data
	}
	both := doc(map[string]interface{}{"linux/amd64": section(env(), "libp.so"), "linux/arm64": section(arm, "libp.so")})
	for platform, dir := range map[string]string{"linux/amd64": "linux-amd64", "linux/arm64": "linux-arm64"} {
		lock, err := ParseLockfileFor(both, platform)
		if err != nil || lock.Dir != dir || lock.Plugins["p"].File != dir+"/libp.so" {
			t.Fatalf("%s: %v %#v", platform, err, lock)
		}
	}
	var missing PlatformNotLockedError
	if _, err := ParseLockfileFor(both, "linux/riscv64"); !errors.As(err, &missing) || strings.Join(missing.Locked, ",") != "linux/amd64,linux/arm64" {
		t.Fatalf("riscv64: %v", err)
	}
	swapped := doc(map[string]interface{}{"linux/amd64": section(arm, "libp.so")})
	if _, err := ParseLockfileFor(swapped, "linux/amd64"); err == nil || !strings.Contains(err.Error(), `"aarch64" is not linux/amd64's machine`) {
		t.Fatalf("section filed under another platform: %v", err)
	}
	if runtime.GOARCH != "amd64" {
		return // the host checks below assume this process is linux/amd64
	}
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "linux-amd64"), 0o755)
	os.WriteFile(filepath.Join(dir, "linux-amd64", "libp.so"), []byte(hello), 0o644)
	os.WriteFile(filepath.Join(dir, "linux-amd64", "libstray.so"), []byte(hello), 0o644)
	os.WriteFile(filepath.Join(dir, "builder.lock.json"), both, 0o644)
	h := open(t, dir)
	r := h.Report()
	if r.Lockfile.Status != "accepted" {
		t.Fatalf("lockfile: %#v", r.Lockfile)
	}
	// Found at its platform's path with the locked bytes: refused only by plugin.Open (it is no ELF).
	if s := status(t, r, "p"); s.File != "linux-amd64/libp.so" || s.Code != "LOAD_FAILED" {
		t.Fatalf("p: %#v", s)
	}
	if s := status(t, r, "linux-amd64/libstray.so"); s.Code != "UNKNOWN_PLUGIN" {
		t.Fatalf("stray: %#v", s)
	}
	os.WriteFile(filepath.Join(dir, "builder.lock.json"), doc(map[string]interface{}{"linux/arm64": section(arm, "libp.so")}), 0o644)
	if r := h.Reload(); r.Lockfile.Code != "PLATFORM_NOT_LOCKED" || !strings.Contains(r.Lockfile.Reason, "holds plugins for linux/arm64; this host is linux/amd64") {
		t.Fatalf("arm64-only lockfile: %#v", r.Lockfile)
	}
}

// An empty, short or spaced token never means "no authentication": every route but /healthz
// fails closed; only InsecureNoAuth serves without one. Protect guards an application's routes.
func TestHandlerTokenRules(t *testing.T) {
	h := open(t, t.TempDir())
	get := func(handler http.Handler, path, token string) int {
		req := httptest.NewRequest("GET", path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, bad := range []string{"", "\n", "short", "fifteen-chars!!", "has a space in it!!"} {
		handler := Handler(h, HandlerOptions{Token: bad})
		if code := get(handler, "/plugins", bad); code != 500 {
			t.Fatalf("token %q: /plugins answered %d", bad, code)
		}
		if code := get(handler, "/plugins", ""); code != 500 {
			t.Fatalf("token %q, none presented: /plugins answered %d", bad, code)
		}
		if code := get(handler, "/healthz", ""); code != 200 {
			t.Fatalf("token %q: /healthz answered %d", bad, code)
		}
		if err := CheckToken(bad); err == nil || !errors.Is(err, ErrBadToken) {
			t.Fatalf("CheckToken(%q) = %v", bad, err)
		}
	}
	if code := get(Handler(h, HandlerOptions{InsecureNoAuth: true}), "/plugins", ""); code != 200 {
		t.Fatalf("insecure: %d", code)
	}
	good := HandlerOptions{Token: "0123456789abcdef"}
	metrics := good.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	if code := get(metrics, "/metrics", ""); code != 401 {
		t.Fatalf("protected route without a token: %d", code)
	}
	if code := get(metrics, "/metrics", "0123456789abcdef"); code != 204 {
		t.Fatalf("protected route with the token: %d", code)
	}
	if code := get(HandlerOptions{}.Protect(metrics), "/metrics", ""); code != 500 {
		t.Fatalf("Protect without a token: %d", code)
	}
}

func TestPrintable(t *testing.T) {
	cases := map[string]string{
		"plain, ünïcödé":          "plain, ünïcödé",
		"1\nWARN forged line":     `1\nWARN forged line`,
		"\x1b]52;c;cHduZWQ=\x07":  `\x1b]52;c;cHduZWQ=\x07`,
		"a\rb\tc\x7f\u009b\u202e": `a\rb\tc\x7f\x9b\u202e`,
		"bad \xff byte":           `bad \xff byte`,
	}
	for in, want := range cases {
		if got := Printable(in); got != want {
			t.Fatalf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}

// StrictModes for trust: what others may write is refused (unless mounted read-only), links
// only within the trust directory, and a named trust directory with no key is refused.
func TestTrustDirectoryRules(t *testing.T) {
	pub := func(dir, name string) string {
		_, priv, _ := ed25519.GenerateKey(nil)
		der, _ := x509.MarshalPKIXPublicKey(priv.Public())
		path := filepath.Join(dir, name)
		os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
		os.Chmod(path, 0o644)
		return path
	}
	expect := func(files, dirs []string, want string) {
		t.Helper()
		_, err := LoadTrustedKeys(files, dirs)
		if want == "" {
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrBadKey) {
			t.Fatalf("want %q, got %v", want, err)
		}
	}
	dir := t.TempDir()
	key := pub(dir, "k.pub")
	expect(nil, []string{dir}, "")
	os.Chmod(dir, 0o777)
	expect(nil, []string{dir}, "is writable by every user (mode 777)")
	os.Chmod(dir, 0o775)
	expect(nil, []string{dir}, "writable by its group")
	os.Chmod(dir, 0o755)
	os.Chmod(key, 0o666)
	expect(nil, []string{dir}, "k.pub is writable by every user")
	expect([]string{key}, nil, "writable by every user")
	os.Chmod(key, 0o644)

	outside := t.TempDir()
	linked := t.TempDir()
	os.Symlink(pub(outside, "evil.pub"), filepath.Join(linked, "evil.pub"))
	expect(nil, []string{linked}, "outside the trust directory")
	inside := t.TempDir()
	os.Mkdir(filepath.Join(inside, "..data"), 0o755)
	pub(filepath.Join(inside, "..data"), "a.pub")
	os.Symlink("..data/a.pub", filepath.Join(inside, "a.pub"))
	expect(nil, []string{inside}, "")

	parent := t.TempDir()
	os.Mkdir(filepath.Join(parent, "trust"), 0o755)
	above := pub(filepath.Join(parent, "trust"), "k.pub")
	os.Chmod(parent, 0o777)
	expect(nil, []string{filepath.Join(parent, "trust")}, "a directory above it, is writable by every user")
	expect([]string{above}, nil, "writable by every user")
	os.Chmod(parent, 0o777|os.ModeSticky)
	expect(nil, []string{filepath.Join(parent, "trust")}, "")
	os.Chmod(parent, 0o700)
	os.Chown(above, 12345, 12345)
	expect(nil, []string{filepath.Join(parent, "trust")}, "belongs to uid 12345, neither root nor this process's user")

	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "README"), []byte("keys go here"), 0o644)
	expect(nil, []string{empty}, "holds no key (*.pub): naming a trust directory means lockfiles must be signed")

	mountinfo := strings.Join([]string{
		"22 1 0:21 / / rw,relatime - overlay overlay rw",
		"30 22 0:40 / /app/trust ro,relatime - tmpfs tmpfs ro",
		"31 22 0:41 / /app/trust-rw rw,relatime - tmpfs tmpfs rw",
		`32 22 0:42 / /with\040space ro - tmpfs tmpfs ro`,
	}, "\n")
	for path, want := range map[string]bool{"/app/trust/k.pub": true, "/app/trust": true, "/app/trust-rw/k.pub": false, "/app/trusted/k.pub": false, "/with space/k.pub": true} {
		if got := onReadOnlyMount(path, mountinfo); got != want {
			t.Fatalf("onReadOnlyMount(%q) = %v", path, got)
		}
	}
}

// signLock writes a DSSE envelope over an in-toto statement for the lockfile in dir, with the
// given serial (nil: none) — the shape `builder sign` writes (src/trust/statement.ts).
func signLock(t *testing.T, dir string, priv ed25519.PrivateKey, serial interface{}) {
	t.Helper()
	signLockWith(t, dir, priv, serial, nil)
}

// signLockWith also names artifacts (path → sha256 hex) as subjects, as `builder sign` does.
func signLockWith(t *testing.T, dir string, priv ed25519.PrivateKey, serial interface{}, artifacts map[string]string) {
	t.Helper()
	data, _ := os.ReadFile(filepath.Join(dir, "builder.lock.json"))
	sum := sha256.Sum256(data)
	subjects := []interface{}{map[string]interface{}{"name": lockfileSubject, "digest": map[string]string{"sha256": hex.EncodeToString(sum[:])}}}
	for name, hexSum := range artifacts {
		subjects = append(subjects, map[string]interface{}{"name": name, "digest": map[string]string{"sha256": hexSum}})
	}
	params := map[string]interface{}{}
	if serial != nil {
		params["serial"] = serial
	}
	statement, _ := json.Marshal(map[string]interface{}{
		"_type": statementType, "predicateType": slsaProvenanceV1,
		"subject":   subjects,
		"predicate": map[string]interface{}{"buildDefinition": map[string]interface{}{"buildType": buildType, "internalParameters": params}},
	})
	sig := ed25519.Sign(priv, pae(inTotoPayloadType, statement))
	envelope, _ := json.Marshal(map[string]interface{}{"payloadType": inTotoPayloadType, "payload": base64.StdEncoding.EncodeToString(statement),
		"signatures": []interface{}{map[string]string{"keyid": "", "sig": base64.StdEncoding.EncodeToString(sig)}}})
	if err := os.WriteFile(filepath.Join(dir, "builder.lock.json.sig"), envelope, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A rollback: once a lockfile signed with serial N serves, a validly signed older one is
// refused (ROLLBACK_REFUSED) and the serving set stays, through refused reloads in between; a
// configured floor refuses old sets at start; a serial that is not a non-negative integer
// makes the statement unusable.
func TestRollbackRefused(t *testing.T) {
	pubKey, priv, _ := ed25519.GenerateKey(nil)
	der, _ := x509.MarshalPKIXPublicKey(pubKey)
	key, err := ParseTrustedKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), "test.pub")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeLock(t, dir, map[string]map[string]interface{}{})
	openWith := func(min int64) *Host[*testRegistry] {
		e := env()
		h, err := Open(Options[*testRegistry]{Dir: dir, Environment: &e, PrivateDir: t.TempDir(), TrustedKeys: []TrustedKey{key}, MinSerial: min, NewRegistrar: func(string) *testRegistry { return &testRegistry{} }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(h.Close)
		return h
	}
	signLock(t, dir, priv, 2000)
	h := openWith(0)
	if r := h.Report(); r.Lockfile.Status != "accepted" || r.Lockfile.Serial != 2000 {
		t.Fatalf("v2: %#v", r.Lockfile)
	}
	signLock(t, dir, priv, 1000)
	if r := h.Reload(); r.Lockfile.Code != "ROLLBACK_REFUSED" || !strings.Contains(r.Lockfile.Reason, "serial 1000, older than the serving lockfile's 2000") {
		t.Fatalf("rollback: %#v", r.Lockfile)
	}
	os.Remove(filepath.Join(dir, "builder.lock.json.sig"))
	if r := h.Reload(); r.Lockfile.Code != "UNSIGNED_LOCKFILE" {
		t.Fatalf("unsigned: %#v", r.Lockfile)
	}
	signLock(t, dir, priv, 1000)
	if r := h.Reload(); r.Lockfile.Code != "ROLLBACK_REFUSED" {
		t.Fatalf("rollback after a refused reload: %#v", r.Lockfile)
	}
	signLock(t, dir, priv, 3000)
	if r := h.Reload(); r.Lockfile.Status != "accepted" || r.Lockfile.Serial != 3000 {
		t.Fatalf("re-signed: %#v", r.Lockfile)
	}
	floored := openWith(5000)
	if r := floored.Report(); r.Lockfile.Code != "ROLLBACK_REFUSED" || !strings.Contains(r.Lockfile.Reason, "configured floor (MinSerial) 5000") {
		t.Fatalf("floor: %#v", r.Lockfile)
	}
	for _, bad := range []interface{}{-1, 1.5, "7", 9007199254740992.0, nil} {
		if bad == nil {
			continue
		}
		signLock(t, dir, priv, bad)
		if r := openWith(0).Report(); r.Lockfile.Code != "BAD_SIGNATURE" || !strings.Contains(r.Lockfile.Reason, `"serial" must be a non-negative integer`) {
			t.Fatalf("serial %v: %#v", bad, r.Lockfile)
		}
	}
	signLock(t, dir, priv, nil)
	if r := openWith(0).Report(); r.Lockfile.Status != "accepted" || r.Lockfile.Serial != 0 {
		t.Fatalf("no serial: %#v", r.Lockfile)
	}
}
