//go:build !unix

package sim

import (
	"crypto/md5"
	"encoding/hex"
	"io"
	"os"
)

// hashFile is the MD5 of the file at p, read through buf.
func hashFile(p string, buf []byte) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.CopyBuffer(h, f, buf); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
