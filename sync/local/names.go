package local

import (
	"errors"
	"fmt"
	"path"
	"runtime"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/syncd/syncd/sync/plan"
)

// ErrBadName is wrapped by LocalName's errors: the name cannot be written
// locally as it stands. The engine reports such a path as a problem.
var ErrBadName = errors.New("name not valid locally")

// maxNameBytes is the longest file name element ext4, XFS, btrfs, APFS and
// NTFS (in UTF-16 units, which is never fewer than bytes/3) all accept.
const maxNameBytes = 255

// Key returns the tree key for an on-disk name or slash path: its NFC form.
// When name is already NFC (the common case) the same string is returned,
// without allocating.
func Key(name string) string {
	if isASCII(name) || norm.NFC.IsNormalString(name) {
		return name
	}
	return norm.NFC.String(name)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// LocalName returns the name under which a remote entry is written locally,
// or an error wrapping ErrBadName when it cannot be written at all: empty,
// ".", "..", MetaDir, containing "/" or NUL, not valid UTF-8, longer than 255
// bytes, or not valid on this operating system (on Windows: reserved device
// names, <>:"\|?* and control characters, a trailing dot or space). A name
// that is returned contains no path separator of any supported OS, so
// joining it to a directory inside an os.Root stays inside it.
func LocalName(remote string) (string, error) {
	if reason := badName(runtime.GOOS, remote); reason != "" {
		return "", fmt.Errorf("remote name %q: %w: %s", remote, ErrBadName, reason)
	}
	return remote, nil
}

// badName says why name cannot be a file name on goos, or "" when it can.
func badName(goos, name string) string {
	switch {
	case name == "":
		return "empty"
	case name == "." || name == "..":
		return "a relative path element"
	case name == MetaDir:
		return "reserved for syncd's own data"
	case strings.ContainsRune(name, '/'):
		return `contains "/"`
	case strings.ContainsRune(name, 0):
		return "contains NUL"
	case !utf8.ValidString(name):
		return "not valid UTF-8"
	case len(name) > maxNameBytes:
		return fmt.Sprintf("longer than %d bytes", maxNameBytes)
	}
	if goos == "windows" {
		return badWindowsName(name)
	}
	return ""
}

// badWindowsName applies the Win32 naming rules (learn.microsoft.com,
// "Naming Files, Paths, and Namespaces").
func badWindowsName(name string) string {
	for _, r := range name {
		if r < 32 || strings.ContainsRune(`<>:"\|?*`, r) {
			return fmt.Sprintf("contains %q, not allowed on Windows", r)
		}
	}
	if last := name[len(name)-1]; last == '.' || last == ' ' {
		return "ends with a dot or space, not allowed on Windows"
	}
	stem := name
	if i := strings.IndexByte(stem, '.'); i >= 0 {
		stem = stem[:i]
	}
	stem = strings.ToUpper(strings.TrimRight(stem, " "))
	switch stem {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return "a reserved device name on Windows"
	}
	if len(stem) >= 4 && (strings.HasPrefix(stem, "COM") || strings.HasPrefix(stem, "LPT")) {
		switch stem[3:] {
		case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³":
			return "a reserved device name on Windows"
		}
	}
	return ""
}

// parentDir is the slash parent of p, "" at the root.
func parentDir(p string) string {
	if d := path.Dir(p); d != "." {
		return d
	}
	return ""
}

// RawPath returns the on-disk path of the tree key key, built from the
// Name of each of its prefixes in tree (the last element falls back to its
// key element when absent). FS methods take on-disk paths; they differ from
// keys only where a name on disk is not in NFC form.
func RawPath(tree map[string]plan.Local, key string) string {
	var b strings.Builder
	for i := 0; i <= len(key); i++ {
		if i < len(key) && key[i] != '/' {
			continue
		}
		prefix := key[:i]
		start := strings.LastIndexByte(prefix, '/') + 1
		name := prefix[start:]
		if l, ok := tree[prefix]; ok && l.Name != "" {
			name = l.Name
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(name)
	}
	return b.String()
}
