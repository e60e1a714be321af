// gohost: an example Go host that loads Go plugins (-buildmode=plugin) through pluginhost:
// only what the lockfile lists, with the locked bytes, in the locked environment, built by
// this binary's Go against its modules — the checks that keep a mismatched plugin from
// crashing the process. Each plugin exports `func Register(shared.Registrar)`.
//
//	gohost [-plugins DIR] [-arg ARG]             load, call every registered function, exit
//	gohost -listen 127.0.0.1:8080 [-token-file F] serve GET /metrics, GET /plugins,
//	                                             PUT /plugins/reload (hot reload) until SIGTERM;
//	                                             every route but /healthz needs the token, which
//	                                             is required off loopback (-insecure-no-auth waives it)
//	gohost -from REG/REPO@sha256:… -store DIR …   the plugin set from a registry (builder publish);
//	                                             PUT /plugins/reload {"ref": "…"} switches sets
//	gohost -print-environment                   this host's fingerprint and its hash
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"plugin"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

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
	tokenFile := flag.String("token-file", "", "file holding the bearer token for every route but /healthz (at least 16 characters)")
	insecureNoAuth := flag.Bool("insecure-no-auth", false, "DANGEROUS: serve a non-loopback address without a token")
	printEnv := flag.Bool("print-environment", false, "print this host's environment fingerprint and exit")
	noVerify := flag.Bool("no-verify", false, "DANGEROUS: plugin.Open without any check (to show what the checks prevent)")
	floor, _ := strconv.ParseInt(os.Getenv("BUILDER_HOST_MIN_SERIAL"), 10, 64)
	minSerial := flag.Int64("min-serial", floor, "with trusted keys: refuse signed lockfiles with a lower serial (rollback floor; default $BUILDER_HOST_MIN_SERIAL, which builder deploy sets)")
	allowMismatch := flag.Bool("allow-environment-mismatch", false, "DANGEROUS: load despite a different environment (the Go release and module checks still apply)")
	from := flag.String("from", "", "pull the plugin set REGISTRY/REPO@sha256:… (what `builder publish` printed) into -store and serve it, instead of -plugins")
	store := flag.String("store", "/tmp/plugin-store", "with -from: the local content-addressed store of pulled sets (a restart serves from it without the registry)")
	allowTag := flag.Bool("allow-tag", false, "with -from: accept a tag, resolved once to a digest (logged)")
	plainHTTP := flag.Bool("plain-http", false, "with -from: plain HTTP to a registry that is not on loopback")
	pullTimeout := flag.Duration("pull-timeout", 5*time.Minute, "with -from: give up the first pull (retried with backoff while the registry is unreachable) after this")
	var trustKeys, trustDirs, allowRepos stringList
	flag.Var(&trustKeys, "trust-key", "trusted public key (.pub from `builder keygen`); repeatable")
	flag.Var(&trustDirs, "trust-dir", "directory of trusted *.pub keys; repeatable")
	flag.Var(&allowRepos, "allow-repository", "with -from: a REGISTRY/REPO a reload by reference may also pull from; repeatable")
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
	var fromRegistry *pluginhost.RegistryOptions
	if *from != "" {
		fromRegistry = &pluginhost.RegistryOptions{Ref: *from, Store: *store, AllowTag: *allowTag, PlainHTTP: *plainHTTP, PullTimeout: *pullTimeout, AllowRepositories: allowRepos}
		*dir = ""
	}
	host, err := pluginhost.Open(pluginhost.Options[shared.Registrar]{
		Dir:                      *dir,
		Registry:                 fromRegistry,
		TrustedKeys:              keys,
		MinSerial:                *minSerial,
		NewRegistrar:             newRegistry,
		AllowEnvironmentMismatch: *allowMismatch,
		// One line per event: a lockfile's or a plugin's text is escaped, never obeyed by the terminal.
		Log: func(level, message string) {
			fmt.Fprintf(os.Stderr, "gohost %s: %s\n", level, pluginhost.Printable(message))
		},
	})
	if err != nil {
		fail(err)
	}
	defer host.Close()
	if *listen == "" {
		os.Exit(runOnce(host, *arg))
	}
	token, err := readToken(*tokenFile)
	if err != nil {
		fail(err)
	}
	if token == "" && !isLoopback(*listen) && !*insecureNoAuth {
		fail(&pluginhost.Error{Code: "BAD_TOKEN", Message: "listening on " + *listen + " (not loopback) needs a bearer token for every route but /healthz", Fix: "Give -token-file FILE (at least 16 characters); or -listen 127.0.0.1:PORT; or, knowingly, -insecure-no-auth."})
	}
	auth := pluginhost.HandlerOptions{Token: token, InsecureNoAuth: token == ""}
	mux := http.NewServeMux()
	mux.Handle("/", pluginhost.Handler(host, auth))
	// /metrics runs every plugin's functions: it is as powerful as /plugins, and as protected.
	mux.Handle("/metrics", auth.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		values := map[string]string{}
		for _, p := range host.Plugins() {
			reg := p.Registrar.(*registry)
			for _, name := range reg.names {
				values[name] = reg.funcs[name](r.URL.Query().Get("arg"))
			}
		}
		w.Header().Set("content-type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(values)
	})))
	// Timeouts on every phase: a client that sends its headers a byte a minute, or never reads
	// the answer, holds a connection for seconds, not forever.
	server := &http.Server{
		Addr:              *listen,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	stop := make(chan os.Signal, 1)
	drained := make(chan struct{})
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		server.Shutdown(ctx)
		close(drained)
	}()
	fmt.Fprintf(os.Stderr, "gohost: serving on http://%s (auth: %s)\n", *listen, map[bool]string{true: "bearer token", false: "none"}[token != ""])
	if err := server.ListenAndServe(); err != http.ErrServerClosed {
		fail(err)
	}
	// ListenAndServe returns as soon as Shutdown begins: requests in flight get their grace.
	<-drained
}

// readToken reads the token file as `builder host --token-file` does: one trailing newline
// dropped, then the token rules (pluginhost.CheckToken). An empty or short token is an error,
// never "no authentication".
func readToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	// Opened once, without blocking (a FIFO put there must not hang the start), checked on the
	// descriptor, read through a limit: no swap between the check and the read.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !info.Mode().IsRegular() || info.Size() > 4096 {
		return "", &pluginhost.Error{Code: "BAD_TOKEN", Message: "the token file " + path + " is not a regular file of at most 4096 bytes"}
	}
	data, err := io.ReadAll(io.LimitReader(f, 4097))
	if err != nil {
		return "", err
	}
	if len(data) > 4096 {
		return "", &pluginhost.Error{Code: "BAD_TOKEN", Message: "the token file " + path + " grew past 4096 bytes while read"}
	}
	// One trailing newline (\n or \r\n) is dropped, as `builder host --token-file` drops it.
	token := string(data)
	if strings.HasSuffix(token, "\r\n") {
		token = token[:len(token)-2]
	} else if strings.HasSuffix(token, "\n") {
		token = token[:len(token)-1]
	}
	if err := pluginhost.CheckToken(token); err != nil {
		return "", fmt.Errorf("the token file %s: %w", path, err)
	}
	return token, nil
}

func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// runOnce prints what loaded and what was refused, and calls every registered function.
func runOnce(host *pluginhost.Host[shared.Registrar], arg string) int {
	report := host.Report()
	if report.Lockfile.Status != "accepted" {
		fmt.Printf("lockfile refused (%s): %s\n", report.Lockfile.Code, pluginhost.Printable(report.Lockfile.Reason))
		return 2
	}
	failed := 0
	for _, status := range report.Plugins {
		if status.Status != "loaded" {
			fmt.Printf("rejected %s (%s): %s\n", pluginhost.Printable(status.Name), status.Code, pluginhost.Printable(status.Reason))
			failed++
			continue
		}
		p, _ := host.Plugin(status.Name)
		reg := p.Registrar.(*registry)
		for _, name := range reg.names {
			fmt.Printf("loaded %s: %s(%q) = %q\n", pluginhost.Printable(status.Name), pluginhost.Printable(name), arg, reg.funcs[name](arg))
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
			fmt.Printf("failed %s: %s\n", pluginhost.Printable(filepath.Base(path)), pluginhost.Printable(err.Error()))
			failed++
			continue
		}
		sym, err := p.Lookup("Register")
		register, ok := sym.(func(shared.Registrar))
		if err != nil || !ok {
			fmt.Printf("failed %s: no Register(shared.Registrar)\n", pluginhost.Printable(filepath.Base(path)))
			failed++
			continue
		}
		reg := newRegistry("").(*registry)
		register(reg)
		for _, name := range reg.names {
			fmt.Printf("loaded %s: %s(%q) = %q\n", pluginhost.Printable(filepath.Base(path)), pluginhost.Printable(name), arg, reg.funcs[name](arg))
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gohost:", pluginhost.Printable(err.Error()))
	var e *pluginhost.Error
	if errors.As(err, &e) && e.Fix != "" {
		fmt.Fprintln(os.Stderr, "fix:", pluginhost.Printable(e.Fix))
	}
	os.Exit(2)
}
