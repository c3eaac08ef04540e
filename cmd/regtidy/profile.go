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
	return writeProfile(o.memProfile, "allocs")
}

// writeProfile collects garbage and writes the named runtime profile to path.
func writeProfile(path, name string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	runtime.GC()
	err = pprof.Lookup(name).WriteTo(f, 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	return nil
}

// heapCheckpoint writes a heap profile to <--memprofile>.<name> (nothing without the flag), at a
// point where the command's largest data is live: the profile at exit shows only what survived.
func (o *rootOptions) heapCheckpoint(name string) {
	if o.memProfile == "" {
		return
	}
	if err := writeProfile(o.memProfile+"."+name, "heap"); err != nil {
		fmt.Fprintf(o.stderr, "regtidy: %v\n", err)
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
