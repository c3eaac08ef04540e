package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
)

// OutcomeNotAttempted marks a journaled tag whose delete was not made (the run stopped first).
const OutcomeNotAttempted = "not-attempted"

// tagItem deletes the planned tags of one deleted digest that still point at it. In auto mode a
// tag DELETE refused as unsupported sets a.fallback (nothing was deleted; the run goes on in
// digest mode) instead of failing.
//
// The order keeps the window between the re-check and the DELETE short: the manifest's bytes are
// read first (the journal needs them), then the tags are re-checked, then the intent is written
// and the tags deleted at once.
func (a *applier) tagItem(ctx context.Context, d *plan.Decision, auto bool) {
	planned := a.listedOf(d)
	if len(planned) == 0 {
		a.markComplete(d.Digest)
		return
	}
	if a.opt.DryRun {
		live, failed, cancelled := a.recheck(ctx, d, planned, false)
		a.addRemaining(cancelled)
		k := a.eng.Take(len(live))
		a.addRemaining(len(live) - k)
		a.mu.Lock()
		for _, tag := range live[:k] {
			a.res.DeletedTags = append(a.res.DeletedTags, inventory.Tag{Name: tag, Digest: d.Digest})
		}
		a.mu.Unlock()
		if failed == 0 && cancelled == 0 && k == len(live) {
			a.markComplete(d.Digest)
		}
		return
	}
	raw, mt, _, fetchErr := a.manifest(ctx, d.Digest)
	if fetchErr != nil && ctx.Err() != nil {
		a.addRemaining(len(planned))
		return
	}
	live, failed, cancelled := a.recheck(ctx, d, planned, false)
	a.addRemaining(cancelled)
	whole := failed == 0 && cancelled == 0 // every planned tag accounted for
	if len(live) == 0 {
		if whole {
			a.markComplete(d.Digest)
		}
		return
	}
	if fetchErr != nil {
		for _, tag := range live {
			a.fail(tag, d.Digest, fmt.Errorf("fetching the manifest for the journal: %w", fetchErr))
		}
		return
	}
	k := a.eng.Take(len(live))
	a.addRemaining(len(live) - k)
	if k == 0 {
		return
	}
	whole = whole && k == len(live)
	tags := live[:k]
	if err := a.journalIntent(d, raw, mt, plan.ModeTag, tags); err != nil {
		a.eng.Give(k)
		a.addRemaining(k)
		a.eng.Abort(err)
		return
	}
	// The intent is journaled: the engine carries each delete through even if ctx is cancelled.
	for i, tag := range tags {
		err, jerr := a.eng.Delete(ctx, a.port, Target{Digest: d.Digest, Tag: tag})
		stop, unsupported := false, false
		switch {
		case err == nil:
			a.mu.Lock()
			a.res.DeletedTags = append(a.res.DeletedTags, inventory.Tag{Name: tag, Digest: d.Digest})
			a.mu.Unlock()
		case errors.Is(err, registry.ErrUnsupported) && auto:
			// A refused request deleted nothing: it does not count against MaxDeletes.
			a.fallback.Store(true)
			a.eng.Give(1)
			unsupported, stop, whole = true, true, false
		case errors.Is(err, registry.ErrUnsupported):
			a.fail(tag, d.Digest, err)
			a.eng.Abort(fmt.Errorf("the registry refuses DELETE by tag: %w (apply in digest mode)", err))
			whole, stop = false, true
		default:
			a.fail(tag, d.Digest, err)
			whole = false
		}
		if jerr != nil {
			whole, stop = false, true
		}
		if stop {
			rest := tags[i+1:]
			a.eng.Give(len(rest))
			if !unsupported {
				a.addRemaining(len(rest))
			}
			for _, t := range rest {
				a.eng.NotAttempted(Target{Digest: d.Digest, Tag: t}, "")
			}
			break
		}
	}
	if whole {
		a.markComplete(d.Digest)
	}
}

// ociPort is the OCI registry's Port: DELETE by tag or digest through the counting target.
type ociPort struct {
	t    *countingTarget
	repo string
}

// Delete deletes t.Tag, or the manifest t.Digest, and reads the answer as one of apply's own
// DELETEs, each made right after a successful re-check showed its target present. A 404 then
// counts as success: the transport retries DELETE on 5xx answers, timeouts and reset
// connections, so when the first attempt deleted the target but its answer was lost, the retry
// finds nothing left (404). Journaling that as "deleted" (rather than "gone") records what most
// likely happened; and should someone else have deleted the target in that instant, undo still
// only pushes back what the re-check saw.
func (p ociPort) Delete(ctx context.Context, t Target) error {
	ref := t.Digest
	if t.Tag != "" {
		ref = t.Tag
	}
	err := p.t.DeleteManifest(ctx, p.repo, ref)
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	return err
}

// listedOf returns d's planned tags that the last listing found. The others are gone already:
// they are counted so without a request (a tag pushed again since is left for the next run).
func (a *applier) listedOf(d *plan.Decision) []string {
	a.mu.Lock()
	listed := a.listed
	a.mu.Unlock()
	var out []string
	for _, tag := range d.Tags {
		if listed[tag] {
			out = append(out, tag)
		} else {
			a.goneTag(tag)
		}
	}
	return out
}

// digestItem deletes one deleted manifest by digest, after re-checking its tags. A child waits
// until every planned-delete index listing it is gone. Like tagItem, it reads the manifest's
// bytes before the re-check, so the intent and the DELETE follow the re-check at once; and it
// holds the re-listing gate shared until its DELETE is answered, so a re-listing sees no delete
// in flight.
func (a *applier) digestItem(ctx context.Context, d *plan.Decision) {
	if waiting := a.parentsLeft(d); len(waiting) > 0 {
		a.log.Info("not deleting a child while its index is still there", "digest", d.Digest, "index", waiting[0])
		a.mu.Lock()
		a.heldBack = append(a.heldBack, d)
		a.mu.Unlock()
		return
	}
	if !a.relistIfDue(ctx) {
		a.addRemaining(1)
		return
	}
	a.gate.RLock()
	defer a.gate.RUnlock()
	if a.aborted() {
		a.addRemaining(1)
		return
	}
	if a.opt.DryRun {
		live, failed, cancelled := a.digestTags(ctx, d)
		switch {
		case cancelled > 0:
			a.addRemaining(1)
			return
		case failed > 0:
			return
		}
		if _, err := a.t.Resolve(ctx, a.repo, d.Digest); err != nil {
			a.digestFailed(ctx, d, err)
			return
		}
		if a.eng.Take(1) == 0 {
			a.addRemaining(1)
			return
		}
		a.digestDeleted(d, live)
		return
	}
	raw, mt, fromSource, err := a.manifest(ctx, d.Digest)
	if err != nil {
		a.digestFailed(ctx, d, err)
		return
	}
	a.registerChildren(d.Digest, raw)
	live, failed, cancelled := a.digestTags(ctx, d)
	if cancelled > 0 {
		a.addRemaining(1)
		return
	}
	if failed > 0 {
		return // the failures are recorded; without the re-check the manifest stays
	}
	if fromSource {
		// No GET showed the manifest present: check it, so a 404 to the DELETE is this run's own.
		if _, err := a.t.Resolve(ctx, a.repo, d.Digest); err != nil {
			a.digestFailed(ctx, d, err)
			return
		}
	}
	if a.eng.Take(1) == 0 {
		a.addRemaining(1)
		return
	}
	if err := a.journalIntent(d, raw, mt, plan.ModeDigest, live); err != nil {
		a.eng.Give(1)
		a.addRemaining(1)
		a.eng.Abort(err)
		return
	}
	err, _ = a.eng.Delete(ctx, a.port, Target{Digest: d.Digest})
	a.sinceCheck.Add(1)
	switch {
	case err == nil:
		a.digestDeleted(d, live)
	case errors.Is(err, registry.ErrUnsupported):
		a.fail("", d.Digest, err)
		a.eng.Abort(fmt.Errorf("the registry refuses DELETE by digest: %w", err))
	default:
		a.digestFailed(ctx, d, err)
	}
}

// digestTags re-checks every tag a DELETE of d.Digest removes: d's planned tags, and the tags the
// last listing found on the digest besides them. Those are planned deletes of other digests that
// moved onto this one (a new or kept tag there stops the run at that listing); they go with this
// delete, so they are journaled with it. A tag of either kind that cannot be checked is kept in
// live when it is not a planned one: it was on the digest at the last listing, and the journal
// must name what the delete may remove.
func (a *applier) digestTags(ctx context.Context, d *plan.Decision) (live []string, failed, cancelled int) {
	live, failed, cancelled = a.recheck(ctx, d, d.Tags, true)
	if failed > 0 || cancelled > 0 {
		return live, failed, cancelled
	}
	for _, tag := range a.extraTags(d) {
		desc, err := a.t.Resolve(ctx, a.repo, tag)
		switch {
		case errors.Is(err, registry.ErrNotFound), err == nil && desc.Digest != d.Digest:
			// Gone or moved away since the listing: not this delete's.
		case err != nil && ctx.Err() != nil:
			return live, failed, 1
		default:
			live = append(live, tag)
		}
	}
	return live, failed, cancelled
}

// extraTags returns the tags the last listing resolved to d.Digest that d does not plan, sorted.
func (a *applier) extraTags(d *plan.Decision) []string {
	a.mu.Lock()
	at := a.tagsAt[d.Digest]
	a.mu.Unlock()
	var out []string
	for _, tag := range at {
		if !slices.Contains(d.Tags, tag) {
			out = append(out, tag)
		}
	}
	sort.Strings(out)
	return out
}

// digestDeleted records a manifest deleted (or, in a dry run, to be deleted) with its tags.
func (a *applier) digestDeleted(d *plan.Decision, tags []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.res.DeletedManifests = append(a.res.DeletedManifests, d.Digest)
	for _, t := range tags {
		a.res.DeletedTags = append(a.res.DeletedTags, inventory.Tag{Name: t, Digest: d.Digest})
	}
	a.removed[d.Digest] = true
}

// digestFailed sorts an error about a manifest: gone (404) counts as done, cancellation as
// remaining, anything else as a failure.
func (a *applier) digestFailed(ctx context.Context, d *plan.Decision, err error) {
	switch {
	case errors.Is(err, registry.ErrNotFound):
		a.mu.Lock()
		a.res.GoneManifests = append(a.res.GoneManifests, d.Digest)
		a.removed[d.Digest] = true
		a.mu.Unlock()
	case ctx.Err() != nil:
		a.addRemaining(1)
	default:
		a.fail("", d.Digest, err)
	}
}

// registerChildren records the children an index being deleted lists, so they wait for it.
func (a *applier) registerChildren(digest string, raw []byte) {
	m, err := inventory.ParseManifest(digest, "", raw, nil)
	if err != nil || !m.IsIndex() {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range m.Manifests {
		a.parents[c.Digest] = append(a.parents[c.Digest], digest)
	}
}

// parentsLeft returns the planned-delete indexes listing d (its plan parent and any index seen
// listing it) that are not gone yet.
func (a *applier) parentsLeft(d *plan.Decision) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var left []string
	if d.Parent != "" && a.decisions.deletes(d.Parent) && !a.removed[d.Parent] {
		left = append(left, d.Parent)
	}
	for _, p := range a.parents[d.Digest] {
		if !a.removed[p] && p != d.Parent {
			left = append(left, p)
		}
	}
	return left
}

func (a *applier) markComplete(digest string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.complete[digest] = true
}

// journalIntent writes the manifest record before a delete.
func (a *applier) journalIntent(d *plan.Decision, raw []byte, mediaType string, by plan.Mode, tags []string) error {
	return a.eng.Intent(JournalRecord{Digest: d.Digest, MediaType: mediaType, Tags: tags, Raw: raw, Parent: d.Parent, By: by})
}
