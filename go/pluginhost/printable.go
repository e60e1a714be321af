package pluginhost

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Printable escapes what a terminal would obey in text that came from outside (a lockfile's, a
// plugin's or a request's strings): every C0 control (newline too, so a message stays one log
// line), DEL, every C1 control, the line and paragraph separators and the bidirectional
// overrides, as \n, \x1b, \u202e; bytes that are not UTF-8 as \xNN. The same rule as the Node
// runtime's printable() (src/util/printable.ts).
func Printable(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || (r >= 0x7f && r <= 0x9f):
			fmt.Fprintf(&b, `\x%02x`, r)
		case r == 0x2028 || r == 0x2029 || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
