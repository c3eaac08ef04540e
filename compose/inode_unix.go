//go:build unix

package compose

import (
	"io/fs"
	"strconv"
	"syscall"
)

// inodeKey identifies the file behind fi when other names link to it (more than one link), so
// hard links in a directory stay hard links in the layer.
func inodeKey(fi fs.FileInfo) (string, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Nlink <= 1 {
		return "", false
	}
	return strconv.FormatUint(uint64(st.Dev), 10) + ":" + strconv.FormatUint(uint64(st.Ino), 10), true
}
