//go:build !linux

package local

import "os"

func renameNoReplace(root *os.Root, from, to string) error { return renameCheck(root, from, to) }
