package ghcr

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// The window's true end may be up to a second after x-ratelimit-reset (whole seconds, cut short):
// within that second the budget still counts as spent, so no request meets a 403 there.
func TestPrimaryBudgetSpentUntilASecondAfterTheReset(t *testing.T) {
	reset := epoch.Add(time.Hour)
	h := http.Header{}
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	var s rateState
	s.update(h)
	tests := []struct {
		at    time.Time
		spent bool
	}{
		{reset.Add(-time.Minute), true},
		{reset.Add(700 * time.Millisecond), true},
		{reset.Add(time.Second), false},
	}
	for _, tt := range tests {
		if _, got := s.spent(tt.at); got != tt.spent {
			t.Errorf("spent at reset%+v = %v, want %v", tt.at.Sub(reset), got, tt.spent)
		}
	}
}
