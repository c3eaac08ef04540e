package ghcr

import (
	"os"
	"testing"
	"time"

	"github.com/regtidy/regtidy/inventory"
)

// TestApplySavesTheStateAtMostOncePerInterval: outcomes alone do not make Apply save the state
// (a package's state is tens of MB, and may live in a bucket); an interval on the client's clock
// must pass too. The end of the run always saves.
func TestApplySavesTheStateAtMostOncePerInterval(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		midRun   bool
	}{
		{"a long interval: only the end saves", 24 * time.Hour, false},
		{"a short interval: saves during the run", time.Nanosecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := fillGHCR(t, 0.001, fastDeletes)
			p, _ := g.makePlan(t, g.newRun(t), inventory.BuildOptions{})
			r := g.newRun(t)
			stamp := func() time.Time {
				fi, err := os.Stat(g.statePath)
				if err != nil {
					t.Fatal(err)
				}
				return fi.ModTime()
			}
			// The file's time moves only by real writes; the emulated clock is fake.
			start := stamp()
			time.Sleep(20 * time.Millisecond)
			savedMidRun := false
			res, err := Apply(t.Context(), p, g.oci, r.rest, r.st, ApplyOptions{
				StatePath: g.statePath, SaveEvery: 1, SaveInterval: tc.interval,
				Progress: func(done, total int) {
					if done < total && !stamp().Equal(start) {
						savedMidRun = true
					}
				},
			})
			if err != nil || len(res.Deleted) < 2 {
				t.Fatalf("apply: %d deleted, err %v", len(res.Deleted), err)
			}
			if savedMidRun != tc.midRun {
				t.Errorf("saved during the run: %v, want %v", savedMidRun, tc.midRun)
			}
			if stamp().Equal(start) {
				t.Error("the end of the run did not save the state")
			}
		})
	}
}
