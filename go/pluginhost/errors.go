package pluginhost

import "strings"

// Error is every refusal of this package. Code is the code the Node runtime uses for the same
// refusal, so hosts in either language report alike; Fix says what to do.
type Error struct {
	Code        string
	Plugin      string
	Message     string
	Fix         string
	Differences []Difference
	Err         error
	// transient: worth a retry (the registry may come back).
	transient bool
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

// Is matches by code: errors.Is(err, pluginhost.ErrHashMismatch).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Code == e.Code
}

func code(c string) *Error { return &Error{Code: c} }

// Sentinels for errors.Is; each is a code, never returned itself.
var (
	ErrLockfileMissing     = code("LOCKFILE_MISSING")
	ErrLockfileTooLarge    = code("LOCKFILE_TOO_LARGE")
	ErrLockfileInvalid     = code("LOCKFILE_INVALID")
	ErrPlatformNotLocked   = code("PLATFORM_NOT_LOCKED")
	ErrUnsignedLockfile    = code("UNSIGNED_LOCKFILE")
	ErrBadSignature        = code("BAD_SIGNATURE")
	ErrBadKey              = code("BAD_KEY")
	ErrEnvironmentMismatch = code("ENVIRONMENT_MISMATCH")
	ErrUnknownPlugin       = code("UNKNOWN_PLUGIN")
	ErrFileMissing         = code("FILE_MISSING")
	ErrNotARegularFile     = code("NOT_A_REGULAR_FILE")
	ErrSizeMismatch        = code("SIZE_MISMATCH")
	ErrFileTooLarge        = code("FILE_TOO_LARGE")
	ErrFileUnreadable      = code("FILE_UNREADABLE")
	ErrSealFailed          = code("SEAL_FAILED")
	ErrHashMismatch        = code("HASH_MISMATCH")
	ErrNotAGoPlugin        = code("NOT_A_GO_PLUGIN")
	ErrGoVersionMismatch   = code("GO_VERSION_MISMATCH")
	ErrGoModuleMismatch    = code("GO_MODULE_MISMATCH")
	ErrLoadFailed          = code("LOAD_FAILED")
	ErrBadRegister         = code("BAD_REGISTER")
	ErrBadToken            = code("BAD_TOKEN")
	ErrRollbackRefused     = code("ROLLBACK_REFUSED")
	ErrBadReference        = code("BAD_REFERENCE")
	ErrTagRefused          = code("TAG_REFUSED")
	ErrRegistryUnreachable = code("REGISTRY_UNREACHABLE")
	ErrRegistryTimeout     = code("REGISTRY_TIMEOUT")
	ErrRegistryError       = code("REGISTRY_ERROR")
	ErrRegistryAuthFailed  = code("REGISTRY_AUTH_FAILED")
	ErrRegistryInsecure    = code("REGISTRY_INSECURE")
	ErrDigestMismatch      = code("DIGEST_MISMATCH")
	ErrSetInvalid          = code("SET_INVALID")
	ErrStoreLocked         = code("STORE_LOCKED")
	ErrRefNotAllowed       = code("REF_NOT_ALLOWED")
	ErrWriteFailed         = code("WRITE_FAILED")
)

func refuse(c *Error, plugin, message, fix string, cause error) *Error {
	return &Error{Code: c.Code, Plugin: plugin, Message: message, Fix: fix, Err: cause}
}

func environmentMismatch(image string, diffs []Difference) *Error {
	lines := make([]string, len(diffs))
	for i, d := range diffs {
		lines[i] = "  - " + d.String()
	}
	return &Error{
		Code:        ErrEnvironmentMismatch.Code,
		Message:     "This host's environment differs from the one the plugins were built for (" + image + "; lockfile → live):\n" + strings.Join(lines, "\n"),
		Fix:         "Rebuild the plugins with `builder build` against this host image, or run them on the image they were built for.",
		Differences: diffs,
	}
}
