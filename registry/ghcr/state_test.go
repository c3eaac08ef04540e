package ghcr

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/inventory"
)

// liveMap returns the emulator's active versions as digest -> id.
func liveMap(e *ghcremu.Emulator) map[string]int64 {
	out := map[string]int64{}
	for _, v := range versionsOf(e) {
		out[v.Digest] = v.ID
	}
	return out
}

func stateMap(st *State) map[string]int64 {
	out := map[string]int64{}
	for d, v := range st.Versions {
		out[d] = v.ID
	}
	return out
}

func TestSyncRepeatRunListsOnlyNewPages(t *testing.T) {
	e, clock := emulate(t, ghcremu.Options{})
	register(t, e, 0, 250)
	loc := "file://" + filepath.ToSlash(t.TempDir()) + "/state.json"

	run := func(wantStats SyncStats) {
		t.Helper()
		st, err := LoadState(t.Context(), loc)
		if err != nil {
			t.Fatal(err)
		}
		c := client(t, e, clock, WithPageSize(100))
		stats, err := c.Sync(t.Context(), st)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantStats, stats); diff != "" {
			t.Errorf("sync (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(liveMap(e), stateMap(st)); diff != "" {
			t.Errorf("state versions (-want +got):\n%s", diff)
		}
		if err := st.Save(t.Context(), loc, clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// First run: the package lookup and three pages.
	run(SyncStats{Full: true, Pages: 3, New: 250, Requests: 4, Complete: true})
	// Five new versions: page 1 holds them, page 2 shows nothing new.
	register(t, e, 250, 5)
	run(SyncStats{Pages: 2, New: 5, Requests: 2, Complete: true})
	// Nothing new: one request.
	run(SyncStats{Pages: 1, Requests: 1, Complete: true})
}

func TestSyncResumesAfterPrimaryBudgetRunsOut(t *testing.T) {
	e, clock := emulate(t, ghcremu.Options{RateLimit: 12})
	register(t, e, 0, 300) // 30 pages of 10, at 12 requests an hour
	path := filepath.Join(t.TempDir(), "state.json")
	other := client(t, e, clock, WithToken("someone-else"), WithOwnerKind(Org))

	totalRequests, totalNew, runs := 0, 0, 0
	var oldest int64 // the cursor's oldest version after the last interrupted run
	for ; runs < 10; runs++ {
		st, err := LoadState(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		rec := &pageRecorder{next: http.DefaultTransport}
		c := client(t, e, clock, WithMaxWait(10*time.Minute), WithConcurrency(3), WithTransport(rec))
		stats, err := c.Sync(t.Context(), st)
		totalRequests += stats.Requests
		totalNew += stats.New
		t.Logf("run %d: %+v, cursor %+v, pages %v, err %v", runs, stats, st.Listing, rec.answered(), err)
		if stats.Resumed != (runs > 0) {
			t.Errorf("run %d: Resumed = %v", runs, stats.Resumed)
		}
		if serr := st.Save(t.Context(), path, clock.Now()); serr != nil {
			t.Fatal(serr)
		}
		if err == nil {
			break
		}
		var be *BudgetError
		if !errors.As(err, &be) || !strings.Contains(err.Error(), "pages done; the next run continues") {
			t.Fatalf("run %d: %v, want a BudgetError", runs, err)
		}
		if st.Listing == nil || st.Listing.Page == 0 {
			t.Fatalf("run %d stopped with no listing cursor: %+v", runs, st.Listing)
		}
		// Every page this run fetched lies within the cursor: none is read again for lack of an
		// earlier page that later ones overtook when the budget ran out.
		if pages := rec.answered(); len(pages) > 0 && slices.Max(pages) > st.Listing.Page {
			t.Errorf("run %d fetched pages %v but its cursor stops at page %d", runs, pages, st.Listing.Page)
		}
		// A resumed run goes on from where the last one stopped: older versions, not page 1 again.
		if oldest != 0 && st.Listing.Oldest >= oldest {
			t.Errorf("run %d: cursor's oldest version %d, want older than the last run's %d", runs, st.Listing.Oldest, oldest)
		}
		oldest = st.Listing.Oldest
		if runs == 0 {
			// Between runs someone deletes 25 of the versions already listed and pushes 5 new
			// ones: unread versions move up two pages, onto pages already read.
			for _, v := range versionsOf(e)[:25] {
				if err := other.DeleteVersion(t.Context(), v.ID); err != nil {
					t.Fatal(err)
				}
			}
			register(t, e, 1000, 5)
		}
		clock.Advance(time.Hour)
	}
	if runs < 2 {
		t.Fatalf("finished in %d runs; the budget never ran out", runs+1)
	}
	// One more run picks up the versions pushed while the listing was unfinished.
	st, err := LoadState(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	stats, err := client(t, e, clock).Sync(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	totalRequests += stats.Requests
	totalNew += stats.New
	// 300 versions, then 5 pushed: each counted new exactly once across the runs.
	if totalNew != 305 {
		t.Errorf("%d versions counted new over the runs, want each of the 305 once", totalNew)
	}
	live, got := liveMap(e), stateMap(st)
	var missing, stale int
	for d, id := range live {
		if got[d] != id {
			missing++
		}
	}
	for d := range got {
		if _, ok := live[d]; !ok {
			stale++
		}
	}
	if missing != 0 || stale != 25 {
		t.Errorf("state misses %d live versions and holds %d deleted ones; want 0 and the 25 deleted by someone else", missing, stale)
	}
	if totalRequests > 45 {
		t.Errorf("%d requests over %d runs for 30 pages", totalRequests, runs+2)
	}
}

func TestStateSaveLoad(t *testing.T) {
	dir := t.TempDir()
	at := epoch.Add(time.Hour)
	st := NewState(testRepo)
	st.OwnerKind = Org
	st.Versions[fakeDigest(1)] = StateVersion{ID: 11, Created: epoch}
	st.Versions[fakeDigest(2)] = StateVersion{ID: 12, Created: epoch}
	st.Record(DeleteResult{Version: versionAt(12, fakeDigest(2)), Outcome: OutcomeDeleted, At: at})
	st.Record(DeleteResult{Version: versionAt(13, fakeDigest(3)), Outcome: OutcomeUndeletable, Reason: ReasonDownloads, Message: "m", At: at})
	st.HighWater = 13
	st.Listing = &Listing{Page: 2, Oldest: 5, Newest: 13, StartedAt: epoch}

	for _, loc := range []string{filepath.Join(dir, "state.json"), "file://" + filepath.ToSlash(dir) + "/bucket-state.json"} {
		t.Run(loc, func(t *testing.T) {
			empty, err := LoadState(t.Context(), loc)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(NewState(""), empty, cmpopts.IgnoreUnexported(State{})); diff != "" {
				t.Errorf("missing state (-want +got):\n%s", diff)
			}
			if err := st.Save(t.Context(), loc, at); err != nil {
				t.Fatal(err)
			}
			got, err := LoadState(t.Context(), loc)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(st, got, cmpopts.IgnoreUnexported(State{})); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
	if !st.Skip(12) || !st.Skip(13) || st.Skip(11) {
		t.Error("Skip: want deleted and undeletable versions skipped, listed ones not")
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"schema":"other"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(t.Context(), bad); err == nil {
		t.Error("want an error for another schema")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestSyncRefusesAnotherRepositorysState(t *testing.T) {
	e, clock := emulate(t, ghcremu.Options{})
	if _, err := client(t, e, clock).Sync(t.Context(), NewState("acme/other")); err == nil {
		t.Error("want an error for a state of another repository")
	}
}

// The state's tags follow what the listings and the inventory saw: a tag pushed onto a new
// version leaves the old one, an inventory that no longer sees a tag drops it, and a resolve
// that finds a tag elsewhere moves it.
func TestStateTags(t *testing.T) {
	st := NewState("")
	a, b, c := fakeDigest(1), fakeDigest(2), fakeDigest(3)
	st.Observe(inventory.Version{ID: 1, Digest: a, Tags: []string{"latest", "v1"}})
	st.Observe(inventory.Version{ID: 2, Digest: b, Tags: []string{"v2"}})
	st.Observe(inventory.Version{ID: 3, Digest: c, Tags: []string{"latest"}}) // latest pushed again
	check := func(when string, want map[string]string) {
		t.Helper()
		for tag, d := range want {
			if got, ok := st.TagDigest(tag); d == "" && ok || d != "" && got != d {
				t.Errorf("%s: %s on %q, want %q", when, tag, got, d)
			}
		}
	}
	check("after the listing", map[string]string{"latest": c, "v1": a, "v2": b})
	if got := st.Versions[a].Tags; !slices.Equal(got, []string{"v1"}) {
		t.Errorf("tags of the first version %v, want [v1]", got)
	}
	st.SeeTags(map[string][]string{c: {"latest"}, b: {"v2"}}) // v1 deleted since
	check("after an inventory", map[string]string{"latest": c, "v1": "", "v2": b})
	st.MoveTag("latest", a) // a rollback: latest retagged onto the old version
	check("after a resolve", map[string]string{"latest": a, "v2": b})
	st.Record(DeleteResult{Version: versionAt(1, a), Outcome: OutcomeDeleted})
	check("after the delete", map[string]string{"latest": "", "v2": b})
}
