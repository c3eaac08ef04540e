//go:build windows

package inventory

import (
	"os"

	"golang.org/x/sys/windows"
)

// lockFile takes an exclusive lock on f (its first byte, as LockFileEx locks byte ranges), shared
// with other processes using the same cache file, and returns its release.
func lockFile(f *os.File) (unlock func(), err error) {
	h := windows.Handle(f.Fd())
	ol := new(windows.Overlapped)
	if err := windows.LockFileEx(h, windows.LOCKFILE_EXCLUSIVE_LOCK, 0, 1, 0, ol); err != nil {
		return nil, err
	}
	return func() { windows.UnlockFileEx(h, 0, 1, 0, ol) }, nil //nolint:errcheck // unlock of a held lock
}
