package policy

import (
	"cmp"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
)

// TestParallelEvaluationGivesTheGoldenPlans shares even the smallest inventories among
// goroutines, and checks that the plans are still the golden ones, byte for byte.
func TestParallelEvaluationGivesTheGoldenPlans(t *testing.T) {
	defer func(n, procs int) { parallelMin = n; runtime.GOMAXPROCS(procs) }(parallelMin, runtime.GOMAXPROCS(4))
	parallelMin = 1
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			_, got := tc.evaluate(t)
			want, err := os.ReadFile(tc.path())
			if err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("parallel plan differs from %s (-want +got):\n%s", tc.path(), diff)
			}
		})
	}
}

func TestInParallelCoversEveryIndexOnce(t *testing.T) {
	defer func(n, procs int) { parallelMin = n; runtime.GOMAXPROCS(procs) }(parallelMin, runtime.GOMAXPROCS(3))
	parallelMin = 2
	for _, n := range []int{0, 1, 2, 5, 31, 1000, 4097} {
		hits := make([]atomic.Int32, n)
		inParallel(n, func(lo, hi int) {
			if lo < 0 || hi > n || lo >= hi {
				t.Errorf("n=%d: range [%d, %d)", n, lo, hi)
				return
			}
			for i := lo; i < hi; i++ {
				hits[i].Add(1)
			}
		})
		for i := range hits {
			if got := hits[i].Load(); got != 1 {
				t.Errorf("n=%d: index %d done %d times", n, i, got)
			}
		}
	}
}

// TestDigestHeadOrdersLikeStrings checks the sort key of newGraph: whenever two heads differ,
// they order as the strings do.
func TestDigestHeadOrdersLikeStrings(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := "\x00019:afs"
	random := func() string {
		var b strings.Builder
		for range rng.IntN(20) {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	pairs := [][2]string{{"", "a"}, {"a", "a\x00"}, {"a\x00", "a\x00\x01"}, {"sha256:0", "sha256:00"}, {digestOf("x"), digestOf("y")}}
	for range 20000 {
		pairs = append(pairs, [2]string{random(), random()})
	}
	for _, p := range pairs {
		ha, hb := digestHead(p[0]), digestHead(p[1])
		if ha == hb {
			continue
		}
		byHead := cmp.Compare(ha[0], hb[0])
		if byHead == 0 {
			byHead = cmp.Compare(ha[1], hb[1])
		}
		if byString := strings.Compare(p[0], p[1]); byHead != byString {
			t.Fatalf("%q vs %q: heads compare %d, strings %d", p[0], p[1], byHead, byString)
		}
	}
}
