package apply

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
)

// maxIndexDepth bounds how deep nested indexes are followed.
const maxIndexDepth = 8

// preflight lists the live tags, resolves those whose move could matter (every tag when all is
// set, as digest mode needs: a planned-delete tag moved onto a new index could share children
// with the index the plan deletes), diffs them against the plan and returns a *StaleError when a
// change conflicts with the plan's deletes. The first time, it also returns a *MismatchError
// when most of the plan's deleted tags are missing for no reason the journal records.
func (a *applier) preflight(ctx context.Context, all bool) error {
	live, err := a.liveTags(ctx, all)
	if err != nil {
		return err
	}
	diff, conflicts, err := a.conflicts(ctx, a.decisions.deletes, live)
	if err != nil {
		return err
	}
	a.noteCheck(live, all)
	a.mu.Lock()
	a.res.Diff = diff
	listed, first := a.listed, !a.checkedMissing
	a.checkedMissing = true
	a.mu.Unlock()
	if first {
		if err := a.checkMissing(listed); err != nil {
			return err
		}
	}
	if !diff.Empty() {
		a.log.Info("repository changed since the plan", "diff", diff.String())
	}
	if len(conflicts) > 0 {
		return &plan.StaleError{Repository: a.repo, Diff: diff, Conflicts: conflicts}
	}
	return nil
}

// relist is digest mode's check between deletes. DELETE by digest removes every tag pointing at
// the digest, so a tag pushed onto a digest still to be deleted after the last check would go
// with it, unjournaled. relist lists the tags again (one listing), resolves every tag, and checks
// the live repository against the deletes still to make: a new tag on one of those digests, or a
// tag the plan keeps moved onto one (or onto an image using one), is a conflict, returned as a
// *StaleError. It also refreshes the tags known on each digest, which the intent records name.
func (a *applier) relist(ctx context.Context) error {
	live, err := a.liveTags(ctx, true)
	if err != nil {
		return fmt.Errorf("re-checking %s between digest deletes: %w", a.repo, err)
	}
	diff, found, err := a.conflicts(ctx, a.pendingDelete, live)
	if err != nil {
		return fmt.Errorf("re-checking %s between digest deletes: %w", a.repo, err)
	}
	a.noteCheck(live, true)
	// A tag the plan deletes, moved onto another digest still to be deleted, goes with that one:
	// no conflict (its digest no longer counts as pending once removed).
	var conflicts []plan.Conflict
	for _, c := range found {
		if c.Planned == "" || !a.decisions.deletes(c.Planned) {
			conflicts = append(conflicts, c)
		}
	}
	if len(conflicts) > 0 {
		err := &plan.StaleError{Repository: a.repo, Diff: diff, Conflicts: conflicts}
		a.log.Warn("repository changed during the run: stopping", "conflicts", len(conflicts))
		return err
	}
	return nil
}

// relistIfDue runs relist when RelistEvery digest deletes or RelistInterval went by since the
// last check, with the gate held exclusively (no delete in flight). It returns false when the
// run must not go on: the check failed or found a conflict (the run is aborted), or ctx is done.
func (a *applier) relistIfDue(ctx context.Context) bool {
	if a.opt.DryRun || !a.relistDue() {
		return true
	}
	a.gate.Lock()
	defer a.gate.Unlock()
	if !a.relistDue() {
		return true // another item re-listed while this one waited
	}
	if !a.canStart(ctx) {
		return false
	}
	if err := a.relist(ctx); err != nil {
		if ctx.Err() == nil {
			a.eng.Abort(err)
		}
		return false
	}
	return true
}

// relistDue reports whether a re-listing is due: a delete was made since the last one, and
// either RelistEvery deletes were, or RelistInterval went by.
func (a *applier) relistDue() bool {
	n := a.sinceCheck.Load()
	if n == 0 {
		return false
	}
	if n >= int64(a.opt.RelistEvery) {
		return true
	}
	a.mu.Lock()
	last := a.lastCheck
	a.mu.Unlock()
	return a.opt.Now().Sub(last) >= a.opt.RelistInterval
}

// liveTags lists the tags and resolves those whose move could matter (all: every one). A
// planned-delete tag left unresolved (tag mode re-checks it right before its delete) has an
// empty Digest. Tags gone between listing and resolving are left out.
func (a *applier) liveTags(ctx context.Context, all bool) ([]inventory.Tag, error) {
	var names []string
	if err := a.t.ListTags(ctx, a.repo, func(page []string) error {
		names = append(names, page...)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("listing tags of %s: %w", a.repo, err)
	}
	sort.Strings(names)
	planned := make(map[string]string, len(a.p.Tags))
	for _, t := range a.p.Tags {
		planned[t.Name] = t.Digest
	}
	var live []inventory.Tag
	var resolve []string
	for i, name := range names {
		if i > 0 && names[i-1] == name {
			continue
		}
		if d, ok := planned[name]; ok && a.decisions.deletes(d) && !all {
			live = append(live, inventory.Tag{Name: name}) // re-checked right before its delete
			continue
		}
		resolve = append(resolve, name)
	}
	resolved, err := a.resolveAll(ctx, resolve)
	if err != nil {
		return nil, err
	}
	return append(live, resolved...), nil
}

// conflicts diffs live against the plan's tags and returns the changes that conflict with the
// deletes deleted reports (the plan's, or those still to make): tags on a deleted digest
// (plan.ConflictsWith) and tags on an image using one (reachConflicts), sorted by tag.
func (a *applier) conflicts(ctx context.Context, deleted func(digest string) bool, live []inventory.Tag) (plan.PlanDiff, []plan.Conflict, error) {
	diff := plan.Diff(a.p, live)
	conflicts := plan.ConflictsWith(diff, deleted)
	reach, err := a.reachConflicts(ctx, diff)
	if err != nil {
		return diff, nil, err
	}
	conflicts = append(conflicts, reach...)
	sort.SliceStable(conflicts, func(i, j int) bool { return conflicts[i].Tag < conflicts[j].Tag })
	return diff, conflicts, nil
}

// noteCheck records what a check found: the tag names listed, and (resolved set) the tags on each
// digest; and restarts the count towards the next re-listing.
func (a *applier) noteCheck(live []inventory.Tag, resolved bool) {
	listed := make(map[string]bool, len(live))
	var at map[string][]string
	if resolved {
		at = map[string][]string{}
	}
	for _, t := range live {
		listed[t.Name] = true
		if resolved && t.Digest != "" {
			at[t.Digest] = append(at[t.Digest], t.Name)
		}
	}
	now := a.opt.Now()
	a.mu.Lock()
	a.listed, a.tagsAt, a.lastCheck = listed, at, now
	a.mu.Unlock()
	a.sinceCheck.Store(0)
}

// resolveAll resolves tags to digests with bounded concurrency. Tags gone meanwhile are left out.
func (a *applier) resolveAll(ctx context.Context, names []string) ([]inventory.Tag, error) {
	out := make([]inventory.Tag, len(names))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(a.opt.Concurrency)
	for i, name := range names {
		g.Go(func() error {
			desc, err := a.t.Resolve(gctx, a.repo, name)
			switch {
			case errors.Is(err, registry.ErrNotFound):
				return nil
			case err != nil:
				return fmt.Errorf("resolving %s:%s: %w", a.repo, name, err)
			}
			out[i] = inventory.Tag{Name: name, Digest: desc.Digest}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	tags := out[:0]
	for _, t := range out {
		if t.Name != "" {
			tags = append(tags, t)
		}
	}
	return tags, nil
}

// reachConflicts walks the images the plan does not account for (new tags, and tags moved onto
// digests the plan does not decide or this run removed and someone pushed again) and reports
// each tag whose image lists, at any depth, a manifest still to be deleted: deleting it by
// digest would break the image.
func (a *applier) reachConflicts(ctx context.Context, d plan.PlanDiff) ([]plan.Conflict, error) {
	tagsOf := map[string][]plan.TagMove{} // unknown digest -> tags pointing at it
	for _, t := range d.Added {
		if t.Digest != "" && !a.settled(t.Digest) {
			tagsOf[t.Digest] = append(tagsOf[t.Digest], plan.TagMove{Tag: t.Name, Live: t.Digest})
		}
	}
	for _, m := range d.Moved {
		if !a.settled(m.Live) {
			tagsOf[m.Live] = append(tagsOf[m.Live], m)
		}
	}
	if len(tagsOf) == 0 {
		return nil, nil
	}
	roots := make([]string, 0, len(tagsOf))
	for r := range tagsOf {
		roots = append(roots, r)
	}
	sort.Strings(roots)
	w := &walker{a: a, children: map[string][]string{}}
	uses := make([]string, len(roots))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(a.opt.Concurrency)
	for i, root := range roots {
		g.Go(func() error {
			hit, err := w.findDeleted(gctx, root, 0)
			uses[i] = hit
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []plan.Conflict
	for i, root := range roots {
		if uses[i] == "" {
			continue
		}
		for _, m := range tagsOf[root] {
			out = append(out, plan.Conflict{
				Tag: m.Tag, Planned: m.Planned, Live: root,
				Why: fmt.Sprintf("tag points at an image that uses %s, which the plan deletes", short(uses[i])),
			})
		}
	}
	return out, nil
}

// walker fetches indexes unknown to the plan, each once.
type walker struct {
	a        *applier
	mu       sync.Mutex
	children map[string][]string
}

// findDeleted returns a digest still to be deleted reachable from digest through index children,
// or "" when there is none. Digests the plan keeps are not followed: the plan kept their closure.
func (w *walker) findDeleted(ctx context.Context, digest string, depth int) (string, error) {
	if depth > maxIndexDepth {
		return "", nil
	}
	kids, err := w.childrenOf(ctx, digest)
	if err != nil {
		return "", err
	}
	for _, c := range kids {
		if w.a.pendingDelete(c) {
			return c, nil
		}
		if w.a.settled(c) {
			continue
		}
		hit, err := w.findDeleted(ctx, c, depth+1)
		if hit != "" || err != nil {
			return hit, err
		}
	}
	return "", nil
}

// childrenOf fetches a manifest and returns its index children (nil for an image). A manifest
// gone meanwhile has none.
func (w *walker) childrenOf(ctx context.Context, digest string) ([]string, error) {
	w.mu.Lock()
	kids, ok := w.children[digest]
	w.mu.Unlock()
	if ok {
		return kids, nil
	}
	raw, desc, err := w.a.t.FetchManifest(ctx, w.a.repo, digest)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetching %s to check it against the plan: %w", digest, err)
	}
	m, err := inventory.ParseManifest(digest, desc.MediaType, raw, nil)
	if err != nil {
		return nil, err
	}
	for _, c := range m.Manifests {
		kids = append(kids, c.Digest)
	}
	w.mu.Lock()
	w.children[digest] = kids
	w.mu.Unlock()
	return kids, nil
}
