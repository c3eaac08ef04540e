package ghcr

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/regtidy/regtidy/internal/faultproxy"
	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry"
)

func TestDeletePacing(t *testing.T) {
	tests := []struct {
		name      string
		rateLimit int
		opts      []Option
		// The fake time 400 deletes may take.
		minTook, maxTook time.Duration
		// The most DELETEs in flight at once the emulator may see, and the least gap between two.
		maxInFlight int
		minGap      time.Duration
	}{
		// The default: one at a time, a second apart, as GitHub's best practices ask (3,600 an
		// hour, under a personal token's 5,000).
		{"default", 5000, nil, 399 * time.Second, 400 * time.Second, 1, time.Second},
		{"default, large budget", 100000, nil, 399 * time.Second, 400 * time.Second, 1, time.Second},
		// --pace 40: a delete every 1.5 s.
		{"paced", 100000, []Option{WithPace(40)}, 9 * time.Minute, 11 * time.Minute, 1, 1500 * time.Millisecond},
		// --pace fast: concurrent, up to the secondary ceiling of 180 a minute.
		{"fast", 100000, []Option{WithFastPace(true)}, 400 * time.Minute / 180, 3 * time.Minute, DefaultConcurrency, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, clock := emulate(t, ghcremu.Options{RateLimit: tt.rateLimit})
			register(t, e, 0, 400)
			c := client(t, e, clock, append([]Option{WithOwnerKind(Org)}, tt.opts...)...)
			sum, err := c.DeleteVersions(t.Context(), versionsOf(e), nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(DeleteSummary{Total: 400, Deleted: 400}, sum); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
			took := clock.Now().Sub(epoch)
			if took < tt.minTook || took > tt.maxTook {
				t.Errorf("400 deletes took %v of fake time, want %v to %v", took, tt.minTook, tt.maxTook)
			}
			es := e.Stats().REST[ghcremu.EndpointDelete]
			if es.SecondaryLimited != 0 || es.PeakAsked > 900 {
				t.Errorf("secondary limited %d times, peak %d points a minute: want none over 900", es.SecondaryLimited, es.PeakAsked)
			}
			if es.PeakInFlight > tt.maxInFlight {
				t.Errorf("%d DELETEs in flight at once, want at most %d", es.PeakInFlight, tt.maxInFlight)
			}
			if es.MinGap < tt.minGap {
				t.Errorf("two DELETEs arrived %v apart, want at least %v", es.MinGap, tt.minGap)
			}
			if len(activeIDs(e)) != 0 {
				t.Errorf("%d versions left", len(activeIDs(e)))
			}
		})
	}
}

// TestFastPaceDeletes330VersionsInUnderTwoMinutes is the job of deleting the images of three old
// commits (330 versions) with --pace fast while the emulator enforces GitHub's documented secondary
// limit (900 points a minute, a DELETE is 5; 100 requests in flight).
func TestFastPaceDeletes330VersionsInUnderTwoMinutes(t *testing.T) {
	e, clock := emulate(t, ghcremu.Options{})
	register(t, e, 0, 330)
	c := client(t, e, clock, WithOwnerKind(Org), WithFastPace(true))
	sum, err := c.DeleteVersions(t.Context(), versionsOf(e), nil)
	if err != nil {
		t.Fatal(err)
	}
	took := clock.Now().Sub(epoch)
	es := e.Stats().REST[ghcremu.EndpointDelete]
	t.Logf("330 deletes in %v of fake time; peak %d points a minute, %d in flight", took, es.PeakAsked, es.PeakInFlight)
	if sum.Deleted != 330 || took >= 2*time.Minute {
		t.Errorf("deleted %d in %v, want 330 in under 2 minutes", sum.Deleted, took)
	}
	if es.SecondaryLimited != 0 {
		t.Errorf("%d secondary-limit answers, want none", es.SecondaryLimited)
	}
}

// TestDeleteAnswered500AfterItTookEffect: GitHub deleted the version but answered 500; the retry
// gets 404. The version was deleted by this run, not "already gone".
func TestDeleteAnswered500AfterItTookEffect(t *testing.T) {
	e, clock := emulate(t, ghcremu.Options{})
	register(t, e, 0, 2)
	u, err := url.Parse(e.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.New(httputil.NewSingleHostReverseProxy(u), faultproxy.Options{
		Rate: 1, Max: 1, Kinds: []faultproxy.Kind{faultproxy.Status500After},
		Only: func(r *http.Request) bool { return r.Method == http.MethodDelete },
	})
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	c := client(t, e, clock, WithOwnerKind(Org), WithBaseURL(srv.URL))
	var outcomes []Outcome
	sum, err := c.DeleteVersions(t.Context(), versionsOf(e), func(r DeleteResult) { outcomes = append(outcomes, r.Outcome) })
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := proxy.Total(); n != 1 {
		t.Fatalf("%d faults injected, want 1", n)
	}
	if sum.Deleted != 2 || sum.Gone != 0 {
		t.Errorf("deleted %d, gone %d (%v): want 2 deleted, the first despite its 500", sum.Deleted, sum.Gone, outcomes)
	}
	if got := e.Stats().REST[ghcremu.EndpointDelete].Status[http.StatusNotFound]; got != 1 {
		t.Errorf("%d answers 404, want the retry's one", got)
	}
}

func TestDeletesSpendTheHourlyBudget(t *testing.T) {
	// A GITHUB_TOKEN's 1,000 requests an hour, and a run with an hour to spend.
	e, clock := emulate(t, ghcremu.Options{RateLimit: ghcremu.DefaultRateLimit / 5})
	register(t, e, 0, 1500)
	c := client(t, e, clock, WithOwnerKind(Org), WithDeadline(epoch.Add(time.Hour)))
	sum, err := c.DeleteVersions(t.Context(), versionsOf(e), nil)
	if !errors.Is(err, ErrBudgetSpent) {
		t.Fatalf("err %v, want the deadline to stop the run", err)
	}
	t.Logf("deleted %d in the hour; %v", sum.Deleted, err)
	if sum.Deleted < 950 || sum.Deleted > 1000 {
		t.Errorf("deleted %d in the hour, want at least 95%% of the 1,000-request budget", sum.Deleted)
	}
	es := e.Stats().REST[ghcremu.EndpointDelete]
	if es.SecondaryLimited != 0 || es.PrimaryLimited != 0 {
		t.Errorf("limited %d times (secondary) and %d (primary), want never", es.SecondaryLimited, es.PrimaryLimited)
	}
}

func TestDeleteBacksOffOnSecondaryLimit(t *testing.T) {
	e, clock := emulate(t, ghcremu.Options{RateLimit: 100000, SecondaryPoints: 300}) // 60 deletes a minute
	register(t, e, 0, 300)
	// One delete in flight at a time, as with real latency: on the fake clock, concurrent
	// deletes would all be in flight when the first answer over the limit comes.
	c := client(t, e, clock, WithOwnerKind(Org), WithConcurrency(1), WithFastPace(true))
	sum, err := c.DeleteVersions(t.Context(), versionsOf(e), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Deleted != 300 {
		t.Errorf("deleted %d of 300", sum.Deleted)
	}
	es := e.Stats().REST[ghcremu.EndpointDelete]
	// The first answer lowers the ceiling under the limit; after quiet windows the ceiling is raised
	// again to probe, and a probe that meets the limit doubles the quiet stretch before the next:
	// over this run of about six minutes, the first answer and at most two probes.
	if es.SecondaryLimited < 1 || es.SecondaryLimited > 3 {
		t.Errorf("secondary-limit answers = %d, want one, then at most two probes of a raised ceiling", es.SecondaryLimited)
	}
	if c.Pace() >= 60 {
		t.Errorf("pace %v a minute after a secondary-limit answer, want below the limit of 60", c.Pace())
	}
}

func TestDeleteVersionsRecordsUndeletableAndGoesOn(t *testing.T) {
	e, clock := emulate(t, ghcremu.Options{})
	idx1, img1, att1 := pushIndex(t, e, "v1")
	idx2, img2, att2 := pushIndex(t, e, "v2")
	if err := e.SetDownloads(testRepo, img1, 5001); err != nil {
		t.Fatal(err)
	}
	if err := e.Forbid(testRepo, att1); err != nil {
		t.Fatal(err)
	}
	byDigest := map[string]inventory.Version{}
	for _, v := range versionsOf(e) {
		byDigest[v.Digest] = v
	}
	order := []string{idx1, img1, att1, idx2, img2, att2}
	var vs []inventory.Version
	for _, d := range order {
		vs = append(vs, byDigest[d])
	}
	c := client(t, e, clock, WithConcurrency(1)) // in order: idx2 is the last tagged one
	st := NewState(testRepo)
	got := map[string]string{}
	sum, err := c.DeleteVersions(t.Context(), vs, func(r DeleteResult) {
		st.Record(r)
		got[r.Version.Digest] = fmt.Sprintf("%s %s", r.Outcome, r.Reason)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		idx1: "deleted ", img1: "undeletable downloads", att1: "undeletable forbidden",
		idx2: "undeletable last-tagged", img2: "deleted ", att2: "deleted ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(DeleteSummary{Total: 6, Deleted: 3, Undeletable: 3}, sum); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	// The next run skips what is recorded: nothing left to send.
	var again []inventory.Version
	for _, v := range vs {
		if !st.Skip(v.ID) {
			again = append(again, v)
		}
	}
	if len(again) != 0 {
		t.Errorf("%d versions not skipped on the next run", len(again))
	}
	if r := st.Undeletable[byDigest[img1].ID]; r.Reason != ReasonDownloads || !strings.Contains(r.Message, "5000 downloads") {
		t.Errorf("recorded %+v", r)
	}
	// Deleting twice is harmless: a 404 is "gone".
	var outcome Outcome
	if _, err := c.DeleteVersions(t.Context(), vs[:1], func(r DeleteResult) { outcome = r.Outcome }); err != nil || outcome != OutcomeGone {
		t.Errorf("second delete: outcome %q, err %v; want gone", outcome, err)
	}
}

func TestDeleteVersionsStopsWhenBudgetSpent(t *testing.T) {
	tests := []struct {
		name     string
		opts     []Option
		wantDone int
	}{
		{"max requests", []Option{WithMaxRequests(20)}, 20},
		// One a second: the deadline leaves room for ten.
		{"deadline", []Option{WithPace(60), WithDeadline(epoch.Add(9500 * time.Millisecond))}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, clock := emulate(t, ghcremu.Options{})
			register(t, e, 0, 50)
			c := client(t, e, clock, append(tt.opts, WithOwnerKind(Org), WithConcurrency(1))...)
			sum, err := c.DeleteVersions(t.Context(), versionsOf(e), nil)
			var be *BudgetError
			if !errors.As(err, &be) || !errors.Is(err, ErrBudgetSpent) {
				t.Fatalf("err %v, want a BudgetError", err)
			}
			wantMsg := fmt.Sprintf("delete: %d of 50 versions done; the next run continues", tt.wantDone)
			if !strings.HasPrefix(err.Error(), wantMsg) {
				t.Errorf("error %q, want it to start %q", err, wantMsg)
			}
			if sum.Deleted != tt.wantDone || sum.NotAttempted != 50-tt.wantDone {
				t.Errorf("summary %+v", sum)
			}
			if left := len(activeIDs(e)); left != 50-tt.wantDone {
				t.Errorf("%d versions left, want %d", left, 50-tt.wantDone)
			}
		})
	}
}

func TestRestoreVersion(t *testing.T) {
	e, clock := emulate(t, ghcremu.Options{})
	idx, _, _ := pushIndex(t, e, "v1")
	pushIndex(t, e, "v2")
	var id int64
	for _, v := range versionsOf(e) {
		if v.Digest == idx {
			id = v.ID
		}
	}
	c := client(t, e, clock)
	ref, err := name.NewTag(e.Host+"/"+testRepo+":v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteVersion(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(ref, remote.WithContext(t.Context())); err == nil {
		t.Fatal("tag v1 still resolves after its version was deleted")
	}
	clock.Advance(29 * 24 * time.Hour)
	if err := c.RestoreVersion(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(ref, remote.WithContext(t.Context()))
	if err != nil || desc.Digest.String() != idx {
		t.Fatalf("after restore: %v, %v; want %s", desc, err, idx)
	}
	if err := c.DeleteVersion(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	clock.Advance(31 * 24 * time.Hour)
	if err := c.RestoreVersion(t.Context(), id); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("restore after 31 days: %v, want ErrNotFound", err)
	}
}

func TestOCIDeleteIsUnsupported(t *testing.T) {
	e, _ := emulate(t, ghcremu.Options{})
	idx, _, _ := pushIndex(t, e, "v1")
	ref, err := name.NewDigest(e.Host+"/"+testRepo+"@"+idx, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	err = remote.Delete(ref, remote.WithContext(t.Context()))
	if err == nil || !strings.Contains(err.Error(), "UNSUPPORTED") {
		t.Errorf("OCI delete: %v, want 405 UNSUPPORTED: deletes go through the REST API", err)
	}
}
