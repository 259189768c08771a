// Package atomicfile replaces a file so that a crash, a kill -9 or a full
// disk at any moment leaves either the old file or the whole new one — for
// battery saves, save states, settings and the HTTPS key. The standard
// library has no such call (os.WriteFile truncates in place).
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data, mode perm: a temp file in the same directory
// (rename is atomic only within one file system), fsync, rename, then a
// best-effort fsync of the directory so the rename itself survives a crash.
func Write(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil { // not possible on every OS (Windows); the file is safe already
		d.Sync()
		d.Close()
	}
	return nil
}
