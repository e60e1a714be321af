// The metrics demo's cpu plugin: the system's load average.
package main

import (
	"os"
	"strings"

	"example.com/shared"
)

// Version is reported by the host (GET /plugins).
var Version = "1.0.0"

// Register is the registration method the host looks up.
func Register(r shared.Registrar) {
	r.Add("cpu", func(string) string {
		data, err := os.ReadFile("/proc/loadavg")
		if err != nil {
			return "error: " + err.Error()
		}
		return "load " + strings.Fields(string(data))[0]
	})
}
