package ghcr

import (
	"errors"
	"testing"
	"time"

	"github.com/regtidy/regtidy/internal/ghcremu"
)

// The budget follows the token: a client learns the token's limit from X-RateLimit-Limit, and
// WithHourlyBudget only lowers it. A listing (an owner lookup and 30 pages) with a budget of 12 sends 12 requests and
// stops (the reset is further off than the longest wait); the token's own limit of 1,000 lets
// the same listing finish. Requests the token made elsewhere in the window count against the budget.
func TestHourlyBudgetOnlyLowersTheTokensLimit(t *testing.T) {
	for _, tc := range []struct {
		name       string
		budget     int
		usedBefore int
		wantSent   int
		wantLimit  int
		wantSpent  bool
	}{
		{"the token's limit", 0, 0, 31, 1000, false},
		{"a budget above the token's limit", 50_000, 0, 31, 1000, false},
		{"a lower budget", 12, 0, 12, 12, true},
		{"a lower budget, partly used by another job", 12, 5, 7, 12, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, clock := emulate(t, ghcremu.Options{Tokens: map[string]int{testToken: 1000}})
			register(t, e, 0, 300)
			if tc.usedBefore > 0 {
				other := client(t, e, clock)
				for range tc.usedBefore {
					if _, err := other.Package(t.Context()); err != nil {
						t.Fatal(err)
					}
				}
			}
			e.ResetStats()
			c := client(t, e, clock, WithHourlyBudget(tc.budget), WithMaxWait(time.Minute))
			_, _, err := collect(t, c)
			if tc.wantSpent != errors.Is(err, ErrBudgetSpent) {
				t.Fatalf("listing: %v, want budget spent %v", err, tc.wantSpent)
			}
			sent := 0
			for _, es := range e.Stats().REST {
				sent += es.Requests
			}
			if sent != tc.wantSent {
				t.Errorf("the emulator answered %d REST requests, want %d", sent, tc.wantSent)
			}
			if rl := c.RateLimit(); rl.Limit != tc.wantLimit || rl.TokenLimit != 1000 {
				t.Errorf("rate limit %+v, want limit %d of the token's 1000", rl, tc.wantLimit)
			}
		})
	}
}
