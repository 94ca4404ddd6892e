package state

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
)

// Value versions. A decoder refuses versions it does not know rather than
// guessing; a new version gets a new constant and a migration.
const (
	entryV1    = 1
	envelopeV1 = 1
)

const (
	flagLocalIsBase  = 1 << 0 // LocalName equals the last path element
	flagRemoteIsName = 1 << 1 // RemoteName equals LocalName
	knownFlags       = flagLocalIsBase | flagRemoteIsName
)

// folderIDPrefix: the service numbers files and folders independently (file
// 3 and folder 3 are different objects), while a pair's rid index is one
// namespace. A folder's id is therefore stored, in its entry and as its
// index key, behind this prefix; Entry.RemoteID is always the plain id.
const folderIDPrefix = "folder:"

// ridKey is the stored form of a remote id: the rid index key, and the id
// field of an encoded entry.
func ridKey(kind uint8, id string) string {
	if kind == KindDir && id != "" {
		return folderIDPrefix + id
	}
	return id
}

// legacyRefusedPrefix: before Problem.Refused existed, a refusal was a
// problem whose Signature began with this marker. decodeProblem reads such
// records as refusals; nothing writes them any more.
const legacyRefusedPrefix = "refused:"

// decodeProblem decodes the problem stored at path.
func decodeProblem(v []byte, path string) (Problem, error) {
	var p Problem
	if err := decodeEnvelope(v, &p, "problem "+path); err != nil {
		return Problem{}, err
	}
	if sig, ok := strings.CutPrefix(p.Signature, legacyRefusedPrefix); ok {
		p.Signature, p.Refused = sig, true
	}
	return p, nil
}

// baseName is the last element of a slash-separated path.
func baseName(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}

// appendEntry appends e's encoding (without its path, which is the key).
func appendEntry(dst []byte, e *Entry) []byte {
	var flags byte
	if e.LocalName == baseName(e.Path) {
		flags |= flagLocalIsBase
	}
	if e.RemoteName == e.LocalName {
		flags |= flagRemoteIsName
	}
	dst = append(dst, entryV1, e.Kind, flags)
	if flags&flagLocalIsBase == 0 {
		dst = appendString(dst, e.LocalName)
	}
	if flags&flagRemoteIsName == 0 {
		dst = appendString(dst, e.RemoteName)
	}
	dst = binary.AppendVarint(dst, e.Size)
	dst = binary.AppendVarint(dst, e.MtimeNs)
	dst = binary.AppendUvarint(dst, e.Dev)
	dst = binary.AppendUvarint(dst, e.Ino)
	dst = appendString(dst, e.MD5)
	if e.Kind == KindDir && e.RemoteID != "" {
		dst = binary.AppendUvarint(dst, uint64(len(folderIDPrefix)+len(e.RemoteID)))
		dst = append(append(dst, folderIDPrefix...), e.RemoteID...)
	} else {
		dst = appendString(dst, e.RemoteID)
	}
	dst = appendString(dst, e.RemoteParentID)
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decodeEntry decodes v, the value stored under path. The strings of the
// result share one allocation.
func decodeEntry(path string, v []byte) (Entry, error) {
	buf := make([]byte, 0, len(path)+len(v))
	buf = append(append(buf, path...), v...)
	return decodeEntryJoined(string(buf), len(path))
}

// decodeEntryJoined decodes an entry from s = path + value, where the path
// is s[:n]. Every string field of the result is a substring of s, so loading
// a tree costs one allocation per entry instead of six.
func decodeEntryJoined(s string, n int) (Entry, error) {
	e := Entry{Path: s[:n]}
	r := reader{s: s, off: n}
	version, kind, flags := r.byte(), r.byte(), r.byte()
	if r.err != nil {
		return Entry{}, r.err
	}
	if version != entryV1 {
		return Entry{}, fmt.Errorf("entry version %d: %w", version, ErrCorrupt)
	}
	if kind != KindFile && kind != KindDir {
		return Entry{}, fmt.Errorf("entry kind %d: %w", kind, ErrCorrupt)
	}
	if flags&^knownFlags != 0 {
		return Entry{}, fmt.Errorf("entry flags %#x: %w", flags, ErrCorrupt)
	}
	e.Kind = kind
	if flags&flagLocalIsBase != 0 {
		e.LocalName = baseName(e.Path)
	} else {
		e.LocalName = r.string()
	}
	if flags&flagRemoteIsName != 0 {
		e.RemoteName = e.LocalName
	} else {
		e.RemoteName = r.string()
	}
	e.Size = r.varint()
	e.MtimeNs = r.varint()
	e.Dev = r.uvarint()
	e.Ino = r.uvarint()
	e.MD5 = r.string()
	e.RemoteID = r.string()
	if kind == KindDir {
		e.RemoteID = strings.TrimPrefix(e.RemoteID, folderIDPrefix)
	}
	e.RemoteParentID = r.string()
	if r.err != nil {
		return Entry{}, r.err
	}
	if r.off != len(r.s) {
		return Entry{}, fmt.Errorf("entry has %d trailing bytes: %w", len(r.s)-r.off, ErrCorrupt)
	}
	if e.Size < 0 {
		return Entry{}, fmt.Errorf("entry size %d: %w", e.Size, ErrCorrupt)
	}
	return e, nil
}

// reader decodes varints and length-prefixed strings from a string without
// copying. The first error sticks; later reads return zero values.
type reader struct {
	s   string
	off int
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("entry truncated or malformed at byte %d (%s): %w", r.off, what, ErrCorrupt)
	}
}

func (r *reader) byte() byte {
	if r.err != nil || r.off >= len(r.s) {
		r.fail("byte")
		return 0
	}
	b := r.s[r.off]
	r.off++
	return b
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	var x uint64
	var shift uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if r.off >= len(r.s) {
			break
		}
		b := r.s[r.off]
		r.off++
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				break // overflows 64 bits
			}
			return x | uint64(b)<<shift
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	r.fail("varint")
	return 0
}

func (r *reader) varint() int64 {
	ux := r.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.s)-r.off) {
		r.fail("string length")
		return ""
	}
	s := r.s[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

// encodeEnvelope is the encoding of every value but entries: a version byte
// then JSON.
func encodeEnvelope(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte{envelopeV1}, b...), nil
}

// decodeEnvelope decodes an envelope into v; what names the value in errors.
func decodeEnvelope(b []byte, v any, what string) error {
	if len(b) == 0 || b[0] != envelopeV1 {
		return fmt.Errorf("%s: unknown value version: %w", what, ErrCorrupt)
	}
	if err := json.Unmarshal(b[1:], v); err != nil {
		return fmt.Errorf("%s: %w (%v)", what, ErrCorrupt, err)
	}
	return nil
}
