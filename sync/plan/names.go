package plan

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxRemoteName is the longest name, in bytes, the remote keeps as given.
const maxRemoteName = 255

// RemoteNotHashed is the Message of a Problem on the remote side whose Path
// names a remote file whose content a decision needs but whose MD5 is
// unknown (Remote.MD5 == ""). The engine can hash that file (download
// through MD5) and plan again; nothing is planned for the entry until then.
const RemoteNotHashed = "remote content not compared yet"

// ConflictName returns the path for the losing version of a conflict at
// path: "NAME (conflict YYYY-MM-DD HOST).EXT" in the same folder. The last
// extension is kept ("a.tar.gz" -> "a.tar (conflict ...).gz"); a dotfile
// without another dot keeps its whole name (".bashrc (conflict ...)"). When
// taken reports the candidate as used, " 2", " 3"... is appended inside the
// parentheses until a free name is found. taken may be nil.
func ConflictName(path string, now time.Time, host string, taken func(string) bool) string {
	dir, name := splitPath(path)
	stem, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		stem, ext = name[:i], name[i:]
	}
	tag := "conflict " + now.UTC().Format(time.DateOnly)
	if host != "" {
		tag += " " + host
	}
	for n := 1; ; n++ {
		suffix := tag
		if n > 1 {
			suffix += " " + strconv.Itoa(n)
		}
		cand := joinPath(dir, fmt.Sprintf("%s (%s)%s", stem, suffix, ext))
		if taken == nil || !taken(cand) {
			return cand
		}
	}
}

// RemoteNameProblem says why the remote cannot hold name as it stands, or
// returns "" when it can. The API trims every parameter and strips HTML
// tags, so such names would be stored under another name and never match
// again. A leading dot and quotes are fine: the executor renames the upload
// back to the exact name.
func RemoteNameProblem(name string) string {
	switch {
	case name == "":
		return "empty name"
	case !utf8.ValidString(name):
		return "name is not valid UTF-8"
	case len(name) > maxRemoteName:
		return fmt.Sprintf("name longer than %d bytes", maxRemoteName)
	case strings.TrimSpace(name) != name:
		return "leading or trailing whitespace is trimmed by the remote"
	case hasTagStart(name):
		return "text that looks like an HTML tag is stripped by the remote"
	}
	return ""
}

// hasTagStart reports whether name holds "<" followed by a letter, "/", "!"
// or "?": what PHP's strip_tags treats as the start of a tag.
func hasTagStart(name string) bool {
	for i := 0; i+1 < len(name); i++ {
		if name[i] != '<' {
			continue
		}
		c := name[i+1]
		if c == '/' || c == '!' || c == '?' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') {
			return true
		}
		if c >= utf8.RuneSelf {
			r, _ := utf8.DecodeRuneInString(name[i+1:])
			if isLetter(r) {
				return true
			}
		}
	}
	return false
}

func isLetter(r rune) bool {
	return r != utf8.RuneError && unicode.IsLetter(r)
}

// splitPath splits a tree path into its folder ("" for the root) and name.
func splitPath(p string) (dir, name string) {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return "", p
}

// dirOf returns the folder of p, "" for the root.
func dirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// joinPath joins a folder path and a name.
func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// isUnder reports whether p is at or below root.
func isUnder(p, root string) bool {
	return p == root || (len(p) > len(root) && p[len(root)] == '/' && p[:len(root)] == root)
}
