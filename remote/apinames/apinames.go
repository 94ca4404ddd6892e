// Package apinames holds the File Upload API's rules for the names of
// uploaded files (docs/api.md 12): what the upload request may carry, what
// the server stores, and which stored names an upload may have been given.
// They are pure functions, shared by the client (remote) and the engine,
// so that the rule has one home.
package apinames

import (
	"path"
	"strings"
)

// wireReplacer is built once: a Replacer builds its tables on first use,
// and per upload that was a tenth of the client's allocations.
var wireReplacer = strings.NewReplacer("\r", "", "\n", "", `"`, "", "'", "", `\`, "_")

// Wire is the file name to put in an upload's multipart header. CR, LF
// and quotes would break the header or be stripped by the server anyway,
// and PHP keeps only the part after a backslash, so a backslash is sent
// as "_". Within a longer stored name (a temporary one), this is also
// what the server keeps of it.
func Wire(name string) string { return wireReplacer.Replace(name) }

// Stored is the name the server stores an upload of name under when no
// active file of that name is in the folder: Wire's, leading dots dropped.
func Stored(name string) string { return strings.TrimLeft(Wire(name), ".") }

// Matcher returns a test of the names the server may give an upload of
// wanted: wanted itself, its cleaned forms, and "base (N).ext" of any of
// them (the server's de-duplication, N >= 2). Names are compared as bytes:
// any name, valid UTF-8 or not, works.
func Matcher(wanted string) func(stored string) bool {
	w := Wire(wanted)
	forms := []string{wanted, w, strings.TrimPrefix(w, "."), strings.TrimLeft(w, ".")}
	return func(s string) bool {
		for _, n := range forms {
			if s == n {
				return true
			}
			ext := path.Ext(n)
			if ext == n {
				ext = ""
			}
			mid, ok := strings.CutPrefix(s, strings.TrimSuffix(n, ext)+" (")
			if !ok {
				continue
			}
			if mid, ok = strings.CutSuffix(mid, ")"+ext); ok && mid != "" && mid != "0" && mid != "1" && strings.Trim(mid, "0123456789") == "" {
				return true
			}
		}
		return false
	}
}

// MayStore reports whether stored is a name the server may give an upload
// of wanted (see Matcher).
func MayStore(stored, wanted string) bool { return Matcher(wanted)(stored) }
