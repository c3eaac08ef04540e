package proptest

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/regtidy/regtidy/internal/faultproxy"
	"github.com/regtidy/regtidy/registry/ghcr"
)

// TestGHCRUndoRestoresVersionsJournaledGone: a version DELETE whose answer is lost (the connection
// reset after GitHub deleted the version) is retried, answered 404, and journaled as "gone", as
// invariant 6 wants. Undo must restore it all the same: the 404 may answer this run's own delete.
// (Undo used to restore only versions journaled "deleted" or left pending, and reported success
// with the version still deleted.)
func TestGHCRUndoRestoresVersionsJournaledGone(t *testing.T) {
	ctx := t.Context()
	c, err := deletingCase(t, 1, genOptions{ghcrShape: true, now: caseNow, noUntaggedReferrers: true, noOrphanIndexes: true}, 3)
	if err != nil {
		t.Fatal(err)
	}
	g, proxy := startGHCRBehindProxy(t, faultproxy.Options{Rate: 1, Max: 1, Kinds: []faultproxy.Kind{faultproxy.ResetAfter},
		Only: func(r *http.Request) bool { return r.Method == http.MethodDelete }})
	proxy.SetEnabled(false)
	if err := pushModel(ctx, g.oci, g.repo, c.m); err != nil {
		t.Fatal(err)
	}
	g.clock.Advance(24 * time.Hour)
	rest, err := g.rest()
	if err != nil {
		t.Fatal(err)
	}
	p, err := g.plan(ctx, c, rest)
	if err != nil {
		t.Fatal(err)
	}
	proxy.SetEnabled(true)
	var journal bytes.Buffer
	if _, err := g.apply(ctx, p, rest, ghcr.ApplyOptions{Journal: &journal}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if n, _ := proxy.Total(); n != 1 {
		t.Fatalf("%d resets after a delete, want 1", n)
	}
	st, err := ghcr.LoadState(ctx, g.statePath)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ghcr.Undo(ctx, bytes.NewReader(journal.Bytes()), rest, st, ghcr.UndoOptions{StatePath: g.statePath})
	if d := g.deletedDigests(); len(d) > 0 {
		t.Errorf("undo: err %v, %d restored; still deleted: %v\njournal:\n%s", err, len(res.Restored), d, journalLines(journal.Bytes(), d))
	}
}
