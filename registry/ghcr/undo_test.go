package ghcr

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
)

func TestUndoRestoresEveryDeletedVersion(t *testing.T) {
	g := fillGHCR(t, 0.001, fastDeletes)
	tagsBefore := g.liveTags(t)
	p, _ := g.makePlan(t, g.newRun(t), inventory.BuildOptions{})
	want := g.expected()
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	r := g.newRun(t)
	if _, err := Apply(t.Context(), p, g.oci, r.rest, r.st, ApplyOptions{JournalPath: journal, StatePath: g.statePath}); err != nil {
		t.Fatal(err)
	}
	checkEnd(t, g.e, want)
	data, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	recs := checkJournal(t, data)
	if h := recs[0]; h.Type != apply.RecordHeader || h.Mode != plan.ModeVersion {
		t.Errorf("first record %+v: want a version-mode header, which undo goes by", h)
	}

	// Undo within budget-limited runs, as a user with a small token would.
	var restored []string
	for i := 0; ; i++ {
		if i == 10 {
			t.Fatal("undo never completed")
		}
		r = g.newRun(t, WithMaxRequests(100))
		res, err := Undo(t.Context(), bytes.NewReader(data), r.rest, r.st, UndoOptions{StatePath: g.statePath})
		for _, v := range res.Restored {
			restored = append(restored, v.Digest)
		}
		if err == nil {
			break
		}
		var be *BudgetError
		if !errors.As(err, &be) || be.Op != "restore" || res.Remaining == 0 {
			t.Fatalf("undo run %d: %v", i, err)
		}
	}
	slices.Sort(restored)
	if diff := cmp.Diff(want, restored); diff != "" {
		t.Errorf("restored (-want +got):\n%s", diff)
	}
	if n := len(deletedDigests(g.e)); n != 0 {
		t.Errorf("%d versions still deleted", n)
	}
	if diff := cmp.Diff(tagsBefore, g.liveTags(t)); diff != "" {
		t.Errorf("tags after undo (-before +after):\n%s", diff)
	}

	// Undo again: everything is back already.
	r = g.newRun(t)
	res, err := Undo(t.Context(), bytes.NewReader(data), r.rest, r.st, UndoOptions{})
	if err != nil || len(res.Restored) != 0 || len(res.NotDeleted) != len(want) {
		t.Errorf("second undo: %d restored, %d not deleted, err %v", len(res.Restored), len(res.NotDeleted), err)
	}

	// The state knows the restored versions: the next plan deletes them again, from a repeat listing.
	p2, stats := g.makePlan(t, g.newRun(t), inventory.BuildOptions{})
	if diff := cmp.Diff(want, planned(t, p2)); diff != "" {
		t.Errorf("plan after undo (-want +got):\n%s", diff)
	}
	if stats.Sync.Full || stats.Sync.Requests > 2 {
		t.Errorf("listing after undo: %+v, want a repeat listing", stats.Sync)
	}
}

func TestUndoPastTheRestoreWindow(t *testing.T) {
	e, clock := emulate(t, ghcremu.Options{})
	register(t, e, 0, 3)
	c := client(t, e, clock, WithOwnerKind(Org))
	vs := versionsOf(e)
	var buf bytes.Buffer
	jw := apply.NewJournal(&buf)
	write := func(r apply.JournalRecord) {
		if err := jw.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	write(apply.JournalRecord{Type: apply.RecordHeader, Schema: apply.JournalSchema, Repository: "ghcr.io/" + testRepo, Mode: plan.ModeVersion, Started: clock.Now()})
	for _, v := range vs {
		if err := c.DeleteVersion(t.Context(), v.ID); err != nil {
			t.Fatal(err)
		}
		write(apply.JournalRecord{Type: apply.RecordManifest, Digest: v.Digest, VersionID: v.ID, By: plan.ModeVersion, Outcome: apply.OutcomePending})
		write(apply.JournalRecord{Type: apply.RecordOutcome, Digest: v.Digest, VersionID: v.ID, Outcome: apply.OutcomeDeleted, At: clock.Now()})
	}
	clock.Advance(31 * 24 * time.Hour)
	before := c.Stats().Requests
	res, err := Undo(t.Context(), bytes.NewReader(buf.Bytes()), c, NewState(testRepo), UndoOptions{})
	if !errors.Is(err, ErrRestoreWindow) || len(res.Expired) != 3 {
		t.Fatalf("err %v, %d expired; want ErrRestoreWindow for 3", err, len(res.Expired))
	}
	if !strings.Contains(err.Error(), "30 days") {
		t.Errorf("error %q does not name the 30-day window", err)
	}
	if n := c.Stats().Requests - before; n != 0 {
		t.Errorf("%d requests spent on versions past the window", n)
	}
}

func TestUndoRefusesOtherJournals(t *testing.T) {
	e, clock := emulate(t, ghcremu.Options{})
	c := client(t, e, clock)
	tests := []struct{ name, journal string }{
		{"tag mode", `{"type":"header","schema":"regtidy/journal/v1","repository":"ghcr.io/acme/app","mode":"tag"}`},
		{"another package", `{"type":"header","schema":"regtidy/journal/v1","repository":"ghcr.io/acme/other","mode":"version"}`},
		{"no version id", `{"type":"header","schema":"regtidy/journal/v1","repository":"ghcr.io/acme/app","mode":"version"}` + "\n" +
			`{"type":"manifest","digest":"sha256:00","by":"version","outcome":"pending"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Undo(t.Context(), strings.NewReader(tt.journal+"\n"), c, NewState(testRepo), UndoOptions{})
			if !errors.Is(err, apply.ErrJournal) {
				t.Errorf("err %v, want ErrJournal", err)
			}
		})
	}
}

// liveTags lists the package's tags through the OCI API, sorted.
func (g *ghcrCase) liveTags(t *testing.T) []string {
	t.Helper()
	var tags []string
	if err := g.oci.ListTags(t.Context(), g.repo, func(p []string) error {
		tags = append(tags, p...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(tags)
	return tags
}

func TestUndoSkipsListingWhenRestoringIsCheaper(t *testing.T) {
	e, clock := emulate(t, ghcremu.Options{})
	register(t, e, 0, 50)
	c := client(t, e, clock, WithOwnerKind(Org))
	vs := versionsOf(e)
	for _, v := range vs[:40] { // deleted by someone else: 4 pages of deleted versions
		if err := c.DeleteVersion(t.Context(), v.ID); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	jw := apply.NewJournal(&buf)
	recs := []apply.JournalRecord{{Type: apply.RecordHeader, Schema: apply.JournalSchema, Repository: "ghcr.io/" + testRepo, Mode: plan.ModeVersion}}
	for _, v := range vs[40:42] {
		if err := c.DeleteVersion(t.Context(), v.ID); err != nil {
			t.Fatal(err)
		}
		recs = append(recs,
			apply.JournalRecord{Type: apply.RecordManifest, Digest: v.Digest, VersionID: v.ID, By: plan.ModeVersion, Outcome: apply.OutcomePending},
			apply.JournalRecord{Type: apply.RecordOutcome, Digest: v.Digest, VersionID: v.ID, Outcome: apply.OutcomeDeleted, At: clock.Now()})
	}
	for _, r := range recs {
		if err := jw.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	st := NewState(testRepo)
	res, err := Undo(t.Context(), bytes.NewReader(buf.Bytes()), c, st, UndoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Page 1 of the deleted versions says there are 5 pages: more than the 2 restores it could spare.
	if len(res.Restored) != 2 || res.Requests != 1+2 {
		t.Errorf("%d restored with %d requests; want 2 with 3 (page 1 of 5, then the restores)", len(res.Restored), res.Requests)
	}
	if got := len(st.Versions); got != 2 {
		t.Errorf("state holds %d versions after the undo, want the 2 restored", got)
	}
}
