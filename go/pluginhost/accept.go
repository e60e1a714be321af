package pluginhost

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// maxSerialAheadMs: how far ahead of a host's clock a signing serial may be.
const maxSerialAheadMs = 24 * 3600 * 1000

func (h *Host[R]) trust() string {
	if len(h.opts.TrustedKeys) > 0 {
		return "signed"
	}
	return "unsigned"
}

func (h *Host[R]) acceptLockfile(src source) (*Lockfile, LockfileState, error) {
	state := LockfileState{Status: "accepted", Path: src.lockPath}
	data, err := readSmallFile(src.lockPath, "The lockfile", h.opts.Limits.MaxLockfileBytes, false)
	if err != nil {
		if e, ok := err.(*Error); ok && e.Code == ErrFileMissing.Code {
			return nil, state, refuse(ErrLockfileMissing, "", fmt.Sprintf("No lockfile at %s: nothing is loaded.", src.lockPath), "Deploy builder.lock.json (and its .sig) together with the .so files, then reload.", err)
		}
		if e, ok := err.(*Error); ok && e.Code == ErrFileTooLarge.Code {
			return nil, state, refuse(ErrLockfileTooLarge, "", e.Message, "Raise Limits.MaxLockfileBytes if this lockfile is genuine.", err)
		}
		return nil, state, err
	}
	var subjects map[string]string
	if len(h.opts.TrustedKeys) > 0 {
		envelope, err := readSmallFile(src.sigPath, "The lockfile signature", h.opts.Limits.MaxSignatureBytes, false)
		if err != nil {
			if e, ok := err.(*Error); ok && e.Code == ErrFileMissing.Code {
				return nil, state, refuse(ErrUnsignedLockfile, "", fmt.Sprintf("This host trusts signing keys, and %s has no signature (%s).", src.lockPath, src.sigPath), "Sign it with `builder sign --key KEY` (or build with --sign-key) and deploy the .sig beside it.", err)
			}
			return nil, state, refuse(ErrBadSignature, "", "The lockfile signature cannot be read: "+err.Error(), "Deploy the .sig written by `builder sign`.", err)
		}
		keys, signed, serial, err := verifyLockfileSignature(data, envelope, h.opts.TrustedKeys)
		if err != nil {
			return nil, state, err
		}
		// A signed lockfile older than the floor, or than the one serving, is a rollback: the
		// signature of an old set stays valid forever, and replaying it would bring back
		// plugins that were replaced for a reason.
		// A serial far ahead of this clock is a signer's wrong clock: taken, it would lock out
		// every honest signature after it.
		if serial > time.Now().UnixMilli()+maxSerialAheadMs {
			return nil, state, refuse(ErrBadSignature, "", fmt.Sprintf("%s is signed with serial %d (%s), more than a day ahead of this host's clock.", src.lockPath, serial, time.UnixMilli(serial).UTC().Format(time.RFC3339)), "Fix the signer's clock and sign again (or fix this host's clock).", nil)
		}
		h.mu.RLock()
		serving := h.servingSerial
		h.mu.RUnlock()
		if serial < h.opts.MinSerial || serial < serving {
			floor, which := h.opts.MinSerial, "the configured floor (MinSerial)"
			if serving > floor {
				floor, which = serving, "the serving lockfile's"
			}
			return nil, state, refuse(ErrRollbackRefused, "", fmt.Sprintf("%s is signed with serial %d, older than %s %d: a rollback is refused.", src.lockPath, serial, which, floor), "Deploy the newest signed lockfile (sign again with `builder sign` to give this one a new serial, if going back is intended).", nil)
		}
		state.SignedBy, state.Serial, subjects = keys, serial, signed
	}
	lock, err := ParseLockfile(data)
	var other PlatformNotLockedError
	if errors.As(err, &other) {
		return nil, state, refuse(ErrPlatformNotLocked, "", src.lockPath+" "+err.Error()+": nothing is loaded.", fmt.Sprintf("Add %q to host.platforms in builder.config.json, build, and deploy the new lockfile with its %s/ directory.", other.Platform, strings.Replace(other.Platform, "/", "-", 1)), err)
	}
	if err != nil {
		return nil, state, refuse(ErrLockfileInvalid, "", src.lockPath+": "+err.Error(), "Regenerate it with `builder build`, or restore it from version control.", err)
	}
	if len(lock.Plugins) > h.opts.Limits.MaxPlugins {
		return nil, state, refuse(ErrLockfileTooLarge, "", fmt.Sprintf("%s lists %d plugins, more than the limit of %d.", src.lockPath, len(lock.Plugins), h.opts.Limits.MaxPlugins), "Raise Limits.MaxPlugins if this lockfile is genuine.", nil)
	}
	if subjects != nil {
		if err := checkArtifactsSigned(lock, subjects); err != nil {
			return nil, state, err
		}
	}
	state.Sha256 = sha256Hex(data)
	return lock, state, nil
}
