// Package pluginhost loads Go plugins (-buildmode=plugin) the way `builder host` loads C
// ones: only what the lockfile lists (signed by a trusted key, when keys are configured),
// only the locked bytes, only in the locked environment, and only plugins built by this
// binary's exact Go release against its exact modules — a plugin built by another Go does
// not return an error from plugin.Open, it kills the process.
//
// A plugin registers itself: it exports `func Register(r R)` (or `func Register(r R) error`),
// where R is the registrar type the host chose; each loaded version gets a fresh R from
// Options.NewRegistrar, and Reload switches each name to its newest loaded version at once.
package pluginhost

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"plugin"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"
)

// Limits bound what a deployed directory can make the host read.
type Limits struct {
	MaxLockfileBytes  int64
	MaxSignatureBytes int64
	MaxPlugins        int
	MaxPluginBytes    int64
}

var DefaultLimits = Limits{MaxLockfileBytes: 1 << 20, MaxSignatureBytes: 4 << 20, MaxPlugins: 1000, MaxPluginBytes: 1 << 30}

type Options[R any] struct {
	// Dir holds the .so files and, by default, builder.lock.json and its .sig.
	Dir       string
	Lockfile  string
	Signature string
	// TrustedKeys: a lockfile must carry a signature by one of them. None: lockfiles are not
	// authenticated (reported as trust "unsigned").
	TrustedKeys []TrustedKey
	// MinSerial: with TrustedKeys, a signed lockfile whose serial (the signing time in ms, as
	// `builder sign` writes it) is lower is refused (ROLLBACK_REFUSED). A lockfile older than the
	// one serving is refused whatever this is.
	MinSerial int64
	// NewRegistrar makes what one plugin version's Register is given.
	NewRegistrar func(plugin string) R
	// Environment is the running system's fingerprint; zero: LiveFingerprint(true).
	Environment *Fingerprint
	// AllowEnvironmentMismatch loads despite a different environment (logged each time).
	AllowEnvironmentMismatch bool
	Limits                   Limits
	// PrivateDir is where sealed copies go; default os.TempDir().
	PrivateDir string
	Log        func(level, message string)
	// NoCanary loads new versions directly in this process. By default each new version is
	// first loaded in a throwaway child process of this program (see CanaryEnv), so a plugin
	// that crashes in plugin.Open or Register costs the child, not the serving host.
	NoCanary bool
}

// maxSerialAheadMs: how far ahead of a host's clock a signing serial may be.
const maxSerialAheadMs = 24 * 3600 * 1000

// PluginStatus, LockfileState and Report have the JSON shapes of `builder host`'s.
type PluginStatus struct {
	Name      string   `json:"name"`
	Status    string   `json:"status"`
	File      string   `json:"file"`
	Sha256    string   `json:"sha256,omitempty"`
	Version   string   `json:"version,omitempty"`
	Functions []string `json:"functions,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	Code      string   `json:"code,omitempty"`
}

type LockfileState struct {
	Status   string   `json:"status"`
	Path     string   `json:"path"`
	Sha256   string   `json:"sha256,omitempty"`
	SignedBy []string `json:"signedBy,omitempty"`
	Serial   int64    `json:"serial,omitempty"`
	Code     string   `json:"code,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	Fix      string   `json:"fix,omitempty"`
}

type Report struct {
	Trust    string         `json:"trust"`
	Lockfile LockfileState  `json:"lockfile"`
	Plugins  []PluginStatus `json:"plugins"`
}

// Loaded is one loaded plugin version and what it registered.
type Loaded[R any] struct {
	Name       string
	File       string
	Sha256     string
	PluginPath string
	Version    string
	Registrar  R
}

// Named lets a registrar report what a plugin registered (PluginStatus.Functions).
type Named interface{ Names() []string }

type Host[R any] struct {
	opts     Options[R]
	lockPath string
	sigPath  string
	env      Fingerprint
	seal     sealer
	buildGo  string
	buildMod map[string]string

	reloadMu sync.Mutex // one reload at a time
	queueMu  sync.Mutex
	waiting  *reloadCall

	mu       sync.RWMutex
	active   map[string]*Loaded[R]
	statuses []PluginStatus
	lock     LockfileState
	// versions: every version ever opened (or refused after plugin.Open), by name and
	// sha256: loaded code cannot be unloaded, so no version is ever opened twice.
	versions map[string]versionResult[R]
	warned   bool
	// servingSerial: the highest serial of a lockfile this host accepted (kept through refused reloads).
	servingSerial int64
}

type versionResult[R any] struct {
	loaded *Loaded[R]
	err    error
}

type reloadCall struct {
	done   chan struct{}
	report Report
}

// Open makes a host and runs its first reload; a refused lockfile is reported, not returned.
func Open[R any](opts Options[R]) (*Host[R], error) {
	if opts.Dir == "" || opts.NewRegistrar == nil {
		return nil, fmt.Errorf("pluginhost: Options.Dir and Options.NewRegistrar are required")
	}
	h := &Host[R]{opts: opts, active: map[string]*Loaded[R]{}, versions: map[string]versionResult[R]{}}
	h.lockPath = opts.Lockfile
	if h.lockPath == "" {
		h.lockPath = filepath.Join(opts.Dir, "builder.lock.json")
	}
	h.sigPath = opts.Signature
	if h.sigPath == "" {
		h.sigPath = h.lockPath + ".sig"
	}
	if h.opts.Limits == (Limits{}) {
		h.opts.Limits = DefaultLimits
	}
	if h.opts.Log == nil {
		h.opts.Log = func(string, string) {}
	}
	// Started as a canary (a build's proof, or this program's own parent before a swap): load,
	// report, exit. Nothing else of the program runs past this point.
	if nonce := os.Getenv(CanaryEnv); nonce != "" {
		os.Exit(runCanary(h.opts, nonce))
	}
	if opts.Environment != nil {
		h.env = *opts.Environment
	} else {
		env, err := LiveFingerprint(true)
		if err != nil {
			return nil, err
		}
		h.env = env
	}
	h.seal.parent = opts.PrivateDir
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil, fmt.Errorf("pluginhost: this binary has no Go build info, so its modules cannot be compared with a plugin's")
	}
	h.buildGo = runtime.Version()
	h.buildMod = map[string]string{}
	for _, d := range info.Deps {
		h.buildMod[d.Path] = d.Version
	}
	h.lock = LockfileState{Status: "refused", Path: h.lockPath, Code: "NOT_LOADED", Reason: "no reload has finished yet"}
	h.Reload()
	return h, nil
}

func (h *Host[R]) trust() string {
	if len(h.opts.TrustedKeys) > 0 {
		return "signed"
	}
	return "unsigned"
}

// Report is the state after the last finished reload.
func (h *Host[R]) Report() Report {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return Report{Trust: h.trust(), Lockfile: h.lock, Plugins: append([]PluginStatus(nil), h.statuses...)}
}

// Plugin is the serving version of a plugin.
func (h *Host[R]) Plugin(name string) (*Loaded[R], bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	p, ok := h.active[name]
	return p, ok
}

// Plugins are the serving versions, by name.
func (h *Host[R]) Plugins() []*Loaded[R] {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*Loaded[R], 0, len(h.active))
	for _, p := range h.active {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close removes the private copies' directory (loaded code stays mapped).
func (h *Host[R]) Close() { h.seal.close() }

// Reload re-reads the lockfile and loads what is new. At most one reload runs and one waits:
// every call made meanwhile shares the waiting one, which reads the newest files anyway.
func (h *Host[R]) Reload() Report {
	h.queueMu.Lock()
	if c := h.waiting; c != nil {
		h.queueMu.Unlock()
		<-c.done
		return c.report
	}
	c := &reloadCall{done: make(chan struct{})}
	h.waiting = c
	h.queueMu.Unlock()

	h.reloadMu.Lock()
	h.queueMu.Lock()
	h.waiting = nil
	h.queueMu.Unlock()
	c.report = h.reload()
	h.reloadMu.Unlock()
	close(c.done)
	return c.report
}

func (h *Host[R]) acceptLockfile() (*Lockfile, LockfileState, error) {
	state := LockfileState{Status: "accepted", Path: h.lockPath}
	data, err := readSmallFile(h.lockPath, "The lockfile", h.opts.Limits.MaxLockfileBytes, false)
	if err != nil {
		if e, ok := err.(*Error); ok && e.Code == ErrFileMissing.Code {
			return nil, state, refuse(ErrLockfileMissing, "", fmt.Sprintf("No lockfile at %s: nothing is loaded.", h.lockPath), "Deploy builder.lock.json (and its .sig) together with the .so files, then reload.", err)
		}
		if e, ok := err.(*Error); ok && e.Code == ErrFileTooLarge.Code {
			return nil, state, refuse(ErrLockfileTooLarge, "", e.Message, "Raise Limits.MaxLockfileBytes if this lockfile is genuine.", err)
		}
		return nil, state, err
	}
	var subjects map[string]string
	if len(h.opts.TrustedKeys) > 0 {
		envelope, err := readSmallFile(h.sigPath, "The lockfile signature", h.opts.Limits.MaxSignatureBytes, false)
		if err != nil {
			if e, ok := err.(*Error); ok && e.Code == ErrFileMissing.Code {
				return nil, state, refuse(ErrUnsignedLockfile, "", fmt.Sprintf("This host trusts signing keys, and %s has no signature (%s).", h.lockPath, h.sigPath), "Sign it with `builder sign --key KEY` (or build with --sign-key) and deploy the .sig beside it.", err)
			}
			return nil, state, refuse(ErrBadSignature, "", "The lockfile signature cannot be read: "+err.Error(), "Deploy the .sig written by `builder sign`.", err)
		}
		keys, signed, serial, err := verifyLockfileSignature(data, envelope, h.opts.TrustedKeys)
		if err != nil {
			return nil, state, err
		}
		// A signed lockfile older than the floor, or than the one serving, is a rollback: the
		// signature of an old set stays valid forever, and replaying it would bring back
		// plugins that were replaced for a reason.
		// A serial far ahead of this clock is a signer's wrong clock: taken, it would lock out
		// every honest signature after it.
		if serial > time.Now().UnixMilli()+maxSerialAheadMs {
			return nil, state, refuse(ErrBadSignature, "", fmt.Sprintf("%s is signed with serial %d (%s), more than a day ahead of this host's clock.", h.lockPath, serial, time.UnixMilli(serial).UTC().Format(time.RFC3339)), "Fix the signer's clock and sign again (or fix this host's clock).", nil)
		}
		h.mu.RLock()
		serving := h.servingSerial
		h.mu.RUnlock()
		if serial < h.opts.MinSerial || serial < serving {
			floor, which := h.opts.MinSerial, "the configured floor (MinSerial)"
			if serving > floor {
				floor, which = serving, "the serving lockfile's"
			}
			return nil, state, refuse(ErrRollbackRefused, "", fmt.Sprintf("%s is signed with serial %d, older than %s %d: a rollback is refused.", h.lockPath, serial, which, floor), "Deploy the newest signed lockfile (sign again with `builder sign` to give this one a new serial, if going back is intended).", nil)
		}
		state.SignedBy, state.Serial, subjects = keys, serial, signed
	}
	lock, err := ParseLockfile(data)
	var other PlatformNotLockedError
	if errors.As(err, &other) {
		return nil, state, refuse(ErrPlatformNotLocked, "", h.lockPath+" "+err.Error()+": nothing is loaded.", fmt.Sprintf("Add %q to host.platforms in builder.config.json, build, and deploy the new lockfile with its %s/ directory.", other.Platform, strings.Replace(other.Platform, "/", "-", 1)), err)
	}
	if err != nil {
		return nil, state, refuse(ErrLockfileInvalid, "", h.lockPath+": "+err.Error(), "Regenerate it with `builder build`, or restore it from version control.", err)
	}
	if len(lock.Plugins) > h.opts.Limits.MaxPlugins {
		return nil, state, refuse(ErrLockfileTooLarge, "", fmt.Sprintf("%s lists %d plugins, more than the limit of %d.", h.lockPath, len(lock.Plugins), h.opts.Limits.MaxPlugins), "Raise Limits.MaxPlugins if this lockfile is genuine.", nil)
	}
	if subjects != nil {
		if err := checkArtifactsSigned(lock, subjects); err != nil {
			return nil, state, err
		}
	}
	state.Sha256 = sha256Hex(data)
	return lock, state, nil
}

func (h *Host[R]) reload() Report {
	lock, state, err := h.acceptLockfile()
	if err != nil {
		e := asError(err)
		h.mu.Lock()
		h.lock = LockfileState{Status: "refused", Path: h.lockPath, Code: e.Code, Reason: e.Message, Fix: e.Fix}
		h.mu.Unlock()
		h.opts.Log("warn", fmt.Sprintf("lockfile refused (%s); %d plugin(s) keep serving: %s", e.Code, len(h.Plugins()), e.Message))
		return h.Report()
	}
	if len(h.opts.TrustedKeys) == 0 && !h.warned {
		h.warned = true
		h.opts.Log("warn", "no trusted signing keys: lockfile signatures are not checked, so whoever can write "+h.opts.Dir+" decides what loads")
	}
	var envProblem error
	if diffs := Diff(lock.Host.Fingerprint, h.env); len(diffs) > 0 {
		mismatch := environmentMismatch(lock.Host.Image, diffs)
		if h.opts.AllowEnvironmentMismatch {
			h.opts.Log("warn", "ENVIRONMENT MISMATCH OVERRIDDEN — loading anyway:\n"+mismatch.Message)
		} else {
			envProblem = mismatch
		}
	}
	names := make([]string, 0, len(lock.Plugins))
	for n := range lock.Plugins {
		names = append(names, n)
	}
	sort.Strings(names)
	next := map[string]*Loaded[R]{}
	var statuses []PluginStatus
	for _, name := range names {
		entry := lock.Plugins[name]
		current, _ := h.Plugin(name)
		if current != nil && current.Sha256 == entry.Sha256 {
			next[name] = current
			statuses = append(statuses, h.loadedStatus(current))
			continue
		}
		loaded, err := h.load(name, entry, envProblem)
		if err == nil {
			next[name] = loaded
			statuses = append(statuses, h.loadedStatus(loaded))
			continue
		}
		e := asError(err)
		if current != nil {
			h.opts.Log("warn", fmt.Sprintf("rejected %s update (previous version keeps serving): %s", name, e.Message))
			next[name] = current
			s := h.loadedStatus(current)
			s.Reason, s.Code = fmt.Sprintf("update to sha256 %s… rejected: %s", entry.Sha256[:16], e.Message), e.Code
			statuses = append(statuses, s)
		} else {
			h.opts.Log("warn", fmt.Sprintf("rejected %s: %s", name, e.Message))
			statuses = append(statuses, PluginStatus{Name: name, Status: "rejected", File: entry.File, Sha256: entry.Sha256, Reason: e.Message, Code: e.Code})
		}
	}
	statuses = append(statuses, h.unknownFiles(lock)...)
	h.mu.Lock()
	h.active, h.statuses, h.lock = next, statuses, state
	if state.Serial > h.servingSerial {
		h.servingSerial = state.Serial
	}
	h.mu.Unlock()
	return h.Report()
}

func (h *Host[R]) loadedStatus(p *Loaded[R]) PluginStatus {
	s := PluginStatus{Name: p.Name, Status: "loaded", File: p.File, Sha256: p.Sha256, Version: p.Version}
	if named, ok := any(p.Registrar).(Named); ok {
		s.Functions = named.Names()
	}
	return s
}

func (h *Host[R]) load(name string, entry LockedPlugin, envProblem error) (*Loaded[R], error) {
	if envProblem != nil {
		return nil, envProblem
	}
	key := name + "\n" + entry.Sha256
	if known, ok := h.versions[key]; ok {
		return known.loaded, known.err
	}
	if err := h.checkGo(name, entry); err != nil {
		return nil, err
	}
	path := filepath.Join(h.opts.Dir, entry.File)
	if entry.Size > h.opts.Limits.MaxPluginBytes {
		return nil, refuse(ErrFileTooLarge, name, fmt.Sprintf("Plugin %q: the lockfile says %d bytes, more than the limit of %d.", name, entry.Size, h.opts.Limits.MaxPluginBytes), "Raise Limits.MaxPluginBytes if the plugin is genuine.", nil)
	}
	file, info, err := openRegular(path, fmt.Sprintf("Plugin %q:", name), name, false)
	if err != nil {
		return nil, err
	}
	if info.Size() != entry.Size {
		file.Close()
		return nil, refuse(ErrSizeMismatch, name, fmt.Sprintf("Plugin %q: %s has %d bytes, the lockfile says %d.", name, path, info.Size(), entry.Size), "Deploy the .so and the lockfile from the same `builder build`.", nil)
	}
	sealed, sum, err := h.seal.seal(file, entry.Size, name)
	file.Close()
	if err != nil {
		return nil, err
	}
	if sum != entry.Sha256 {
		os.Remove(sealed)
		return nil, refuse(ErrHashMismatch, name, fmt.Sprintf("Plugin %q (%s): sha256 %s does not match the lockfile's %s.", name, entry.File, sum, entry.Sha256), "The file was modified or belongs to another build: deploy the .so and the lockfile from the same `builder build`.", nil)
	}
	if !h.opts.NoCanary {
		if err := h.canary(name, entry.Sha256, sealed); err != nil {
			os.Remove(sealed)
			return nil, err
		}
	}
	opened, err := plugin.Open(sealed)
	if err != nil {
		os.Remove(sealed)
		failure := refuse(ErrLoadFailed, name, fmt.Sprintf("Plugin %q (%s) could not be loaded: %v", name, entry.File, err), loadFix(err), err)
		// plugin.Open may have mapped it before refusing: never try this version again.
		h.versions[key] = versionResult[R]{err: failure}
		return nil, failure
	}
	loaded, err := h.register(name, entry, opened)
	h.versions[key] = versionResult[R]{loaded: loaded, err: err}
	if err == nil {
		h.opts.Log("info", fmt.Sprintf("loaded %s (%s, sha256 %s…, plugin path %s)", name, entry.File, entry.Sha256[:16], entry.PluginPath))
	}
	return loaded, err
}

func loadFix(err error) string {
	if strings.Contains(err.Error(), "already loaded") {
		return "Two builds share one plugin path: build go-plugins with `builder build`, which gives every build its own -pluginpath."
	}
	return "Run `builder verify` against this host image; rebuild the plugin with `builder build` for this host."
}

// checkGo refuses, before plugin.Open, what would crash the process instead of failing.
func (h *Host[R]) checkGo(name string, entry LockedPlugin) error {
	if entry.Kind != "go-plugin" {
		return refuse(ErrNotAGoPlugin, name, fmt.Sprintf("Plugin %q is a %s plugin; a Go host loads only go-plugin builds.", name, entry.Kind), `Give it "kind": "go-plugin" in builder.config.json, or load it from a Node host (builder host).`, nil)
	}
	if entry.GoVersion != h.buildGo {
		return refuse(ErrGoVersionMismatch, name, fmt.Sprintf("Plugin %q was built with %s; this host runs %s, and plugin.Open would crash the process.", name, orNone(entry.GoVersion), h.buildGo), "Build plugins with `builder build` against this host image (host.binary set), which builds them with the host's Go.", nil)
	}
	var lines []string
	for _, dep := range entry.Deps {
		if mine, both := h.buildMod[dep.Path]; both && mine != dep.Version {
			lines = append(lines, fmt.Sprintf("%s: plugin has %s, host has %s", dep.Path, dep.Version, mine))
		}
	}
	if len(lines) > 0 {
		return refuse(ErrGoModuleMismatch, name, fmt.Sprintf("Plugin %q links other module versions than this host: %s.", name, strings.Join(lines, "; ")), "Build the plugin against the host's module versions (builder build refuses the mismatch and prints the go mod edit that fixes it).", nil)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(no Go version recorded)"
	}
	return s
}

func (h *Host[R]) register(name string, entry LockedPlugin, p *plugin.Plugin) (loaded *Loaded[R], err error) {
	bad := func(why string) error {
		var zero R
		return refuse(ErrBadRegister, name, fmt.Sprintf("Plugin %q cannot register: %s.", name, why), fmt.Sprintf("Export `func Register(r %T)` from the plugin's main package.", zero), nil)
	}
	sym, err := p.Lookup("Register")
	if err != nil {
		return nil, bad("it exports no Register")
	}
	registrar := h.opts.NewRegistrar(name)
	defer func() {
		if r := recover(); r != nil {
			loaded, err = nil, bad(fmt.Sprintf("Register panicked: %v", r))
		}
	}()
	switch register := sym.(type) {
	case func(R):
		register(registrar)
	case func(R) error:
		if err := register(registrar); err != nil {
			return nil, bad("Register returned an error: " + err.Error())
		}
	default:
		return nil, bad(fmt.Sprintf("Register has type %T", sym))
	}
	version := ""
	if v, err := p.Lookup("Version"); err == nil {
		if s, ok := v.(*string); ok {
			version = *s
		}
	}
	return &Loaded[R]{Name: name, File: entry.File, Sha256: entry.Sha256, PluginPath: entry.PluginPath, Version: version, Registrar: registrar}, nil
}

const maxUnknownReported = 64

// unknownFiles: shared objects that no lockfile entry names are reported, never loaded.
func (h *Host[R]) unknownFiles(lock *Lockfile) []PluginStatus {
	known := map[string]bool{}
	for _, p := range lock.Plugins {
		known[path.Base(p.File)] = true
	}
	dir, err := os.Open(filepath.Join(h.opts.Dir, lock.Dir))
	if err != nil {
		return nil
	}
	defer dir.Close()
	var found []string
	for len(found) < maxUnknownReported {
		names, err := dir.Readdirnames(256)
		for _, n := range names {
			if strings.HasSuffix(n, ".so") && !known[n] && len(found) < maxUnknownReported {
				found = append(found, n)
			}
		}
		if err != nil {
			break
		}
	}
	sort.Strings(found)
	out := make([]PluginStatus, len(found))
	for i, n := range found {
		f := n
		if lock.Dir != "" {
			f = lock.Dir + "/" + n
		}
		out[i] = PluginStatus{Name: f, Status: "rejected", File: f, Code: ErrUnknownPlugin.Code,
			Reason: fmt.Sprintf("Plugin %q is not loadable: it is not in the lockfile.", f)}
	}
	return out
}

func asError(err error) *Error {
	if e, ok := err.(*Error); ok {
		return e
	}
	return &Error{Code: "INTERNAL", Message: err.Error()}
}
