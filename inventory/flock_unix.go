//go:build unix

package inventory

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock on f, shared with other processes using the same
// cache file, and returns its release.
func lockFile(f *os.File) (unlock func(), err error) {
	fd := int(f.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_EX); err != nil {
		return nil, err
	}
	return func() { syscall.Flock(fd, syscall.LOCK_UN) }, nil //nolint:errcheck // unlock of a held lock
}
