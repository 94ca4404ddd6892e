package state

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEntryEncodingRoundTrip(t *testing.T) {
	for _, e := range []Entry{
		file("a", "f1"),
		dir("x/y", "d9"),
		{Path: "n", Kind: KindFile, LocalName: "N", RemoteName: "", Size: 0, MtimeNs: -1},
		{Path: "d/é", Kind: KindFile, LocalName: "e\u0301", RemoteName: "é (2)", Size: 1<<63 - 1,
			MtimeNs: -1 << 63, Dev: ^uint64(0), Ino: 1 << 63, MD5: "x", RemoteID: "123", RemoteParentID: "0"},
	} {
		v := appendEntry(nil, &e)
		got, err := decodeEntry(e.Path, v)
		if err != nil {
			t.Fatalf("decode %s: %v", e.Path, err)
		}
		if d := cmp.Diff(e, got); d != "" {
			t.Errorf("round trip of %s (-want +got):\n%s", e.Path, d)
		}
	}
}

// The common entry (names equal to the path's last element) stores no name.
func TestEntryEncodingOmitsImpliedNames(t *testing.T) {
	e := file("some/dir/report-2026.pdf", "1234567")
	explicit := e
	explicit.LocalName, explicit.RemoteName = "other", "other"
	implied, full := appendEntry(nil, &e), appendEntry(nil, &explicit)
	if len(full)-len(implied) != 1+len("other") { // length prefix + bytes, once
		t.Errorf("implied %d bytes, explicit %d", len(implied), len(full))
	}
	t.Logf("typical file entry: %d bytes", len(implied))
}

func TestEntryDecodingRejectsGarbage(t *testing.T) {
	good := appendEntry(nil, new(file("a", "f1")))
	for name, v := range map[string][]byte{
		"empty":            {},
		"unknown version":  append([]byte{2}, good[1:]...),
		"unknown kind":     append([]byte{1, 9}, good[2:]...),
		"unknown flag":     append([]byte{1, 1, 0x80}, good[3:]...),
		"truncated":        good[:len(good)-1],
		"trailing byte":    append(append([]byte{}, good...), 0),
		"string too long":  {1, 1, 0, 0xff, 0x01},
		"varint overflow":  {1, 1, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"unterminated var": {1, 1, 3, 0x80},
		"negative size":    {1, 1, 3, 1, 0, 0, 0, 0, 0, 0},
	} {
		if _, err := decodeEntry("a", v); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

// FuzzDecodeEntry: decoding arbitrary bytes never panics, and whatever
// decodes re-encodes to the same entry. Seeds in testdata/fuzz.
func FuzzDecodeEntry(f *testing.F) {
	f.Add("a", appendEntry(nil, new(file("a", "f1"))))
	f.Add("x/y", appendEntry(nil, new(dir("x/y", "d9"))))
	f.Fuzz(func(t *testing.T, path string, v []byte) {
		e, err := decodeEntry(path, v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := decodeEntry(path, appendEntry(nil, &e))
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if d := cmp.Diff(e, again); d != "" {
			t.Fatalf("re-encode changed the entry (-first +second):\n%s", d)
		}
	})
}
