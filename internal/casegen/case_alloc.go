package casegen

import (
	"fmt"
	"sort"
)

// randSource is the part of *rand.Rand the planner draws from.
type randSource interface {
	IntN(n int) int
	Perm(n int) []int
}

// pick returns k items of pool: the first k when ordered, else a random sample of the first
// max(k, 60) (the popular ones) for small k, or of the whole pool for large k; in pool order.
func pick(pool []string, k int, ordered bool, r randSource) []string {
	if k <= 0 {
		return nil
	}
	if ordered || k >= len(pool) {
		return append([]string(nil), pool[:min(k, len(pool))]...)
	}
	window := min(len(pool), max(k, 60))
	if k > 60 {
		window = len(pool)
	}
	idx := r.Perm(window)[:k]
	sort.Ints(idx)
	out := make([]string, k)
	for i, j := range idx {
		out[i] = pool[j]
	}
	return out
}

// allocate splits total into len(w) integers proportional to w, each within [lo[i], hi[i]],
// by water-filling with largest remainders; it fails when the bounds cannot hold total.
func allocate(total int, w []float64, lo, hi []int) ([]int, error) {
	out := append([]int(nil), lo...)
	sumLo, sumHi := 0, 0
	for i := range lo {
		sumLo += lo[i]
		sumHi += hi[i]
	}
	if total < sumLo || total > sumHi {
		return nil, fmt.Errorf("total %d outside [%d, %d]", total, sumLo, sumHi)
	}
	rem := total - sumLo
	for round := 0; rem > 0 && round <= len(w); round++ {
		var active []int
		var wsum float64
		for i := range w {
			if out[i] < hi[i] {
				active = append(active, i)
				wsum += w[i]
			}
		}
		type frac struct {
			i int
			f float64
		}
		fr := make([]frac, 0, len(active))
		given := 0
		add := make([]int, len(w))
		for _, i := range active {
			share := float64(rem) * w[i] / wsum
			add[i] = int(share)
			given += add[i]
			fr = append(fr, frac{i, share - float64(add[i])})
		}
		sort.SliceStable(fr, func(a, b int) bool { return fr[a].f > fr[b].f })
		for k := 0; given < rem; k++ {
			add[fr[k%len(fr)].i]++
			given++
		}
		rem = 0
		for _, i := range active {
			out[i] += add[i]
			if out[i] > hi[i] {
				rem += out[i] - hi[i]
				out[i] = hi[i]
			}
		}
	}
	if rem > 0 {
		return nil, fmt.Errorf("could not place %d", rem)
	}
	return out, nil
}
