//go:build !linux

package local

import (
	"os"
	"path"
)

// statDir calls fn for each name with its lstat through the root.
func statDir(root *os.Root, _ *os.File, dirRaw string, names []string, fn func(i int, st fileStat, err error)) error {
	for i, name := range names {
		fi, err := root.Lstat(osPath(path.Join(dirRaw, name)))
		if err != nil {
			fn(i, fileStat{}, err)
			continue
		}
		fn(i, statOf(fi), nil)
	}
	return nil
}
