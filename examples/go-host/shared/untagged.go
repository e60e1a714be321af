//go:build !extra

package shared

// Extra says whether the module was compiled with the build tag "extra".
const Extra = false
