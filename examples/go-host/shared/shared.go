// Package shared is the API between the Go host and its plugins: both must link the same
// version of it, or the Go runtime refuses the plugin.
package shared

// Version of this module, compiled into both sides.
const Version = "v1.0.0"

// Registrar is what a plugin's Register function receives.
type Registrar interface {
	Add(name string, fn func(string) string)
}

// Greeting is shared code the plugins call.
func Greeting(name string) string { return "Hello, " + name + " (shared " + Version + ")" }
