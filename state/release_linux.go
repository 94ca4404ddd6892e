package state

import (
	"syscall"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// releaseMap drops this process's resident pages of the database's memory
// map (they stay in the page cache; the next read faults them back in
// cheaply). bbolt maps the file read-only and shared and writes through the
// file, so the content read afterwards is the same. Reading the base touches
// its pages all over the file, and the kernel maps their neighbours with
// them: at 100,000 entries the whole 36 MB file ends up resident, counted in
// the RSS of a pass that already holds the base as its own copy. tx keeps
// the map from being replaced meanwhile; only its used size is released.
// Failure is harmless: the pages stay resident.
func releaseMap(db *bolt.DB, tx *bolt.Tx) {
	info := db.Info()
	// Data is the map's address as bbolt exposes it: read it as the pointer
	// it is (the map is not Go memory, the collector never moves it).
	start := *(*unsafe.Pointer)(unsafe.Pointer(&info.Data))
	_ = syscall.Madvise(unsafe.Slice((*byte)(start), int(tx.Size())), syscall.MADV_DONTNEED)
}
