// The metrics demo's disk plugin: free space on the root filesystem.
package main

import (
	"strconv"
	"syscall"

	"example.com/shared"
)

// Version is reported by the host (GET /plugins).
var Version = "1.0.0"

// Register is the registration method the host looks up.
func Register(r shared.Registrar) {
	r.Add("disk", func(string) string {
		var fs syscall.Statfs_t
		if err := syscall.Statfs("/", &fs); err != nil {
			return "error: " + err.Error()
		}
		return "free " + strconv.FormatUint(fs.Bavail*uint64(fs.Bsize)>>20, 10) + " MiB"
	})
}
