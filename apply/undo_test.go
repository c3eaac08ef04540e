package apply

import (
	"bytes"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
)

func TestUndoRestoresByteIdentical(t *testing.T) {
	for _, mode := range []plan.Mode{plan.ModeTag, plan.ModeDigest} {
		t.Run(string(mode), func(t *testing.T) {
			w := newWorld(t)
			f := w.f
			before := f.snapshot(w.plan)
			var journal bytes.Buffer
			if _, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: mode, Journal: &journal}); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			res, err := Undo(t.Context(), bytes.NewReader(journal.Bytes()), f.c, UndoOptions{})
			if err != nil {
				t.Fatalf("Undo: %v", err)
			}
			if diff := cmp.Diff(before, f.snapshot(w.plan), cmp.AllowUnexported(snapshot{})); diff != "" {
				t.Errorf("repository after undo differs (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(deletedTags(w.plan), res.RestoredTags); diff != "" {
				t.Errorf("restored tags (-want +got):\n%s", diff)
			}
			var wantManifests []string
			if mode == plan.ModeDigest {
				wantManifests = digests(w.plan, plan.Delete)
			}
			if diff := cmp.Diff(wantManifests, res.RestoredManifests); diff != "" {
				t.Errorf("restored manifests (-want +got):\n%s", diff)
			}

			// Undoing again finds everything present and pushes nothing.
			again, err := Undo(t.Context(), bytes.NewReader(journal.Bytes()), f.c, UndoOptions{})
			if err != nil {
				t.Fatalf("second Undo: %v", err)
			}
			if again.Requests.Pushes != 0 || len(again.RestoredTags)+len(again.RestoredManifests) != 0 {
				t.Errorf("second undo pushed %d: %+v", again.Requests.Pushes, again)
			}
			var present []string
			for _, tag := range deletedTags(w.plan) {
				present = append(present, tag.Name)
			}
			sort.Strings(present)
			if diff := cmp.Diff(present, again.PresentTags); diff != "" {
				t.Errorf("second undo: present tags (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUndoLeavesRetaggedTagsAlone(t *testing.T) {
	w := newWorld(t)
	f := w.f
	var journal bytes.Buffer
	if _, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: plan.ModeDigest, Journal: &journal}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	f.tag("c1", w.ib) // someone reused the tag after apply
	res, err := Undo(t.Context(), bytes.NewReader(journal.Bytes()), f.c, UndoOptions{})
	if err != nil {
		t.Fatalf("Undo: %v", err)
	}
	want := []plan.TagMove{{Tag: "c1", Planned: w.cl.desc.Digest, Live: w.ib.desc.Digest}}
	if diff := cmp.Diff(want, res.Conflicts); diff != "" {
		t.Errorf("conflicts (-want +got):\n%s", diff)
	}
	if d, _ := f.c.Resolve(t.Context(), f.repo, "c1"); d.Digest != w.ib.desc.Digest {
		t.Errorf("undo overwrote c1: now %s", d.Digest)
	}
}

func TestUndoAfterBlobsAreGoneSaysSo(t *testing.T) {
	w := newWorld(t)
	f := w.f
	var journal bytes.Buffer
	if _, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: plan.ModeDigest, Journal: &journal}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	f.deleteBlob(w.ci.layer) // as garbage collection would after apply
	res, err := Undo(t.Context(), bytes.NewReader(journal.Bytes()), f.c, UndoOptions{})
	if !errors.Is(err, ErrPartial) || !errors.Is(err, ErrBlobsGone) {
		t.Fatalf("Undo: err %v, want ErrPartial and ErrBlobsGone", err)
	}
	type failure struct {
		Digest, Tag     string
		Blobs, Children []string
		BlobsGone       bool
	}
	var got []failure
	for _, f := range res.Failed {
		got = append(got, failure{f.Digest, f.Tag, f.MissingBlobs, f.MissingChildren, errors.Is(f.Err, ErrBlobsGone)})
	}
	want := []failure{
		{Digest: w.ci.desc.Digest, Blobs: []string{w.ci.layer}, BlobsGone: true},
		{Digest: w.cl.desc.Digest, Children: []string{w.ci.desc.Digest}, BlobsGone: true},
		{Digest: w.cl.desc.Digest, Tag: "c1"},
	}
	sort.Slice(want, func(i, j int) bool {
		if want[i].Digest != want[j].Digest {
			return want[i].Digest < want[j].Digest
		}
		return want[i].Tag < want[j].Tag
	})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	if !strings.Contains(err.Error(), "garbage collection") {
		t.Errorf("error does not say why: %v", err)
	}
	// Everything else came back.
	restored := map[string]bool{}
	for _, d := range res.RestoredManifests {
		restored[d] = true
	}
	for _, d := range digests(w.plan, plan.Delete) {
		if d != w.ci.desc.Digest && d != w.cl.desc.Digest && !restored[d] {
			t.Errorf("%s not restored", d)
		}
	}
}

func TestUndoEntriesFromJournal(t *testing.T) {
	raw := []byte(`{"schemaVersion":2}`)
	d := inventory.DigestOf(raw)
	hdr := JournalRecord{Type: RecordHeader, Schema: JournalSchema, Repository: "r/x"}
	for _, tc := range []struct {
		name         string
		recs         []JournalRecord
		wantTags     []string
		wantManifest bool
	}{
		{"tag deleted, tag gone (a retried DELETE may have removed it)", []JournalRecord{hdr,
			{Type: RecordManifest, Digest: d, Raw: raw, Tags: []string{"a", "b"}, By: plan.ModeTag, Outcome: OutcomePending},
			{Type: RecordOutcome, Digest: d, Tag: "a", Outcome: OutcomeDeleted},
			{Type: RecordOutcome, Digest: d, Tag: "b", Outcome: OutcomeGone},
		}, []string{"a", "b"}, false},
		{"tag delete failed (a timeout may hide a delete made)", []JournalRecord{hdr,
			{Type: RecordManifest, Digest: d, Raw: raw, Tags: []string{"a"}, By: plan.ModeTag, Outcome: OutcomePending},
			{Type: RecordOutcome, Digest: d, Tag: "a", Outcome: OutcomeFailed, Error: "504"},
		}, []string{"a"}, false},
		{"digest gone", []JournalRecord{hdr,
			{Type: RecordManifest, Digest: d, Raw: raw, Tags: []string{"a"}, By: plan.ModeDigest, Outcome: OutcomePending},
			{Type: RecordOutcome, Digest: d, Outcome: OutcomeGone},
		}, []string{"a"}, true},
		{"killed before the outcome", []JournalRecord{hdr,
			{Type: RecordManifest, Digest: d, Raw: raw, Tags: []string{"a"}, By: plan.ModeDigest, Outcome: OutcomePending},
		}, []string{"a"}, true},
		{"digest delete failed, then succeeded in a second run", []JournalRecord{hdr,
			{Type: RecordManifest, Digest: d, Raw: raw, Tags: []string{"a"}, By: plan.ModeDigest, Outcome: OutcomePending},
			{Type: RecordOutcome, Digest: d, Outcome: OutcomeFailed, Error: "500"},
			hdr,
			{Type: RecordManifest, Digest: d, Raw: raw, Tags: []string{"a"}, By: plan.ModeDigest, Outcome: OutcomePending},
			{Type: RecordOutcome, Digest: d, Outcome: OutcomeDeleted},
		}, []string{"a"}, true},
		{"digest delete failed (restored only if absent)", []JournalRecord{hdr,
			{Type: RecordManifest, Digest: d, Raw: raw, Tags: []string{"a"}, By: plan.ModeDigest, Outcome: OutcomePending},
			{Type: RecordOutcome, Digest: d, Outcome: OutcomeFailed, Error: "500"},
		}, []string{"a"}, true},
		{"not attempted", []JournalRecord{hdr,
			{Type: RecordManifest, Digest: d, Raw: raw, Tags: []string{"a", "b"}, By: plan.ModeTag, Outcome: OutcomePending},
			{Type: RecordOutcome, Digest: d, Tag: "a", Outcome: OutcomeDeleted},
			{Type: RecordOutcome, Digest: d, Tag: "b", Outcome: OutcomeNotAttempted},
		}, []string{"a"}, false},
		{"not attempted, then deleted by a later run", []JournalRecord{hdr,
			{Type: RecordManifest, Digest: d, Raw: raw, Tags: []string{"a", "b"}, By: plan.ModeTag, Outcome: OutcomePending},
			{Type: RecordOutcome, Digest: d, Tag: "a", Outcome: OutcomeDeleted},
			{Type: RecordOutcome, Digest: d, Tag: "b", Outcome: OutcomeNotAttempted},
			hdr,
			{Type: RecordManifest, Digest: d, Raw: raw, Tags: []string{"b"}, By: plan.ModeTag, Outcome: OutcomePending},
			{Type: RecordOutcome, Digest: d, Tag: "b", Outcome: OutcomeDeleted},
		}, []string{"a", "b"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, repo, err := foldRecords(t, tc.recs)
			if err != nil || repo != "r/x" {
				t.Fatalf("fold: repo %q, err %v", repo, err)
			}
			e := entries[d]
			if diff := cmp.Diff(tc.wantTags, e.restoreTags()); diff != "" {
				t.Errorf("tags to restore (-want +got):\n%s", diff)
			}
			if e.byDigest != tc.wantManifest {
				t.Errorf("manifest to restore %v, want %v", e.byDigest, tc.wantManifest)
			}
		})
	}
}

func TestUndoRefusesBadJournal(t *testing.T) {
	raw := []byte(`{"schemaVersion":2}`)
	for _, tc := range []struct {
		name string
		recs []JournalRecord
	}{
		{"bytes do not match the digest", []JournalRecord{
			{Type: RecordHeader, Schema: JournalSchema, Repository: "r/x"},
			{Type: RecordManifest, Digest: "sha256:" + strings.Repeat("0", 64), Raw: raw},
		}},
		{"two repositories", []JournalRecord{
			{Type: RecordHeader, Schema: JournalSchema, Repository: "r/x"},
			{Type: RecordHeader, Schema: JournalSchema, Repository: "r/y"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := foldRecords(t, tc.recs); !errors.Is(err, ErrJournal) {
				t.Errorf("fold: err %v, want ErrJournal", err)
			}
		})
	}
}

// foldRecords writes recs as a journal and folds it as Undo does.
func foldRecords(t *testing.T, recs []JournalRecord) (map[string]*undoEntry, string, error) {
	t.Helper()
	var b bytes.Buffer
	w := NewJournal(&b)
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	return newUndoJournal(bytes.NewReader(b.Bytes())).fold()
}
