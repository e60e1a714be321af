package pluginhost

import "strings"

// decodeUTF8 decodes as Node's Buffer.toString('utf8') does (the WHATWG decoder): each
// maximal invalid subpart becomes one U+FFFD. Go's own decoding replaces byte by byte, and
// the two must read a file into the same string for their fingerprints to hash equally.
func decodeUTF8(data []byte) string {
	var b strings.Builder
	b.Grow(len(data))
	needed, seen := 0, 0
	lower, upper := byte(0x80), byte(0xBF)
	var cp rune
	reset := func() { needed, seen, cp, lower, upper = 0, 0, 0, 0x80, 0xBF }
	for i := 0; i < len(data); i++ {
		c := data[i]
		if needed == 0 {
			switch {
			case c <= 0x7F:
				b.WriteByte(c)
			case c >= 0xC2 && c <= 0xDF:
				needed, cp = 1, rune(c&0x1F)
			case c >= 0xE0 && c <= 0xEF:
				if c == 0xE0 {
					lower = 0xA0
				}
				if c == 0xED {
					upper = 0x9F
				}
				needed, cp = 2, rune(c&0x0F)
			case c >= 0xF0 && c <= 0xF4:
				if c == 0xF0 {
					lower = 0x90
				}
				if c == 0xF4 {
					upper = 0x8F
				}
				needed, cp = 3, rune(c&0x07)
			default:
				b.WriteRune('\uFFFD')
			}
			continue
		}
		if c < lower || c > upper {
			reset()
			b.WriteRune('\uFFFD')
			i-- // the byte starts over as the first of a new sequence
			continue
		}
		lower, upper = 0x80, 0xBF
		cp = cp<<6 | rune(c&0x3F)
		seen++
		if seen == needed {
			b.WriteRune(cp)
			reset()
		}
	}
	if needed != 0 {
		b.WriteRune('\uFFFD')
	}
	return b.String()
}

// isJSSpace is String.prototype.trim's set: WhiteSpace and LineTerminator of ECMAScript.
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\v', '\f', ' ', '\u00A0', '\uFEFF', '\n', '\r', '\u2028', '\u2029', '\u1680', '\u202F', '\u205F', '\u3000':
		return true
	}
	return r >= '\u2000' && r <= '\u200A'
}

func trimJS(s string) string { return strings.TrimFunc(s, isJSSpace) }
