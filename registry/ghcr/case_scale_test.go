package ghcr

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/inventory"
)

// The scale test's figures.
const (
	// scaleCase is the fraction of the case pushed: 13,342 tags, 39,457 package versions.
	scaleCase = 0.1
	// hourlyBudget is the emulated token's primary limit: a personal access token's.
	hourlyBudget = ghcremu.DefaultRateLimit
	// maxNights bounds the nightly runs; the case at 0.1 takes 7.
	maxNights = 20
)

// night is what one nightly run spent and did.
type night struct {
	Requests, Deletes int
	// Emulated is how long the run took on the fake clock.
	Emulated time.Duration
}

// TestCaseAtScaleOverNightlyRuns is the acceptance test: the case at scale 0.1 on an
// emulated ghcr.io with a personal token's 5,000 requests an hour, on a fake clock. A nightly job
// lists and plans once, then applies in runs that each start with a new client and the state the
// last run saved, an hour apart. The plan deletes exactly the versions the case says (the indexes
// of old commits with their image and attestation children, never a child a kept index lists);
// the runs finish it with no error but the budget stop, delete nothing twice, stay within the
// hour's budget and under the secondary limit, and leave the emulator in the expected state.
//
// Most of its CPU goes to pushing the case (about 40 s), then to the seven runs and the listing.
func TestCaseAtScaleOverNightlyRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("the case at scale 0.1 takes a minute or two")
	}
	start := time.Now()
	g := fillGHCR(t, scaleCase, ghcremu.Options{RateLimit: hourlyBudget, RegistryDelete: ghcremu.DeleteTags})
	t.Logf("pushed %d tags in %s", len(g.c.Tags), time.Since(start).Round(time.Millisecond))

	// A kept image whose index lists the linux/amd64 image and the attestation of an image of a
	// deleted commit: both children stay, though the index that pushed them goes.
	dels := g.deletedImages()
	reused := dels[len(dels)/2]
	reusedTag := g.keep[0] + "-reuses-an-old-image"
	g.pushIndexOf(t, reusedTag, reused.ChildDigests...)
	want := g.expected()
	if _, found := slices.BinarySearch(want, reused.Digest); !found {
		t.Fatalf("the expectation keeps %s, the index of a deleted commit", reused.Digest)
	}
	for _, c := range reused.ChildDigests {
		if _, found := slices.BinarySearch(want, c); found {
			t.Fatalf("the expectation deletes %s, a child of a kept index", c)
		}
	}

	// Night 1 lists (tags and manifests through the OCI API, version ids through the REST API),
	// plans and applies; the later nights apply.
	tick := time.Now()
	r := g.newRun(t, WithPageSize(DefaultPageSize), WithMaxRequests(hourlyBudget))
	p, stats := g.makePlan(t, r, inventory.BuildOptions{SkipConfigs: true})
	t.Logf("listed %d versions in %d REST requests and planned in %s", stats.Versions, r.rest.Stats().Requests, time.Since(tick).Round(time.Millisecond))
	if diff := cmp.Diff(want, planned(t, p)); diff != "" {
		t.Fatalf("planned deletes (-want +got):\n%s", diff)
	}
	if !stats.Sync.Complete || stats.Unlisted != 0 || stats.Versions != len(g.e.Versions(testRepo)) {
		t.Fatalf("inventory stats %+v: want every version listed", stats)
	}
	if p.Cost.Deletes != len(want) || p.Cost.Hours < float64(len(want))/hourlyBudget {
		t.Errorf("plan cost %+v: want %d deletes, at least %.1f hours", p.Cost, len(want), float64(len(want))/hourlyBudget)
	}

	var nights []night
	for n := 1; ; n++ {
		if n > maxNights {
			t.Fatalf("not done after %d runs", maxNights)
		}
		if n > 1 {
			g.clock.Advance(time.Hour)
			r = g.newRun(t, WithPageSize(DefaultPageSize), WithMaxRequests(hourlyBudget))
		}
		sent, began, tick := g.e.Stats().Total(), g.clock.Now(), time.Now()
		if n == 1 {
			sent = 0 // the listing is night 1's too
		}
		res, err := Apply(t.Context(), p, g.oci, r.rest, r.st, ApplyOptions{StatePath: g.statePath})
		nt := night{Requests: g.e.Stats().Total() - sent, Deletes: len(res.Deleted), Emulated: g.clock.Now().Sub(began).Round(time.Second)}
		nights = append(nights, nt)
		t.Logf("run %d: %d REST requests, %d deletes, %d left, %s emulated in %s", n, nt.Requests, nt.Deletes, res.Remaining, nt.Emulated, time.Since(tick).Round(time.Millisecond))
		if nt.Requests > hourlyBudget {
			t.Errorf("run %d sent %d REST requests, over the token's %d an hour", n, nt.Requests, hourlyBudget)
		}
		if skipped := len(res.Failed) + len(res.Protected) + len(res.Held) + len(res.Undeletable) + len(res.Unlisted) + len(res.Gone); skipped != 0 {
			t.Fatalf("run %d: failed %v, protected %v, held %v, undeletable %v, unlisted %v, gone %d", n, res.Failed, res.Protected, res.Held, res.Undeletable, res.Unlisted, len(res.Gone))
		}
		if err == nil {
			break
		}
		var be *BudgetError
		if !errors.As(err, &be) || err.Error() != be.Error() || be.Total != len(want) || be.Done != len(want)-res.Remaining {
			t.Fatalf("run %d: %v; want only a budget stop, of %d versions", n, err, len(want))
		}
		if nt.Deletes < hourlyBudget*95/100-(nt.Requests-res.Requests) {
			t.Errorf("run %d deleted %d versions: under 95%% of the budget left after listing", n, nt.Deletes)
		}
	}
	if len(nights) < 3 {
		t.Errorf("done in %d runs: the budget never stopped a run", len(nights))
	}

	checkEnd(t, g.e, want)
	es := g.e.Stats()
	if del := es.REST[ghcremu.EndpointDelete]; del.Requests != len(want) || del.Status[404] != 0 {
		t.Errorf("%d DELETE requests, %d answered 404, for %d versions: want one each", del.Requests, del.Status[404], len(want))
	}
	// The pace is the budget spread over the hour, about 83 deletes (415 points) a minute: the
	// secondary limit is never met, so the adaptive ceiling never has to probe.
	for name, s := range es.REST {
		if s.SecondaryLimited != 0 || s.PrimaryLimited != 0 || s.PeakAsked > ghcremu.DefaultSecondaryPoints {
			t.Errorf("%s: %d secondary-limit and %d primary-limit answers, at most %d points asked in a minute (limit %d)",
				name, s.SecondaryLimited, s.PrimaryLimited, s.PeakAsked, ghcremu.DefaultSecondaryPoints)
		}
	}
	for _, v := range g.e.Versions(testRepo) {
		if slices.Contains(reused.ChildDigests, v.Digest) && !v.DeletedAt.IsZero() {
			t.Errorf("%s, listed by the kept index %s, was deleted", v.Digest, reusedTag)
		}
	}
	g.checkLiveTags(t, want, reusedTag)
	t.Logf("%d versions deleted in %d runs %+v; at most %d DELETE points in a minute; %d HEADs of kept tags answered from the version table; %s in all",
		len(want), len(nights), nights, es.REST[ghcremu.EndpointDelete].PeakAsked, es.OCIHeadsFromTable, time.Since(start).Round(time.Millisecond))
}

// checkLiveTags fails unless the live tags are the case's tags whose digest is not deleted, and
// the extra ones named.
func (g *ghcrCase) checkLiveTags(t *testing.T, deleted []string, extra ...string) {
	t.Helper()
	want := slices.Clone(extra)
	for _, ct := range g.c.Tags {
		if _, found := slices.BinarySearch(deleted, ct.Digest); !found {
			want = append(want, ct.Name)
		}
	}
	slices.Sort(want)
	var live []string
	if err := g.oci.ListTags(t.Context(), g.repo, func(tags []string) error {
		live = append(live, tags...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(live)
	if diff := cmp.Diff(want, live); diff != "" {
		t.Errorf("live tags (-want +got):\n%s", diff)
	}
}
