package ghcr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/policy"
)

func TestApplyDeletesExactlyThePlannedVersions(t *testing.T) {
	g := fillGHCR(t, 0.002, ghcremu.Options{})
	dels := g.deletedImages()
	// A deleted commit's image that a release tag also names: kept, with its children.
	shared := dels[0]
	g.tag(t, shared.Digest, "v9.9.9")
	g.extra[shared.Digest] = shared.ChildDigests
	// A kept image listing the linux/amd64 image of a deleted one: that child stays.
	reused := dels[1]
	g.pushIndexOf(t, g.keep[0]+"-reused-child", reused.ChildDigests[0])
	// Two old orphans (untagged versions with no index) and a fresh one.
	var orphans []string
	for i := range 2 {
		d := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte{'o', byte(i)}))
		if _, err := g.e.Register(testRepo, d); err != nil {
			t.Fatal(err)
		}
		orphans = append(orphans, d)
	}
	g.clock.Advance(8 * 24 * time.Hour)
	fresh := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("fresh")))
	if _, err := g.e.Register(testRepo, fresh); err != nil {
		t.Fatal(err)
	}
	want := g.expected(orphans...)

	cache, err := inventory.OpenCache(t.TempDir(), g.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	r := g.newRun(t)
	p, stats := g.makePlan(t, r, inventory.BuildOptions{Cache: cache})
	if diff := cmp.Diff(want, planned(t, p)); diff != "" {
		t.Fatalf("planned deletes (-want +got):\n%s", diff)
	}
	if stats.Withheld != 1 || stats.Unlisted != 0 || !stats.Sync.Full || !stats.Sync.Complete {
		t.Errorf("inventory stats %+v: want the fresh orphan withheld, everything listed", stats)
	}
	// The withheld version is in the plan, kept for its push grace, where explain finds it.
	if d, ok := p.Find(fresh); !ok || d.Action != plan.Keep || len(d.Reasons) != 1 || d.Reasons[0].Rule != policy.RulePushGrace {
		t.Errorf("decision of the fresh orphan: %+v, want kept by %s", d, policy.RulePushGrace)
	}
	if p.Cost.Mode != "version" || p.Cost.Deletes != len(want) {
		t.Errorf("cost %+v: want %d version deletes", p.Cost, len(want))
	}

	var journal bytes.Buffer
	res, err := Apply(t.Context(), p, g.oci, r.rest, r.st, ApplyOptions{Journal: &journal, Manifests: cache, StatePath: g.statePath})
	if err != nil {
		t.Fatal(err)
	}
	checkEnd(t, g.e, want)
	if len(res.Deleted) != len(want) || len(res.Protected)+len(res.Held)+len(res.Failed)+len(res.Unlisted) != 0 || res.Partial() {
		t.Errorf("result: %d deleted, protected %v, held %v, failed %v, unlisted %v", len(res.Deleted), res.Protected, res.Held, res.Failed, res.Unlisted)
	}
	if got := res.Requests; got != len(want) {
		t.Errorf("apply sent %d REST requests for %d deletes", got, len(want))
	}
	recs := checkJournal(t, journal.Bytes())
	withRaw := 0
	for _, rec := range recs {
		if rec.Type == apply.RecordManifest && rec.Raw != nil {
			withRaw++
		}
	}
	if withRaw != len(want)-len(orphans) {
		t.Errorf("%d intents carry the manifest's bytes, want every one but the orphans' (%d)", withRaw, len(want)-len(orphans))
	}
	// Indexes went before their children.
	deletedAt := map[string]int{}
	for i, v := range res.Deleted {
		deletedAt[v.Digest] = i
	}
	for _, ct := range dels {
		for _, c := range ct.ChildDigests {
			if i, ok := deletedAt[c]; ok && i < deletedAt[ct.Digest] {
				t.Errorf("child %s deleted before its index %s", c, ct.Digest)
			}
		}
	}
	// The state knows, so a repeat run spends nothing on deletes.
	st, err := LoadState(t.Context(), g.statePath)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Apply(t.Context(), p, g.oci, client(t, g.e, g.clock), st, ApplyOptions{})
	if err != nil || again.DoneBefore != len(want) || again.Requests != 0 {
		t.Errorf("repeat: done before %d, %d requests, err %v; want %d and 0", again.DoneBefore, again.Requests, err, len(want))
	}
}

func TestApplyOverSeveralRunsUnderABudget(t *testing.T) {
	g := fillGHCR(t, 0.001, fastDeletes)
	p, _ := g.makePlan(t, g.newRun(t), inventory.BuildOptions{})
	want := g.expected()
	runs, spent := 0, 0
	for ; runs < 20; runs++ {
		r := g.newRun(t, WithMaxRequests(50))
		res, err := Apply(t.Context(), p, g.oci, r.rest, r.st, ApplyOptions{StatePath: g.statePath})
		spent += res.Requests
		if res.Requests > 50 {
			t.Fatalf("run %d sent %d requests, over its budget of 50", runs, res.Requests)
		}
		if err == nil {
			break
		}
		var be *BudgetError
		if !errors.As(err, &be) || be.Total != len(want) || be.Done != len(want)-res.Remaining {
			t.Fatalf("run %d: err %v, want a BudgetError of %d versions", runs, err, len(want))
		}
		g.clock.Advance(time.Hour)
	}
	if runs < 3 || runs >= 20 {
		t.Fatalf("finished after %d runs", runs+1)
	}
	checkEnd(t, g.e, want)
	if n := deleteAnswers(g.e)[404]; n != 0 || spent != len(want) {
		t.Errorf("%d requests for %d deletes, %d answered 404: want one request each", spent, len(want), n)
	}
}

func TestApplyFaults(t *testing.T) {
	tests := []struct {
		name string
		opts ghcremu.Options
		// before runs after the plan, before the first apply.
		before func(g *ghcrCase)
		client []Option
		// listRuns is the least number of runs the listing takes.
		listRuns int
		check    func(t *testing.T, g *ghcrCase, rest *Client)
	}{
		{
			name:   "5% of requests answer 500",
			opts:   fastDeletes,
			before: func(g *ghcrCase) { g.e.SetErrorRate(0.05) },
			check: func(t *testing.T, g *ghcrCase, rest *Client) {
				if n := g.e.Stats().REST[ghcremu.EndpointDelete].Injected; n == 0 {
					t.Error("no 500 was injected")
				}
			},
		},
		{
			name:   "a secondary limit mid-run",
			opts:   fastDeletes,
			before: func(g *ghcrCase) { g.e.SetSecondaryPoints(100) },
			check: func(t *testing.T, g *ghcrCase, rest *Client) {
				if s := rest.Stats(); s.SecondaryLimited == 0 {
					t.Errorf("never limited: %+v", s)
				}
			},
		},
		{
			// 25 requests an hour, and a client that will not wait an hour for the reset: the
			// listing (43 requests) stops mid-way, and the next run continues it.
			name:     "the primary budget runs out mid-listing",
			opts:     ghcremu.Options{RateLimit: 25, RegistryDelete: ghcremu.DeleteTags},
			client:   []Option{WithMaxWait(time.Minute)},
			listRuns: 2,
			check: func(t *testing.T, g *ghcrCase, rest *Client) {
				if n := g.e.Stats().REST[ghcremu.EndpointList].Requests; n > 42+3 {
					t.Errorf("%d list requests for 42 pages: the listing restarted", n)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := fillGHCR(t, 0.001, tt.opts)
			want := g.expected()
			var p *plan.Plan
			listRuns := 0
			for ; p == nil; listRuns++ {
				if listRuns == 10 {
					t.Fatal("the listing never completed")
				}
				r := g.newRun(t, tt.client...)
				inv, _, err := BuildInventory(t.Context(), g.oci, g.repo, r.rest, r.st, inventory.BuildOptions{IsNotFound: isNotFoundErr})
				if err := r.st.Save(t.Context(), g.statePath, g.clock.Now()); err != nil {
					t.Fatal(err)
				}
				if IsBudgetSpent(err) {
					g.clock.Advance(time.Hour)
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if p, err = evaluate(g, t, inv); err != nil {
					t.Fatal(err)
				}
			}
			if listRuns < tt.listRuns {
				t.Errorf("the listing took %d runs, want at least %d", listRuns, tt.listRuns)
			}
			if tt.before != nil {
				tt.before(g)
			}
			var last *Client
			for i := 0; ; i++ {
				if i == 30 {
					t.Fatal("apply never completed")
				}
				r := g.newRun(t, tt.client...)
				last = r.rest
				_, err := Apply(t.Context(), p, g.oci, r.rest, r.st, ApplyOptions{StatePath: g.statePath})
				if err == nil {
					break
				}
				if !IsBudgetSpent(err) {
					t.Fatal(err)
				}
				g.clock.Advance(time.Hour)
			}
			checkEnd(t, g.e, want)
			if tt.check != nil {
				tt.check(t, g, last)
			}
		})
	}
}

func TestApplyKilledMidRunThenRunAgain(t *testing.T) {
	g := fillGHCR(t, 0.001, fastDeletes)
	p, _ := g.makePlan(t, g.newRun(t), inventory.BuildOptions{})
	want := g.expected()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var journal bytes.Buffer
	r := g.newRun(t)
	before := r.st.clone(t)
	res, err := Apply(ctx, p, g.oci, r.rest, r.st, ApplyOptions{
		Journal: &journal, StatePath: g.statePath, SaveEvery: 1000,
		Progress: func(done, total int) {
			if done == 40 {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) || res.Remaining == 0 {
		t.Fatalf("killed run: err %v, %d remaining", err, res.Remaining)
	}
	killed := len(res.Deleted)
	checkJournal(t, journal.Bytes())

	// The state saved on the way out lets the next run skip what is done.
	r = g.newRun(t)
	res, err = Apply(t.Context(), p, g.oci, r.rest, r.st, ApplyOptions{Journal: &journal, StatePath: g.statePath})
	if err != nil {
		t.Fatal(err)
	}
	if res.DoneBefore != killed || len(res.Gone) != 0 {
		t.Errorf("second run: %d done before, %d gone; want %d and 0", res.DoneBefore, len(res.Gone), killed)
	}
	checkEnd(t, g.e, want)
	checkJournal(t, journal.Bytes())

	// A run whose state was lost deletes nothing twice: 404 counts as done.
	res, err = Apply(t.Context(), p, g.oci, client(t, g.e, g.clock), before, ApplyOptions{})
	if err != nil || len(res.Gone) != len(want) || len(res.Deleted) != 0 {
		t.Errorf("run with a lost state: %d gone, %d deleted, err %v; want %d gone", len(res.Gone), len(res.Deleted), err, len(want))
	}
	checkEnd(t, g.e, want)
}

func TestApplyRecordsUndeletableAndSkipsItLater(t *testing.T) {
	g := fillGHCR(t, 0.001, fastDeletes)
	p, _ := g.makePlan(t, g.newRun(t), inventory.BuildOptions{})
	popular := g.deletedImages()[3]
	if err := g.e.SetDownloads(testRepo, popular.Digest, 6000); err != nil {
		t.Fatal(err)
	}
	g.extra[popular.Digest] = popular.ChildDigests // it stays, and so do its children
	want := g.expected()

	r := g.newRun(t)
	res, err := Apply(t.Context(), p, g.oci, r.rest, r.st, ApplyOptions{StatePath: g.statePath})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Undeletable) != 1 || res.Undeletable[0].Digest != popular.Digest || res.Undeletable[0].Reason != ReasonDownloads {
		t.Errorf("undeletable %+v, want %s for its downloads", res.Undeletable, popular.Digest)
	}
	var held []string
	for _, h := range res.Held {
		held = append(held, h.Digest)
	}
	slices.Sort(held)
	if diff := cmp.Diff(sortedKeys(setOf(popular.ChildDigests)), held); diff != "" {
		t.Errorf("held children (-want +got):\n%s", diff)
	}
	checkEnd(t, g.e, want)

	deletes := g.e.Stats().REST[ghcremu.EndpointDelete].Requests
	r = g.newRun(t)
	res, err = Apply(t.Context(), p, g.oci, r.rest, r.st, ApplyOptions{StatePath: g.statePath})
	if err != nil {
		t.Fatal(err)
	}
	if res.RefusedBefore != 1 || len(res.Held) != len(popular.ChildDigests) || res.Requests != 0 {
		t.Errorf("second run: refused before %d, held %d, %d requests; want 1, %d, 0", res.RefusedBefore, len(res.Held), res.Requests, len(popular.ChildDigests))
	}
	if n := g.e.Stats().REST[ghcremu.EndpointDelete].Requests; n != deletes {
		t.Errorf("the second run sent %d deletes", n-deletes)
	}
}

func TestApplyLeavesAVersionAKeptTagMovedOnto(t *testing.T) {
	g := fillGHCR(t, 0.001, fastDeletes)
	p, _ := g.makePlan(t, g.newRun(t), inventory.BuildOptions{})
	// After the plan, a kept tag moves onto the index of a deleted image.
	target := g.deletedImages()[2]
	kept := g.keptImageTag(t)
	g.tag(t, target.Digest, kept)
	g.extra[target.Digest] = target.ChildDigests
	want := g.expected()

	r := g.newRun(t)
	res, err := Apply(t.Context(), p, g.oci, r.rest, r.st, ApplyOptions{StatePath: g.statePath})
	if err != nil {
		t.Fatal(err)
	}
	checkEnd(t, g.e, want)
	var protected []string
	for _, s := range res.Protected {
		protected = append(protected, s.Digest)
	}
	slices.Sort(protected)
	if diff := cmp.Diff(sortedKeys(setOf(append([]string{target.Digest}, target.ChildDigests...))), protected); diff != "" {
		t.Errorf("protected (-want +got):\n%s", diff)
	}
	if res.Checks.Runs == 0 || res.Checks.Resolves == 0 {
		t.Errorf("checks %+v", res.Checks)
	}
}

func TestApplyDryRunDeletesNothing(t *testing.T) {
	g := fillGHCR(t, 0.001, fastDeletes)
	p, _ := g.makePlan(t, g.newRun(t), inventory.BuildOptions{})
	r := g.newRun(t)
	res, err := Apply(t.Context(), p, g.oci, r.rest, r.st, ApplyOptions{DryRun: true, StatePath: g.statePath})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != len(g.expected()) || res.Requests != 0 || len(deletedDigests(g.e)) != 0 {
		t.Errorf("dry run: would delete %d (want %d), %d requests, %d deleted", len(res.Deleted), len(g.expected()), res.Requests, len(deletedDigests(g.e)))
	}
}

func TestApplyRefusesAnotherPackagesPlan(t *testing.T) {
	e, clock := emulate(t, ghcremu.Options{})
	p := &plan.Plan{Schema: plan.Schema, Repository: "ghcr.io/other/app"}
	if _, err := Apply(t.Context(), p, nil, client(t, e, clock), NewState(""), ApplyOptions{}); err == nil {
		t.Error("applied a plan of another package")
	}
}

// fastDeletes makes the emulator delete only a version's tags from the registry behind it, not
// the manifest by digest, which makes distribution read every tag.
var fastDeletes = ghcremu.Options{RegistryDelete: ghcremu.DeleteTags}

func setOf(ds []string) map[string]bool {
	m := map[string]bool{}
	for _, d := range ds {
		m[d] = true
	}
	return m
}
