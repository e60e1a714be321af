//go:build extra

package shared

// Extra says whether the module was compiled with the build tag "extra": a package's identity
// includes its build tags, so a host built with -tags=extra needs plugins built with it too.
const Extra = true
