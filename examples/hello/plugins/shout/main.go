// A Go c-shared plugin: exported functions plus the registration manifest.
package main

// #include <stdlib.h>
import "C"

import (
	"strings"
	"sync"
	"unsafe"
)

const manifest = `{"name":"shout","version":"1.0.0","functions":{` +
	`"Double":"int Double(int x)",` +
	`"Shout":"const char *Shout(const char *s)"}}`

var manifestC = C.CString(manifest) // allocated once, lives as long as the process

//export builder_plugin_manifest
func builder_plugin_manifest() *C.char { return manifestC }

//export Double
func Double(x C.int) C.int { return x * 2 }

// Shout keeps its last answer per input alive until the next call frees it, so callers that
// copy the string out right away (koffi does) never see freed memory, and nothing leaks.
var (
	mu   sync.Mutex
	last *C.char
)

//export Shout
func Shout(s *C.char) *C.char {
	mu.Lock()
	defer mu.Unlock()
	if last != nil {
		C.free(unsafe.Pointer(last))
	}
	last = C.CString(strings.ToUpper(C.GoString(s)) + "!")
	return last
}

func main() {}
