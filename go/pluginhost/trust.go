package pluginhost

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// The statement a lockfile signature carries (src/trust/statement.ts): an in-toto Statement
// v1 in a DSSE envelope, signed with Ed25519 — the same files the Node runtime accepts.
const (
	inTotoPayloadType = "application/vnd.in-toto+json"
	statementType     = "https://in-toto.io/Statement/v1"
	slsaProvenanceV1  = "https://slsa.dev/provenance/v1"
	buildType         = "urn:plugin-builder:build:v1"
	lockfileSubject   = "builder.lock.json"
	maxSignatures     = 16
	maxSubjects       = 100000
	maxKeyBytes       = 16 * 1024
	maxKeys           = 64
)

// TrustedKey is an Ed25519 public key, named by the sha256 of its SPKI DER (as `builder keygen` names it).
type TrustedKey struct {
	KeyID  string
	Key    ed25519.PublicKey
	Source string
}

func badKey(source, message, fix string) *Error {
	return refuse(ErrBadKey, "", "Trusted key "+source+": "+message, fix, nil)
}

// ParseTrustedKey reads an SPKI PEM Ed25519 public key; a private key is refused, not derived from.
func ParseTrustedKey(data []byte, source string) (TrustedKey, error) {
	if bytes.Contains(data, []byte("PRIVATE KEY")) {
		return TrustedKey{}, badKey(source, source+" holds a private key; a host needs only the public one.", "Deploy the .pub file written by `builder keygen`, never the private key.")
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return TrustedKey{}, badKey(source, source+" is not a PEM public key.", "Use the .pub file written by `builder keygen` (SPKI PEM, Ed25519).")
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return TrustedKey{}, badKey(source, source+" is not a PEM public key: "+err.Error(), "Use the .pub file written by `builder keygen` (SPKI PEM, Ed25519).")
	}
	edKey, ok := key.(ed25519.PublicKey)
	if !ok {
		return TrustedKey{}, badKey(source, fmt.Sprintf("%s is a %T key; only Ed25519 keys are trusted.", source, key), "Use the .pub file written by `builder keygen`.")
	}
	der, _ := x509.MarshalPKIXPublicKey(edKey)
	sum := sha256.Sum256(der)
	return TrustedKey{KeyID: hex.EncodeToString(sum[:]), Key: edKey, Source: source}, nil
}

// LoadTrustedKeys reads each file and every *.pub in each directory. It fails closed: a key
// that cannot be read stops the start instead of silently shrinking the set. As ssh's
// StrictModes: a trust directory or key that others may write is refused, unless it lies on a
// read-only mount (a Kubernetes secret: 1777, mounted ro); a key in a trust directory may be a
// link only into that directory (Kubernetes' ..data/). Naming a trust directory means signatures
// are required: one that holds no key is refused. The same rules as the Node runtime's.
func LoadTrustedKeys(files, dirs []string) ([]TrustedKey, error) {
	paths := append([]string{}, files...)
	data, _ := os.ReadFile("/proc/self/mountinfo")
	mountinfo := string(data)
	for _, dir := range dirs {
		real, err := filepath.EvalSymlinks(dir)
		var entries []os.DirEntry
		if err == nil {
			entries, err = os.ReadDir(real)
		}
		if err != nil {
			return nil, refuse(ErrBadKey, "", "The trust directory "+dir+" cannot be read: "+err.Error(), "Create it and put the trusted *.pub keys in it, or drop it from the configuration.", err)
		}
		if err := refuseWritableByOthers(real, "The trust directory "+dir, mountinfo); err != nil {
			return nil, err
		}
		var names []string
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".pub") {
				names = append(names, e.Name())
			}
		}
		if len(names) == 0 {
			return nil, refuse(ErrBadKey, "", "The trust directory "+dir+" holds no key (*.pub): naming a trust directory means lockfiles must be signed, and nothing could verify them.", "Put the public key of the lockfiles' signer there (`builder keygen` writes NAME.pub), or drop the trust directory to run unsigned, knowingly.", nil)
		}
		sort.Strings(names)
		for _, n := range names {
			path := filepath.Join(dir, n)
			target, err := filepath.EvalSymlinks(path)
			if err != nil {
				target = path
			}
			if target != filepath.Join(real, n) && !strings.HasPrefix(target, real+string(filepath.Separator)) {
				return nil, refuse(ErrBadKey, "", "Trusted key "+path+" is a link to "+target+", outside the trust directory "+real+".", "Put the key file itself in the trust directory (links are followed only within it).", nil)
			}
			paths = append(paths, path)
		}
	}
	if len(paths) > maxKeys {
		return nil, refuse(ErrBadKey, "", fmt.Sprintf("More than %d trusted keys.", maxKeys), "Trust fewer keys.", nil)
	}
	seen := map[string]bool{}
	var keys []TrustedKey
	for _, p := range paths {
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			target = p
		}
		if err := refuseWritableByOthers(target, "Trusted key "+p, mountinfo); err != nil {
			return nil, err
		}
		data, err := readSmallFile(p, "The trusted key", maxKeyBytes, true)
		if err != nil {
			return nil, badKey(p, err.Error(), "Use a .pub written by `builder keygen`.")
		}
		key, err := ParseTrustedKey(data, p)
		if err != nil {
			return nil, err
		}
		if !seen[key.KeyID] {
			seen[key.KeyID] = true
			keys = append(keys, key)
		}
	}
	return keys, nil
}

// refuseWritableByOthers is ssh's StrictModes (safe_path), from path up to /: the path itself
// must not be writable by its group or others, each directory above it neither unless sticky,
// and every one must be owned by root or by this process's user. A read-only mount is exempt.
// The same rule as the Node runtime's (src/runtime/trust-store.ts).
func refuseWritableByOthers(path, what, mountinfo string) error {
	if onReadOnlyMount(path, mountinfo) {
		return nil
	}
	uid := uint32(os.Getuid())
	for current, first := path, true; ; first = false {
		if info, err := os.Stat(current); err == nil {
			where := ""
			if !first {
				where = ": " + current + ", a directory above it,"
			}
			sticky := info.IsDir() && info.Mode()&os.ModeSticky != 0
			if info.Mode().Perm()&0o022 != 0 && (first || !sticky) {
				who := "its group"
				if info.Mode().Perm()&0o002 != 0 {
					who = "every user"
				}
				mode := info.Mode().Perm()
				if info.Mode()&os.ModeSticky != 0 {
					mode |= 0o1000
				}
				return refuse(ErrBadKey, "", fmt.Sprintf("%s%s is writable by %s (mode %o): whoever can write it decides which keys are trusted.", what, where, who, mode), "chmod go-w "+current+" (owned by root), or mount it read-only.", nil)
			}
			if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && st.Uid != uid {
				return refuse(ErrBadKey, "", fmt.Sprintf("%s%s belongs to uid %d, neither root nor this process's user (%d): that user decides which keys are trusted.", what, where, st.Uid, uid), "chown root "+current+", or mount it read-only.", nil)
			}
		}
		parent := filepath.Dir(current)
		if parent == current {
			return nil
		}
		current = parent
	}
}

// mountinfoOctal: the escapes /proc/self/mountinfo writes for space, tab, newline and backslash.
var mountinfoOctal = regexp.MustCompile(`\\[0-7]{3}`)

// onReadOnlyMount: whether the mount holding path (the longest mount point containing it, from
// /proc/self/mountinfo) is read-only.
func onReadOnlyMount(path, mountinfo string) bool {
	bestLen, ro := -1, false
	for _, line := range strings.Split(mountinfo, "\n") {
		fields := strings.Split(line, " ")
		if len(fields) < 6 {
			continue
		}
		point := mountinfoOctal.ReplaceAllStringFunc(fields[4], func(m string) string {
			n, _ := strconv.ParseUint(m[1:], 8, 8)
			return string(rune(n))
		})
		prefix := point
		if !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		inside := point == "/" || path == point || strings.HasPrefix(path, prefix)
		if inside && len(point) >= bestLen {
			bestLen = len(point)
			ro = false
			for _, o := range strings.Split(fields[5], ",") {
				if o == "ro" {
					ro = true
				}
			}
		}
	}
	return ro
}

var (
	standardBase64 = regexp.MustCompile(`^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$`)
	urlSafeBase64  = regexp.MustCompile(`^[A-Za-z0-9_-]*$`)
)

// decodeBase64Strict accepts exactly what a signer could have written, in either DSSE
// alphabet; two texts never decode to the same bytes (Go's decoders skip \r and \n, and the
// patterns exclude them).
func decodeBase64Strict(text string) ([]byte, bool) {
	if standardBase64.MatchString(text) {
		b, err := base64.StdEncoding.Strict().DecodeString(text)
		return b, err == nil
	}
	if urlSafeBase64.MatchString(text) && len(text)%4 != 1 {
		b, err := base64.RawURLEncoding.Strict().DecodeString(text)
		return b, err == nil
	}
	return nil, false
}

// pae is DSSE's pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body.
func pae(payloadType string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 " + strconv.Itoa(len(payloadType)) + " " + payloadType + " " + strconv.Itoa(len(body)) + " ")
	b.Write(body)
	return b.Bytes()
}

func badSignature(message, fix string) *Error {
	return refuse(ErrBadSignature, "", message, fix, nil)
}

func malformedEnvelope(reason string) *Error {
	return badSignature("The signature envelope is malformed: "+reason+".", "Sign the lockfile again with `builder sign` (or `builder build --sign-key`).")
}

type signature struct {
	keyID string
	sig   []byte
}

func parseEnvelope(text []byte) (string, []byte, []signature, error) {
	var record object
	if err := json.Unmarshal(text, &record); err != nil {
		return "", nil, nil, malformedEnvelope("not JSON (" + err.Error() + ")")
	}
	if record == nil {
		return "", nil, nil, malformedEnvelope("not a JSON object")
	}
	payloadType, err := record.str("payloadType", "", true)
	if err != nil {
		return "", nil, nil, malformedEnvelope(`"payloadType" must be a string`)
	}
	payloadText, err := record.str("payload", "", true)
	if err != nil {
		return "", nil, nil, malformedEnvelope(`"payload" must be a string`)
	}
	payload, ok := decodeBase64Strict(payloadText)
	if !ok {
		return "", nil, nil, malformedEnvelope(`"payload" is not base64`)
	}
	var list []json.RawMessage
	if raw, present := record["signatures"]; !present || json.Unmarshal(raw, &list) != nil || len(list) == 0 {
		return "", nil, nil, malformedEnvelope(`"signatures" must be a non-empty array`)
	}
	if len(list) > maxSignatures {
		return "", nil, nil, malformedEnvelope(fmt.Sprintf("more than %d signatures", maxSignatures))
	}
	sigs := make([]signature, len(list))
	for i, item := range list {
		entry, err := asObject(item, "")
		if err != nil {
			return "", nil, nil, malformedEnvelope(fmt.Sprintf("signatures[%d] is not an object", i))
		}
		keyID, err := entry.str("keyid", "", false)
		if err != nil {
			return "", nil, nil, malformedEnvelope(fmt.Sprintf("signatures[%d].keyid must be a string", i))
		}
		sigText, err := entry.str("sig", "", true)
		if err != nil {
			return "", nil, nil, malformedEnvelope(fmt.Sprintf("signatures[%d].sig must be a string", i))
		}
		sig, ok := decodeBase64Strict(sigText)
		if !ok {
			return "", nil, nil, malformedEnvelope(fmt.Sprintf("signatures[%d].sig is not base64", i))
		}
		sigs[i] = signature{keyID, sig}
	}
	return payloadType, payload, sigs, nil
}

// verifyEnvelope: valid when at least one signature verifies under a trusted key. keyid only
// narrows which keys are tried; it is unauthenticated, so an unknown keyid tries them all.
func verifyEnvelope(text []byte, trusted []TrustedKey) ([]byte, []string, error) {
	payloadType, payload, sigs, err := parseEnvelope(text)
	if err != nil {
		return nil, nil, err
	}
	message := pae(payloadType, payload)
	accepted := map[string]bool{}
	for _, s := range sigs {
		var named []TrustedKey
		for _, k := range trusted {
			if k.KeyID == s.keyID {
				named = append(named, k)
			}
		}
		if len(named) == 0 {
			named = trusted
		}
		for _, k := range named {
			if len(s.sig) == ed25519.SignatureSize && ed25519.Verify(k.Key, message, s.sig) {
				accepted[k.KeyID] = true
			}
		}
	}
	if len(accepted) == 0 {
		var signers, ids []string
		for _, s := range sigs {
			if s.keyID == "" {
				signers = append(signers, "(no keyid)")
			} else {
				signers = append(signers, s.keyID)
			}
		}
		for _, k := range trusted {
			ids = append(ids, k.KeyID)
		}
		return nil, nil, badSignature(
			fmt.Sprintf("No signature verifies under a trusted key (signed by: %s; trusted: %s).", strings.Join(signers, ", "), strings.Join(ids, ", ")),
			"Sign the lockfile with a key whose public half this host trusts, or add that public key to the host's trust keys.")
	}
	// Checked after the signatures, as the protocol says: PAE authenticates the type.
	if payloadType != inTotoPayloadType {
		return nil, nil, badSignature(fmt.Sprintf("The envelope's payloadType is %q, expected %q.", payloadType, inTotoPayloadType), "Sign the lockfile with `builder sign`.")
	}
	keys := make([]string, 0, len(accepted))
	for k := range accepted {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return payload, keys, nil
}

func unusableStatement(reason string) *Error {
	return badSignature("The signed statement is not usable: "+reason+".", "Sign the lockfile again with `builder sign`.")
}

// maxSerial is the largest integer a JSON number carries exactly in both runtimes (2^53-1).
const maxSerial = 9007199254740991

// parseStatement keeps what the host decides on: subjects, predicate type, build type, and the
// signing serial (predicate.buildDefinition.internalParameters.serial; 0 when absent).
func parseStatement(payload []byte) (map[string]string, string, string, int64, error) {
	var record object
	if err := json.Unmarshal(payload, &record); err != nil || record == nil {
		return nil, "", "", 0, unusableStatement("not a JSON object")
	}
	if t, err := record.str("_type", "", true); err != nil || t != statementType {
		return nil, "", "", 0, unusableStatement(`"_type" is not ` + statementType)
	}
	predicateType, err := record.str("predicateType", "", true)
	if err != nil {
		return nil, "", "", 0, unusableStatement(`"predicateType" must be a string`)
	}
	var list []json.RawMessage
	if raw, ok := record["subject"]; !ok || json.Unmarshal(raw, &list) != nil || len(list) == 0 {
		return nil, "", "", 0, unusableStatement(`"subject" must be a non-empty array`)
	}
	if len(list) > maxSubjects {
		return nil, "", "", 0, unusableStatement(fmt.Sprintf("more than %d subjects", maxSubjects))
	}
	subjects := map[string]string{}
	for i, item := range list {
		entry, _ := asObject(item, "")
		name, err := entry.str("name", "", true)
		if err != nil || name == "" {
			return nil, "", "", 0, unusableStatement(fmt.Sprintf("subject[%d].name must be a non-empty string", i))
		}
		digest, err := entry.obj("digest", "")
		var sum string
		if err == nil {
			sum, err = digest.str("sha256", "", true)
		}
		if err != nil || !hexSha256.MatchString(sum) {
			return nil, "", "", 0, unusableStatement(fmt.Sprintf("subject[%d] (%s) has no sha256 digest", i, name))
		}
		if _, twice := subjects[name]; twice {
			return nil, "", "", 0, unusableStatement(fmt.Sprintf("subject %q appears twice", name))
		}
		subjects[name] = sum
	}
	build := ""
	serial := int64(0)
	if predicate, err := record.obj("predicate", ""); err == nil {
		if definition, err := predicate.obj("buildDefinition", ""); err == nil {
			build, _ = definition.str("buildType", "", false)
			if params, err := definition.obj("internalParameters", ""); err == nil {
				if raw, ok := params["serial"]; ok {
					var n float64
					if err := json.Unmarshal(raw, &n); err != nil || string(raw) == "null" || n < 0 || n > maxSerial || n != math.Trunc(n) {
						return nil, "", "", 0, unusableStatement(`"serial" must be a non-negative integer`)
					}
					serial = int64(n)
				}
			}
		}
	}
	return subjects, predicateType, build, serial, nil
}

// verifyLockfileSignature: does the envelope carry a trusted signature over this tool's
// provenance, whose lockfile subject is exactly these bytes and whose subjects include every
// artifact with its locked digest?
func verifyLockfileSignature(lockBytes, envelope []byte, trusted []TrustedKey) ([]string, map[string]string, int64, error) {
	payload, keys, err := verifyEnvelope(envelope, trusted)
	if err != nil {
		return nil, nil, 0, err
	}
	subjects, predicateType, build, serial, err := parseStatement(payload)
	if err != nil {
		return nil, nil, 0, err
	}
	if predicateType != slsaProvenanceV1 || build != buildType {
		if build == "" {
			build = "none"
		}
		return nil, nil, 0, badSignature(fmt.Sprintf("The signed statement is not plugin-builder provenance (predicateType %s, buildType %s).", predicateType, build), "Sign the lockfile with `builder sign`.")
	}
	signed, ok := subjects[lockfileSubject]
	if !ok {
		return nil, nil, 0, badSignature(`The signed statement has no "`+lockfileSubject+`" subject: it does not vouch for a lockfile.`, "Sign the lockfile with `builder sign`.")
	}
	sum := sha256.Sum256(lockBytes)
	if actual := hex.EncodeToString(sum[:]); actual != signed {
		return nil, nil, 0, badSignature(fmt.Sprintf("The signature is for another lockfile (signed sha256 %s, this lockfile %s).", signed, actual), "Deploy the lockfile together with the .sig written for it, or sign this one with `builder sign`.")
	}
	return keys, subjects, serial, nil
}

func checkArtifactsSigned(lock *Lockfile, subjects map[string]string) error {
	names := make([]string, 0, len(lock.Plugins))
	for n := range lock.Plugins {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		entry := lock.Plugins[name]
		signed, ok := subjects[entry.File]
		if ok && signed == entry.Sha256 {
			continue
		}
		what := "is not a subject of the signed statement"
		if ok {
			what = fmt.Sprintf("is signed with sha256 %s, the lockfile says %s", signed, entry.Sha256)
		}
		return badSignature(fmt.Sprintf("Plugin %q (%s) %s.", name, entry.File, what), "Sign the lockfile again with `builder sign` after the build that produced it.")
	}
	return nil
}

// VerifyLockfile is the whole signature check a host makes before it parses a lockfile for
// loading: a trusted signature over this tool's provenance, whose lockfile subject is exactly
// lockBytes and whose subjects carry every listed artifact's digest. It returns the ids of
// the keys whose signature verified.
func VerifyLockfile(lockBytes, envelope []byte, trusted []TrustedKey) ([]string, error) {
	keys, subjects, _, err := verifyLockfileSignature(lockBytes, envelope, trusted)
	if err != nil {
		return nil, err
	}
	lock, err := ParseLockfile(lockBytes)
	if err != nil {
		return nil, refuse(ErrLockfileInvalid, "", err.Error(), "Regenerate it with `builder build`.", err)
	}
	if err := checkArtifactsSigned(lock, subjects); err != nil {
		return nil, err
	}
	return keys, nil
}
