// gohost: an example Go host that loads Go plugins (-buildmode=plugin) safely.
//
// Before plugin.Open it checks, for every plugin the lockfile lists: the file's sha256, that
// the plugin was built with exactly this binary's Go version (a mismatch does not return an
// error from plugin.Open: the runtime dies with "fatal error: runtime: no plugin module
// data"), and that every module both link has the same version. Then it calls the plugin's
// exported Register (the registration method) and runs what was registered.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"plugin"
	"runtime"
	"runtime/debug"
	"sort"

	"example.com/shared"
)

type lockedModule struct {
	Path    string        `json:"path"`
	Version string        `json:"version"`
	Replace *lockedModule `json:"replace,omitempty"`
}

type lockedPlugin struct {
	Kind      string         `json:"kind"`
	File      string         `json:"file"`
	Sha256    string         `json:"sha256"`
	GoVersion string         `json:"goVersion"`
	Deps      []lockedModule `json:"deps"`
}

type lockfile struct {
	Plugins map[string]lockedPlugin `json:"plugins"`
}

type registry map[string]func(string) string

func (r registry) Add(name string, fn func(string) string) { r[name] = fn }

func check(dir string, entry lockedPlugin) error {
	data, err := os.ReadFile(filepath.Join(dir, entry.File))
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != entry.Sha256 {
		return fmt.Errorf("sha256 %s does not match the lockfile's %s", got, entry.Sha256)
	}
	if entry.GoVersion != runtime.Version() {
		return fmt.Errorf("built with %s, this host runs %s (loading it would crash the host)", entry.GoVersion, runtime.Version())
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return fmt.Errorf("this host has no build info to compare modules with")
	}
	mine := map[string]string{}
	for _, dep := range info.Deps {
		mine[dep.Path] = dep.Version
	}
	for _, dep := range entry.Deps {
		if v, both := mine[dep.Path]; both && v != dep.Version {
			return fmt.Errorf("module %s: plugin has %s, host has %s", dep.Path, dep.Version, v)
		}
	}
	return nil
}

func main() {
	dir := flag.String("plugins", "/app/plugins", "plugin directory with builder.lock.json")
	noVerify := flag.Bool("no-verify", false, "DANGEROUS: skip the checks (to show what they prevent)")
	arg := flag.String("arg", "world", "argument passed to every registered function")
	flag.Parse()

	text, err := os.ReadFile(filepath.Join(*dir, "builder.lock.json"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "gohost:", err)
		os.Exit(2)
	}
	var lock lockfile
	if err := json.Unmarshal(text, &lock); err != nil {
		fmt.Fprintln(os.Stderr, "gohost: lockfile:", err)
		os.Exit(2)
	}
	fmt.Printf("gohost %s, shared %s\n", runtime.Version(), shared.Version)
	names := make([]string, 0, len(lock.Plugins))
	for name := range lock.Plugins {
		names = append(names, name)
	}
	sort.Strings(names)
	failed := 0
	for _, name := range names {
		entry := lock.Plugins[name]
		if entry.Kind != "go-plugin" {
			continue
		}
		if !*noVerify {
			if err := check(*dir, entry); err != nil {
				fmt.Printf("rejected %s: %v\n", name, err)
				failed++
				continue
			}
		}
		p, err := plugin.Open(filepath.Join(*dir, entry.File))
		if err != nil {
			fmt.Printf("failed %s: %v\n", name, err)
			failed++
			continue
		}
		sym, err := p.Lookup("Register")
		if err != nil {
			fmt.Printf("failed %s: %v\n", name, err)
			failed++
			continue
		}
		register, ok := sym.(func(shared.Registrar))
		if !ok {
			fmt.Printf("failed %s: Register has type %T, want func(shared.Registrar)\n", name, sym)
			failed++
			continue
		}
		funcs := registry{}
		register(funcs)
		for fn, call := range funcs {
			fmt.Printf("loaded %s: %s(%q) = %q\n", name, fn, *arg, call(*arg))
		}
	}
	if failed > 0 {
		os.Exit(1)
	}
}
