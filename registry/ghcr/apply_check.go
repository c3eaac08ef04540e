package ghcr

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry"
)

// ErrCheck is wrapped by the error of a re-check of the live tags that could not be completed:
// Apply deletes nothing it has not checked, so it stops.
var ErrCheck = errors.New("re-check of the live tags failed")

// anyToDelete reports whether a planned version may need a DELETE: one with an id that the state
// does not record as deleted or refused. Without one the run sends no request at all.
func (a *applier) anyToDelete() bool {
	for _, it := range a.items {
		if it.v.ID != 0 && !a.st.Skip(it.v.ID) {
			return true
		}
	}
	return false
}

// check resolves the live tags before the first delete and records what they protect; it refuses
// a plan most of whose deleted tags are missing for no reason the state or journal records.
func (a *applier) check(ctx context.Context) error {
	prot, err := a.liveProtected(ctx)
	if err != nil {
		return err
	}
	a.protected = prot
	a.lastCheck = a.now()
	return a.checkMissing()
}

// checkMissing refuses a plan most of whose deleted tags the first check did not find: a plan of
// another package (plan.CheckMissing). Deletes go by version id, and the state is the package's
// own record, so a planned version is accounted for, whatever became of its tags, when the state
// lists its id as a version of this package or records it deleted or refused, or the journal
// records deleting it: a run whose state was saved, or an earlier listing's, resumes. Versions
// without an id are never deleted and do not count.
func (a *applier) checkMissing() error {
	tags, _, versions, err := apply.JournaledDeletes(a.opt.JournalPath, a.p.Repository)
	if err != nil {
		return err
	}
	planned := 0
	var missing []string
	for _, it := range a.items {
		_, deleted := a.st.Deleted[it.v.ID]
		_, refused := a.st.Undeletable[it.v.ID]
		sv, listed := a.st.Versions[it.v.Digest]
		if it.v.ID == 0 || deleted || refused || versions[it.v.ID] || listed && sv.ID == it.v.ID {
			continue
		}
		for _, t := range it.v.Tags {
			if tags[t] {
				continue
			}
			planned++
			if !a.live[t] {
				missing = append(missing, t)
			}
		}
	}
	if err := apply.CheckMissing(a.p.Repository, planned, missing); err != nil {
		return fmt.Errorf("ghcr: %w", err)
	}
	return nil
}

// recheck resolves the live tags again during a run, and leaves alone the versions not yet
// deleted that a tag reaches now.
func (a *applier) recheck(ctx context.Context) error {
	prot, err := a.liveProtected(ctx)
	if err != nil {
		return err
	}
	a.lastCheck = a.now()
	for d, why := range prot {
		if _, had := a.protected[d]; !had {
			a.protected[d] = why
		}
		it := a.byDigest[d]
		if it == nil || (it.state != itemQueued && it.state != itemReady) {
			continue
		}
		a.protect(it, why)
		a.settled += 1 + a.hold(it, "is protected")
	}
	return nil
}

// liveProtected lists the live tags and resolves the ones that matter: every tag the plan keeps
// and every tag the plan does not know. A digest such a tag points at, unless the plan keeps it
// (and with it everything it reaches), is protected, with everything it reaches: the children its
// manifest lists, the decisions naming it as parent, and its sha256-<digest> referrer tags.
// It returns the protected digests and why each is.
func (a *applier) liveProtected(ctx context.Context) (map[string]string, error) {
	repo := a.p.Repository
	var live []string
	if err := a.oci.ListTags(ctx, repo, func(tags []string) error {
		live = append(live, tags...)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("ghcr: %w: listing the tags of %s: %w", ErrCheck, repo, err)
	}
	a.res.Checks.Runs++
	a.res.Checks.Tags += len(live)
	a.live = make(map[string]bool, len(live))
	for _, t := range live {
		a.live[t] = true
	}
	referrerTags := map[string][]string{}
	var names []string
	for _, t := range live {
		if s, ok := inventory.ReferrerTagDigest(t); ok {
			referrerTags[s] = append(referrerTags[s], t)
		}
		if d, known := a.planTags[t]; !known || a.kept[d] {
			names = append(names, t)
		}
	}
	digests, err := a.resolveAll(ctx, names)
	if err != nil {
		return nil, err
	}
	prot := map[string]string{}
	for i, t := range names {
		d := digests[i]
		if d != "" {
			a.st.MoveTag(t, d) // a kept tag retagged onto an old version: the next inventory knows
		}
		if d == "" || a.kept[d] {
			continue
		}
		why := "kept tag " + t + " now points at it"
		if _, known := a.planTags[t]; !known {
			why = "tag " + t + ", which the plan does not know, points at it"
		}
		if err := a.reach(ctx, d, why, referrerTags, prot); err != nil {
			return nil, err
		}
	}
	a.res.Checks.Protected = len(prot)
	return prot, nil
}

// resolveAll resolves tags concurrently; a tag gone since the listing resolves to "".
func (a *applier) resolveAll(ctx context.Context, tags []string) ([]string, error) {
	out := make([]string, len(tags))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(a.opt.CheckConcurrency)
	for i, t := range tags {
		g.Go(func() error {
			desc, err := a.oci.Resolve(gctx, a.p.Repository, t)
			switch {
			case errors.Is(err, registry.ErrNotFound):
				return nil
			case err != nil:
				return fmt.Errorf("ghcr: %w: resolving %s:%s: %w", ErrCheck, a.p.Repository, t, err)
			}
			out[i] = desc.Digest
			return nil
		})
	}
	err := g.Wait()
	a.res.Checks.Resolves += len(tags)
	return out, err
}

// reach protects root and everything it reaches, breadth first, into prot.
func (a *applier) reach(ctx context.Context, root, why string, referrerTags map[string][]string, prot map[string]string) error {
	type entry struct{ digest, why string }
	queue := []entry{{root, why}}
	for n := 0; len(queue) > 0 && n <= len(a.p.Decisions)+len(a.planTags)+len(referrerTags)+1; n++ {
		e := queue[0]
		queue = queue[1:]
		if _, done := prot[e.digest]; done {
			continue
		}
		prot[e.digest] = e.why
		if a.kept[e.digest] {
			continue // the plan keeps it, and all it reaches
		}
		via := "reached from " + shortDigest(root) + " (" + why + ")"
		children, err := a.children(ctx, e.digest)
		if err != nil {
			return err
		}
		for _, c := range children {
			queue = append(queue, entry{c, "listed by index " + shortDigest(e.digest) + ", " + via})
		}
		for _, c := range a.byParent[e.digest] {
			queue = append(queue, entry{c, "belongs to " + shortDigest(e.digest) + ", " + via})
		}
		tags := referrerTags[e.digest]
		digests, err := a.resolveAll(ctx, tags)
		if err != nil {
			return err
		}
		for i, d := range digests {
			if d != "" {
				queue = append(queue, entry{d, "referrer tag " + tags[i] + " names " + shortDigest(e.digest) + ", " + via})
			}
		}
	}
	return nil
}

// children returns the digests an index lists: from opt.Manifests when it has the manifest, else
// fetched through the OCI API (unless the plan says the digest is not an index).
func (a *applier) children(ctx context.Context, digest string) ([]string, error) {
	var raw []byte
	mt := ""
	if a.opt.Manifests != nil {
		if r, m, ok := a.opt.Manifests.Get(digest); ok {
			raw, mt = r, m
		}
	}
	if raw == nil {
		if it := a.byDigest[digest]; it != nil && it.dec.MediaType != "" && !inventory.IsIndexMediaType(it.dec.MediaType) {
			return nil, nil
		}
		r, desc, err := a.oci.FetchManifest(ctx, a.p.Repository, digest)
		a.res.Checks.Fetches++
		switch {
		case errors.Is(err, registry.ErrNotFound):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("ghcr: %w: fetching %s@%s: %w", ErrCheck, a.p.Repository, digest, err)
		}
		raw, mt = r, desc.MediaType
	}
	m, err := inventory.ParseManifest(digest, mt, raw, nil)
	if err != nil {
		return nil, fmt.Errorf("ghcr: %w: manifest %s: %w", ErrCheck, digest, err)
	}
	out := make([]string, 0, len(m.Manifests))
	for _, c := range m.Manifests {
		out = append(out, c.Digest)
	}
	return out, nil
}
