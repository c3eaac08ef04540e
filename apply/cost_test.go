package apply

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/plan"
)

// registryCount counts the requests the registry received for the repository, by method.
type registryCount struct {
	mu       sync.Mutex
	byMethod map[string]int
}

func (c *registryCount) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.byMethod {
		n += v
	}
	return n
}

// countRequests counts, from now on, every request f's registry receives on the repository's
// manifests and tags (not the /v2/ ping nor token requests).
func countRequests(f *fixture) *registryCount {
	c := &registryCount{byMethod: map[string]int{}}
	f.setHook(func(_ http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/v2/"+repoPath+"/") {
			c.mu.Lock()
			c.byMethod[r.Method]++
			c.mu.Unlock()
		}
		return false
	})
	return c
}

// TestPlanCostIsWhatApplySends runs apply on the real registry (distribution v3) in tag and in
// digest mode and checks that the plan's cost (plan.EstimateCost: requests and deletes) is what
// the registry received: the requests it counted, and the DELETEs among them.
func TestPlanCostIsWhatApplySends(t *testing.T) {
	for _, mode := range []plan.Mode{plan.ModeAuto, plan.ModeTag, plan.ModeDigest} {
		t.Run(string(mode), func(t *testing.T) {
			w := newWorld(t)
			cost := plan.EstimateCost(w.plan, mode)
			count := countRequests(w.f)
			if _, err := Apply(t.Context(), w.plan, w.f.c, ApplyOptions{Mode: mode, Journal: io.Discard}); err != nil {
				t.Fatal(err)
			}
			count.mu.Lock()
			got := [2]int{0, count.byMethod[http.MethodDelete]}
			count.mu.Unlock()
			got[0] = count.total()
			if diff := cmp.Diff([2]int{cost.Requests, cost.Deletes}, got); diff != "" {
				t.Errorf("requests, deletes: plan's cost -, registry's count +:\n%s", diff)
			}
		})
	}
}
