package pluginhost

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
)

// canonicalJSON writes what the Node side's canonicalJson writes for the same value: keys
// sorted by UTF-16 code units (JavaScript's default sort), no whitespace, strings escaped as
// JSON.stringify escapes them. Equal fingerprints must hash equally in both languages, so
// encoding/json (which escapes <, >, &, U+2028 and sorts by bytes) cannot be used.
// Values are strings and objects of them: a fingerprint has nothing else.
func canonicalJSON(value interface{}) string {
	var b strings.Builder
	writeCanonical(&b, value)
	return b.String()
}

func writeCanonical(b *strings.Builder, value interface{}) {
	switch v := value.(type) {
	case string:
		writeJSONString(b, v)
	case map[string]interface{}:
		keys := make([]string, 0, len(v))
		for k, item := range v {
			if item != nil {
				keys = append(keys, k)
			}
		}
		sort.Slice(keys, func(i, j int) bool { return lessUTF16(keys[i], keys[j]) })
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, k)
			b.WriteByte(':')
			writeCanonical(b, v[k])
		}
		b.WriteByte('}')
	case map[string]string:
		m := make(map[string]interface{}, len(v))
		for k, s := range v {
			m[k] = s
		}
		writeCanonical(b, m)
	default:
		panic("canonicalJSON: unsupported value")
	}
}

func lessUTF16(a, b string) bool {
	ua, ub := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	for i := 0; i < len(ua) && i < len(ub); i++ {
		if ua[i] != ub[i] {
			return ua[i] < ub[i]
		}
	}
	return len(ua) < len(ub)
}

// writeJSONString escapes like JSON.stringify: quote, backslash, the short escapes for
// \b \f \n \r \t, \u00XX (lowercase) for other control characters, everything else as is.
func writeJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				b.WriteString(`\u00`)
				if r < 0x10 {
					b.WriteByte('0')
				}
				b.WriteString(strconv.FormatInt(int64(r), 16))
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}
