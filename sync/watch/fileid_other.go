//go:build !unix

package watch

import "io/fs"

// fileIDOf reports no identity where the platform offers none cheaply; the
// watcher then trusts paths alone.
func fileIDOf(fs.FileInfo) (fileID, bool) { return fileID{}, false }
