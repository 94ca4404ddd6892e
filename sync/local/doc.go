// Package local owns everything syncd does to and observes of a local sync
// root: the ignore rules (Matcher), the mapping between on-disk names and
// tree keys (Key, LocalName), the scanner that turns a directory tree into a
// plan.Local tree (Scan, ScanSubtree, Merge), and the premise-checked file
// operations the executor performs (FS).
//
// Every access goes through an os.Root opened at the sync root, so no name —
// a hostile remote name such as "../x", an absolute path or a symlink — can
// reach outside it. The directory <root>/.syncd belongs to syncd: it holds
// the root marker, temporary downloads and the trash, is never scanned and
// never synced, and is refused as the target of any operation.
//
// Paths handed in and out are tree keys: slash-separated, relative to the
// root, each element NFC-normalised (see plan.Local). The raw on-disk name of
// the last element is kept in plan.Local.Name; FS methods take keys whose
// elements are the raw on-disk names (the executor passes Name-based paths,
// which for names already in NFC form are the keys themselves).
package local
