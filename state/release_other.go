//go:build !linux

package state

import bolt "go.etcd.io/bbolt"

// releaseMap is a no-op where the resident pages of a map are not worth
// dropping by hand (see release_linux.go).
func releaseMap(*bolt.DB, *bolt.Tx) {}
