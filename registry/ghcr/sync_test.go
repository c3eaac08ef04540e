package ghcr

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/internal/ghcremu"
)

// pageRecorder records the listing pages answered with a success.
type pageRecorder struct {
	next  http.RoundTripper
	mu    sync.Mutex
	pages []int
}

func (r *pageRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusOK && strings.HasSuffix(req.URL.Path, "/versions") {
		if n, cerr := strconv.Atoi(req.URL.Query().Get("page")); cerr == nil {
			r.mu.Lock()
			r.pages = append(r.pages, n)
			r.mu.Unlock()
		}
	}
	return resp, err
}

// answered returns the pages answered so far, sorted.
func (r *pageRecorder) answered() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.pages)
	slices.Sort(out)
	return out
}

// When the budget runs out with pages in flight, the pages fetched are consecutive even if an
// early page starts late (a goroutine not scheduled until later pages took the budget): a page
// that did not start yet is never overtaken past the budget, so the listing cursor can record
// every page fetched and the next run reads none of them again.
func TestListInOrderLeavesNoGapWhenTheBudgetRunsOut(t *testing.T) {
	e, clock := emulate(t, ghcremu.Options{RateLimit: 11})
	register(t, e, 0, 300) // 30 pages of 10; 11 requests: page 1 and 10 more
	c := client(t, e, clock, WithOwnerKind(Org), WithConcurrency(3), WithMaxWait(10*time.Minute))
	first, err := c.fetchPage(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	// Page 3 starts only once a page past the budget was asked for, or after a while.
	pastBudget := make(chan struct{})
	var once sync.Once
	fetch := func(ctx context.Context, n int) (page, error) {
		switch {
		case n == 3:
			select {
			case <-pastBudget:
			case <-time.After(300 * time.Millisecond):
			case <-ctx.Done():
				return page{}, ctx.Err()
			}
		case n > 11:
			once.Do(func() { close(pastBudget) })
		}
		return c.fetchPage(ctx, n)
	}
	var got []int
	err = c.listInOrder(t.Context(), first, fetch, func(p page) error {
		got = append(got, p.number)
		return nil
	})
	if !errors.Is(err, ErrBudgetSpent) {
		t.Fatalf("err = %v, want the budget spent", err)
	}
	slices.Sort(got)
	want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pages delivered (-want +got):\n%s", diff)
	}
	if limited := e.Stats().REST[ghcremu.EndpointList].PrimaryLimited; limited != 0 {
		t.Errorf("%d requests met the spent primary limit, want none sent", limited)
	}
}
