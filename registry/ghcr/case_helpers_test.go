package ghcr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/registry"
)

// ghcrCase is the case, at a small scale, pushed through an emulated ghcr.io on a fake clock.
type ghcrCase struct {
	e     *ghcremu.Emulator
	clock *ghcremu.FakeClock
	c     *casegen.Case
	// repo is the OCI reference of the package; oci reads it.
	repo string
	oci  *registry.Client
	// keep are the 7-hex SDK commits whose images the policy keeps: the newest ten.
	keep []string
	// extra are kept roots pushed besides the case, with their children.
	extra map[string][]string
	// statePath is where runs keep their state.
	statePath string
}

// fillGHCR pushes the case at scale through an emulator and moves the clock a day on, so that no
// version is within PushGrace.
func fillGHCR(t *testing.T, scale float64, opts ghcremu.Options) *ghcrCase {
	t.Helper()
	e, clock := emulate(t, opts)
	c, err := casegen.FillCase(t.Context(), e.Host, casegen.CaseSpec{Scale: scale, Seed: 5, Repository: testRepo, Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	g := &ghcrCase{
		e: e, clock: clock, c: c, repo: e.Host + "/" + testRepo, oci: registry.New(),
		extra: map[string][]string{}, statePath: filepath.Join(t.TempDir(), "state.json"),
	}
	for _, cm := range c.Commits[len(c.Commits)-10:] {
		g.keep = append(g.keep, cm.SHA[:7])
	}
	clock.Advance(24 * time.Hour)
	return g
}

// policy keeps the images of g.keep (a match rule), every other kind (no rules), and untagged
// orphans younger than a week.
func (g *ghcrCase) policy(t *testing.T) *policy.Policy {
	t.Helper()
	src := fmt.Sprintf(`version: 1
scheme:
  - kind: buildcache
    match: 'buildcache-.+'
  - kind: legacy
    match: 'v[0-9]+\.[0-9]+\.[0-9]+(?:-.+)?'
  - kind: image
    match: '(?P<sdk>[0-9a-f]{7})-.+'
rules:
  image:
    keep:
      - match: '(?:%s)-.+'
  untagged:
    keep:
      - age: {newer_than: 7d}
`, strings.Join(g.keep, "|"))
	pol, err := policy.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// keptImage reports whether the policy keeps a case tag.
func (g *ghcrCase) keptTag(ct casegen.CaseTag) bool {
	return ct.Kind != casegen.KindImage || slices.Contains(g.keep, ct.SDK[:7])
}

// deletedImages returns the case's image tags the policy deletes, in name order.
func (g *ghcrCase) deletedImages() []casegen.CaseTag {
	var out []casegen.CaseTag
	for _, ct := range g.c.Tags {
		if !g.keptTag(ct) {
			out = append(out, ct)
		}
	}
	return out
}

// expected computes, from the case alone, the digests a correct plan deletes: the deleted images'
// indexes and children, less everything a kept tag (or an extra kept root) reaches; plus orphans.
func (g *ghcrCase) expected(orphans ...string) []string {
	kept := map[string]bool{}
	for _, ct := range g.c.Tags {
		if g.keptTag(ct) {
			kept[ct.Digest] = true
			for _, c := range ct.ChildDigests {
				kept[c] = true
			}
		}
	}
	for root, children := range g.extra {
		kept[root] = true
		for _, c := range children {
			kept[c] = true
		}
	}
	del := map[string]bool{}
	for _, ct := range g.deletedImages() {
		for _, d := range append([]string{ct.Digest}, ct.ChildDigests...) {
			if !kept[d] {
				del[d] = true
			}
		}
	}
	for _, o := range orphans {
		del[o] = true
	}
	return sortedKeys(del)
}

// children returns the case's children of an index digest.
func (g *ghcrCase) children(digest string) []string {
	for _, ct := range g.c.Tags {
		if ct.Digest == digest {
			return ct.ChildDigests
		}
	}
	return nil
}

// keptImageTag returns the first tag of kind image the policy keeps.
func (g *ghcrCase) keptImageTag(t *testing.T) string {
	t.Helper()
	for _, ct := range g.c.Tags {
		if ct.Kind == "image" && g.keptTag(ct) {
			return ct.Name
		}
	}
	t.Fatal("the case has no kept image tag")
	return ""
}

// tag points tag at digest by pushing the digest's manifest under it, through the emulator.
func (g *ghcrCase) tag(t *testing.T, digest, tag string) {
	t.Helper()
	raw, desc, err := g.oci.FetchManifest(t.Context(), g.repo, digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.oci.PushManifest(t.Context(), g.repo, tag, desc.MediaType, raw); err != nil {
		t.Fatal(err)
	}
}

// pushIndexOf pushes, under tag, a new index listing the given manifests, and records it as a
// kept root.
func (g *ghcrCase) pushIndexOf(t *testing.T, tag string, children ...string) string {
	t.Helper()
	type desc struct {
		MediaType string            `json:"mediaType"`
		Digest    string            `json:"digest"`
		Size      int64             `json:"size"`
		Platform  map[string]string `json:"platform"`
	}
	idx := struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Manifests     []desc `json:"manifests"`
	}{2, inventory.MediaTypeOCIIndex, nil}
	for _, c := range children {
		d, err := g.oci.Resolve(t.Context(), g.repo, c)
		if err != nil {
			t.Fatal(err)
		}
		idx.Manifests = append(idx.Manifests, desc{d.MediaType, d.Digest, d.Size, map[string]string{"os": "linux", "architecture": "arm64"}})
	}
	raw, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.oci.PushManifest(t.Context(), g.repo, tag, inventory.MediaTypeOCIIndex, raw); err != nil {
		t.Fatal(err)
	}
	d := inventory.DigestOf(raw)
	g.extra[d] = children
	return d
}

// nightly is one nightly run's clients and state.
type nightly struct {
	rest *Client
	st   *State
}

// newRun loads the state and makes a REST client on the emulator, with pages of 10.
func (g *ghcrCase) newRun(t *testing.T, opts ...Option) nightly {
	t.Helper()
	st, err := LoadState(t.Context(), g.statePath)
	if err != nil {
		t.Fatal(err)
	}
	return nightly{rest: client(t, g.e, g.clock, opts...), st: st}
}

// makePlan lists the package (OCI, then REST) and evaluates the policy, as `regtidy plan` does.
func (g *ghcrCase) makePlan(t *testing.T, r nightly, opt inventory.BuildOptions) (*plan.Plan, InventoryStats) {
	t.Helper()
	opt.IsNotFound = func(err error) bool { return errors.Is(err, registry.ErrNotFound) }
	inv, stats, err := BuildInventory(t.Context(), g.oci, g.repo, r.rest, r.st, opt)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Evaluate(inv, g.policy(t), nil, g.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	p.Cost = PlanCost(p, r.st, Rate{Hourly: HourlyPersonalToken})
	if err := r.st.Save(t.Context(), g.statePath, g.clock.Now()); err != nil {
		t.Fatal(err)
	}
	return p, stats
}

// planned returns the digests a plan deletes, sorted, failing on a delete without a version id.
func planned(t *testing.T, p *plan.Plan) []string {
	t.Helper()
	var out []string
	for _, d := range p.Deletes() {
		if d.VersionID == 0 {
			t.Errorf("planned delete %s has no version id", d.Digest)
		}
		out = append(out, d.Digest)
	}
	slices.Sort(out)
	return out
}

// deletedDigests returns the digests of the emulator's deleted versions, sorted.
func deletedDigests(e *ghcremu.Emulator) []string {
	var out []string
	for _, v := range e.Versions(testRepo) {
		if !v.DeletedAt.IsZero() {
			out = append(out, v.Digest)
		}
	}
	slices.Sort(out)
	return out
}

// deleteAnswers counts the emulator's answers to DELETE version requests by status.
func deleteAnswers(e *ghcremu.Emulator) map[int]int {
	return e.Stats().REST[ghcremu.EndpointDelete].Status
}

// checkEnd fails unless exactly want is deleted on the emulator, each version by one 204.
func checkEnd(t *testing.T, e *ghcremu.Emulator, want []string) {
	t.Helper()
	if diff := cmp.Diff(want, deletedDigests(e)); diff != "" {
		t.Errorf("deleted versions (-want +got):\n%s", diff)
	}
	if n := deleteAnswers(e)[204]; n != len(want) {
		t.Errorf("%d deletes answered 204 for %d versions", n, len(want))
	}
}

// checkJournal fails unless every intent of the journal has an outcome, version ids are set, and
// journaled bytes match their digest.
func checkJournal(t *testing.T, journal []byte) []apply.JournalRecord {
	t.Helper()
	recs, err := apply.ReadJournal(bytes.NewReader(journal))
	if err != nil {
		t.Fatal(err)
	}
	open := map[int64]bool{}
	for _, r := range recs {
		switch r.Type {
		case apply.RecordHeader:
			if r.Mode != plan.ModeVersion {
				t.Errorf("header mode %q", r.Mode)
			}
		case apply.RecordManifest:
			if r.VersionID == 0 || r.By != plan.ModeVersion {
				t.Errorf("intent %+v: no version id or not by version", r)
			}
			if r.Raw != nil && inventory.DigestOf(r.Raw) != r.Digest {
				t.Errorf("intent %s: journaled bytes do not match", r.Digest)
			}
			open[r.VersionID] = true
		case apply.RecordOutcome:
			delete(open, r.VersionID)
		}
	}
	if len(open) > 0 {
		t.Errorf("%d intents without an outcome", len(open))
	}
	if strings.Contains(string(journal), testToken) {
		t.Error("the token is in the journal")
	}
	return recs
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func isNotFoundErr(err error) bool { return errors.Is(err, registry.ErrNotFound) }

// evaluate plans from an inventory already built.
func evaluate(g *ghcrCase, t *testing.T, inv *inventory.Inventory) (*plan.Plan, error) {
	p, err := policy.Evaluate(inv, g.policy(t), nil, g.clock.Now())
	if err != nil {
		return nil, err
	}
	p.Cost = PlanCost(p, nil, Rate{Hourly: HourlyPersonalToken})
	return p, nil
}

// clone returns a deep copy of the state.
func (s *State) clone(t *testing.T) *State {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	c := NewState("")
	if err := json.Unmarshal(b, c); err != nil {
		t.Fatal(err)
	}
	return c
}
