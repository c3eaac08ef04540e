//go:build !unix

package policy

import "time"

// cpuTime is 0: this platform's process CPU time is not read.
func cpuTime() time.Duration { return 0 }
