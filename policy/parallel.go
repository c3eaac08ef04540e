package policy

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/regtidy/regtidy/plan"
)

// parallelMin is the least number of items worth sharing among cores: below it, the work is
// done on the calling goroutine.
var parallelMin = 8192

// inParallel calls fn on non-empty consecutive ranges [lo, hi) that together cover [0, n) once,
// on up to GOMAXPROCS goroutines, and returns when all are done. fn must write only what its
// range owns; results are then the same, and in the same places, however the ranges fall.
func inParallel(n int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	workers := min(runtime.GOMAXPROCS(0), n/parallelMin)
	if workers <= 1 {
		fn(0, n)
		return
	}
	// More chunks than workers, taken in turn, so that a slow chunk does not hold the rest up.
	chunks := 4 * workers
	size := (n + chunks - 1) / chunks
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				lo := int(next.Add(1)-1) * size
				if lo >= n {
					return
				}
				fn(lo, min(lo+size, n))
			}
		})
	}
	wg.Wait()
}

// reasonArena hands out the first reason of each decision from shared blocks, sparing the
// allocator one tiny slice per manifest. One arena serves one goroutine.
type reasonArena struct {
	block []plan.Reason
	// phrases holds the texts phrase made, one copy each.
	phrases map[string]string
}

// intern returns s, or the string equal to it that the arena already holds: the images of one
// commit are kept for the same reasons.
func (a *reasonArena) intern(s string) string {
	if v, ok := a.phrases[s]; ok {
		return v
	}
	if a.phrases == nil {
		a.phrases = map[string]string{}
	}
	a.phrases[s] = s
	return s
}

// phrase returns the concatenation of parts, one string for every call with the same parts.
func (a *reasonArena) phrase(parts ...string) string { return a.joined(parts, "") }

// joined is strings.Join(parts, sep), one string for every call with the same result.
func (a *reasonArena) joined(parts []string, sep string) string {
	if len(parts) == 1 {
		return parts[0]
	}
	var buf [256]byte
	key := buf[:0]
	for i, p := range parts {
		if i > 0 {
			key = append(key, sep...)
		}
		key = append(key, p...)
	}
	if s, ok := a.phrases[string(key)]; ok {
		return s
	}
	if a.phrases == nil {
		a.phrases = map[string]string{}
	}
	s := string(key)
	a.phrases[s] = s
	return s
}

// add appends r to reasons unless it is there already.
func (a *reasonArena) add(reasons *[]plan.Reason, r plan.Reason) {
	for _, x := range *reasons {
		if x == r {
			return
		}
	}
	if len(*reasons) > 0 {
		*reasons = append(*reasons, r)
		return
	}
	if len(a.block) == cap(a.block) {
		a.block = make([]plan.Reason, 0, 4096)
	}
	a.block = append(a.block, r)
	n := len(a.block)
	*reasons = a.block[n-1 : n : n]
}
