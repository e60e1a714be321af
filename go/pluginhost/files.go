package pluginhost

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// openRegular opens a deployed file without following a final symbolic link and without
// blocking (a FIFO put in a plugin's place would hang a plain open or read forever), and
// accepts only a regular file, checked on the open descriptor so a swap after the check
// changes nothing.
func openRegular(path, what, plugin string, follow bool) (*os.File, os.FileInfo, error) {
	flags := syscall.O_RDONLY | syscall.O_NONBLOCK | syscall.O_CLOEXEC
	if !follow {
		flags |= syscall.O_NOFOLLOW
	}
	fd, err := syscall.Open(path, flags, 0)
	if err != nil {
		switch {
		case errors.Is(err, syscall.ENOENT):
			return nil, nil, refuse(ErrFileMissing, plugin, fmt.Sprintf("%s %s does not exist.", what, path), "Deploy "+path+".", err)
		case errors.Is(err, syscall.ELOOP):
			return nil, nil, refuse(ErrNotARegularFile, plugin, fmt.Sprintf("%s %s is a symbolic link; only regular files are read.", what, path), "Deploy the file itself, not a link to it.", err)
		default:
			return nil, nil, refuse(ErrFileUnreadable, plugin, fmt.Sprintf("%s %s cannot be opened: %v", what, path, err), "Check the file's permissions.", err)
		}
	}
	file := os.NewFile(uintptr(fd), path)
	info, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, nil, refuse(ErrFileUnreadable, plugin, fmt.Sprintf("%s %s cannot be examined: %v", what, path, err), "Check the filesystem holding it.", err)
	}
	if !info.Mode().IsRegular() {
		file.Close()
		return nil, nil, refuse(ErrNotARegularFile, plugin, fmt.Sprintf("%s %s is a %s; only regular files are read.", what, path, describeMode(info.Mode())), "Deploy a regular file in its place.", nil)
	}
	return file, info, nil
}

func describeMode(mode os.FileMode) string {
	switch {
	case mode&os.ModeNamedPipe != 0:
		return "FIFO"
	case mode&os.ModeSocket != 0:
		return "socket"
	case mode&os.ModeDevice != 0:
		return "device"
	case mode.IsDir():
		return "directory"
	case mode&os.ModeSymlink != 0:
		return "symbolic link"
	}
	return "special file"
}

// readSmallFile reads a whole small file (a lockfile, a signature, a key), refusing one
// larger than max, however it grows while being read.
func readSmallFile(path, what string, max int64, follow bool) ([]byte, error) {
	file, info, err := openRegular(path, what, "", follow)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	if info.Size() > max {
		return nil, refuse(ErrFileTooLarge, "", fmt.Sprintf("%s %s has %d bytes, more than the limit of %d.", what, path, info.Size(), max), "Raise the limit if the file is genuine.", nil)
	}
	data, err := io.ReadAll(io.LimitReader(file, max+1))
	if err != nil {
		return nil, refuse(ErrFileUnreadable, "", fmt.Sprintf("%s cannot be read: %v", path, err), "Check the filesystem holding it.", err)
	}
	if int64(len(data)) > max {
		return nil, refuse(ErrFileTooLarge, "", fmt.Sprintf("%s %s grew beyond the limit of %d bytes while being read.", what, path, max), "Raise the limit if the file is genuine.", nil)
	}
	return data, nil
}

// sealer makes the private copies plugins are loaded from. plugin.Open resolves its path
// with realpath(3), and a memfd's /proc/self/fd link resolves to "/memfd:… (deleted)", which
// does not exist (plugin.Open answers "realpath failed"; checked with Go 1.19): so the copy
// is a file in a 0700 directory of this process, written once, read-only, under a name never
// used before — plugin.Open caches by path, and a reused path would return the old plugin.
type sealer struct {
	parent string
	dir    string
}

func (s *sealer) directory() (string, error) {
	if s.dir == "" {
		dir, err := os.MkdirTemp(s.parent, "pluginhost-")
		if err != nil {
			return "", err
		}
		s.dir = dir
	}
	return s.dir, nil
}

// seal copies exactly size bytes of source into a new private file and returns its path and
// the sha256 read back from that file (what will be loaded is what was hashed).
func (s *sealer) seal(source *os.File, size int64, plugin string) (string, string, error) {
	fail := func(why string, err error) (string, string, error) {
		fix := "Make TMPDIR a writable directory with room for the plugin."
		if errors.Is(err, syscall.ENOSPC) {
			fix = "The filesystem of TMPDIR is full: free space there (or point TMPDIR elsewhere) and reload."
		}
		return "", "", refuse(ErrSealFailed, plugin, fmt.Sprintf("Plugin %q: cannot make the private copy to load: %s: %v", plugin, why, err), fix, err)
	}
	dir, err := s.directory()
	if err != nil {
		return fail("creating a private directory", err)
	}
	random := make([]byte, 8)
	if _, err := rand.Read(random); err != nil {
		return fail("drawing a name", err)
	}
	path := filepath.Join(dir, plugin+"-"+hex.EncodeToString(random)+".so")
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o500)
	if err != nil {
		return fail("creating "+path, err)
	}
	written, err := io.Copy(out, io.LimitReader(source, size+1))
	if err == nil {
		err = out.Sync()
	}
	if closeErr := out.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(path)
		return fail("writing "+path, err)
	}
	if written != size {
		os.Remove(path)
		return "", "", refuse(ErrSizeMismatch, plugin, fmt.Sprintf("Plugin %q: the deployed file changed size while it was copied (%d bytes, the lockfile says %d).", plugin, written, size), "Deploy the .so and the lockfile from the same `builder build`, then reload.", nil)
	}
	copied, err := os.Open(path)
	if err != nil {
		os.Remove(path)
		return fail("reopening "+path, err)
	}
	defer copied.Close()
	hash := sha256.New()
	if _, err := io.Copy(hash, copied); err != nil {
		os.Remove(path)
		return fail("hashing "+path, err)
	}
	return path, hex.EncodeToString(hash.Sum(nil)), nil
}

func (s *sealer) close() {
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
