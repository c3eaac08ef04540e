package apply

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/regtidy/regtidy/internal/redact"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
)

// applier is one run of Apply.
type applier struct {
	p    *plan.Plan
	repo string
	t    *countingTarget
	opt  ApplyOptions
	log  *slog.Logger
	eng  *Engine
	port ociPort
	// decisions finds the plan's decisions by digest, and whether the plan deletes a digest.
	decisions decisionIndex

	mu  sync.Mutex
	res ApplyResult
	// complete: tagged digests whose every planned tag is now gone (tag mode).
	complete map[string]bool
	// removed: digests deleted or found gone in digest mode (or, in a dry run, would be).
	removed map[string]bool
	// parents: for each child digest, the planned-delete indexes fetched this run that list it.
	parents map[string][]string
	// listed: the tag names the last listing found.
	listed map[string]bool
	// tagsAt: for each digest, the tags the last check resolved to it (digest mode).
	tagsAt map[string][]string
	// lastCheck: when the tags were last listed (and, in digest mode, resolved).
	lastCheck time.Time
	// checkedMissing: the first preflight checked the plan's deleted tags against the listing.
	checkedMissing bool
	// heldBack: digest-mode items that met an index listing them still undeleted (a tagged
	// index another deleted index lists shares its level); tried again once their level is done.
	heldBack []*plan.Decision

	// gate is held shared by each digest-mode item until its DELETE is answered, and exclusively
	// by a re-listing, which so sees no delete in flight.
	gate sync.RWMutex
	// sinceCheck counts the digest DELETEs made since the last listing.
	sinceCheck atomic.Int64

	// fallback is set when an auto-mode tag DELETE was refused as unsupported.
	fallback atomic.Bool

	done, total atomic.Int64
}

func newApplier(p *plan.Plan, t registry.Target, opt ApplyOptions) *applier {
	ct := &countingTarget{Target: t}
	a := &applier{
		p:         p,
		repo:      p.Repository,
		t:         ct,
		port:      ociPort{t: ct, repo: p.Repository},
		opt:       opt,
		log:       opt.Logger,
		decisions: newDecisionIndex(p.Decisions),
		complete:  map[string]bool{},
		removed:   map[string]bool{},
		parents:   map[string][]string{},
	}
	a.res.Repository = p.Repository
	a.res.DryRun = opt.DryRun
	return a
}

// runTag deletes the tags of every deleted digest. With auto set (ModeAuto), the first tag
// DELETE the registry refuses as unsupported stops the run, and runTag returns true, having
// deleted nothing, so the caller can fall back to digest mode.
func (a *applier) runTag(ctx context.Context, auto bool) (fallback bool) {
	// The plan's decisions are walked in place: a copy of the full case's deletes (Plan.Deletes)
	// would be 67 MB.
	var items []*plan.Decision
	for i := range a.p.Decisions {
		if d := &a.p.Decisions[i]; d.Action == plan.Delete && len(d.Tags) > 0 {
			items = append(items, a.decisions.find(d.Digest))
		}
	}
	a.total.Store(int64(len(items)))
	a.done.Store(0)
	a.fanOut(ctx, items, func(ctx context.Context, d *plan.Decision) { a.tagItem(ctx, d, auto) },
		func(d *plan.Decision) int { return len(d.Tags) })
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fallback.Load() {
		// Digest mode re-checks everything: forget what this attempt counted.
		a.res.Skipped, a.res.GoneTags, a.res.Remaining = nil, nil, 0
		a.complete = map[string]bool{}
		a.fallback.Store(false)
		return true
	}
	a.leftForGC()
	if n := len(a.res.LeftForGC); n > 0 {
		a.res.AfterApply = plan.GCAdvice(fmt.Sprintf("%d manifests are", n), "")
		a.res.Warnings = append(a.res.Warnings, a.res.AfterApply)
	}
	return false
}

// runDigest deletes every deleted manifest by digest, level by level: indexes before their
// children, and a child only once every planned-delete index listing it is gone. Before each
// level after the first (the first follows the preflight check), it lists and resolves the tags
// again and stops on a conflict.
func (a *applier) runDigest(ctx context.Context) {
	levels := a.levels()
	total := 0
	for _, l := range levels {
		total += len(l)
	}
	a.total.Store(int64(total))
	a.done.Store(0)
	for i, level := range levels {
		stop := !a.canStart(ctx)
		if !stop && i > 0 && !a.opt.DryRun {
			if err := a.relist(ctx); err != nil {
				if ctx.Err() == nil {
					a.eng.Abort(err)
				}
				stop = true
			}
		}
		if stop {
			for _, l := range levels[i:] {
				a.addRemaining(len(l))
			}
			break
		}
		a.fanOut(ctx, level, a.digestItem, func(*plan.Decision) int { return 1 })
		a.retryHeldBack(ctx)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// What is still held back waits for an index this run did not delete.
	a.res.Remaining += len(a.heldBack)
	a.heldBack = nil
	if n := len(a.res.DeletedManifests); n > 0 {
		a.res.AfterApply = fmt.Sprintf("%d manifests were deleted; their blobs stay until the registry's garbage collection runs (distribution: `registry garbage-collect`); run `regtidy verify` after it", n)
	}
}

// retryHeldBack tries the items held back during a level again, as long as a pass deletes the
// indexes some of them waited for: a tagged index listed by another deleted index sits in the
// same level as it, and is held back when its turn comes while that index's DELETE is still in
// flight. Its own children, a level down, then find it gone.
func (a *applier) retryHeldBack(ctx context.Context) {
	for {
		a.mu.Lock()
		held := a.heldBack
		a.heldBack = nil
		a.mu.Unlock()
		if len(held) == 0 {
			return
		}
		ready := held[:0:0]
		var waiting []*plan.Decision
		for _, d := range held {
			if len(a.parentsLeft(d)) == 0 {
				ready = append(ready, d)
			} else {
				waiting = append(waiting, d)
			}
		}
		a.mu.Lock()
		a.heldBack = append(a.heldBack, waiting...)
		a.mu.Unlock()
		if len(ready) == 0 || !a.canStart(ctx) {
			return
		}
		a.total.Add(int64(len(ready)))
		a.fanOut(ctx, ready, a.digestItem, func(*plan.Decision) int { return 1 })
	}
}

// fanOut runs fn over items with bounded concurrency. It stops starting items when ctx is done,
// the delete budget is spent or the run was aborted, counting what was left with remaining.
func (a *applier) fanOut(ctx context.Context, items []*plan.Decision, fn func(context.Context, *plan.Decision), remaining func(*plan.Decision) int) {
	var g errgroup.Group
	g.SetLimit(a.opt.Concurrency)
	for i, d := range items {
		if !a.canStart(ctx) {
			n := 0
			for _, rest := range items[i:] {
				n += remaining(rest)
			}
			a.addRemaining(n)
			break
		}
		g.Go(func() error {
			// Go may have waited for a free slot: check again before starting.
			if a.canStart(ctx) {
				fn(ctx, d)
			} else {
				a.addRemaining(remaining(d))
			}
			a.step()
			return nil
		})
	}
	_ = g.Wait() // items report into the result; none returns an error
}

// aborted reports whether the run was stopped.
func (a *applier) aborted() bool {
	return a.eng.Aborted() != nil
}

// pendingDelete reports whether the plan deletes digest and this run has not removed it yet.
func (a *applier) pendingDelete(digest string) bool {
	if !a.decisions.deletes(digest) {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.removed[digest]
}

// wentWith reports whether tag, seen on a digest this run has since deleted, is gone: it went with
// that delete. A tag that still resolves was pushed again since, and is a move like any other.
func (a *applier) wentWith(ctx context.Context, tag string) bool {
	_, err := a.t.Resolve(ctx, a.repo, tag)
	return errors.Is(err, registry.ErrNotFound)
}

// settled reports whether the plan accounts for digest's closure: it decides the digest, and this
// run has not removed it (a removed digest that is back was pushed again by someone else).
func (a *applier) settled(digest string) bool {
	if a.decisions.find(digest) == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.removed[digest]
}

// canStart reports whether a new item may start.
func (a *applier) canStart(ctx context.Context) bool {
	if ctx.Err() != nil || a.eng.Spent() || a.fallback.Load() {
		return false
	}
	return a.eng.Aborted() == nil
}

// step counts one item done and reports progress.
func (a *applier) step() {
	done := a.done.Add(1)
	if a.opt.Progress != nil {
		a.opt.Progress(int(done), int(a.total.Load()))
	}
}

// levels groups the deleted decisions by depth along their Parent chain (plan.DeleteLevels):
// level 0 has no deleted parent. Each level is sorted by digest.
func (a *applier) levels() [][]*plan.Decision {
	var out [][]*plan.Decision
	for _, digests := range a.p.DeleteLevels() {
		level := make([]*plan.Decision, len(digests))
		for i, d := range digests {
			level[i] = a.decisions.find(d)
		}
		out = append(out, level)
	}
	return out
}

// leftForGC fills res.LeftForGC (tag mode): tagged digests whose every tag is gone, and untagged
// planned deletes whose chain of deleted parents ends at such a digest or at none. Holds a.mu.
func (a *applier) leftForGC() {
	root := func(d *plan.Decision) *plan.Decision {
		for i := 0; i < a.decisions.len() && d.Parent != "" && a.decisions.deletes(d.Parent); i++ {
			d = a.decisions.find(d.Parent)
		}
		return d
	}
	var out []string
	for i := range a.p.Decisions {
		d := &a.p.Decisions[i]
		if d.Action != plan.Delete {
			continue
		}
		r := root(a.decisions.find(d.Digest))
		switch {
		case len(d.Tags) > 0 && a.complete[d.Digest]:
			out = append(out, d.Digest)
		case len(d.Tags) == 0 && (len(r.Tags) == 0 || a.complete[r.Digest]):
			out = append(out, d.Digest)
		}
	}
	sort.Strings(out)
	a.res.LeftForGC = out
}

func (a *applier) addRemaining(n int) {
	if n == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.res.Remaining += n
}

func (a *applier) fail(tag, digest string, err error) {
	a.log.Warn("delete failed", "tag", tag, "digest", digest, "err", redact.Text(err.Error()))
	a.mu.Lock()
	defer a.mu.Unlock()
	a.res.Failed = append(a.res.Failed, Failure{Tag: tag, Digest: digest, Err: err})
}

func (a *applier) skip(m plan.TagMove) {
	a.log.Warn("tag moved since the plan: skipped", "tag", m.Tag, "planned", m.Planned, "live", m.Live)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.res.Skipped = append(a.res.Skipped, m)
}

func (a *applier) goneTag(tag string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.res.GoneTags = append(a.res.GoneTags, tag)
}

// finish sorts the result's lists and copies the request counts.
func (a *applier) finish() *ApplyResult {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.res
	sort.Slice(r.DeletedTags, func(i, j int) bool { return r.DeletedTags[i].Name < r.DeletedTags[j].Name })
	sort.Strings(r.DeletedManifests)
	sort.Slice(r.Skipped, func(i, j int) bool { return r.Skipped[i].Tag < r.Skipped[j].Tag })
	sort.Strings(r.GoneTags)
	sort.Strings(r.GoneManifests)
	sort.Slice(r.Failed, func(i, j int) bool {
		if r.Failed[i].Digest != r.Failed[j].Digest {
			return r.Failed[i].Digest < r.Failed[j].Digest
		}
		return r.Failed[i].Tag < r.Failed[j].Tag
	})
	r.Requests = a.t.counts()
	return &r
}

// recheck resolves each of tags, planned with d, right before deleting (invariant 5). It returns
// the tags still pointing at d.Digest, records gone and moved ones, and counts tags that could
// not be checked in failed (recorded as failures) or, when ctx is done, in cancelled. With
// byDigest set (digest mode), a tag that moved onto another digest this run still deletes is not
// skipped: that digest's DELETE removes it, and journals it as one of its tags.
func (a *applier) recheck(ctx context.Context, d *plan.Decision, tags []string, byDigest bool) (live []string, failed, cancelled int) {
	for i, tag := range tags {
		if ctx.Err() != nil {
			return live, failed, len(tags) - i
		}
		desc, err := a.t.Resolve(ctx, a.repo, tag)
		switch {
		case errors.Is(err, registry.ErrNotFound):
			a.goneTag(tag)
		case err != nil && ctx.Err() != nil:
			return live, failed, len(tags) - i
		case err != nil:
			a.fail(tag, d.Digest, fmt.Errorf("re-checking tag before delete: %w", err))
			failed++
		case desc.Digest != d.Digest && byDigest && a.pendingDelete(desc.Digest):
			a.log.Info("tag moved onto another digest the plan deletes: it goes with that one", "tag", tag, "planned", d.Digest, "live", desc.Digest)
		case desc.Digest != d.Digest && byDigest && a.decisions.deletes(desc.Digest) && a.wentWith(ctx, tag):
			// That digest's DELETE ran between this resolve and now, and took the tag with it
			// (it journaled and counted the tag).
		case desc.Digest != d.Digest:
			a.skip(plan.TagMove{Tag: tag, Planned: d.Digest, Live: desc.Digest})
		default:
			live = append(live, tag)
		}
	}
	return live, failed, 0
}

// manifest returns d's exact bytes and media type for the journal: from the ManifestSource when
// it has them (fromSource), else by GET, which also shows the manifest is still there.
func (a *applier) manifest(ctx context.Context, digest string) (raw []byte, mediaType string, fromSource bool, err error) {
	if a.opt.Manifests != nil {
		if raw, mt, ok := a.opt.Manifests.Get(digest); ok && bytesMatch(digest, raw) {
			if mt == "" {
				if m, err := inventory.ParseManifest(digest, "", raw, nil); err == nil {
					mt = m.MediaType
				}
			}
			if mt != "" {
				return raw, mt, true, nil
			}
		}
	}
	raw, desc, err := a.t.FetchManifest(ctx, a.repo, digest)
	if err != nil {
		return nil, "", false, err
	}
	if !bytesMatch(digest, raw) {
		return nil, "", false, fmt.Errorf("fetching %s: %w", digest, registry.ErrDigestMismatch)
	}
	mt := desc.MediaType
	if mt == "" {
		if m, err := inventory.ParseManifest(digest, "", raw, nil); err == nil {
			mt = m.MediaType
		}
	}
	return raw, mt, false, nil
}

// bytesMatch reports whether raw hashes to digest; digests of other algorithms than sha256 are
// trusted (the registry client checks what it can).
func bytesMatch(digest string, raw []byte) bool {
	if !strings.HasPrefix(digest, "sha256:") {
		return true
	}
	return inventory.DigestOf(raw) == digest
}
