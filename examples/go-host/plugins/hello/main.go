// A Go plugin (-buildmode=plugin): the host calls Register with its registrar.
package main

import "example.com/shared"

// Register is the registration method the host looks up.
func Register(r shared.Registrar) {
	r.Add("greet", shared.Greeting)
}
