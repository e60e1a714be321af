package pluginhost

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Reference is an image reference as the distribution project reads one
// (`[domain[:port]/]path[:tag][@sha256:hex]`), the same grammar as `builder pull`'s.
type Reference struct {
	Registry   string
	Repository string
	Tag        string
	Digest     string
}

var (
	refComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	refTag       = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	refDigest    = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	refLabel     = regexp.MustCompile(`^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$`)
	refBracketed = regexp.MustCompile(`^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$`)
)

func badReference(text, why string) *Error {
	return &Error{Code: ErrBadReference.Code, Message: fmt.Sprintf("%q: %s", printableShort(text), why), Fix: "Write it as REGISTRY/REPOSITORY@sha256:<64 hex digits>."}
}

func printableShort(s string) string {
	if len(s) > 200 {
		s = s[:200]
	}
	return Printable(s)
}

func validPort(port string) bool {
	n, err := strconv.Atoi(port)
	return err == nil && len(port) <= 5 && n >= 1 && n <= 65535
}

// ParseReference reads a reference; only sha256 digests are accepted.
func ParseReference(text string) (Reference, error) {
	if text == "" || len(text) > 4096 {
		return Reference{}, badReference(text, "a reference is 1 to 4096 characters")
	}
	var ref Reference
	rest := text
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		ref.Digest, rest = rest[at+1:], rest[:at]
		if !refDigest.MatchString(ref.Digest) {
			return Reference{}, badReference(text, "the digest must be sha256:<64 lowercase hex digits>")
		}
	}
	if colon, slash := strings.LastIndexByte(rest, ':'), strings.LastIndexByte(rest, '/'); colon > slash {
		ref.Tag, rest = rest[colon+1:], rest[:colon]
		if !refTag.MatchString(ref.Tag) {
			return Reference{}, badReference(text, "not a tag")
		}
	}
	parts := strings.Split(rest, "/")
	ref.Registry = "docker.io"
	if first := parts[0]; len(parts) > 1 && (strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first) {
		ref.Registry, parts = first, parts[1:]
		if m := refBracketed.FindStringSubmatch(ref.Registry); m != nil {
			if m[2] != "" && !validPort(m[2]) {
				return Reference{}, badReference(text, "the registry port must be 1-65535")
			}
		} else {
			host, port, hasPort := strings.Cut(ref.Registry, ":")
			if hasPort && !validPort(port) {
				return Reference{}, badReference(text, "the registry port must be 1-65535")
			}
			for _, label := range strings.Split(host, ".") {
				if !refLabel.MatchString(label) {
					return Reference{}, badReference(text, "the registry is not host[:port]")
				}
			}
		}
	}
	for _, p := range parts {
		if !refComponent.MatchString(p) {
			return Reference{}, badReference(text, "the repository must be lowercase path components")
		}
	}
	ref.Repository = strings.Join(parts, "/")
	if ref.Registry == "docker.io" && len(parts) == 1 {
		ref.Repository = "library/" + ref.Repository
	}
	if len(ref.Registry)+1+len(ref.Repository) > 255 {
		return Reference{}, badReference(text, "the name is longer than 255 characters")
	}
	return ref, nil
}

// Name is `registry/repository`.
func (r Reference) Name() string { return r.Registry + "/" + r.Repository }

func (r Reference) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// isLoopbackRegistry: registries spoken to in plain HTTP, as the engine does.
func isLoopbackRegistry(host string) bool {
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		return end > 0 && host[1:end] == "::1"
	}
	name, _, _ := strings.Cut(host, ":")
	if name == "localhost" {
		return true
	}
	octets := strings.Split(name, ".")
	if len(octets) != 4 || octets[0] != "127" {
		return false
	}
	for _, o := range octets {
		if n, err := strconv.Atoi(o); err != nil || n < 0 || n > 255 || len(o) > 3 {
			return false
		}
	}
	return true
}
