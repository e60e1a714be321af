package pluginhost

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

const maxTargetChars = 2048

// MinTokenLength is the shortest bearer token accepted, as by `builder host`.
const MinTokenLength = 16

// HandlerOptions: the bearer token required on every route but /healthz.
type HandlerOptions struct {
	Token string
	// InsecureNoAuth serves every route without a token: only for a listener no one else can
	// reach (loopback). Without it, an empty or unusable Token refuses every route but /healthz
	// (fails closed) instead of serving them to anyone.
	InsecureNoAuth bool
}

// CheckToken is the rule for a bearer token, the same as `builder host`'s: at least
// MinTokenLength characters, printable ASCII only (no space of any kind, which a header parser
// would split on).
func CheckToken(token string) error {
	ok := len(token) >= MinTokenLength
	for i := 0; ok && i < len(token); i++ {
		ok = token[i] >= 0x21 && token[i] <= 0x7e
	}
	if !ok {
		return &Error{Code: ErrBadToken.Code, Message: fmt.Sprintf("the bearer token must be at least %d characters of printable ASCII (no spaces)", MinTokenLength), Fix: "Make one with: head -c 32 /dev/urandom | base64"}
	}
	return nil
}

// Protect puts the same bearer check in front of an application's own routes (a /metrics that
// calls plugins is as powerful as /plugins).
func (o HandlerOptions) Protect(next http.Handler) http.Handler {
	authorized := o.authorizer()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if authorized(w, r) {
			next.ServeHTTP(w, r)
		}
	})
}

// authorizer answers 401/500 itself and returns false when the request may not go on.
func (o HandlerOptions) authorizer() func(http.ResponseWriter, *http.Request) bool {
	if o.InsecureNoAuth {
		return func(http.ResponseWriter, *http.Request) bool { return true }
	}
	if err := CheckToken(o.Token); err != nil {
		return func(w http.ResponseWriter, _ *http.Request) bool {
			send(w, http.StatusInternalServerError, map[string]string{"error": "the plugin host has no usable token configured: " + err.Error(), "code": "BAD_TOKEN"}, nil)
			return false
		}
	}
	sum := sha256.Sum256([]byte(o.Token))
	expected := sum[:]
	return func(w http.ResponseWriter, r *http.Request) bool {
		token, ok := bearer(r)
		presented := sha256.Sum256([]byte(token))
		if !ok || subtle.ConstantTimeCompare(presented[:], expected) != 1 {
			message := "the bearer token is not valid"
			if !ok {
				message = `this route needs "Authorization: Bearer <token>"`
			}
			send(w, http.StatusUnauthorized, map[string]string{"error": message}, map[string]string{"www-authenticate": "Bearer"})
			return false
		}
		return true
	}
}

// Handler serves GET /healthz, GET /plugins and PUT|POST /plugins/reload with the bodies and
// status codes of `builder host`; anything else is a JSON 404, so it can sit behind a mux
// next to the application's own routes.
func Handler[R any](h *Host[R], opts HandlerOptions) http.Handler {
	authorized := opts.authorizer()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.RequestURI) > maxTargetChars {
			send(w, http.StatusRequestURITooLong, map[string]string{"error": "the request target is longer than " + strconv.Itoa(maxTargetChars) + " characters"}, nil)
			return
		}
		path := strings.TrimRight(r.URL.Path, "/")
		if path == "" {
			path = "/"
		}
		reading := r.Method == http.MethodGet || r.Method == http.MethodHead
		if path == "/healthz" {
			if !reading {
				send(w, http.StatusMethodNotAllowed, map[string]string{"error": "use GET"}, map[string]string{"allow": "GET, HEAD"})
				return
			}
			report := h.Report()
			loaded, rejected := 0, 0
			for _, p := range report.Plugins {
				if p.Status == "loaded" {
					loaded++
				} else {
					rejected++
				}
			}
			send(w, http.StatusOK, map[string]interface{}{"status": "ok", "trust": report.Trust, "lockfile": report.Lockfile.Status,
				"plugins": map[string]int{"loaded": loaded, "rejected": rejected}}, nil)
			return
		}
		if !authorized(w, r) {
			return
		}
		switch path {
		case "/plugins":
			if !reading {
				send(w, http.StatusMethodNotAllowed, map[string]string{"error": "use GET"}, map[string]string{"allow": "GET, HEAD"})
				return
			}
			send(w, http.StatusOK, h.Report(), nil)
		case "/plugins/reload":
			if r.Method != http.MethodPut && r.Method != http.MethodPost {
				send(w, http.StatusMethodNotAllowed, map[string]string{"error": "use PUT or POST"}, map[string]string{"allow": "PUT, POST"})
				return
			}
			var body struct {
				Ref json.RawMessage `json:"ref"`
			}
			data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
			if err != nil || len(data) > 1<<20 {
				send(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "request body larger than 1048576 bytes"}, nil)
				return
			}
			if len(strings.TrimSpace(string(data))) > 0 && json.Unmarshal(data, &body) != nil {
				send(w, http.StatusBadRequest, map[string]string{"error": `request body must be a JSON object like {"ref":"registry/repo@sha256:…"}`}, nil)
				return
			}
			var report Report
			if body.Ref != nil {
				var ref string
				if body.Ref[0] != '"' || json.Unmarshal(body.Ref, &ref) != nil || len(ref) > 4096 {
					send(w, http.StatusBadRequest, map[string]string{"error": `"ref" must be a reference like "registry/repo@sha256:…"`}, nil)
					return
				}
				if h.registry == nil {
					send(w, http.StatusBadRequest, map[string]string{"error": "this host was not opened with Options.Registry: it loads from its plugin directory, not from a registry"}, nil)
					return
				}
				report, err = h.ReloadRef(ref)
				if err != nil {
					e := asError(err)
					send(w, http.StatusConflict, map[string]string{"error": e.Message, "code": e.Code, "fix": e.Fix}, nil)
					return
				}
			} else {
				report = h.Reload()
			}
			if report.Lockfile.Status == "refused" {
				send(w, http.StatusConflict, struct {
					Error string `json:"error"`
					Code  string `json:"code"`
					Fix   string `json:"fix,omitempty"`
					Report
				}{report.Lockfile.Reason, report.Lockfile.Code, report.Lockfile.Fix, report}, nil)
				return
			}
			send(w, http.StatusOK, report, nil)
		default:
			shown := path
			if len(shown) > 200 {
				shown = shown[:200]
			}
			send(w, http.StatusNotFound, map[string]string{"error": "no route " + r.Method + " " + shown}, nil)
		}
	})
}

func bearer(r *http.Request) (string, bool) {
	header := r.Header.Get("Authorization")
	fields := strings.Fields(header)
	if len(fields) != 2 || !strings.EqualFold(fields[0], "Bearer") {
		return "", false
	}
	return fields[1], true
}

func send(w http.ResponseWriter, status int, body interface{}, headers map[string]string) {
	text, err := json.Marshal(body)
	if err != nil {
		status, text = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	text = append(text, '\n')
	for k, v := range headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("content-type", "application/json; charset=utf-8")
	w.Header().Set("content-length", strconv.Itoa(len(text)))
	w.Header().Set("cache-control", "no-store")
	w.Header().Set("x-content-type-options", "nosniff")
	w.WriteHeader(status)
	w.Write(text)
}
