package pluginhost

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"runtime"
	"sort"
	"strings"
)

// Lockfile is the part of builder.lock.json a Go host decides on: for a multi-platform
// lockfile (a config with host.platforms), this platform's section.
type Lockfile struct {
	Host    LockedHost
	Plugins map[string]LockedPlugin
	// Dir is where the section's artifacts lie under the plugin directory: "" for a
	// single-platform lockfile, else "<os>-<arch>". Each plugin's File already includes it.
	Dir string
}

// Platform is this process's platform as lockfiles name it (OCI names, which are Go's).
func Platform() string { return runtime.GOOS + "/" + runtime.GOARCH }

// ociArchOfMachine maps the ELF machine a fingerprint records to the OCI architecture, as
// the builder's src/lock/platform.ts does.
var ociArchOfMachine = map[string]string{
	"x86_64": "amd64", "aarch64": "arm64", "i386": "386", "arm": "arm",
	"riscv64": "riscv64", "ppc64": "ppc64le", "s390x": "s390x",
}

// PlatformNotLockedError: the lockfile has sections for other platforms only.
type PlatformNotLockedError struct {
	Platform string
	Locked   []string
}

func (e PlatformNotLockedError) Error() string {
	return fmt.Sprintf("holds plugins for %s; this host is %s", strings.Join(e.Locked, ", "), e.Platform)
}

type LockedHost struct {
	Image           string
	ImageID         string
	Binary          string
	Fingerprint     Fingerprint
	FingerprintHash string
}

type LockedPlugin struct {
	Kind      string
	File      string
	Sha256    string
	Size      int64
	GoVersion string
	// PluginPath is the go-plugin's -pluginpath: unique per build, so a new version of a
	// plugin loads beside the old one instead of failing with "plugin already loaded".
	PluginPath string
	Deps       []LockedModule
}

type LockedModule struct {
	Path    string
	Version string
	Replace *LockedModule
}

var (
	pluginNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	pluginFilePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+\.so$`)
	hexSha256         = regexp.MustCompile(`^[0-9a-f]{64}$`)
	taggedSha256      = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	pluginKinds       = map[string]bool{"c": true, "cpp": true, "go-c-shared": true, "go-plugin": true}
)

// object is a JSON object read by exact key: encoding/json matches struct fields without
// regard to case, so "SHA256" would stand in for "sha256" where the builder's parser (and
// the signer's view of the file) would not see it.
type object map[string]json.RawMessage

type lockfileError struct{ where, message string }

func (e lockfileError) Error() string { return e.where + ": " + e.message }

func asObject(raw json.RawMessage, where string) (object, error) {
	var o object
	if err := json.Unmarshal(raw, &o); err != nil || o == nil {
		return nil, lockfileError{where, "must be an object"}
	}
	return o, nil
}

func (o object) str(key, where string, required bool) (string, error) {
	raw, ok := o[key]
	if !ok {
		if required {
			return "", lockfileError{where + "." + key, "required"}
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || string(raw) == "null" {
		return "", lockfileError{where + "." + key, "must be a string"}
	}
	return s, nil
}

func (o object) obj(key, where string) (object, error) {
	raw, ok := o[key]
	if !ok {
		return nil, lockfileError{where + "." + key, "required"}
	}
	return asObject(raw, where+"."+key)
}

func (o object) strings(key, where string) (map[string]string, error) {
	raw, ok := o[key]
	if !ok {
		return nil, lockfileError{where + "." + key, "required"}
	}
	var items object
	if err := json.Unmarshal(raw, &items); err != nil || items == nil {
		return nil, lockfileError{where + "." + key, "must be an object of strings"}
	}
	// One by one: encoding/json turns a null into "" where the builder refuses it.
	m := make(map[string]string, len(items))
	for k := range items {
		s, err := items.str(k, where+"."+key, true)
		if err != nil {
			return nil, err
		}
		m[k] = s
	}
	return m, nil
}

func parseFingerprint(o object, where string) (Fingerprint, error) {
	var f Fingerprint
	osPart, err := o.obj("os", where)
	if err != nil {
		return f, err
	}
	if f.OS.ID, err = osPart.str("id", where+".os", true); err != nil {
		return f, err
	}
	if f.OS.VersionID, err = osPart.str("versionId", where+".os", true); err != nil {
		return f, err
	}
	if f.Arch, err = o.str("arch", where, true); err != nil {
		return f, err
	}
	libc, err := o.obj("libc", where)
	if err != nil {
		return f, err
	}
	if f.Libc.Family, err = libc.str("family", where+".libc", true); err != nil {
		return f, err
	}
	if f.Libc.Family != "glibc" && f.Libc.Family != "musl" {
		return f, lockfileError{where + ".libc.family", `must be "glibc" or "musl"`}
	}
	if f.Libc.Version, err = libc.str("version", where+".libc", true); err != nil {
		return f, err
	}
	if _, ok := o["go"]; ok {
		g, err := o.obj("go", where)
		if err != nil {
			return f, err
		}
		f.Go = &GoFingerprint{}
		if f.Go.Version, err = g.str("version", where+".go", true); err != nil {
			return f, err
		}
		if f.Go.Settings, err = g.strings("settings", where+".go"); err != nil {
			return f, err
		}
		if f.Go.Deps, err = g.strings("deps", where+".go"); err != nil {
			return f, err
		}
	}
	return f, nil
}

func parseModule(raw json.RawMessage, where string, nested bool) (LockedModule, error) {
	var m LockedModule
	o, err := asObject(raw, where)
	if err != nil {
		return m, err
	}
	if m.Path, err = o.str("path", where, true); err != nil {
		return m, err
	}
	if m.Version, err = o.str("version", where, true); err != nil {
		return m, err
	}
	if r, ok := o["replace"]; ok {
		if nested {
			return m, lockfileError{where + ".replace", "a replacement has no replacement"}
		}
		replace, err := parseModule(r, where+".replace", true)
		if err != nil {
			return m, err
		}
		m.Replace = &replace
	}
	return m, nil
}

func parsePlugin(raw json.RawMessage, where string) (LockedPlugin, error) {
	var p LockedPlugin
	o, err := asObject(raw, where)
	if err != nil {
		return p, err
	}
	if p.Kind, err = o.str("kind", where, true); err != nil {
		return p, err
	}
	if !pluginKinds[p.Kind] {
		return p, lockfileError{where + ".kind", "must be c, cpp, go-c-shared or go-plugin"}
	}
	if p.File, err = o.str("file", where, true); err != nil {
		return p, err
	}
	if !pluginFilePattern.MatchString(p.File) {
		return p, lockfileError{where + ".file", "must be a plain .so file name"}
	}
	if p.Sha256, err = o.str("sha256", where, true); err != nil {
		return p, err
	}
	if !hexSha256.MatchString(p.Sha256) {
		return p, lockfileError{where + ".sha256", "must be 64 hex digits"}
	}
	var size float64
	if raw, ok := o["size"]; !ok || json.Unmarshal(raw, &size) != nil || string(raw) == "null" || size < 0 || size != math.Trunc(size) || size >= 1<<53 {
		return p, lockfileError{where + ".size", "must be a non-negative integer"}
	}
	p.Size = int64(size)
	inputs, err := o.str("inputsHash", where, true)
	if err != nil {
		return p, err
	}
	if !taggedSha256.MatchString(inputs) {
		return p, lockfileError{where + ".inputsHash", "must be sha256:<64 hex digits>"}
	}
	if p.GoVersion, err = o.str("goVersion", where, false); err != nil {
		return p, err
	}
	if p.PluginPath, err = o.str("pluginPath", where, false); err != nil {
		return p, err
	}
	if raw, ok := o["deps"]; ok {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil || list == nil {
			return p, lockfileError{where + ".deps", "must be an array"}
		}
		for i, item := range list {
			m, err := parseModule(item, fmt.Sprintf("%s.deps.%d", where, i), false)
			if err != nil {
				return p, err
			}
			p.Deps = append(p.Deps, m)
		}
	}
	return p, nil
}

// ParseLockfile reads a lockfile's bytes with the builder's rules, taking this process's
// platform's section of a multi-platform lockfile; the error names the field.
func ParseLockfile(data []byte) (*Lockfile, error) {
	return ParseLockfileFor(data, Platform())
}

// ParseLockfileFor is ParseLockfile for the given platform ("linux/arm64").
func ParseLockfileFor(data []byte, platform string) (*Lockfile, error) {
	var root object
	if err := json.Unmarshal(data, &root); err != nil {
		return nil, lockfileError{"(root)", "not valid JSON: " + err.Error()}
	}
	if root == nil {
		return nil, lockfileError{"(root)", "must be an object"}
	}
	var version float64
	if raw, ok := root["lockfileVersion"]; !ok || json.Unmarshal(raw, &version) != nil || version != 1 {
		return nil, lockfileError{"lockfileVersion", "must be 1"}
	}
	raw, multi := root["platforms"]
	if !multi {
		return parseSection(root, "")
	}
	for _, key := range []string{"host", "builder", "plugins"} {
		if _, ok := root[key]; ok {
			return nil, lockfileError{"(root)", `has both "platforms" and a top-level host, builder or plugins section`}
		}
	}
	platforms, err := asObject(raw, "platforms")
	if err != nil {
		return nil, err
	}
	if len(platforms) == 0 {
		return nil, lockfileError{"platforms", "lists no platform"}
	}
	section, ok := platforms[platform]
	if !ok {
		locked := make([]string, 0, len(platforms))
		for p := range platforms {
			locked = append(locked, p)
		}
		sort.Strings(locked)
		return nil, PlatformNotLockedError{platform, locked}
	}
	where := "platforms." + platform
	o, err := asObject(section, where)
	if err != nil {
		return nil, err
	}
	lock, err := parseSection(o, where+".")
	if err != nil {
		return nil, err
	}
	// The section's own host says which machine it is for: a section filed under another
	// platform would hand one architecture's code to another.
	machine := lock.Host.Fingerprint.Arch
	if arch, known := ociArchOfMachine[machine]; !known || "linux/"+arch != platform {
		return nil, lockfileError{where + ".host.fingerprint.arch", fmt.Sprintf("%q is not %s's machine", machine, platform)}
	}
	lock.Dir = strings.Replace(platform, "/", "-", 1)
	for name, p := range lock.Plugins {
		p.File = lock.Dir + "/" + p.File
		lock.Plugins[name] = p
	}
	return lock, nil
}

// parseSection reads a host section and its plugins (the whole of a single-platform lockfile).
func parseSection(root object, prefix string) (*Lockfile, error) {
	host, err := root.obj("host", "")
	if err != nil {
		return nil, lockfileError{prefix + "host", "required object"}
	}
	lock := &Lockfile{Plugins: map[string]LockedPlugin{}}
	if lock.Host.Image, err = host.str("image", prefix+"host", true); err != nil {
		return nil, err
	}
	if lock.Host.ImageID, err = host.str("imageId", prefix+"host", true); err != nil {
		return nil, err
	}
	if lock.Host.Binary, err = host.str("binary", prefix+"host", false); err != nil {
		return nil, err
	}
	fp, err := host.obj("fingerprint", prefix+"host")
	if err != nil {
		return nil, err
	}
	if lock.Host.Fingerprint, err = parseFingerprint(fp, prefix+"host.fingerprint"); err != nil {
		return nil, err
	}
	if lock.Host.FingerprintHash, err = host.str("fingerprintHash", prefix+"host", true); err != nil {
		return nil, err
	}
	if !taggedSha256.MatchString(lock.Host.FingerprintHash) {
		return nil, lockfileError{prefix + "host.fingerprintHash", "must be sha256:<64 hex digits>"}
	}
	plugins, err := root.obj("plugins", "")
	if err != nil {
		return nil, lockfileError{prefix + "plugins", "required object"}
	}
	for name, raw := range plugins {
		if !pluginNamePattern.MatchString(name) {
			shown := name
			if len(shown) > 80 {
				shown = shown[:80]
			}
			return nil, lockfileError{fmt.Sprintf("%splugins.%q", prefix, shown), "not a valid plugin name"}
		}
		p, err := parsePlugin(raw, prefix+"plugins."+name)
		if err != nil {
			return nil, err
		}
		lock.Plugins[name] = p
	}
	return lock, nil
}
