package pluginhost

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
)

// Fingerprint is what a shared object's loadability depends on: the same value, computed by
// the same rules, as the builder's (src/env/probe-environment.ts), so equal environments
// hash equally whichever side computed them.
type Fingerprint struct {
	OS   OSFingerprint   `json:"os"`
	Arch string          `json:"arch"`
	Libc LibcFingerprint `json:"libc"`
	Go   *GoFingerprint  `json:"go,omitempty"`
}

type OSFingerprint struct {
	ID        string `json:"id"`
	VersionID string `json:"versionId"`
}

type LibcFingerprint struct {
	Family  string `json:"family"`
	Version string `json:"version"`
}

// GoFingerprint is what a go-plugin must match exactly: the Go release, the build settings
// the runtime compares, and every linked module.
type GoFingerprint struct {
	Version  string            `json:"version"`
	Settings map[string]string `json:"settings"`
	Deps     map[string]string `json:"deps"`
}

func (f Fingerprint) value() map[string]interface{} {
	v := map[string]interface{}{
		"os":   map[string]interface{}{"id": f.OS.ID, "versionId": f.OS.VersionID},
		"arch": f.Arch,
		"libc": map[string]interface{}{"family": f.Libc.Family, "version": f.Libc.Version},
	}
	if f.Go != nil {
		v["go"] = map[string]interface{}{"version": f.Go.Version, "settings": f.Go.Settings, "deps": f.Go.Deps}
	}
	return v
}

// Hash is `sha256:<hex>` of the canonical JSON, as `builder env` prints it.
func (f Fingerprint) Hash() string {
	sum := sha256.Sum256([]byte(canonicalJSON(f.value())))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Difference is one field that differs, dotted (`libc.version`, `go.deps.example.com/x`).
type Difference struct {
	Field    string `json:"field"`
	Expected string `json:"expected"`
	Actual   string `json:"actual"`
}

func flatten(value interface{}, prefix string, out map[string]string) {
	join := func(key string) string {
		if prefix == "" {
			return key
		}
		return prefix + "." + key
	}
	switch v := value.(type) {
	case map[string]interface{}:
		for k, item := range v {
			flatten(item, join(k), out)
		}
	case map[string]string:
		for k, item := range v {
			out[join(k)] = item
		}
	case string:
		out[prefix] = v
	}
}

// Diff lists the fields that differ, sorted; empty when the fingerprints are equal.
func Diff(expected, actual Fingerprint) []Difference {
	a, b := map[string]string{}, map[string]string{}
	flatten(expected.value(), "", a)
	flatten(actual.value(), "", b)
	fields := map[string]bool{}
	for k := range a {
		fields[k] = true
	}
	for k := range b {
		fields[k] = true
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return lessUTF16(names[i], names[j]) })
	var out []Difference
	for _, field := range names {
		x, okA := a[field]
		y, okB := b[field]
		if okA && okB && x == y {
			continue
		}
		if !okA {
			x = "(none)"
		}
		if !okB {
			y = "(none)"
		}
		out = append(out, Difference{Field: field, Expected: x, Actual: y})
	}
	return out
}

const jsDot = `[^\r\n\x{2028}\x{2029}]`

var (
	osReleasePaths = []string{"/etc/os-release", "/usr/lib/os-release"}
	libDirs        = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}
	muslLoaders    = func() []string {
		var out []string
		for _, arch := range []string{"x86_64", "aarch64", "armhf", "i386", "riscv64", "ppc64le", "s390x"} {
			out = append(out, "/lib/ld-musl-"+arch+".so.1")
		}
		return out
	}()
	machines = map[uint16]string{3: "i386", 40: "arm", 62: "x86_64", 183: "aarch64", 243: "riscv64", 21: "ppc64", 22: "s390x"}

	// JavaScript's `.` stops at \r, \n, U+2028 and U+2029; Go's only at \n.
	osReleaseLine  = regexp.MustCompile(`^([A-Z0-9_]+)=(` + jsDot + `*)$`)
	quotedValue    = regexp.MustCompile(`^"` + jsDot + `*"$|^'` + jsDot + `*'$`)
	escapedChar    = regexp.MustCompile("\\\\([\"'$`\\\\])")
	glibcBanner    = regexp.MustCompile(`release version (\d+\.\d+(?:\.\d+)?)`)
	apkMusl        = regexp.MustCompile(`(?:^|\n)P:musl\nV:([0-9.]+)`)
	dpkgMusl       = regexp.MustCompile(`(?:^|\n)Package: musl\n(?:[^\n]+\n)*?Version: (?:\d+:)?([0-9.]+)`)
	muslLoaderText = regexp.MustCompile(`\x00(1\.\d+\.\d+)\x00`)
)

// parseOSRelease reads os-release as the builder does: last assignment wins, one level of
// quotes removed, shell escapes of " ' $ ` \ undone.
func parseOSRelease(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		m := osReleaseLine.FindStringSubmatch(trimJS(line))
		if m == nil {
			continue
		}
		value := m[2]
		if quotedValue.MatchString(value) {
			value = escapedChar.ReplaceAllString(value[1:len(value)-1], "$1")
		}
		out[m[1]] = value
	}
	return out
}

// FileReader reads a file of the filesystem being probed; nil data, nil error: no such file.
type FileReader func(path string) ([]byte, error)

// RootFiles reads below root, following symbolic links as the loader would.
func RootFiles(root string) FileReader {
	return func(path string) ([]byte, error) {
		data, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			return nil, nil // absent, unreadable or not a file: the probe tries the next candidate
		}
		return data, nil
	}
}

func firstFile(read FileReader, paths []string) (string, []byte) {
	for _, p := range paths {
		if data, _ := read(p); data != nil {
			return p, data
		}
	}
	return "", nil
}

// ProbeError says why a filesystem gave no fingerprint.
type ProbeError struct{ Reason string }

func (e *ProbeError) Error() string { return "cannot fingerprint this system: " + e.Reason }

// ProbeEnvironment computes the OS, architecture and C library part of a fingerprint.
func ProbeEnvironment(read FileReader) (Fingerprint, error) {
	path, data := firstFile(read, osReleasePaths)
	if data == nil {
		return Fingerprint{}, &ProbeError{"no /etc/os-release or /usr/lib/os-release"}
	}
	osr := parseOSRelease(decodeUTF8(data))
	if osr["ID"] == "" {
		return Fingerprint{}, &ProbeError{path + " has no ID= line"}
	}
	var family, version string
	var libc []byte
	libcPaths := make([]string, len(libDirs))
	for i, d := range libDirs {
		libcPaths[i] = d + "/libc.so.6"
	}
	if p, data := firstFile(read, libcPaths); data != nil {
		family, libc = "glibc", data
		m := glibcBanner.FindSubmatch(data)
		if m == nil {
			return Fingerprint{}, &ProbeError{p + " carries no glibc release banner"}
		}
		version = string(m[1])
	} else {
		p, loader := firstFile(read, muslLoaders)
		if loader == nil {
			return Fingerprint{}, &ProbeError{"found neither glibc (libc.so.6) nor a musl loader (/lib/ld-musl-*.so.1)"}
		}
		family, libc = "musl", loader
		apk, _ := read("/lib/apk/db/installed")
		dpkg, _ := read("/var/lib/dpkg/status")
		version = muslVersionFromPackageDB(apk, dpkg)
		if version == "" {
			version = muslVersionFromLoader(loader)
		}
		if version == "" {
			return Fingerprint{}, &ProbeError{"cannot tell the musl version of " + p}
		}
	}
	arch, ok := elfMachine(libc)
	if !ok {
		return Fingerprint{}, &ProbeError{"the C library is not an ELF file"}
	}
	return Fingerprint{OS: OSFingerprint{ID: osr["ID"], VersionID: osr["VERSION_ID"]}, Arch: arch, Libc: LibcFingerprint{Family: family, Version: version}}, nil
}

func muslVersionFromPackageDB(apk, dpkg []byte) string {
	if len(apk) > 0 {
		if m := apkMusl.FindStringSubmatch(decodeUTF8(apk)); m != nil {
			return m[1]
		}
	}
	if len(dpkg) > 0 {
		if m := dpkgMusl.FindStringSubmatch(decodeUTF8(dpkg)); m != nil {
			return m[1]
		}
	}
	return ""
}

// muslVersionFromLoader: musl keeps its version as a plain string next to the loader's usage
// text; the candidate nearest to "musl libc" wins.
func muslVersionFromLoader(data []byte) string {
	anchor := bytes.Index(data, []byte("musl libc"))
	if anchor < 0 {
		return ""
	}
	best, bestDistance := "", -1
	for _, m := range muslLoaderText.FindAllSubmatchIndex(data, -1) {
		distance := m[0] - anchor
		if distance < 0 {
			distance = -distance
		}
		if bestDistance < 0 || distance < bestDistance {
			best, bestDistance = string(data[m[2]:m[3]]), distance
		}
	}
	return best
}

func elfMachine(data []byte) (string, bool) {
	if len(data) < 20 || !bytes.Equal(data[:4], []byte("\x7fELF")) || (data[4] != 1 && data[4] != 2) {
		return "", false
	}
	var order binary.ByteOrder
	switch data[5] {
	case 1:
		order = binary.LittleEndian
	case 2:
		order = binary.BigEndian
	default:
		return "", false
	}
	n := order.Uint16(data[18:20])
	if name, ok := machines[n]; ok {
		return name, true
	}
	return "em-" + strconv.Itoa(int(n)), true
}

// pluginRelevantSettings are the build settings a plugin must share with its host: each
// changes the hashes of the packages both link. The builder's list (src/gomod/go-fingerprint.ts)
// is the same, by test.
var pluginRelevantSettings = []string{"GOOS", "GOARCH", "GOAMD64", "GOARM", "GOARM64", "CGO_ENABLED", "-trimpath", "-tags", "-race", "-msan", "-asan", "-gcflags", "-asmflags", "GOEXPERIMENT"}

// GoPart is the Go part of a fingerprint, from a binary's build info.
func GoPart(info *debug.BuildInfo) *GoFingerprint {
	settings := map[string]string{}
	all := map[string]string{}
	for _, s := range info.Settings {
		all[s.Key] = s.Value
	}
	for _, key := range pluginRelevantSettings {
		if v, ok := all[key]; ok {
			settings[key] = v
		}
	}
	deps := map[string]string{}
	for _, d := range info.Deps {
		deps[d.Path] = describeModule(d)
	}
	return &GoFingerprint{Version: info.GoVersion, Settings: settings, Deps: deps}
}

func describeModule(m *debug.Module) string {
	if m.Replace == nil {
		return m.Version
	}
	target := m.Replace.Path
	if m.Replace.Version != "" && m.Replace.Version != "(devel)" {
		target = m.Replace.Path + " " + m.Replace.Version
	}
	return m.Version + " => " + target
}

// LiveFingerprint is this process's environment: the filesystem it runs on and, with
// includeGo, this binary's Go release, settings and modules — what `builder build` records
// for an image whose host.binary is this program.
func LiveFingerprint(includeGo bool) (Fingerprint, error) {
	f, err := ProbeEnvironment(RootFiles("/"))
	if err != nil {
		return f, err
	}
	if includeGo {
		info, ok := debug.ReadBuildInfo()
		if !ok {
			return f, &ProbeError{"this binary has no Go build info"}
		}
		f.Go = GoPart(info)
	}
	return f, nil
}

func (d Difference) String() string {
	return fmt.Sprintf("%s: %s → %s", d.Field, d.Expected, d.Actual)
}
