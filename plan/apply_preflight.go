package plan

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry"
)

// maxIndexDepth bounds how deep nested indexes are followed.
const maxIndexDepth = 8

// preflight lists the live tags, resolves those whose move could matter (every tag when all is
// set, as digest mode needs: a planned-delete tag moved onto a new index could share children
// with the index the plan deletes), diffs them against the plan and returns a *StaleError when a
// change conflicts with the plan's deletes.
func (a *applier) preflight(ctx context.Context, all bool) error {
	var names []string
	if err := a.t.ListTags(ctx, a.repo, func(page []string) error {
		names = append(names, page...)
		return nil
	}); err != nil {
		return fmt.Errorf("listing tags of %s: %w", a.repo, err)
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
		if d, ok := planned[name]; ok && a.deleted[d] && !all {
			live = append(live, inventory.Tag{Name: name}) // re-checked right before its delete
			continue
		}
		resolve = append(resolve, name)
	}
	resolved, err := a.resolveAll(ctx, resolve)
	if err != nil {
		return err
	}
	live = append(live, resolved...)
	diff := Diff(a.p, live)
	conflicts := Conflicts(a.p, diff)
	reach, err := a.reachConflicts(ctx, diff)
	if err != nil {
		return err
	}
	conflicts = append(conflicts, reach...)
	sort.SliceStable(conflicts, func(i, j int) bool { return conflicts[i].Tag < conflicts[j].Tag })

	a.mu.Lock()
	a.res.Diff = diff
	a.mu.Unlock()
	if !diff.Empty() {
		a.log.Info("repository changed since the plan", "diff", diff.String())
	}
	if len(conflicts) > 0 {
		return &StaleError{Repository: a.repo, Diff: diff, Conflicts: conflicts}
	}
	return nil
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

// reachConflicts walks the images the plan does not know (new tags, and tags moved onto new
// digests) and reports each tag whose image lists, at any depth, a manifest the plan deletes:
// deleting it by digest would break the image.
func (a *applier) reachConflicts(ctx context.Context, d PlanDiff) ([]Conflict, error) {
	tagsOf := map[string][]TagMove{} // unknown digest -> tags pointing at it
	for _, t := range d.Added {
		if t.Digest != "" && a.byDigest[t.Digest] == nil {
			tagsOf[t.Digest] = append(tagsOf[t.Digest], TagMove{Tag: t.Name, Live: t.Digest})
		}
	}
	for _, m := range d.Moved {
		if a.byDigest[m.Live] == nil {
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
	var out []Conflict
	for i, root := range roots {
		if uses[i] == "" {
			continue
		}
		for _, m := range tagsOf[root] {
			out = append(out, Conflict{
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

// findDeleted returns a planned-delete digest reachable from digest through index children, or
// "" when there is none. Digests the plan keeps are not followed: the plan kept their closure.
func (w *walker) findDeleted(ctx context.Context, digest string, depth int) (string, error) {
	if depth > maxIndexDepth {
		return "", nil
	}
	kids, err := w.childrenOf(ctx, digest)
	if err != nil {
		return "", err
	}
	for _, c := range kids {
		if w.a.deleted[c] {
			return c, nil
		}
		if w.a.byDigest[c] != nil {
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
