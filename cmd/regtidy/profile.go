package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
)

// startProfiles starts the CPU profile the hidden --cpuprofile flag asks for.
func (o *rootOptions) startProfiles() error {
	if o.cpuProfile == "" {
		return nil
	}
	f, err := os.Create(o.cpuProfile)
	if err != nil {
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	return pprof.StartCPUProfile(f)
}

// stopProfiles stops the CPU profile and writes the heap profile (--memprofile).
func (o *rootOptions) stopProfiles() error {
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if o.memProfile == "" {
		return nil
	}
	f, err := os.Create(o.memProfile)
	if err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	defer f.Close()
	runtime.GC()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}

// heapCheckpoint writes a heap profile to <--memprofile>.<name> (nothing without the flag), at a
// point where the command's largest data is live: the profile at exit shows only what survived.
func (o *rootOptions) heapCheckpoint(name string) {
	if o.memProfile == "" {
		return
	}
	f, err := os.Create(o.memProfile + "." + name)
	if err != nil {
		fmt.Fprintf(o.stderr, "regtidy: --memprofile: %v\n", err)
		return
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		fmt.Fprintf(o.stderr, "regtidy: --memprofile: %v\n", err)
	}
}

// peakRSS is the process's peak resident set size in bytes (VmHWM in /proc/self/status), or 0
// where that is not available. It is read from the process itself because a child's rusage
// maxrss on Linux includes its parent's memory when it was started by vfork and exec.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb); err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}
