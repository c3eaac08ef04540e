package apply

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
)

// syncBuffer is a bytes.Buffer safe for the journal writer and a request hook reading it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}

// intentFor reports whether the journal holds an intent record naming ref (a tag or a digest)
// whose raw bytes hash to its digest.
func intentFor(t *testing.T, journal []byte, ref string) bool {
	t.Helper()
	recs, err := ReadJournal(bytes.NewReader(journal))
	if err != nil {
		t.Errorf("journal: %v", err)
		return false
	}
	for _, r := range recs {
		if r.Type != RecordManifest || r.Outcome != OutcomePending || inventory.DigestOf(r.Raw) != r.Digest {
			continue
		}
		if r.Digest == ref {
			return true
		}
		for _, tag := range r.Tags {
			if tag == ref {
				return true
			}
		}
	}
	return false
}

func TestApplyDeletesExactlyThePlan(t *testing.T) {
	for _, tc := range []struct {
		mode plan.Mode
		want plan.Mode // the mode the deletes were made in
		// sorted: the decisions sorted by digest, as the planner writes them (apply finds them by
		// bisection); else in the world's order (apply sorts an index of them).
		sorted bool
	}{
		{plan.ModeTag, plan.ModeTag, false},
		{plan.ModeDigest, plan.ModeDigest, false},
		{plan.ModeAuto, plan.ModeTag, false},
		{plan.ModeTag, plan.ModeTag, true},
		{plan.ModeDigest, plan.ModeDigest, true},
	} {
		name := string(tc.mode)
		if tc.sorted {
			name += "/sorted"
		}
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			f := w.f
			if tc.sorted {
				slices.SortFunc(w.plan.Decisions, func(a, b plan.Decision) int { return strings.Compare(a.Digest, b.Digest) })
				w.plan.Seal()
			}
			journal := &syncBuffer{}
			var unjournaled []string
			var mu sync.Mutex
			f.setHook(func(_ http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodDelete {
					ref := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
					if !intentFor(t, journal.Bytes(), ref) {
						mu.Lock()
						unjournaled = append(unjournaled, ref)
						mu.Unlock()
					}
				}
				return false
			})
			var lastDone, lastTotal int
			progress := func(done, total int) {
				mu.Lock()
				defer mu.Unlock()
				lastDone, lastTotal = max(lastDone, done), total
			}
			res, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: tc.mode, Journal: journal, Progress: progress})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if lastTotal == 0 || lastDone != lastTotal {
				t.Errorf("progress ended at %d of %d", lastDone, lastTotal)
			}
			if len(unjournaled) > 0 {
				t.Errorf("deletes made before their journal record: %v", unjournaled)
			}
			if res.Mode != tc.want || res.Partial() {
				t.Errorf("mode %s partial %v, want mode %s and complete: %+v", res.Mode, res.Partial(), tc.want, res)
			}
			if diff := cmp.Diff(KeptTags(w.plan), f.liveTags()); diff != "" {
				t.Errorf("live tags after apply differ from the plan's kept tags (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(deletedTags(w.plan), res.DeletedTags); diff != "" {
				t.Errorf("deleted tags (-want +got):\n%s", diff)
			}
			kept, deleted := digests(w.plan, plan.Keep), digests(w.plan, plan.Delete)
			for d, ok := range f.present(kept...) {
				if !ok {
					t.Errorf("kept manifest %s was deleted", d)
				}
			}
			wantDeleted := tc.want == plan.ModeDigest
			for d, ok := range f.present(deleted...) {
				if ok == wantDeleted {
					t.Errorf("planned-delete manifest %s present=%v in %s mode", d, ok, tc.want)
				}
			}
			switch tc.want {
			case plan.ModeTag:
				if diff := cmp.Diff(deleted, res.LeftForGC); diff != "" {
					t.Errorf("left for GC (-want +got):\n%s", diff)
				}
				if len(res.DeletedManifests) != 0 || !strings.Contains(res.AfterApply, plan.IssueGCChildren) {
					t.Errorf("tag mode: deleted manifests %v, after apply %q", res.DeletedManifests, res.AfterApply)
				}
				if res.Requests.Deletes != len(deletedTags(w.plan)) {
					t.Errorf("tag mode made %d deletes, want one per deleted tag (%d)", res.Requests.Deletes, len(deletedTags(w.plan)))
				}
			case plan.ModeDigest:
				if diff := cmp.Diff(deleted, res.DeletedManifests); diff != "" {
					t.Errorf("deleted manifests (-want +got):\n%s", diff)
				}
			}
			v, err := VerifyPlan(t.Context(), f.c, w.plan, VerifyOptions{})
			if err != nil || !v.OK() {
				t.Errorf("verify after apply: err %v, broken %+v, unchecked %+v", err, v.Broken, v.Unchecked)
			}
		})
	}
}

func TestApplyAutoFallsBackToDigestWhenTagDeleteIsUnsupported(t *testing.T) {
	w := newWorld(t)
	f := w.f
	f.setHook(func(rw http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodDelete && !strings.Contains(r.URL.Path, "/manifests/sha256:") {
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(http.StatusMethodNotAllowed)
			rw.Write([]byte(`{"errors":[{"code":"UNSUPPORTED","message":"tag deletion is not supported"}]}`))
			return true
		}
		return false
	})
	journal := &syncBuffer{}
	// Refused tag deletes deleted nothing: they do not spend the budget.
	budget := len(digests(w.plan, plan.Delete))
	res, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Journal: journal, MaxDeletes: budget})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if res.Partial() {
		t.Errorf("partial after the fallback with a budget of %d: remaining %d", budget, res.Remaining)
	}
	if res.Mode != plan.ModeDigest || len(res.Warnings) == 0 || len(res.Failed) != 0 {
		t.Errorf("mode %s, warnings %q, failed %v: want a digest-mode fallback without failures", res.Mode, res.Warnings, res.Failed)
	}
	if diff := cmp.Diff(digests(w.plan, plan.Delete), res.DeletedManifests); diff != "" {
		t.Errorf("deleted manifests (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(KeptTags(w.plan), f.liveTags()); diff != "" {
		t.Errorf("live tags (-want +got):\n%s", diff)
	}
	for d, ok := range f.present(digests(w.plan, plan.Keep)...) {
		if !ok {
			t.Errorf("kept manifest %s was deleted", d)
		}
	}
}

func TestApplyTagModeRefusedStopsWithoutFallback(t *testing.T) {
	w := newWorld(t)
	f := w.f
	f.setHook(func(rw http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodDelete {
			rw.WriteHeader(http.StatusMethodNotAllowed)
			return true
		}
		return false
	})
	res, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: plan.ModeTag, Concurrency: 1})
	if err == nil || !res.Partial() {
		t.Fatalf("Apply on a registry refusing deletes: err %v, partial %v; want an error and a partial result", err, res.Partial())
	}
	if res.Requests.Deletes != 1 {
		t.Errorf("made %d deletes after the registry refused the first; want 1: %v", res.Requests.Deletes, err)
	}
}

func TestApplySkipsTagMovedSincePlan(t *testing.T) {
	for _, mode := range []plan.Mode{plan.ModeTag, plan.ModeDigest} {
		t.Run(string(mode), func(t *testing.T) {
			w := newWorld(t)
			f := w.f
			f.tag("a1", w.ib) // a1 was planned for deletion with IA; now it points at kept IB
			res, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: mode})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			want := []plan.TagMove{{Tag: "a1", Planned: w.ia.desc.Digest, Live: w.ib.desc.Digest}}
			if diff := cmp.Diff(want, res.Skipped); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
			live := map[string]string{}
			for _, tag := range f.liveTags() {
				live[tag.Name] = tag.Digest
			}
			if live["a1"] != w.ib.desc.Digest {
				t.Errorf("moved tag a1 -> %q after apply, want it left at %s", live["a1"], w.ib.desc.Digest)
			}
			for _, d := range res.DeletedTags {
				if d.Name == "a1" {
					t.Errorf("moved tag a1 reported deleted")
				}
			}
			if got := f.present(w.ia.desc.Digest)[w.ia.desc.Digest]; got != (mode == plan.ModeTag) {
				t.Errorf("IA present=%v after %s apply", got, mode)
			}
		})
	}
}

func TestApplyRefusesStalePlan(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mode     plan.Mode
		change   func(w *world)
		conflict []string // tags named by the conflicts
	}{
		{"kept tag moved onto a deleted digest", plan.ModeTag, func(w *world) { w.f.tag("b1", w.ia) }, []string{"b1"}},
		{"new tag on a deleted digest", plan.ModeDigest, func(w *world) { w.f.tag("hotfix", w.cl) }, []string{"hotfix"}},
		{"new tag on a deleted child", plan.ModeTag, func(w *world) { w.f.tag("pin", w.at) }, []string{"pin"}},
		{"new index using a deleted child", plan.ModeDigest, func(w *world) {
			w.f.index("rebuilt", inventory.MediaTypeOCIIndex, w.ci)
		}, []string{"rebuilt"}},
		{"deleted tag moved onto a new index sharing a deleted child", plan.ModeDigest, func(w *world) {
			w.f.index("a1", inventory.MediaTypeOCIIndex, w.at, w.ai)
		}, []string{"a1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			f := w.f
			tc.change(w)
			before := f.snapshot(w.plan)
			dc := &deleteCounter{}
			dc.install(f)
			res, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: tc.mode})
			if !errors.Is(err, plan.ErrPlanStale) {
				t.Fatalf("Apply: err %v, want ErrPlanStale", err)
			}
			var se *plan.StaleError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *StaleError", err)
			}
			var got []string
			for _, c := range se.Conflicts {
				got = append(got, c.Tag)
			}
			if diff := cmp.Diff(tc.conflict, got); diff != "" {
				t.Errorf("conflicting tags (-want +got):\n%s\nerror: %v", diff, err)
			}
			if n := len(dc.refs); n != 0 || res.Requests.Deletes != 0 {
				t.Errorf("a stale plan made %d DELETE requests: %v", n, dc.refs)
			}
			if diff := cmp.Diff(before, f.snapshot(w.plan), cmp.AllowUnexported(snapshot{})); diff != "" {
				t.Errorf("repository changed although the plan was refused (-before +after):\n%s", diff)
			}
		})
	}
}

func TestApplyToleratesChangesThatDoNotMatter(t *testing.T) {
	w := newWorld(t)
	f := w.f
	f.tag("b-extra", w.ib) // new tag on a kept image
	if err := f.c.DeleteManifest(t.Context(), f.repo, "c1"); err != nil {
		t.Fatal(err) // a planned-delete tag vanished: someone deleted it already
	}
	res, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: plan.ModeTag})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	wantDiff := plan.PlanDiff{
		Added:   []inventory.Tag{{Name: "b-extra", Digest: w.ib.desc.Digest}},
		Removed: []inventory.Tag{{Name: "c1", Digest: w.cl.desc.Digest}},
	}
	if diff := cmp.Diff(wantDiff, res.Diff); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"c1"}, res.GoneTags); diff != "" {
		t.Errorf("gone tags (-want +got):\n%s", diff)
	}
}

func TestApplyInterruptedThenRunAgain(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode plan.Mode
		stop string // "max" (MaxDeletes) or "cancel" (context cancelled after the deletes)
	}{
		{"tag/max-deletes", plan.ModeTag, "max"},
		{"tag/cancel", plan.ModeTag, "cancel"},
		{"digest/max-deletes", plan.ModeDigest, "max"},
		{"digest/cancel", plan.ModeDigest, "cancel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			f := w.f
			before := f.snapshot(w.plan)
			journalPath := filepath.Join(t.TempDir(), "apply.journal")
			dc := &deleteCounter{}
			const firstRun = 2
			opt := ApplyOptions{Mode: tc.mode, JournalPath: journalPath, Concurrency: 1}
			ctx := t.Context()
			if tc.stop == "max" {
				opt.MaxDeletes = firstRun
			} else {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				defer cancel()
				dc.after, dc.cancel = firstRun, cancel
			}
			dc.install(f)
			res1, err := Apply(ctx, w.plan, f.c, opt)
			if tc.stop == "cancel" && !errors.Is(err, context.Canceled) {
				t.Errorf("first run: err %v, want context.Canceled", err)
			}
			if tc.stop == "max" && err != nil {
				t.Errorf("first run: %v", err)
			}
			if !res1.Partial() || res1.Remaining == 0 || len(dc.refs) != firstRun {
				t.Fatalf("first run: partial %v, remaining %d, %d deletes; want partial after %d deletes", res1.Partial(), res1.Remaining, len(dc.refs), firstRun)
			}

			res2, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: tc.mode, JournalPath: journalPath})
			if err != nil || res2.Partial() {
				t.Fatalf("second run: err %v, partial %v (%+v)", err, res2.Partial(), res2)
			}
			wantDeletes := len(deletedTags(w.plan))
			if tc.mode == plan.ModeDigest {
				wantDeletes = len(digests(w.plan, plan.Delete))
			}
			if len(dc.refs) != wantDeletes || dc.byStatus[http.StatusNotFound] != 0 {
				t.Errorf("both runs made %d DELETEs (%d answered 404), want %d and none twice: %v", len(dc.refs), dc.byStatus[http.StatusNotFound], wantDeletes, dc.refs)
			}
			if len(res2.GoneTags)+len(res2.GoneManifests) == 0 {
				t.Errorf("second run counted nothing as already done")
			}
			if diff := cmp.Diff(KeptTags(w.plan), f.liveTags()); diff != "" {
				t.Errorf("live tags after both runs (-want +got):\n%s", diff)
			}

			// The journal of both runs undoes everything.
			jf, err := os.Open(journalPath)
			if err != nil {
				t.Fatal(err)
			}
			defer jf.Close()
			if _, err := Undo(t.Context(), jf, f.c, UndoOptions{}); err != nil {
				t.Fatalf("Undo: %v", err)
			}
			if diff := cmp.Diff(before, f.snapshot(w.plan), cmp.AllowUnexported(snapshot{})); diff != "" {
				t.Errorf("after undo (-before +after):\n%s", diff)
			}
		})
	}
}

func TestApplyDryRunChangesNothing(t *testing.T) {
	for _, mode := range []plan.Mode{plan.ModeTag, plan.ModeDigest} {
		t.Run(string(mode), func(t *testing.T) {
			w := newWorld(t)
			f := w.f
			before := f.snapshot(w.plan)
			journal := &syncBuffer{}
			res, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: mode, DryRun: true, Journal: journal})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if res.Requests.Deletes != 0 || len(journal.Bytes()) != 0 {
				t.Errorf("dry run made %d deletes and wrote %d journal bytes", res.Requests.Deletes, len(journal.Bytes()))
			}
			if diff := cmp.Diff(deletedTags(w.plan), res.DeletedTags); diff != "" {
				t.Errorf("would-delete tags (-want +got):\n%s", diff)
			}
			if mode == plan.ModeDigest {
				if diff := cmp.Diff(digests(w.plan, plan.Delete), res.DeletedManifests); diff != "" {
					t.Errorf("would-delete manifests (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(before, f.snapshot(w.plan), cmp.AllowUnexported(snapshot{})); diff != "" {
				t.Errorf("dry run changed the repository (-before +after):\n%s", diff)
			}
		})
	}
}

func TestApplyReportsFailuresAndContinues(t *testing.T) {
	w := newWorld(t)
	f := w.f
	f.setHook(func(rw http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/manifests/c1") {
			rw.WriteHeader(http.StatusInternalServerError)
			return true
		}
		return false
	})
	res, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: plan.ModeTag})
	if !errors.Is(err, ErrPartial) {
		t.Fatalf("Apply: err %v, want ErrPartial", err)
	}
	if len(res.Failed) != 1 || res.Failed[0].Tag != "c1" {
		t.Errorf("failed %+v, want c1 only", res.Failed)
	}
	want := deletedTags(w.plan)
	want = slicesDelete(want, "c1")
	if diff := cmp.Diff(want, res.DeletedTags); diff != "" {
		t.Errorf("the other deletes (-want +got):\n%s", diff)
	}
	// CL keeps its tag, so neither it nor its child is left for GC.
	for _, d := range res.LeftForGC {
		if d == w.cl.desc.Digest || d == w.ci.desc.Digest {
			t.Errorf("%s reported left for GC although c1 still tags it", d)
		}
	}
}

func slicesDelete(tags []inventory.Tag, name string) []inventory.Tag {
	out := tags[:0:0]
	for _, t := range tags {
		if t.Name != name {
			out = append(out, t)
		}
	}
	return out
}

func TestApplyRejectsInvalidPlan(t *testing.T) {
	base := func() *plan.Plan {
		return handPlan("127.0.0.1:1/x", []plan.Decision{
			{Digest: "sha256:aa", Action: plan.Keep, Tags: []string{"k"}},
			{Digest: "sha256:bb", Action: plan.Delete, Tags: []string{"d"}},
			{Digest: "sha256:cc", Action: plan.Delete, Parent: "sha256:bb"},
		})
	}
	for _, tc := range []struct {
		name   string
		mutate func(p *plan.Plan)
	}{
		{"schema", func(p *plan.Plan) { p.Schema = "regtidy/plan/v0" }},
		{"no repository", func(p *plan.Plan) { p.Repository = "" }},
		{"digest decided twice", func(p *plan.Plan) {
			p.Decisions = append(p.Decisions, plan.Decision{Digest: "sha256:aa", Action: plan.Delete})
		}},
		{"deleted child of kept index", func(p *plan.Plan) { p.Decisions[2].Parent = "sha256:aa" }},
		{"tag missing from its decision", func(p *plan.Plan) {
			p.Tags = append(p.Tags, inventory.Tag{Name: "d2", Digest: "sha256:bb"})
		}},
		{"unknown action", func(p *plan.Plan) { p.Decisions[0].Action = "archive" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := base()
			if err := p.Validate(); err != nil {
				t.Fatalf("base plan invalid: %v", err)
			}
			tc.mutate(p)
			if _, err := Apply(t.Context(), p, nil, ApplyOptions{}); !errors.Is(err, plan.ErrPlanInvalid) {
				t.Errorf("Apply: err %v, want ErrPlanInvalid", err)
			}
		})
	}
}

// rawSource is a ManifestSource over a snapshot's bytes.
type rawSource map[string]string

func (s rawSource) Get(digest string) ([]byte, string, bool) {
	raw, ok := s[digest]
	return []byte(raw), "", ok
}

func TestApplyTakesJournalBytesFromAManifestSource(t *testing.T) {
	w := newWorld(t)
	f := w.f
	before := f.snapshot(w.plan)
	var journal bytes.Buffer
	res, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: plan.ModeDigest, Journal: &journal, Manifests: rawSource(before.raw)})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if res.Requests.Fetches != 0 {
		t.Errorf("made %d manifest GETs although the source had every manifest", res.Requests.Fetches)
	}
	if _, err := Undo(t.Context(), &journal, f.c, UndoOptions{}); err != nil {
		t.Fatalf("Undo: %v", err)
	}
	if diff := cmp.Diff(before, f.snapshot(w.plan), cmp.AllowUnexported(snapshot{})); diff != "" {
		t.Errorf("after undo (-before +after):\n%s", diff)
	}
}

func TestApplyDigestKeepsChildrenOfAnIndexNotDeleted(t *testing.T) {
	w := newWorld(t)
	f := w.f
	f.setHook(func(rw http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/manifests/"+w.cl.desc.Digest) {
			rw.WriteHeader(http.StatusInternalServerError)
			return true
		}
		return false
	})
	res, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: plan.ModeDigest})
	if !errors.Is(err, ErrPartial) || res.Remaining != 1 {
		t.Fatalf("Apply: err %v, remaining %d; want the CL failure and its child left", err, res.Remaining)
	}
	if got := f.present(w.ci.desc.Digest); !got[w.ci.desc.Digest] {
		t.Errorf("child CI was deleted although its index CL (still tagged c1) failed to delete")
	}
	v, err := Verify(t.Context(), f.c, f.repo, TagsNamed("c1"), VerifyOptions{})
	if err != nil || !v.OK() {
		t.Errorf("c1 no longer resolves whole: err %v, broken %+v", err, v.Broken)
	}
}
