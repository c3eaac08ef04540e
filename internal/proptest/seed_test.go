package proptest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/regtidy/regtidy/policy"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "replay one case of each property test with this seed (also REGTIDY_PROPTEST_SEED)")
	casesFlag = flag.Int("cases", 0, "cases per property test instead of each test's default")
)

// caseNow is the fixed evaluation time of the in-memory cases.
var caseNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// seeds returns the seeds a property test runs: the one asked for, or n seeds drawn from a
// fixed start (so every run of the suite tries the same cases, and a failure names its seed).
func seeds(t *testing.T, n int, salt uint64) []uint64 {
	t.Helper()
	if *seedFlag != 0 {
		return []uint64{*seedFlag}
	}
	if s := os.Getenv("REGTIDY_PROPTEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("REGTIDY_PROPTEST_SEED=%q: %v", s, err)
		}
		return []uint64{v}
	}
	if *casesFlag > 0 {
		n = *casesFlag
	}
	r := rand.New(rand.NewPCG(salt, 0x9e3779b97f4a7c15))
	out := make([]uint64, n)
	for i := range out {
		out[i] = r.Uint64()>>1 | 1
	}
	return out
}

// newRand returns the generator of one case.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x5bd1e995)) }

// failf reports a failed case with the command that replays it.
func failf(t *testing.T, test string, seed uint64, format string, a ...any) {
	t.Helper()
	t.Errorf("seed %d (replay: go test ./internal/proptest -run '^%s$' -seed %d -count=1):\n%s", seed, test, seed, fmt.Sprintf(format, a...))
}

// fakeLoader is a keep-source loader answering commits sources from the model's history.
type fakeLoader struct {
	commits []string
	// err, if set, is what every source fails with.
	err error
}

func (l fakeLoader) LastCommits(_ context.Context, spec policy.CommitsSpec) ([]policy.Commit, error) {
	if l.err != nil {
		return nil, l.err
	}
	var out []policy.Commit
	for i, sha := range l.commits[:min(spec.Last, len(l.commits))] {
		out = append(out, policy.Commit{SHA: sha, Time: caseNow.Add(-time.Duration(i) * time.Hour)})
	}
	return out, nil
}

func (l fakeLoader) LiveCommits(context.Context, policy.RunsSpec, time.Time) (policy.RunsRead, error) {
	return policy.RunsRead{}, errors.New("proptest: no run metadata")
}

func (l fakeLoader) BaseDigests(context.Context, policy.BaseSpec) ([]policy.BaseRef, error) {
	return nil, errors.New("proptest: no base images")
}
