//go:build !unix

package compose

import "io/fs"

// inodeKey reports no hard links where the platform does not expose inodes: each name is packed
// as its own regular file.
func inodeKey(fs.FileInfo) (string, bool) { return "", false }
