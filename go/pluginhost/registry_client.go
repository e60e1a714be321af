package pluginhost

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
)

const (
	maxRedirects    = 5
	maxSmallAnswer  = 1 << 20
	acceptDocuments = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"
)

// registryClient speaks the distribution API for one repository, as `builder pull` does:
// redirects followed at most five times and never from https to http, a 401 answered once
// per request with the challenge's scheme, and credentials only for the registry itself.
type registryClient struct {
	ref       Reference
	base      *url.URL
	plainHTTP bool
	client    *http.Client
	idle      time.Duration
	tokens    map[string]string
	useBasic  bool
	loaded    bool
	user      string
	pass      string
	haveCreds bool
}

func newRegistryClient(ref Reference, plainHTTP bool, idle time.Duration) *registryClient {
	scheme := "https"
	if plainHTTP || isLoopbackRegistry(ref.Registry) {
		scheme = "http"
	}
	host := ref.Registry
	if host == "docker.io" || host == "index.docker.io" {
		host = "registry-1.docker.io"
	}
	c := &registryClient{ref: ref, base: &url.URL{Scheme: scheme, Host: host}, plainHTTP: plainHTTP, idle: idle, tokens: map[string]string{}}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.ResponseHeaderTimeout = idle
	c.client = &http.Client{Transport: transport, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return &Error{Code: ErrRegistryInsecure.Code, Message: fmt.Sprintf("%s redirected more than %d times: a loop is refused.", ref.Registry, maxRedirects)}
		}
		if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme != "https" {
			return &Error{Code: ErrRegistryInsecure.Code, Message: fmt.Sprintf("%s redirected from https to %s://%s: a downgrade is refused.", ref.Registry, req.URL.Scheme, req.URL.Host)}
		}
		if !c.allowed(req.URL) {
			return &Error{Code: ErrRegistryInsecure.Code, Message: fmt.Sprintf("%s: a request to %s://%s would go over plain HTTP to a host that is not loopback: refused.", ref.Registry, req.URL.Scheme, req.URL.Host)}
		}
		// Credentials are the registry's: never sent to where it redirects (blob storage).
		if req.URL.Host != c.base.Host {
			req.Header.Del("Authorization")
		}
		return nil
	}}
	return c
}

func (c *registryClient) allowed(u *url.URL) bool {
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return isLoopbackRegistry(u.Host) || (c.plainHTTP && u.Host == c.base.Host)
	}
	return false
}

func (c *registryClient) api(path string) *url.URL {
	return &url.URL{Scheme: c.base.Scheme, Host: c.base.Host, Path: "/v2/" + c.ref.Repository + "/" + path}
}

// transportFailure turns a failed exchange into the catalogue's codes.
func transportFailure(err error, host string, ctx context.Context) error {
	var own *Error
	if errors.As(err, &own) {
		return own
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return &Error{Code: ErrRegistryTimeout.Code, Message: fmt.Sprintf("%s: the transfer did not finish within its time limit; nothing of it was kept", host), Fix: "Check the registry and the network, or allow more time.", Err: err}
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return &Error{Code: ErrRegistryTimeout.Code, Message: fmt.Sprintf("%s sent nothing for too long", host), Err: err}
	}
	return &Error{Code: ErrRegistryUnreachable.Code, Message: fmt.Sprintf("%s cannot be reached: %v", host, rootCause(err)), Fix: "Check the registry address and that it runs.", Err: err}
}

func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

var challengeParam = regexp.MustCompile(`^\s*,?\s*([A-Za-z0-9!#$%&'*+.^_` + "`" + `|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([A-Za-z0-9!#$%&'*+.^_` + "`" + `|~/:-]+))`)
var challengeScheme = regexp.MustCompile(`^\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_` + "`" + `|~-]*)`)
var unescape = regexp.MustCompile(`\\(.)`)

// parseChallenge reads the first challenge of a WWW-Authenticate header.
func parseChallenge(header string) (string, map[string]string) {
	if header == "" || len(header) > 8192 {
		return "", nil
	}
	m := challengeScheme.FindStringSubmatch(header)
	if m == nil {
		return "", nil
	}
	params := map[string]string{}
	rest := header[len(m[0]):]
	for i := 0; i < 32; i++ {
		p := challengeParam.FindStringSubmatch(rest)
		if p == nil {
			break
		}
		name := strings.ToLower(p[1])
		if _, seen := params[name]; !seen {
			if p[3] != "" {
				params[name] = p[3]
			} else {
				params[name] = unescape.ReplaceAllString(p[2], "$1")
			}
		}
		rest = rest[len(p[0]):]
	}
	return strings.ToLower(m[1]), params
}

func (c *registryClient) credentials() (string, string, bool, error) {
	if !c.loaded {
		c.loaded = true
		user, pass, ok, err := dockerCredentials(c.ref.Registry)
		if err != nil {
			return "", "", false, err
		}
		c.user, c.pass, c.haveCreds = user, pass, ok
	}
	return c.user, c.pass, c.haveCreds, nil
}

// call makes one API request, authenticated as the registry's challenge asks.
func (c *registryClient) call(ctx context.Context, method string, target *url.URL, accept string) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, target.String(), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("User-Agent", "plugin-builder-go")
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if token := c.tokens["pull"]; token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		} else if c.useBasic {
			req.SetBasicAuth(c.user, c.pass)
		}
		resp, err := c.client.Do(req)
		if err != nil {
			return nil, transportFailure(err, c.ref.Registry, ctx)
		}
		if resp.StatusCode != http.StatusUnauthorized || attempt > 0 {
			if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
				resp.Body.Close()
				return nil, &Error{Code: ErrRegistryAuthFailed.Code, Message: fmt.Sprintf("%s refused %s %s (HTTP %d).", c.ref.Registry, method, printableShort(target.Path), resp.StatusCode), Fix: "Log in with `docker login " + c.ref.Registry + "` (the docker config and its credential helpers are read)."}
			}
			return resp, nil
		}
		resp.Body.Close()
		if resp.Request.URL.Host != c.base.Host {
			return nil, &Error{Code: ErrRegistryAuthFailed.Code, Message: fmt.Sprintf("%s, where %s redirected, asks for credentials; the registry's are not sent elsewhere.", resp.Request.URL.Host, c.ref.Registry)}
		}
		delete(c.tokens, "pull")
		if err := c.authenticate(ctx, resp.Header.Get("Www-Authenticate")); err != nil {
			return nil, err
		}
	}
}

func (c *registryClient) authenticate(ctx context.Context, header string) error {
	scheme, params := parseChallenge(header)
	user, pass, have, err := c.credentials()
	if err != nil {
		return err
	}
	noCreds := &Error{Code: ErrRegistryAuthFailed.Code, Message: fmt.Sprintf("%s asks for authentication and no usable credentials were found for it.", c.ref.Registry), Fix: "Log in with `docker login " + c.ref.Registry + "`."}
	switch scheme {
	case "basic":
		if !have || c.useBasic {
			return noCreds
		}
		c.useBasic = true
		return nil
	case "bearer":
	default:
		return noCreds
	}
	realm, err := url.Parse(params["realm"])
	if err != nil || params["realm"] == "" || (realm.Scheme != "https" && realm.Scheme != "http") {
		return &Error{Code: ErrRegistryAuthFailed.Code, Message: c.ref.Registry + " names no usable token realm"}
	}
	if !c.allowed(realm) {
		return &Error{Code: ErrRegistryInsecure.Code, Message: fmt.Sprintf("%s asks for credentials at %s://%s, over plain HTTP: refused.", c.ref.Registry, realm.Scheme, realm.Host)}
	}
	q := realm.Query()
	q.Set("scope", "repository:"+c.ref.Repository+":pull")
	if params["service"] != "" {
		q.Set("service", params["service"])
	}
	realm.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil)
	if err != nil {
		return err
	}
	if have {
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return transportFailure(err, realm.Host, ctx)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &Error{Code: ErrRegistryAuthFailed.Code, Message: fmt.Sprintf("The token service %s refused the request for %s (HTTP %d).", realm.Host, c.ref.Repository, resp.StatusCode), Fix: "Log in with `docker login " + c.ref.Registry + "`."}
	}
	var answer struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	body, _ := io.ReadAll(idleReader(ctx, io.LimitReader(resp.Body, maxSmallAnswer), c.idle, resp.Body))
	_ = json.Unmarshal(body, &answer)
	token := answer.Token
	if token == "" {
		token = answer.AccessToken
	}
	if token == "" || len(token) > 64<<10 || strings.ContainsAny(token, " \t\r\n") {
		return &Error{Code: ErrRegistryAuthFailed.Code, Message: "The token service " + realm.Host + " answered without a usable token."}
	}
	c.tokens["pull"] = token
	return nil
}

func (c *registryClient) failed(resp *http.Response, what string) *Error {
	body, _ := io.ReadAll(idleReader(resp.Request.Context(), io.LimitReader(resp.Body, 64<<10), c.idle, resp.Body))
	resp.Body.Close()
	detail := ""
	var parsed struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	if json.Unmarshal(body, &parsed) == nil && len(parsed.Errors) > 0 {
		detail = ": " + printableShort(parsed.Errors[0].Code+" "+parsed.Errors[0].Message)
	}
	return &Error{Code: ErrRegistryError.Code, Message: fmt.Sprintf("%s: %s failed (HTTP %d%s).", c.ref.Name(), what, resp.StatusCode, detail), transient: resp.StatusCode >= 500 || resp.StatusCode == 429}
}

// getDocument fetches a manifest or index; by digest, its bytes are checked against it.
func (c *registryClient) getDocument(ctx context.Context, reference string) ([]byte, string, error) {
	resp, err := c.call(ctx, http.MethodGet, c.api("manifests/"+reference), acceptDocuments)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", c.failed(resp, "fetching manifest "+reference)
	}
	defer resp.Body.Close()
	if resp.ContentLength > maxDocumentBytes {
		return nil, "", &Error{Code: ErrSetInvalid.Code, Message: fmt.Sprintf("%s@%s: the manifest is %d bytes, more than %d; not read.", c.ref.Name(), reference, resp.ContentLength, maxDocumentBytes)}
	}
	body, err := io.ReadAll(idleReader(ctx, io.LimitReader(resp.Body, maxDocumentBytes+1), c.idle, resp.Body))
	if err != nil {
		return nil, "", transportFailure(err, c.ref.Registry, ctx)
	}
	if len(body) > maxDocumentBytes {
		return nil, "", &Error{Code: ErrSetInvalid.Code, Message: fmt.Sprintf("%s@%s: the manifest is larger than %d bytes; not read.", c.ref.Name(), reference, maxDocumentBytes)}
	}
	sum := sha256.Sum256(body)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	if strings.HasPrefix(reference, "sha256:") && digest != reference {
		return nil, "", &Error{Code: ErrDigestMismatch.Code, Message: fmt.Sprintf("%s@%s: the registry sent a manifest whose bytes are %s.", c.ref.Name(), reference, digest), Fix: "Nothing was kept. A registry or proxy serving other bytes under a digest is broken or compromised."}
	}
	return body, digest, nil
}

// openBlob: a blob's raw bytes, to be checked against its digest as they stream.
func (c *registryClient) openBlob(ctx context.Context, digest string) (io.ReadCloser, error) {
	resp, err := c.call(ctx, http.MethodGet, c.api("blobs/"+digest), "")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, c.failed(resp, "fetching blob "+digest)
	}
	return resp.Body, nil
}

// idleReader fails a read that waits longer than idle (closing the body unblocks it).
func idleReader(ctx context.Context, r io.Reader, idle time.Duration, body io.Closer) io.Reader {
	return &idleRead{r: r, idle: idle, body: body}
}

type idleRead struct {
	r       io.Reader
	idle    time.Duration
	body    io.Closer
	expired atomic.Bool
}

func (i *idleRead) Read(p []byte) (int, error) {
	timer := time.AfterFunc(i.idle, func() { i.expired.Store(true); i.body.Close() })
	n, err := i.r.Read(p)
	timer.Stop()
	if err != nil && i.expired.Load() {
		return n, &Error{Code: ErrRegistryTimeout.Code, Message: fmt.Sprintf("the registry stopped sending for %s", i.idle)}
	}
	return n, err
}

// dockerCredentials reads the docker CLI's config as `builder pull` does: credHelpers, then
// credsStore (docker-credential-NAME get, the registry on stdin, within 10 s), then auths.
func dockerCredentials(registry string) (string, string, bool, error) {
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".docker")
	}
	data, err := readSmallFile(filepath.Join(dir, "config.json"), "The docker config", 1<<20, true)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == ErrFileMissing.Code {
			return "", "", false, nil
		}
		return "", "", false, err
	}
	var config struct {
		Auths       map[string]struct{ Auth, Username, Password string } `json:"auths"`
		CredHelpers map[string]string                                    `json:"credHelpers"`
		CredsStore  string                                               `json:"credsStore"`
	}
	if err := json.Unmarshal(data, &config); err != nil {
		return "", "", false, &Error{Code: ErrRegistryAuthFailed.Code, Message: "the docker config is not JSON"}
	}
	keys := []string{registry, "https://" + registry, "http://" + registry, "https://" + registry + "/v1/", "https://" + registry + "/v2/"}
	if registry == "docker.io" || registry == "index.docker.io" {
		keys = []string{"https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"}
	}
	helper := config.CredsStore
	for _, k := range keys {
		if h, ok := config.CredHelpers[k]; ok {
			helper = h
			break
		}
	}
	if helper != "" {
		if !regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`).MatchString(helper) {
			return "", "", false, &Error{Code: ErrRegistryAuthFailed.Code, Message: fmt.Sprintf("the docker config names a credential helper %q that is not a plain name", printableShort(helper))}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "docker-credential-"+helper, "get")
		cmd.Stdin = strings.NewReader(keys[0])
		var out bytes.Buffer
		cmd.Stdout = &limitedWriter{w: &out, left: 64 << 10}
		if err := cmd.Run(); err != nil {
			if !strings.Contains(strings.ToLower(out.String()), "credentials not found") {
				return "", "", false, &Error{Code: ErrRegistryAuthFailed.Code, Message: fmt.Sprintf("docker-credential-%s get failed: %v", helper, err)}
			}
		} else {
			var answer struct{ Username, Secret string }
			if json.Unmarshal(out.Bytes(), &answer) != nil || answer.Secret == "" {
				return "", "", false, &Error{Code: ErrRegistryAuthFailed.Code, Message: "docker-credential-" + helper + ` get answered something that is not {"Username","Secret"}`}
			}
			return answer.Username, answer.Secret, true, nil
		}
	}
	for _, k := range keys {
		entry, ok := config.Auths[k]
		if !ok {
			continue
		}
		if entry.Auth != "" {
			if decoded, err := base64.StdEncoding.DecodeString(entry.Auth); err == nil {
				if user, pass, ok := strings.Cut(string(decoded), ":"); ok && user != "" {
					return user, pass, true, nil
				}
			}
		}
		if entry.Username != "" {
			return entry.Username, entry.Password, true, nil
		}
	}
	return "", "", false, nil
}

type limitedWriter struct {
	w    io.Writer
	left int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > l.left {
		return 0, errors.New("credential helper output too large")
	}
	l.left -= len(p)
	return l.w.Write(p)
}
