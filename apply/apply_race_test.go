package apply

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
)

// refOf returns the last path element of a manifest request: a tag or a digest.
func refOf(r *http.Request) string { return r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:] }

// journalOutcomes returns the outcome journaled for each ref: the tag for tag-mode outcomes,
// the digest for digest-mode ones.
func journalOutcomes(t *testing.T, journal []byte) map[string]string {
	t.Helper()
	recs, err := ReadJournal(bytes.NewReader(journal))
	if err != nil {
		t.Fatalf("journal: %v", err)
	}
	out := map[string]string{}
	for _, r := range recs {
		if r.Type != RecordOutcome {
			continue
		}
		ref := r.Digest
		if r.Tag != "" {
			ref = r.Tag
		}
		out[ref] = r.Outcome
	}
	return out
}

// TestUndoRestoresADeleteWhoseAnswerWasLost makes the registry carry out one DELETE and then
// answer 504, as a proxy timing out would: the transport retries, and the retry finds nothing to
// delete (404), or keeps getting 504 (the run records a failure). Either way the delete
// happened, and undo must put it back.
func TestUndoRestoresADeleteWhoseAnswerWasLost(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode plan.Mode
		// always answers 504 to every attempt, not only the first.
		always      bool
		wantOutcome string
	}{
		{"tag/retry finds 404", plan.ModeTag, false, OutcomeDeleted},
		{"digest/retry finds 404", plan.ModeDigest, false, OutcomeDeleted},
		{"tag/every attempt 504", plan.ModeTag, true, OutcomeFailed},
		{"digest/every attempt 504", plan.ModeDigest, true, OutcomeFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			f := w.f
			target := "c1"
			if tc.mode == plan.ModeDigest {
				target = w.cl.desc.Digest
			}
			before := f.snapshot(w.plan)
			var mu sync.Mutex
			attempts := 0
			f.setHook(func(rw http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodDelete || refOf(r) != target {
					return false
				}
				mu.Lock()
				attempts++
				n := attempts
				mu.Unlock()
				if n > 1 && !tc.always {
					return false // the retry: the registry answers 404 by itself
				}
				f.inner.ServeHTTP(httptest.NewRecorder(), r) // the delete happens...
				rw.WriteHeader(http.StatusGatewayTimeout)    // ...and its answer is lost
				return true
			})
			journal := &syncBuffer{}
			res, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: tc.mode, Journal: journal})
			if attempts < 2 {
				t.Fatalf("the DELETE of %s was tried %d times; the test needs a retry", target, attempts)
			}
			if tc.always {
				if !errors.Is(err, ErrPartial) || len(res.Failed) != 1 {
					t.Fatalf("Apply: err %v, failed %v; want the %s failure", err, res.Failed, target)
				}
			} else if err != nil || res.Partial() {
				t.Fatalf("Apply: err %v, partial %v; want a complete run", err, res.Partial())
			}
			if !tc.always {
				gotDeleted := false
				for _, d := range res.DeletedTags {
					gotDeleted = gotDeleted || d.Name == "c1"
				}
				if !gotDeleted || len(res.GoneTags)+len(res.GoneManifests) != 0 {
					t.Errorf("c1 deleted=%v, gone tags %v, gone manifests %v; want it reported deleted", gotDeleted, res.GoneTags, res.GoneManifests)
				}
			}
			if got := journalOutcomes(t, journal.Bytes())[target]; got != tc.wantOutcome {
				t.Errorf("journaled outcome of %s: %q, want %q", target, got, tc.wantOutcome)
			}
			if _, err := Undo(t.Context(), bytes.NewReader(journal.Bytes()), f.c, UndoOptions{}); err != nil {
				t.Fatalf("Undo: %v", err)
			}
			if diff := cmp.Diff(before, f.snapshot(w.plan), cmp.AllowUnexported(snapshot{})); diff != "" {
				t.Errorf("after undo (-before +after):\n%s", diff)
			}
		})
	}
}

// TestApplyDigestStopsOnATagPushedDuringTheRun pushes a new tag onto a planned-delete digest
// while the run deletes: DELETE by digest would take that tag with it, unjournaled. Apply must
// find it at its next re-listing and stop, leaving the digest and the new tag alone.
func TestApplyDigestStopsOnATagPushedDuringTheRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		// victim picks the digest to tag, given the plan's levels; every is RelistEvery.
		victim func(w *world, level0 []string) img
		every  int
	}{
		{"digest of the next level", func(w *world, _ []string) img { return w.ci }, 0},
		{"digest later in the same level", func(w *world, level0 []string) img {
			for _, m := range []img{w.ia, w.cl, w.ni} {
				if m.desc.Digest == level0[len(level0)-1] {
					return m
				}
			}
			panic("no level-0 digest")
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			f := w.f
			level0 := []string{w.ia.desc.Digest, w.cl.desc.Digest, w.ni.desc.Digest}
			sort.Strings(level0)
			victim := tc.victim(w, level0)
			var once sync.Once
			var pushErr error
			var deleted []string
			var mu sync.Mutex
			f.setHook(func(_ http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodDelete {
					return false
				}
				mu.Lock()
				deleted = append(deleted, refOf(r))
				mu.Unlock()
				once.Do(func() {
					pushErr = f.c.PushManifest(r.Context(), f.repo, "late", victim.desc.MediaType, victim.raw)
				})
				return false
			})
			journal := &syncBuffer{}
			res, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: plan.ModeDigest, Journal: journal, Concurrency: 1, RelistEvery: tc.every})
			if pushErr != nil {
				t.Fatalf("pushing the late tag: %v", pushErr)
			}
			if !errors.Is(err, plan.ErrPlanStale) {
				t.Fatalf("Apply: err %v, want ErrPlanStale", err)
			}
			var se *plan.StaleError
			if !errors.As(err, &se) || len(se.Conflicts) != 1 || se.Conflicts[0].Tag != "late" {
				t.Errorf("conflicts: %v, want the late tag", err)
			}
			if !res.Partial() || res.Remaining == 0 {
				t.Errorf("partial %v, remaining %d; want the rest left for a new plan", res.Partial(), res.Remaining)
			}
			for _, d := range deleted {
				if d == victim.desc.Digest {
					t.Errorf("the newly tagged %s was deleted", d)
				}
			}
			if got, err := f.c.Resolve(t.Context(), f.repo, "late"); err != nil || got.Digest != victim.desc.Digest {
				t.Errorf("late tag after apply: %s, %v; want it alive at %s", got.Digest, err, victim.desc.Digest)
			}
			if intentFor(t, journal.Bytes(), victim.desc.Digest) {
				t.Errorf("an intent was journaled for %s although its delete must not happen", victim.desc.Digest)
			}
		})
	}
}

// TestApplyDigestJournalsEveryTagOnTheDigest moves a planned-delete tag onto another
// planned-delete digest: DELETE by digest removes it too, so the intent record must name it and
// undo must put it back where it was.
func TestApplyDigestJournalsEveryTagOnTheDigest(t *testing.T) {
	w := newWorld(t)
	f := w.f
	f.tag("a1", w.cl) // a1 was planned with IA; now it shares CL with c1
	before := f.snapshot(w.plan)
	journal := &syncBuffer{}
	res, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: plan.ModeDigest, Journal: journal})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	recs, err := ReadJournal(bytes.NewReader(journal.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var clTags []string
	for _, r := range recs {
		if r.Type == RecordManifest && r.Digest == w.cl.desc.Digest {
			clTags = append(clTags, r.Tags...)
		}
	}
	sort.Strings(clTags)
	if diff := cmp.Diff([]string{"a1", "c1"}, clTags); diff != "" {
		t.Errorf("tags journaled with CL (-want +got):\n%s", diff)
	}
	if len(res.Skipped) != 0 {
		t.Errorf("skipped %v: a1 went with CL, it was not left alone", res.Skipped)
	}
	found := false
	for _, d := range res.DeletedTags {
		found = found || d == inventory.Tag{Name: "a1", Digest: w.cl.desc.Digest}
	}
	if !found {
		t.Errorf("deleted tags %v lack a1 (deleted with CL)", res.DeletedTags)
	}
	if _, err := Undo(t.Context(), bytes.NewReader(journal.Bytes()), f.c, UndoOptions{}); err != nil {
		t.Fatalf("Undo: %v", err)
	}
	if diff := cmp.Diff(before, f.snapshot(w.plan), cmp.AllowUnexported(snapshot{})); diff != "" {
		t.Errorf("after undo (-before +after):\n%s", diff)
	}
}

// TestApplyTagModeDeletesRightAfterTheRecheck checks the order of a tag-mode delete: the manifest
// is fetched first, then the tag re-checked, and its DELETE follows the re-check with nothing in
// between but the other re-checks and deletes of the same digest's tags.
func TestApplyTagModeDeletesRightAfterTheRecheck(t *testing.T) {
	w := newWorld(t)
	f := w.f
	type req struct{ method, ref string }
	var mu sync.Mutex
	var seq []req
	f.setHook(func(_ http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/manifests/") {
			mu.Lock()
			seq = append(seq, req{r.Method, refOf(r)})
			mu.Unlock()
		}
		return false
	})
	journal := &syncBuffer{}
	res, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: plan.ModeTag, Journal: journal, Concurrency: 1})
	if err != nil || res.Partial() {
		t.Fatalf("Apply: err %v, partial %v", err, res.Partial())
	}
	for _, tag := range deletedTags(w.plan) {
		del := -1
		for i, r := range seq {
			if r.method == http.MethodDelete && r.ref == tag.Name {
				del = i
			}
		}
		if del < 0 {
			t.Errorf("no DELETE of %s", tag.Name)
			continue
		}
		head := -1
		for i := del - 1; i >= 0; i-- {
			if seq[i].method == http.MethodHead && seq[i].ref == tag.Name {
				head = i
				break
			}
		}
		if head < 0 {
			t.Errorf("%s deleted without a re-check", tag.Name)
			continue
		}
		for _, r := range seq[head+1 : del] {
			if r.method != http.MethodHead && r.method != http.MethodDelete {
				t.Errorf("%s %s between the re-check of %s and its DELETE: %v", r.method, r.ref, tag.Name, seq[head:del+1])
			}
		}
	}
}
