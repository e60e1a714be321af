package pluginhost

import (
	"fmt"
	"os"
	"path/filepath"
	"plugin"
	"strings"
)

func (h *Host[R]) load(dir, name string, entry LockedPlugin, envProblem error) (*Loaded[R], error) {
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
	path := filepath.Join(dir, entry.File)
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

func asError(err error) *Error {
	if e, ok := err.(*Error); ok {
		return e
	}
	return &Error{Code: "INTERNAL", Message: err.Error()}
}
