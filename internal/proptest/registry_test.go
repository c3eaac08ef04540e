package proptest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/registry"
)

func TestMain(m *testing.M) {
	os.Exit(regtest.RunWithoutCredentials(m, registry.EnvUsername, registry.EnvPassword))
}

// registryCases is how many cases TestApplyOnRegistry runs by default, each in both modes.
const registryCases = 20

func isNotFound(err error) bool { return errors.Is(err, registry.ErrNotFound) }

// pushModel uploads the model's blobs and manifests (children and subjects first) and its tags.
func pushModel(ctx context.Context, c registry.Target, repo string, m *model) error {
	return pushModelWith(ctx, c, nil, repo, m)
}

// pushModelWith is pushModel uploading the blobs through uploader (casegen.PushBlob: nil, or a
// client with the credentials of a registry started with Htpasswd).
func pushModelWith(ctx context.Context, c registry.Target, uploader *http.Client, repo string, m *model) error {
	host, path, _ := strings.Cut(repo, "/")
	blobs := map[string]bool{}
	for _, d := range m.order {
		n := m.nodes[d]
		for _, b := range n.blobs {
			if blobs[b.digest] {
				continue
			}
			blobs[b.digest] = true
			if _, err := casegen.PushBlob(ctx, uploader, host, path, b.raw); err != nil {
				return fmt.Errorf("push blob %s: %w", b.digest, err)
			}
		}
		if err := c.PushManifest(ctx, repo, d, n.mediaType, n.raw); err != nil {
			return fmt.Errorf("push manifest %s: %w", d, err)
		}
	}
	for _, t := range m.tagNames() {
		n := m.nodes[m.tags[t]]
		if err := c.PushManifest(ctx, repo, t, n.mediaType, n.raw); err != nil {
			return fmt.Errorf("push tag %s: %w", t, err)
		}
	}
	return nil
}

// liveTags lists the repository's tags and resolves each to its digest.
func liveTags(ctx context.Context, c registry.Target, repo string) (map[string]string, error) {
	var names []string
	if err := c.ListTags(ctx, repo, func(page []string) error {
		names = append(names, page...)
		return nil
	}); err != nil {
		if isNotFound(err) {
			return map[string]string{}, nil
		}
		return nil, err
	}
	out := map[string]string{}
	for _, n := range names {
		d, err := c.Resolve(ctx, repo, n)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", n, err)
		}
		out[n] = d.Digest
	}
	return out, nil
}

// registryState is what the registry holds of a model: tags and the manifests present.
type registryState struct {
	tags      map[string]string
	manifests map[string]bool
}

// readState reads the tags and which of the model's manifests are present (HEAD by digest).
func readState(ctx context.Context, c registry.Target, repo string, m *model) (*registryState, error) {
	tags, err := liveTags(ctx, c, repo)
	if err != nil {
		return nil, err
	}
	st := &registryState{tags: tags, manifests: map[string]bool{}}
	for _, d := range m.order {
		_, err := c.Resolve(ctx, repo, d)
		switch {
		case err == nil:
			st.manifests[d] = true
		case !isNotFound(err):
			return nil, fmt.Errorf("resolve %s: %w", d, err)
		}
	}
	return st, nil
}

// wantState is the registry state a correct apply leaves: the tags of kept digests; in digest
// mode, the kept manifests and nothing the plan deletes (tag mode deletes no manifest).
func wantState(m *model, exp *expectation, mode plan.Mode) *registryState {
	st := &registryState{tags: map[string]string{}, manifests: map[string]bool{}}
	for t, d := range m.tags {
		if exp.kept[d] {
			st.tags[t] = d
		}
	}
	for _, d := range m.order {
		if mode == plan.ModeTag || !exp.deleted[d] {
			st.manifests[d] = true
		}
	}
	return st
}

// diffState describes how got differs from want, or returns "".
func diffState(want, got *registryState) string {
	var b strings.Builder
	for _, t := range sortedKeys(want.tags, got.tags) {
		if want.tags[t] != got.tags[t] {
			fmt.Fprintf(&b, "tag %s: want %q, registry has %q\n", t, want.tags[t], got.tags[t])
		}
	}
	for _, d := range sortedKeys(want.manifests, got.manifests) {
		if want.manifests[d] != got.manifests[d] {
			fmt.Fprintf(&b, "manifest %s: want present=%v, registry present=%v\n", d, want.manifests[d], got.manifests[d])
		}
	}
	return b.String()
}

func sortedKeys[V any](ms ...map[string]V) []string {
	seen := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			seen[k] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkKeptWhole walks every kept digest of the model: its manifest and blobs must be there.
func checkKeptWhole(ctx context.Context, c *registry.Client, repo string, m *model, exp *expectation) string {
	var b strings.Builder
	for _, d := range sortedSet(exp.kept) {
		if _, _, err := c.FetchManifest(ctx, repo, d); err != nil {
			fmt.Fprintf(&b, "invariant 1: kept manifest %s: %v\n", d, err)
			continue
		}
		for _, bl := range m.nodes[d].blobs {
			if ok, err := c.BlobExists(ctx, repo, bl.digest); err != nil || !ok {
				fmt.Fprintf(&b, "invariant 1: blob %s of kept manifest %s: present=%v err=%v\n", bl.digest, d, ok, err)
			}
		}
	}
	return b.String()
}

// TestApplyOnRegistry plans random repositories pushed into the real in-process registry
// (distribution v3), checks the plan against the model, applies it in tag mode and in digest
// mode, and checks the registry: the tags of kept digests are there and point where they did,
// every kept manifest and its blobs are whole, the manifests gone are exactly the planned
// deletes (digest mode) or none (tag mode). A second apply changes nothing (invariant 6), and
// undo from the journal puts every tag and manifest back.
func TestApplyOnRegistry(t *testing.T) {
	reg, err := regtest.Start(t.Context(), regtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	client := registry.New()
	ctx := t.Context()
	var deletedManifests, deletedTags, restored int
	for i, seed := range seeds(t, registryCases, 2) {
		c, err := deletingCase(t, seed, genOptions{now: caseNow}, 3)
		if err != nil {
			failf(t, t.Name(), seed, "%v", err)
			continue
		}
		for _, mode := range []plan.Mode{plan.ModeTag, plan.ModeDigest} {
			repo := fmt.Sprintf("%s/prop/c%d-%s", reg.Host, i, mode)
			msg, st := applyCase(ctx, client, repo, c, mode, filepath.Join(t.TempDir(), "journal.jsonl"))
			if msg != "" {
				failf(t, t.Name(), c.seed, "%s mode, %s:\n%s", mode, repo, msg)
				continue
			}
			deletedManifests += st.manifests
			deletedTags += st.tags
			restored += st.restored
		}
	}
	t.Logf("deleted %d manifests by digest and %d tags, checked the registry after each apply, restored %d by undo", deletedManifests, deletedTags, restored)
}

// applyStats counts what one case deleted and restored.
type applyStats struct{ manifests, tags, restored int }

// applyCase runs one case in one mode against repo, journaling to the file journal as the CLI
// does; it returns what went wrong, or "".
func applyCase(ctx context.Context, client *registry.Client, repo string, c *planCase, mode plan.Mode, journal string) (string, applyStats) {
	var st applyStats
	if err := pushModel(ctx, client, repo, c.m); err != nil {
		return err.Error(), st
	}
	before, err := readState(ctx, client, repo, c.m)
	if err != nil {
		return err.Error(), st
	}
	inv, _, err := inventory.Build(ctx, client, repo, inventory.BuildOptions{IsNotFound: isNotFound, Concurrency: 8})
	if err != nil {
		return "inventory: " + err.Error(), st
	}
	p, err := policy.Evaluate(inv, c.pol, c.ks, caseNow)
	if err != nil {
		return "evaluate: " + err.Error(), st
	}
	exp := expect(c.m, c.gp, caseNow, c.m.createdFromModel, nil)
	if msg := checkPlan(p, c, exp); msg != "" {
		return "plan made from the registry:\n" + msg, st
	}
	// One run finishes the plan: digest mode tries again, within the run, a tagged index held
	// back while an index listing it was being deleted (TestDigestModeFinishesTaggedNestedIndexes).
	res, err := apply.Apply(ctx, p, client, apply.ApplyOptions{Mode: mode, JournalPath: journal, Concurrency: 4})
	if err != nil {
		return fmt.Sprintf("apply: %v (failed %+v)", err, res.Failed), st
	}
	if len(res.Failed) > 0 || res.Partial() {
		return fmt.Sprintf("apply: no error, but failed %+v, remaining %d", res.Failed, res.Remaining), st
	}
	st.manifests += len(res.DeletedManifests)
	st.tags += len(res.DeletedTags)
	after, err := readState(ctx, client, repo, c.m)
	if err != nil {
		return err.Error(), st
	}
	if d := diffState(wantState(c.m, exp, mode), after); d != "" {
		return fmt.Sprintf("after apply (no error; deleted manifests %v, deleted tags %v, gone %v %v, skipped %+v, remaining %d, warnings %q):\n%spolicy:\n%s",
			res.DeletedManifests, res.DeletedTags, res.GoneManifests, res.GoneTags, res.Skipped, res.Remaining, res.Warnings, d, c.gp.yaml()), st
	}
	if msg := checkKeptWhole(ctx, client, repo, c.m, exp); msg != "" {
		return msg, st
	}
	if v, err := apply.VerifyPlan(ctx, client, p, apply.VerifyOptions{Concurrency: 4}); err != nil || !v.OK() {
		return fmt.Sprintf("verify: err %v, broken %+v", err, v), st
	}
	// Invariant 6: a second run finds everything done (its journal says so) and changes nothing.
	again, err := apply.Apply(ctx, p, client, apply.ApplyOptions{Mode: mode, JournalPath: journal, Concurrency: 4})
	if err != nil || len(again.DeletedManifests)+len(again.DeletedTags) != 0 {
		return fmt.Sprintf("second apply: err %v, deleted %v %v", err, again.DeletedManifests, again.DeletedTags), st
	}
	if after2, err := readState(ctx, client, repo, c.m); err != nil || diffState(after, after2) != "" {
		return fmt.Sprintf("second apply changed the registry: %v %s", err, diffState(after, after2)), st
	}
	// Undo puts back everything the journal recorded.
	jf, err := os.Open(journal)
	if err != nil {
		return err.Error(), st
	}
	defer jf.Close()
	ures, err := apply.Undo(ctx, jf, client, apply.UndoOptions{Concurrency: 4})
	if err != nil {
		return fmt.Sprintf("undo: %v", err), st
	}
	st.restored = len(ures.RestoredManifests) + len(ures.RestoredTags)
	restoredState, err := readState(ctx, client, repo, c.m)
	if err != nil {
		return err.Error(), st
	}
	if d := diffState(before, restoredState); d != "" {
		return "after undo, the registry differs from before apply:\n" + d, st
	}
	if slices.ContainsFunc(ures.Conflicts, func(plan.TagMove) bool { return true }) {
		return fmt.Sprintf("undo conflicts: %+v", ures.Conflicts), st
	}
	return "", st
}
