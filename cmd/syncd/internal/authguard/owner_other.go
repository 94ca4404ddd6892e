//go:build !unix

package authguard

// adopt is a no-op where files have no Unix owner.
func adopt(dir, name string) {}
