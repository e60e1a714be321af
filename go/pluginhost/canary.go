package pluginhost

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"plugin"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The canary entry. When CanaryEnv holds a nonce, Open opens no host: it loads each plugin named
// in CanaryFilesEnv (lines NAME=SHA256=PATH) the way the host would — the sha256 of the bytes,
// plugin.Open, Register with a fresh registrar from Options.NewRegistrar — reports each load on
// stdout and exits the process:
//
//	NONCE loading PATH
//	NONCE loaded PATH                 (or: NONCE failed PATH CODE: MESSAGE)
//	NONCE done
//
// A build's proof starts the host binary this way in a container of the host image; a host
// starts itself this way before every swap (Options.NoCanary turns that off). A program using
// pluginhost must therefore reach Open when started as it normally starts, before anything it
// must not do twice (listening on a port, writing state).
const (
	CanaryEnv      = "PLUGINHOST_CANARY"
	CanaryFilesEnv = "PLUGINHOST_CANARY_FILES"
)

var canaryNonce = regexp.MustCompile(`^[0-9a-f]{16,64}$`)

// How long a canary may take, and how much of its stderr a CANARY_CRASHED report keeps.
const (
	canaryTimeout     = 60 * time.Second
	canaryStderrLines = 12
	canaryOutputLimit = 64 << 10
)

// ErrCanaryCrashed: the throwaway process that loaded a new version first died in the load.
var ErrCanaryCrashed = code("CANARY_CRASHED")

func runCanary[R any](opts Options[R], nonce string) int {
	if !canaryNonce.MatchString(nonce) {
		fmt.Fprintf(os.Stderr, "pluginhost: %s must be 16 to 64 lowercase hex digits\n", CanaryEnv)
		return 2
	}
	h := &Host[R]{opts: opts}
	all := true
	for _, line := range strings.Split(os.Getenv(CanaryFilesEnv), "\n") {
		if line == "" {
			continue
		}
		parts := strings.SplitN(line, "=", 3)
		if len(parts) != 3 || !hexSha256.MatchString(parts[1]) || parts[2] == "" || strings.ContainsRune(parts[2], '\r') {
			fmt.Fprintf(os.Stderr, "pluginhost: %s: %q is not NAME=SHA256=PATH\n", CanaryFilesEnv, Printable(line))
			return 2
		}
		name, sum, path := parts[0], parts[1], parts[2]
		fmt.Fprintf(os.Stdout, "\n%s loading %s\n", nonce, path)
		if err := h.canaryLoad(name, sum, path); err != nil {
			all = false
			e := asError(err)
			fmt.Fprintf(os.Stdout, "\n%s failed %s %s: %s\n", nonce, path, e.Code, strings.NewReplacer("\n", " ", "\r", " ").Replace(e.Message))
			continue
		}
		fmt.Fprintf(os.Stdout, "\n%s loaded %s\n", nonce, path)
	}
	fmt.Fprintf(os.Stdout, "\n%s done\n", nonce)
	if all {
		return 0
	}
	return 1
}

// canaryLoad: the bytes are the expected ones, plugin.Open takes them, Register succeeds.
// Refusals that need the lockfile (Go release, modules) are the host's before it starts a
// canary; what reaches the canary is what plugin.Open itself makes of the plugin.
func (h *Host[R]) canaryLoad(name, sum, path string) error {
	file, _, err := openRegular(path, fmt.Sprintf("Plugin %q:", name), name, true)
	if err != nil {
		return err
	}
	hash := sha256.New()
	limit := h.opts.Limits.MaxPluginBytes
	if limit == 0 {
		limit = DefaultLimits.MaxPluginBytes
	}
	_, err = io.Copy(hash, io.LimitReader(file, limit+1))
	file.Close()
	if err != nil {
		return refuse(ErrFileUnreadable, name, fmt.Sprintf("Plugin %q: %s cannot be read: %v", name, path, err), "Check the file.", err)
	}
	if got := hex.EncodeToString(hash.Sum(nil)); got != sum {
		return refuse(ErrHashMismatch, name, fmt.Sprintf("Plugin %q (%s): sha256 %s, expected %s.", name, path, got, sum), "Load the bytes that were built.", nil)
	}
	opened, err := plugin.Open(path)
	if err != nil {
		return refuse(ErrLoadFailed, name, fmt.Sprintf("Plugin %q (%s) could not be loaded: %v", name, path, err), loadFix(err), err)
	}
	_, err = h.register(name, LockedPlugin{Kind: "go-plugin", File: path, Sha256: sum}, opened)
	return err
}

// canary loads the sealed copy first in a child process of this very program (same executable,
// arguments and environment, plus the canary variables) and returns nil only when the child
// loaded it and its Register succeeded. A child that dies in the load is CANARY_CRASHED, with
// its exit status or signal and its last stderr lines; this process is untouched.
func (h *Host[R]) canary(name, sum, sealed string) error {
	random := make([]byte, 16)
	if _, err := rand.Read(random); err != nil {
		return refuse(ErrCanaryCrashed, name, fmt.Sprintf("Plugin %q: no canary nonce: %v", name, err), "Check the system's random source.", err)
	}
	nonce := hex.EncodeToString(random)
	ctx, cancel := context.WithTimeout(context.Background(), canaryTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, CanaryEnv+"=") && !strings.HasPrefix(kv, CanaryFilesEnv+"=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, CanaryEnv+"="+nonce, CanaryFilesEnv+"="+name+"="+sum+"="+sealed)
	// Our own pipes, not exec's copying goroutines: Wait would wait for every process holding
	// them, and a plugin's constructor may fork one that never exits. Its own process group, so
	// what it forks is killed with it (unless it calls setsid).
	// stdout: only the report's lines are kept (a chatty init must not push them out); stderr: its end.
	stdout := &reportLines{prefix: nonce + " "}
	var stderr cappedBuffer
	stderr.limit = canaryOutputLimit
	outR, outW, err := os.Pipe()
	if err != nil {
		return refuse(ErrCanaryCrashed, name, fmt.Sprintf("Plugin %q: no pipe for the canary: %v", name, err), "Check the process's file descriptor limit.", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return refuse(ErrCanaryCrashed, name, fmt.Sprintf("Plugin %q: no pipe for the canary: %v", name, err), "Check the process's file descriptor limit.", err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	copied := make(chan struct{}, 2)
	go func() { io.Copy(stdout, outR); copied <- struct{}{} }()
	go func() { io.Copy(&stderr, errR); copied <- struct{}{} }()
	runErr := cmd.Start()
	outW.Close()
	errW.Close()
	if runErr == nil {
		runErr = cmd.Wait()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	// What the child wrote before it ended is in the pipes: read it, briefly, then let go of them.
	outR.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	errR.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	<-copied
	<-copied
	outR.Close()
	errR.Close()
	exitedNormally := runErr == nil || (func() bool {
		var e *exec.ExitError
		return errors.As(runErr, &e) && e.ExitCode() == 1
	})()
	report := stdout.lines()
	done := false
	for _, rest := range report {
		done = done || rest == "done"
	}
	current := ""
	for _, rest := range report {
		if strings.HasPrefix(rest, "loading ") {
			current = strings.TrimPrefix(rest, "loading ")
			continue
		}
		// The plugin's code runs in the child and can print the protocol: only an ordinary end backs its report.
		if current != sealed || !exitedNormally || !done {
			continue
		}
		if rest == "loaded "+sealed && runErr == nil {
			return nil
		}
		if strings.HasPrefix(rest, "failed "+sealed+" ") && runErr != nil {
			message := strings.TrimPrefix(rest, "failed "+sealed+" ")
			c := ErrLoadFailed
			if i := strings.Index(message, ": "); i > 0 {
				c = code(message[:i])
				message = message[i+2:]
			}
			return refuse(c, name, message+" (in the canary process)", "The serving version keeps serving; rebuild the plugin with `builder build` for this host.", nil)
		}
	}
	how := "ended without a verdict"
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		how = fmt.Sprintf("did not finish loading within %s and was killed", canaryTimeout)
	case errors.As(runErr, &exitErr):
		if status, ok := exitErr.Sys().(syscall.WaitStatus); ok && status.Signaled() {
			how = fmt.Sprintf("was killed by signal %d (%s)", int(status.Signal()), status.Signal())
		} else {
			how = fmt.Sprintf("exited with status %d", exitErr.ExitCode())
		}
	case runErr != nil:
		how = "could not start: " + runErr.Error()
	}
	return refuse(ErrCanaryCrashed, name, fmt.Sprintf("Plugin %q: the canary process that loaded it first %s%s", name, how, lastLines(stderr.Bytes())), "The serving version keeps serving. Run `builder verify --real` against this host image; rebuild the plugin with `builder build`.", runErr)
}

// lastLines: the Go runtime's own verdict first (a crash ends in a register dump, which says
// little), then the last lines of stderr.
func lastLines(out []byte) string {
	var lines, verdict []string
	for _, l := range strings.Split(string(bytes.TrimRight(out, "\n")), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
			if len(verdict) < 3 && goVerdict.MatchString(l) {
				verdict = append(verdict, l)
			}
		}
	}
	if len(lines) == 0 {
		return "."
	}
	if len(lines) > canaryStderrLines {
		lines = lines[len(lines)-canaryStderrLines:]
	}
	said := ""
	if len(verdict) > 0 {
		said = "; it said: " + Printable(strings.Join(verdict, " | "))
	}
	return said + "; its last output: " + Printable(strings.Join(lines, " | "))
}

var goVerdict = regexp.MustCompile(`^(fatal error:|panic:|unexpected fault|SIG[A-Z]+:|runtime:|plugin:)`)

// reportLines keeps, of what a canary child writes on stdout, only the lines of its report (those
// starting with the nonce, at most 64 of at most 16 KiB), whatever else a plugin prints around them.
type reportLines struct {
	mu      sync.Mutex
	prefix  string
	partial []byte
	kept    []string
}

func (r *reportLines) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range p {
		if b != '\n' {
			if len(r.partial) < 16<<10 {
				r.partial = append(r.partial, b)
			}
			continue
		}
		line := strings.TrimSuffix(string(r.partial), "\r")
		r.partial = r.partial[:0]
		if strings.HasPrefix(line, r.prefix) && len(r.kept) < 64 {
			r.kept = append(r.kept, strings.TrimPrefix(line, r.prefix))
		}
	}
	return len(p), nil
}

func (r *reportLines) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.kept...)
}

// cappedBuffer keeps the last `limit` bytes written (a plugin can write without end); safe for
// the copying goroutine and a reader after it finished.
type cappedBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	limit int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if over := c.buf.Len() - c.limit; over > 0 {
		c.buf.Next(over)
	}
	return len(p), nil
}

func (c *cappedBuffer) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.buf.Bytes()...)
}
