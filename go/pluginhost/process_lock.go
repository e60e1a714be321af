package pluginhost

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// processLock is the store's lock, the same protocol as the Node tool's (src/util/process-lock.ts),
// so a Go host and `builder pull` never use one store at once: a file created whole with link()
// naming its holder (host, pid, start time); a holder that is gone — or on another host, a
// container since replaced — is broken by one breaker at a time.
type processLock struct {
	path string
	me   lockHolder
}

type lockHolder struct {
	Host  string  `json:"host"`
	Pid   int     `json:"pid"`
	Start *string `json:"start"`
	Since string  `json:"since"`
}

func startTimeOf(pid int) *string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	text := string(data)
	fields := strings.Fields(text[strings.LastIndexByte(text, ')')+1:])
	if len(fields) < 20 {
		return nil
	}
	return &fields[19]
}

func (h lockHolder) same(o lockHolder) bool {
	return h.Host == o.Host && h.Pid == o.Pid && ((h.Start == nil && o.Start == nil) || (h.Start != nil && o.Start != nil && *h.Start == *o.Start))
}

func (h lockHolder) alive() bool {
	host, _ := os.Hostname()
	if h.Host != host {
		return false
	}
	if err := syscall.Kill(h.Pid, 0); err == syscall.ESRCH {
		return false
	}
	start := startTimeOf(h.Pid)
	return h.Start == nil || start == nil || *start == *h.Start
}

func readLockHolder(path string) (*lockHolder, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var h lockHolder
	if json.Unmarshal(data, &h) != nil || h.Host == "" || h.Since == "" {
		return nil, &Error{Code: ErrStoreLocked.Code, Message: path + " is not a lock this tool wrote.", Fix: "Remove it if no process uses the store."}
	}
	return &h, nil
}

func acquireProcessLock(path, dir string) (*processLock, error) {
	host, _ := os.Hostname()
	me := lockHolder{Host: host, Pid: os.Getpid(), Start: startTimeOf(os.Getpid()), Since: time.Now().UTC().Format(time.RFC3339Nano)}
	temp := path + "." + randomHex(6) + ".tmp"
	text, _ := json.Marshal(me)
	if err := os.WriteFile(temp, append(text, '\n'), 0o644); err != nil {
		return nil, storeWriteFailed(err)
	}
	defer os.Remove(temp)
	for attempt := 0; attempt < 100; attempt++ {
		err := os.Link(temp, path)
		if err == nil {
			return &processLock{path: path, me: me}, nil
		}
		if !os.IsExist(err) {
			return nil, storeWriteFailed(err)
		}
		holder, err := readLockHolder(path)
		if err != nil {
			return nil, err
		}
		if holder == nil {
			continue
		}
		if holder.alive() {
			return nil, &Error{Code: ErrStoreLocked.Code, Message: fmt.Sprintf("The plugin store %s is in use by process %d on %s, since %s.", dir, holder.Pid, printableShort(holder.Host), printableShort(holder.Since)), Fix: "Give each host its own store, or wait for the other process to finish."}
		}
		breaker := path + ".break"
		f, err := os.OpenFile(breaker, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			if info, serr := os.Stat(breaker); serr == nil && time.Since(info.ModTime()) > 10*time.Second {
				os.Remove(breaker)
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		f.WriteString(strconv.Itoa(os.Getpid()))
		f.Close()
		if current, _ := readLockHolder(path); current != nil && current.same(*holder) {
			os.Remove(path)
		}
		os.Remove(breaker)
	}
	return nil, &Error{Code: ErrStoreLocked.Code, Message: "The plugin store " + dir + " could not be locked."}
}

func (l *processLock) release() {
	if current, _ := readLockHolder(l.path); current != nil && current.same(l.me) {
		os.Remove(l.path)
	}
}
