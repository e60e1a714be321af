// pluginhost-oracle answers questions to pluginhost's parsers, one JSON request per line on
// stdin, one JSON answer per line on stdout: the builder's test suite asks the TypeScript
// implementation the same questions and compares (differential tests and fuzzing).
//
//	{"op":"fingerprint","files":{"/etc/os-release":"<base64>",…}}
//	{"op":"lockfile","text":"<base64>"}
//	{"op":"verify","lockfile":"<base64>","envelope":"<base64>","keys":["<PEM>",…]}
package main

import (
	"bufio"
	"encoding/json"
	"os"
	"sort"

	"github.com/plugin-builder/pluginhost"
)

type request struct {
	Op       string            `json:"op"`
	Files    map[string][]byte `json:"files"`
	Text     []byte            `json:"text"`
	Lockfile []byte            `json:"lockfile"`
	Envelope []byte            `json:"envelope"`
	Keys     []string          `json:"keys"`
}

type answer struct {
	OK          bool                               `json:"ok"`
	Code        string                             `json:"code,omitempty"`
	Error       string                             `json:"error,omitempty"`
	Fingerprint *pluginhost.Fingerprint            `json:"fingerprint,omitempty"`
	Hash        string                             `json:"hash,omitempty"`
	Plugins     map[string]pluginhost.LockedPlugin `json:"plugins,omitempty"`
	SignedBy    []string                           `json:"signedBy,omitempty"`
}

func failed(err error) answer {
	a := answer{Error: err.Error()}
	if e, ok := err.(*pluginhost.Error); ok {
		a.Code = e.Code
	}
	return a
}

func handle(req request) answer {
	switch req.Op {
	case "fingerprint":
		f, err := pluginhost.ProbeEnvironment(func(path string) ([]byte, error) { return req.Files[path], nil })
		if err != nil {
			return failed(err)
		}
		return answer{OK: true, Fingerprint: &f, Hash: f.Hash()}
	case "lockfile":
		lock, err := pluginhost.ParseLockfile(req.Text)
		if err != nil {
			return failed(err)
		}
		return answer{OK: true, Plugins: lock.Plugins}
	case "verify":
		var keys []pluginhost.TrustedKey
		for i, pem := range req.Keys {
			k, err := pluginhost.ParseTrustedKey([]byte(pem), "key"+string(rune('0'+i)))
			if err != nil {
				return failed(err)
			}
			keys = append(keys, k)
		}
		signedBy, err := pluginhost.VerifyLockfile(req.Lockfile, req.Envelope, keys)
		if err != nil {
			return failed(err)
		}
		sort.Strings(signedBy)
		return answer{OK: true, SignedBy: signedBy}
	}
	return answer{Error: "unknown op " + req.Op}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			out.Encode(answer{Error: "bad request: " + err.Error()})
			continue
		}
		out.Encode(handle(req))
	}
}
