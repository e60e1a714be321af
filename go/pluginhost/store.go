package pluginhost

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// The store has the layout `builder pull --store` keeps (docs/registry.md): blobs/sha256/<hex>,
// sets/<key>/ laid out as a plugin directory of hard links, tmp/, and a lock.
var storeKey = regexp.MustCompile(`^[0-9a-f]{64}(?:-linux-[a-z0-9]+)?$`)

const setRecordName = ".set.json"

type setRecord struct {
	Top       string    `json:"top"`
	Platform  string    `json:"platform"`
	Documents []string  `json:"documents"`
	Files     []setFile `json:"files"`
}

type setFile struct {
	Path   string `json:"path"`
	Digest string `json:"digest"`
}

type pluginStore struct {
	dir      string
	maxBytes int64
	lock     *processLock
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func storeWriteFailed(err error) *Error {
	return &Error{Code: ErrWriteFailed.Code, Message: fmt.Sprintf("The plugin store cannot be used: %v.", err), Fix: "Give the store a directory this user can write (a volume, in a container).", Err: err}
}

func openStore(dir string, maxBytes int64) (*pluginStore, error) {
	for _, sub := range []string{"blobs", "blobs/sha256", "sets", "tmp"} {
		path := filepath.Join(dir, sub)
		if err := os.MkdirAll(path, 0o755); err != nil {
			return nil, storeWriteFailed(err)
		}
		// The store may itself be a link (a volume); what is inside is ours, never a link elsewhere.
		if info, err := os.Lstat(path); err != nil || !info.IsDir() {
			return nil, &Error{Code: ErrWriteFailed.Code, Message: path + " is not a directory (a symbolic link?); the plugin store keeps only its own directories.", Fix: "Remove it, or give the store a new directory."}
		}
	}
	lock, err := acquireProcessLock(filepath.Join(dir, "lock"), dir)
	if err != nil {
		return nil, err
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, "tmp", e.Name()))
	}
	return &pluginStore{dir: dir, maxBytes: maxBytes, lock: lock}, nil
}

func (s *pluginStore) close() { s.lock.release() }

func (s *pluginStore) blobPath(digest string) string {
	return filepath.Join(s.dir, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
}

// hasBlob: a stored blob of this digest, re-hashed; an altered one is removed to be fetched again.
func (s *pluginStore) hasBlob(digest string, size int64) bool {
	f, info, err := openRegular(s.blobPath(digest), "A stored blob", "", false)
	if err != nil {
		if e, ok := err.(*Error); !ok || e.Code != ErrFileMissing.Code {
			os.Remove(s.blobPath(digest))
		}
		return false
	}
	defer f.Close()
	h := sha256.New()
	if info.Size() == size {
		if n, err := io.Copy(h, io.LimitReader(f, size+1)); err == nil && n == size && "sha256:"+hex.EncodeToString(h.Sum(nil)) == digest {
			return true
		}
	}
	os.Remove(s.blobPath(digest))
	return false
}

// writeBlob stores a blob from a stream, checking it on the way: more bytes than size, or bytes
// of another digest, are DIGEST_MISMATCH and nothing is kept.
func (s *pluginStore) writeBlob(digest string, size int64, r io.Reader, what string) error {
	temp := filepath.Join(s.dir, "tmp", strings.TrimPrefix(digest, "sha256:")+"."+randomHex(4))
	f, err := os.OpenFile(temp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return storeWriteFailed(err)
	}
	keep := false
	defer func() {
		f.Close()
		if !keep {
			os.Remove(temp)
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, size+1))
	if err != nil {
		var own *Error
		if errors.As(err, &own) {
			return own
		}
		if _, isPath := err.(*os.PathError); isPath {
			return storeWriteFailed(err)
		}
		return &Error{Code: ErrRegistryUnreachable.Code, Message: fmt.Sprintf("%s: the transfer broke off: %v; nothing kept", what, err), Err: err, transient: true}
	}
	if n > size {
		return &Error{Code: ErrDigestMismatch.Code, Message: fmt.Sprintf("%s sent more than the %d bytes its descriptor declares; the transfer was cut off and nothing kept.", what, size)}
	}
	if n < size {
		return &Error{Code: ErrDigestMismatch.Code, Message: fmt.Sprintf("%s ended after %d of its %d bytes; nothing kept.", what, n, size), transient: true}
	}
	if actual := "sha256:" + hex.EncodeToString(h.Sum(nil)); actual != digest {
		return &Error{Code: ErrDigestMismatch.Code, Message: fmt.Sprintf("%s: the registry sent bytes of %s, not %s; nothing kept.", what, actual, digest), Fix: "A registry or proxy serving other bytes under a digest is broken or compromised."}
	}
	if err := f.Sync(); err != nil {
		return storeWriteFailed(err)
	}
	if err := os.Rename(temp, s.blobPath(digest)); err != nil {
		return storeWriteFailed(err)
	}
	keep = true
	return nil
}

// readChecked: a small stored blob, re-checked against its digest; nil when absent or altered.
func (s *pluginStore) readChecked(digest string, max int64) []byte {
	data, err := readSmallFile(s.blobPath(digest), "A stored blob", max, false)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(data)
	if "sha256:"+hex.EncodeToString(sum[:]) != digest {
		os.Remove(s.blobPath(digest))
		return nil
	}
	return data
}

func (s *pluginStore) writeDocument(digest string, data []byte) error {
	temp := filepath.Join(s.dir, "tmp", strings.TrimPrefix(digest, "sha256:")+"."+randomHex(4))
	if err := os.WriteFile(temp, data, 0o444); err != nil {
		os.Remove(temp)
		return storeWriteFailed(err)
	}
	if err := os.Rename(temp, s.blobPath(digest)); err != nil {
		os.Remove(temp)
		return storeWriteFailed(err)
	}
	return nil
}

func (s *pluginStore) setPath(key string) string { return filepath.Join(s.dir, "sets", key) }

// setMatches: every file of a laid-out set is still the very file of its blob (a hard link to
// it): a file replaced in the set directory makes the set laid out again.
func (s *pluginStore) setMatches(dir string, files []setFile) bool {
	for _, f := range files {
		a, errA := os.Lstat(filepath.Join(dir, filepath.FromSlash(f.Path)))
		b, errB := os.Lstat(s.blobPath(f.Digest))
		if errA != nil || errB != nil || !a.Mode().IsRegular() || !os.SameFile(a, b) {
			return false
		}
	}
	return true
}

// existingSet: a set already laid out, marked as just used; anything else at its name goes.
func (s *pluginStore) existingSet(key string) (string, bool) {
	path := s.setPath(key)
	info, err := os.Lstat(path)
	if err != nil {
		return "", false
	}
	if !info.IsDir() {
		os.Remove(path)
		return "", false
	}
	now := time.Now()
	os.Chtimes(path, now, now)
	return path, true
}

// materialize lays a set out as a plugin directory of hard links, then renames it into place.
func (s *pluginStore) materialize(key string, record setRecord) (string, error) {
	target := s.setPath(key)
	temp := filepath.Join(s.dir, "tmp", "set-"+key+"."+randomHex(4))
	defer os.RemoveAll(temp)
	if err := os.Mkdir(temp, 0o755); err != nil {
		return "", storeWriteFailed(err)
	}
	for _, f := range record.Files {
		path := filepath.Join(temp, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", storeWriteFailed(err)
		}
		if err := os.Link(s.blobPath(f.Digest), path); err != nil {
			return "", storeWriteFailed(err)
		}
	}
	text, _ := json.Marshal(record)
	if err := os.WriteFile(filepath.Join(temp, setRecordName), text, 0o444); err != nil {
		return "", storeWriteFailed(err)
	}
	if err := os.Rename(temp, target); err != nil {
		if !errors.Is(err, os.ErrExist) && !strings.Contains(err.Error(), "not empty") {
			return "", storeWriteFailed(err)
		}
	} else {
		os.Chmod(target, 0o555)
	}
	return target, nil
}

func (s *pluginStore) removeSet(key string) {
	path := s.setPath(key)
	if info, err := os.Lstat(path); err == nil && info.IsDir() {
		os.Chmod(path, 0o755)
	}
	doomed := filepath.Join(s.dir, "tmp", "gone-"+key+"."+randomHex(4))
	if os.Rename(path, doomed) == nil {
		os.RemoveAll(doomed)
	}
}

// collect keeps the store under its budget: sets in keep count first; the others fill what is
// left, newest first; then every blob no remaining set uses goes.
func (s *pluginStore) collect(keep []string) {
	type set struct {
		key    string
		used   time.Time
		record *setRecord
		size   int64
	}
	entries, _ := os.ReadDir(filepath.Join(s.dir, "sets"))
	var sets []set
	for _, e := range entries {
		if !storeKey.MatchString(e.Name()) {
			continue
		}
		info, err := os.Lstat(s.setPath(e.Name()))
		if err != nil {
			continue
		}
		st := set{key: e.Name(), used: info.ModTime()}
		if data, err := os.ReadFile(filepath.Join(s.setPath(e.Name()), setRecordName)); err == nil {
			var r setRecord
			if json.Unmarshal(data, &r) == nil {
				st.record = &r
				seen := map[string]bool{}
				for _, d := range append(append([]string{}, r.Documents...), digestsOf(r.Files)...) {
					if !seen[d] {
						seen[d] = true
						if bi, err := os.Lstat(s.blobPath(d)); err == nil {
							st.size += bi.Size()
						}
					}
				}
			}
		}
		sets = append(sets, st)
	}
	sort.Slice(sets, func(i, j int) bool { return sets[i].used.After(sets[j].used) })
	kept := map[string]bool{}
	for _, k := range keep {
		kept[k] = true
	}
	var total int64
	for _, st := range sets {
		if st.record != nil && kept[st.key] {
			total += st.size
		}
	}
	live := map[string]bool{}
	for _, st := range sets {
		if st.record != nil && (kept[st.key] || total+st.size <= s.maxBytes) {
			if !kept[st.key] {
				total += st.size
			}
			for _, d := range append(append([]string{}, st.record.Documents...), digestsOf(st.record.Files)...) {
				live[strings.TrimPrefix(d, "sha256:")] = true
			}
			continue
		}
		s.removeSet(st.key)
	}
	blobs, _ := os.ReadDir(filepath.Join(s.dir, "blobs", "sha256"))
	for _, b := range blobs {
		if !live[b.Name()] {
			os.Remove(filepath.Join(s.dir, "blobs", "sha256", b.Name()))
		}
	}
}

func digestsOf(files []setFile) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.Digest
	}
	return out
}
