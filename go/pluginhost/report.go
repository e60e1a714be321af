package pluginhost

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// PluginStatus, LockfileState and Report have the JSON shapes of `builder host`'s.
type PluginStatus struct {
	Name      string   `json:"name"`
	Status    string   `json:"status"`
	File      string   `json:"file"`
	Sha256    string   `json:"sha256,omitempty"`
	Version   string   `json:"version,omitempty"`
	Functions []string `json:"functions,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	Code      string   `json:"code,omitempty"`
}

type LockfileState struct {
	Status   string   `json:"status"`
	Path     string   `json:"path"`
	Ref      string   `json:"ref,omitempty"`
	Sha256   string   `json:"sha256,omitempty"`
	SignedBy []string `json:"signedBy,omitempty"`
	Serial   int64    `json:"serial,omitempty"`
	Code     string   `json:"code,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	Fix      string   `json:"fix,omitempty"`
}

type Report struct {
	Trust    string         `json:"trust"`
	Lockfile LockfileState  `json:"lockfile"`
	Plugins  []PluginStatus `json:"plugins"`
}

// Report is the state after the last finished reload.
func (h *Host[R]) Report() Report {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return Report{Trust: h.trust(), Lockfile: h.lock, Plugins: append([]PluginStatus(nil), h.statuses...)}
}

func (h *Host[R]) loadedStatus(p *Loaded[R]) PluginStatus {
	s := PluginStatus{Name: p.Name, Status: "loaded", File: p.File, Sha256: p.Sha256, Version: p.Version}
	if named, ok := any(p.Registrar).(Named); ok {
		s.Functions = named.Names()
	}
	return s
}

const maxUnknownReported = 64

// unknownFiles: shared objects that no lockfile entry names are reported, never loaded.
func (h *Host[R]) unknownFiles(base string, lock *Lockfile) []PluginStatus {
	known := map[string]bool{}
	for _, p := range lock.Plugins {
		known[path.Base(p.File)] = true
	}
	dir, err := os.Open(filepath.Join(base, lock.Dir))
	if err != nil {
		return nil
	}
	defer dir.Close()
	var found []string
	for len(found) < maxUnknownReported {
		names, err := dir.Readdirnames(256)
		for _, n := range names {
			if strings.HasSuffix(n, ".so") && !known[n] && len(found) < maxUnknownReported {
				found = append(found, n)
			}
		}
		if err != nil {
			break
		}
	}
	sort.Strings(found)
	out := make([]PluginStatus, len(found))
	for i, n := range found {
		f := n
		if lock.Dir != "" {
			f = lock.Dir + "/" + n
		}
		out[i] = PluginStatus{Name: f, Status: "rejected", File: f, Code: ErrUnknownPlugin.Code,
			Reason: fmt.Sprintf("Plugin %q is not loadable: it is not in the lockfile.", f)}
	}
	return out
}
