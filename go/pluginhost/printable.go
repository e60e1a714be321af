package pluginhost

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable escapes what a terminal would obey in text that came from outside (a lockfile's, a
// plugin's or a request's strings): every C0 control (newline too, so a message stays one log
// line), DEL, every C1 control, the line and paragraph separators and every format character
// (Unicode Cf: bidi marks and overrides, zero-width characters, BOM, tag characters), as \n,
// \x1b, \u202e, \u{e0041}; bytes that are not UTF-8 as \xNN. The same rule as the Node
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
		case r == 0x2028 || r == 0x2029 || unicode.Is(unicode.Cf, r):
			if r <= 0xff {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else if r > 0xffff {
				fmt.Fprintf(&b, `\u{%x}`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
