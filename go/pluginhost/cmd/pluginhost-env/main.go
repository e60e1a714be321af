// pluginhost-env prints the fingerprint of the system it runs on, as pluginhost computes it:
// the same JSON and hash as `builder env --json` (for a Go host, use the host's own binary:
// the Go part is the running binary's).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/plugin-builder/pluginhost"
)

func main() {
	withGo := flag.Bool("go", false, "include this binary's Go release, settings and modules")
	flag.Parse()
	f, err := pluginhost.LiveFingerprint(*withGo)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pluginhost-env:", err)
		os.Exit(2)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]interface{}{"fingerprint": f, "fingerprintHash": f.Hash()})
}
