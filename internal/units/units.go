// Package units formats quantities for people: byte counts in binary units and integers with
// thousands separators.
package units

import "fmt"

// Bytes formats a byte count in binary units: "512 B", "1.5 KiB", "1.4 GiB".
func Bytes(b int64) string {
	if b < 0 {
		return "-" + Bytes(-b)
	}
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := int64(unit), 0
	for x := b / unit; x >= unit && exp < 5; x /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

// Count formats an integer with thousands separators: "133,445".
func Count(v int) string {
	if v < 0 {
		return "-" + Count(-v)
	}
	s := fmt.Sprint(v)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
