package emulator

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// obj is a JSON object whose keys keep their order, as PHP's json_encode of an
// associative array does (clients may not rely on order, but tests compare
// replies byte for byte with what the document shows).
type obj []kv

type kv struct {
	k string
	v any
}

// encodePHP writes v as PHP's json_encode with default flags does: "/" is
// escaped as "\/" and every non-ASCII character as \uXXXX.
func encodePHP(buf *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case obj:
		buf.WriteByte('{')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			encodeString(buf, e.k)
			buf.WriteByte(':')
			encodePHP(buf, e.v)
		}
		buf.WriteByte('}')
	case []obj:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			encodePHP(buf, e)
		}
		buf.WriteByte(']')
	case string:
		encodeString(buf, x)
	case int:
		buf.WriteString(strconv.Itoa(x))
	case int64:
		buf.WriteString(strconv.FormatInt(x, 10))
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	default:
		panic(fmt.Sprintf("emulator: cannot encode %T", v))
	}
}

func encodeString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '"':
			buf.WriteString(`\"`)
		case r == '\\':
			buf.WriteString(`\\`)
		case r == '/':
			buf.WriteString(`\/`)
		case r == '\n':
			buf.WriteString(`\n`)
		case r == '\r':
			buf.WriteString(`\r`)
		case r == '\t':
			buf.WriteString(`\t`)
		case r == '\b':
			buf.WriteString(`\b`)
		case r == '\f':
			buf.WriteString(`\f`)
		case r < 0x20:
			fmt.Fprintf(buf, `\u%04x`, r)
		case r < 0x80:
			buf.WriteRune(r)
		case r > 0xFFFF:
			r -= 0x10000
			fmt.Fprintf(buf, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default: // includes utf8.RuneError for invalid bytes
			fmt.Fprintf(buf, `\u%04x`, r)
		}
	}
	buf.WriteByte('"')
}

// phpTrim is PHP's trim() with its default character set.
func phpTrim(s string) string { return strings.Trim(s, " \t\n\r\x00\x0B") }

// stripTags approximates PHP's strip_tags: everything from a "<" that opens a
// tag to the matching ">" is removed (an unclosed tag removes the rest); a
// "<" followed by whitespace or at the end is kept as text.
func stripTags(s string) string {
	if !strings.ContainsAny(s, "<\x00") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 {
			continue
		}
		if c != '<' || i+1 >= len(s) || isSpace(s[i+1]) {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		var quote byte
		for ; j < len(s); j++ {
			switch {
			case quote != 0:
				if s[j] == quote {
					quote = 0
				}
			case s[j] == '"' || s[j] == '\'':
				quote = s[j]
			case s[j] == '>':
				goto closed
			}
		}
		return b.String()
	closed:
		i = j
	}
	return b.String()
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// cleanParam is what the service does to every parameter (api.md 1).
func cleanParam(s string) string { return phpTrim(stripTags(s)) }

// phpInt is PHP's (int) cast of a string: leading digits, else 0.
func phpInt(s string) int64 {
	s = strings.TrimLeft(s, " \t\n\r\v\f")
	end := 0
	if end < len(s) && (s[end] == '-' || s[end] == '+') {
		end++
	}
	start := end
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == start {
		return 0
	}
	n, err := strconv.ParseInt(s[:end], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// sanitizeUploadName applies the upload handler's renaming (api.md 12)
// before de-duplication: the client's directory part is dropped (as PHP does
// for $_FILES names), `"`, `'`, CR and LF are removed, then leading dots.
func sanitizeUploadName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		switch r {
		case '"', '\'', '\r', '\n':
			return -1
		}
		return r
	}, name)
	return strings.TrimLeft(name, ".")
}

// splitExt splits "a.tar.gz" into "a.tar" and ".gz"; a name without a dot
// has no extension.
func splitExt(name string) (base, ext string) {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 {
		return name, ""
	}
	return name[:i], name[i:]
}

// extension is the listing's "extension": lower-case, without the dot.
func extension(name string) string {
	_, ext := splitExt(name)
	return strings.ToLower(strings.TrimPrefix(ext, "."))
}
