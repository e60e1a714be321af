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
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"sync"
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
	// Registry: pull the plugin set from an OCI registry (published by `builder publish`) into a
	// local store and load from there, instead of Dir. See RegistryOptions.
	Registry *RegistryOptions
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

// source is a plugin directory to load from: the deployed one, or a set pulled from a registry.
type source struct {
	dir, lockPath, sigPath string
	// ref: the pinned reference of a pulled set.
	ref string
	// key: the pulled set's name in the store.
	key string
}

type Host[R any] struct {
	opts Options[R]
	// src: where the serving set comes from; replaced only by an accepted reload (under reloadMu).
	src      source
	registry *registrySource
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
	if (opts.Dir == "") == (opts.Registry == nil) || opts.NewRegistrar == nil {
		return nil, fmt.Errorf("pluginhost: Options.NewRegistrar and one of Options.Dir and Options.Registry are required")
	}
	h := &Host[R]{opts: opts, active: map[string]*Loaded[R]{}, versions: map[string]versionResult[R]{}}
	h.src.dir = opts.Dir
	h.src.lockPath = opts.Lockfile
	if h.src.lockPath == "" {
		h.src.lockPath = filepath.Join(opts.Dir, "builder.lock.json")
	}
	h.src.sigPath = opts.Signature
	if h.src.sigPath == "" {
		h.src.sigPath = h.src.lockPath + ".sig"
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
	if opts.Registry != nil {
		rs, first, err := openRegistrySource(*opts.Registry, opts.TrustedKeys, h.opts.Log)
		if err != nil {
			return nil, err
		}
		h.registry, h.src = rs, first
	}
	h.lock = LockfileState{Status: "refused", Path: h.src.lockPath, Code: "NOT_LOADED", Reason: "no reload has finished yet"}
	report := h.Reload()
	if h.registry != nil {
		if report.Lockfile.Status == "accepted" {
			h.registry.markServing(h.src)
		}
		h.registry.release(h.src)
	}
	return h, nil
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

// Close removes the private copies' directory (loaded code stays mapped) and lets go of the store.
func (h *Host[R]) Close() {
	h.seal.close()
	if h.registry != nil {
		h.registry.close()
	}
}

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
	c.report, _ = h.reload(h.src)
	h.reloadMu.Unlock()
	close(c.done)
	return c.report
}

// reload loads from src. A refused lockfile of the serving source is recorded in the report; one
// of another source (a reload by reference) is returned and changes nothing.
func (h *Host[R]) reload(src source) (Report, error) {
	lock, state, err := h.acceptLockfile(src)
	if err != nil {
		e := asError(err)
		if src != h.src {
			return h.Report(), e
		}
		h.mu.Lock()
		h.lock = LockfileState{Status: "refused", Path: src.lockPath, Ref: src.ref, Code: e.Code, Reason: e.Message, Fix: e.Fix}
		h.mu.Unlock()
		h.opts.Log("warn", fmt.Sprintf("lockfile refused (%s); %d plugin(s) keep serving: %s", e.Code, len(h.Plugins()), e.Message))
		return h.Report(), nil
	}
	if len(h.opts.TrustedKeys) == 0 && !h.warned {
		h.warned = true
		h.opts.Log("warn", "no trusted signing keys: lockfile signatures are not checked, so whoever can write "+src.dir+" decides what loads")
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
		loaded, err := h.load(src.dir, name, entry, envProblem)
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
	statuses = append(statuses, h.unknownFiles(src.dir, lock)...)
	state.Ref = src.ref
	h.mu.Lock()
	h.src = src
	h.active, h.statuses, h.lock = next, statuses, state
	if state.Serial > h.servingSerial {
		h.servingSerial = state.Serial
	}
	h.mu.Unlock()
	return h.Report(), nil
}
