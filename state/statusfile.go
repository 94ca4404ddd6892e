package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// StatusFileName is the sidecar status file in the state directory.
const StatusFileName = "status.json"

// WriteStatusFile stores v as JSON in dir/status.json atomically: readers
// see the old file or the new one, never a mix, also across a crash (temp
// file in the same directory, fsync, rename, fsync of the directory).
func WriteStatusFile(dir string, v any) (err error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode status for %s: %w", dir, err)
	}
	data = append(data, '\n')
	dst := filepath.Join(dir, StatusFileName)
	tmp, err := os.CreateTemp(dir, "."+StatusFileName+".tmp-*")
	if err != nil {
		return fmt.Errorf("write status %s: %w", dst, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// Readable by the group, as the control socket: the status holds no
	// secret, and a monitoring user in the service's group reads it.
	if err = tmp.Chmod(0o640); err != nil {
		return fmt.Errorf("write status %s: %w", tmp.Name(), err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write status %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("sync status %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("close status %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("replace status %s: %w", dst, err)
	}
	if err = syncDir(dir); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// ReadStatusFile decodes dir/status.json into v. A missing file is an error
// wrapping fs.ErrNotExist (the status command's "no saved state").
func ReadStatusFile(dir string, v any) error {
	p := filepath.Join(dir, StatusFileName)
	data, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("read status %s: %w", p, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode status %s: %w", p, err)
	}
	return nil
}

// syncDir makes a rename in dir durable. Filesystems and systems that cannot
// fsync a directory (Windows) are not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil && (errors.Is(err, os.ErrInvalid) || errors.Is(err, errors.ErrUnsupported)) {
		return nil
	}
	return err
}
