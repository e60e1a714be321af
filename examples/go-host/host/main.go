// gohost: an example Go host that loads Go plugins (-buildmode=plugin) through pluginhost:
// only what the lockfile lists, with the locked bytes, in the locked environment, built by
// this binary's Go against its modules — the checks that keep a mismatched plugin from
// crashing the process. Each plugin exports `func Register(shared.Registrar)`.
//
//	gohost [-plugins DIR] [-arg ARG]             load, call every registered function, exit
//	gohost -listen 127.0.0.1:8080 [-token-file F] serve GET /metrics, GET /plugins,
//	                                             PUT /plugins/reload (hot reload) until stopped
//	gohost -print-environment                   this host's fingerprint and its hash
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"plugin"
	"runtime"
	"sort"
	"strings"

	"example.com/shared"
	"github.com/plugin-builder/pluginhost"
)

// registry is what one plugin version registers into.
type registry struct {
	names []string
	funcs map[string]func(string) string
}

func newRegistry(string) shared.Registrar { return &registry{funcs: map[string]func(string) string{}} }

func (r *registry) Add(name string, fn func(string) string) {
	if _, dup := r.funcs[name]; !dup {
		r.names = append(r.names, name)
	}
	r.funcs[name] = fn
}

func (r *registry) Names() []string { return append([]string(nil), r.names...) }

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	dir := flag.String("plugins", "/app/plugins", "plugin directory with builder.lock.json")
	arg := flag.String("arg", "world", "argument passed to every registered function")
	listen := flag.String("listen", "", "serve HTTP on this address instead of exiting")
	tokenFile := flag.String("token-file", "", "file holding the bearer token for /plugins routes")
	printEnv := flag.Bool("print-environment", false, "print this host's environment fingerprint and exit")
	noVerify := flag.Bool("no-verify", false, "DANGEROUS: plugin.Open without any check (to show what the checks prevent)")
	allowMismatch := flag.Bool("allow-environment-mismatch", false, "DANGEROUS: load despite a different environment (the Go release and module checks still apply)")
	var trustKeys, trustDirs stringList
	flag.Var(&trustKeys, "trust-key", "trusted public key (.pub from `builder keygen`); repeatable")
	flag.Var(&trustDirs, "trust-dir", "directory of trusted *.pub keys; repeatable")
	flag.Parse()

	if *printEnv {
		f, err := pluginhost.LiveFingerprint(true)
		if err != nil {
			fail(err)
		}
		json.NewEncoder(os.Stdout).Encode(map[string]interface{}{"fingerprint": f, "fingerprintHash": f.Hash()})
		return
	}
	fmt.Printf("gohost %s, shared %s\n", runtime.Version(), shared.Version)
	if *noVerify {
		os.Exit(openUnchecked(*dir, *arg))
	}
	keys, err := pluginhost.LoadTrustedKeys(trustKeys, trustDirs)
	if err != nil {
		fail(err)
	}
	host, err := pluginhost.Open(pluginhost.Options[shared.Registrar]{
		Dir:                      *dir,
		TrustedKeys:              keys,
		NewRegistrar:             newRegistry,
		AllowEnvironmentMismatch: *allowMismatch,
		Log:                      func(level, message string) { fmt.Fprintf(os.Stderr, "gohost %s: %s\n", level, message) },
	})
	if err != nil {
		fail(err)
	}
	defer host.Close()
	if *listen == "" {
		os.Exit(runOnce(host, *arg))
	}
	token := ""
	if *tokenFile != "" {
		data, err := os.ReadFile(*tokenFile)
		if err != nil {
			fail(err)
		}
		token = strings.TrimSpace(string(data))
	}
	mux := http.NewServeMux()
	mux.Handle("/", pluginhost.Handler(host, pluginhost.HandlerOptions{Token: token}))
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		values := map[string]string{}
		for _, p := range host.Plugins() {
			reg := p.Registrar.(*registry)
			for _, name := range reg.names {
				values[name] = reg.funcs[name](r.URL.Query().Get("arg"))
			}
		}
		w.Header().Set("content-type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(values)
	})
	fmt.Fprintf(os.Stderr, "gohost: serving on http://%s\n", *listen)
	fail(http.ListenAndServe(*listen, mux))
}

// runOnce prints what loaded and what was refused, and calls every registered function.
func runOnce(host *pluginhost.Host[shared.Registrar], arg string) int {
	report := host.Report()
	if report.Lockfile.Status != "accepted" {
		fmt.Printf("lockfile refused (%s): %s\n", report.Lockfile.Code, report.Lockfile.Reason)
		return 2
	}
	failed := 0
	for _, status := range report.Plugins {
		if status.Status != "loaded" {
			fmt.Printf("rejected %s (%s): %s\n", status.Name, status.Code, status.Reason)
			failed++
			continue
		}
		p, _ := host.Plugin(status.Name)
		reg := p.Registrar.(*registry)
		for _, name := range reg.names {
			fmt.Printf("loaded %s: %s(%q) = %q\n", status.Name, name, arg, reg.funcs[name](arg))
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// openUnchecked is plugin.Open with no check at all: what a host without pluginhost does.
func openUnchecked(dir, arg string) int {
	matches, _ := filepath.Glob(filepath.Join(dir, "*.so"))
	sort.Strings(matches)
	failed := 0
	for _, path := range matches {
		p, err := plugin.Open(path)
		if err != nil {
			fmt.Printf("failed %s: %v\n", filepath.Base(path), err)
			failed++
			continue
		}
		sym, err := p.Lookup("Register")
		register, ok := sym.(func(shared.Registrar))
		if err != nil || !ok {
			fmt.Printf("failed %s: no Register(shared.Registrar)\n", filepath.Base(path))
			failed++
			continue
		}
		reg := newRegistry("").(*registry)
		register(reg)
		for _, name := range reg.names {
			fmt.Printf("loaded %s: %s(%q) = %q\n", filepath.Base(path), name, arg, reg.funcs[name](arg))
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gohost:", err)
	if e, ok := err.(*pluginhost.Error); ok && e.Fix != "" {
		fmt.Fprintln(os.Stderr, "fix:", e.Fix)
	}
	os.Exit(2)
}
