package ghcr

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/internal/redact"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
)

// itemState is where one planned version stands in a run.
type itemState int

const (
	// itemQueued waits for its turn (a root) or for its parents (a child).
	itemQueued itemState = iota
	// itemReady has every parent deleted: it goes before the next root.
	itemReady
	// itemInflight is journaled and being deleted.
	itemInflight
	// itemDeleted is deleted: by this run, found gone, or recorded deleted by an earlier run.
	itemDeleted
	// itemBlocked is left alone: protected, held, unlisted, refused or failed.
	itemBlocked
	// itemStopped was journaled when the budget ran out, and not deleted: the next run's.
	itemStopped
)

// applyItem is one planned delete.
type applyItem struct {
	dec      *plan.Decision
	v        inventory.Version
	parents  []*applyItem
	children []*applyItem
	// waiting counts the parents not deleted yet.
	waiting int
	state   itemState
}

// applier is one run of Apply.
type applier struct {
	p   *plan.Plan
	oci OCIReader
	c   *Client
	st  *State
	opt ApplyOptions
	log *slog.Logger
	eng *apply.Engine

	items    []*applyItem
	byDigest map[string]*applyItem
	roots    []*applyItem
	nextRoot int
	ready    []*applyItem

	// kept holds the digests the plan keeps; planTags the plan's tag -> digest mapping; byParent
	// the decisions naming each digest as their parent.
	kept     map[string]bool
	planTags map[string]string
	byParent map[string][]string

	protected map[string]string
	lastCheck time.Time
	// live holds the tags the last check listed.
	live map[string]bool

	res            ApplyResult
	requestsBefore int
	settled        int
	sinceSave      int
	lastSave       time.Time
	stopErr        error // the budget was spent, or the token refused
	saveErr        error
	// forbidden are 403 refusals not recorded in the state yet (see refused).
	forbidden []DeleteResult
}

// deleteDone is the answer to one delete.
type deleteDone struct {
	it  *applyItem
	err error
	at  time.Time
}

func newApplier(p *plan.Plan, oci OCIReader, c *Client, st *State, opt ApplyOptions) *applier {
	a := &applier{
		p: p, oci: oci, c: c, st: st, opt: opt, log: opt.Logger,
		byDigest: map[string]*applyItem{},
		kept:     map[string]bool{},
		planTags: make(map[string]string, len(p.Tags)),
		byParent: map[string][]string{},
	}
	a.res = ApplyResult{Result: apply.Result{Repository: p.Repository, Mode: plan.ModeVersion, DryRun: opt.DryRun}}
	a.requestsBefore = c.Stats().Requests
	a.lastSave = a.now() // the state was loaded just now: the first save can wait an interval
	for _, t := range p.Tags {
		a.planTags[t.Name] = t.Digest
	}
	for i := range p.Decisions {
		d := &p.Decisions[i]
		if d.Parent != "" {
			a.byParent[d.Parent] = append(a.byParent[d.Parent], d.Digest)
		}
		if d.Action != plan.Delete {
			a.kept[d.Digest] = true
			continue
		}
		if _, dup := a.byDigest[d.Digest]; dup {
			continue
		}
		it := &applyItem{dec: d, v: inventory.Version{ID: d.VersionID, Digest: d.Digest, Tags: d.Tags, CreatedAt: d.Created}}
		if sv, ok := st.Versions[d.Digest]; ok && (it.v.ID == 0 || sv.ID == it.v.ID) {
			it.v.ID, it.v.CreatedAt = sv.ID, sv.Created
		}
		a.items = append(a.items, it)
		a.byDigest[d.Digest] = it
	}
	a.res.Planned = len(a.items)
	a.link()
	return a
}

// link records parents and children among the planned deletes: the parent each decision names,
// and the children listed by the manifests of deleted indexes that opt.Manifests holds.
func (a *applier) link() {
	edge := func(parent, child *applyItem) {
		if parent == child || slices.Contains(child.parents, parent) {
			return
		}
		child.parents = append(child.parents, parent)
		parent.children = append(parent.children, child)
	}
	for _, it := range a.items {
		if p := a.byDigest[it.dec.Parent]; p != nil {
			edge(p, it)
		}
		if a.opt.Manifests == nil {
			continue
		}
		raw, mt, ok := a.opt.Manifests.Get(it.v.Digest)
		if !ok {
			continue
		}
		if mt == "" {
			mt = it.dec.MediaType
		}
		m, err := inventory.ParseManifest(it.v.Digest, mt, raw, nil)
		if err != nil {
			continue
		}
		for _, c := range m.Manifests {
			if ci := a.byDigest[c.Digest]; ci != nil {
				edge(it, ci)
			}
		}
	}
	for _, it := range a.items {
		if len(it.parents) == 0 {
			a.roots = append(a.roots, it)
		}
	}
	slices.SortStableFunc(a.roots, func(x, y *applyItem) int {
		if c := x.v.CreatedAt.Compare(y.v.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(x.v.Digest, y.v.Digest)
	})
}

// settleInitial sets what needs no request: versions with no id, versions the state records as
// deleted or refused, protected ones; then holds the children of what will not be deleted and
// readies the children whose parents are all deleted already.
func (a *applier) settleInitial() {
	for _, it := range a.items {
		_, deleted := a.st.Deleted[it.v.ID]
		refused, isRefused := a.st.Undeletable[it.v.ID]
		switch {
		case it.v.ID == 0:
			it.state = itemBlocked
			a.res.Unlisted = append(a.res.Unlisted, it.v.Digest)
		case deleted:
			it.state = itemDeleted
			a.res.DoneBefore++
		case isRefused:
			it.state = itemBlocked
			a.res.RefusedBefore++
			a.log.Debug("ghcr: skipping a version GitHub refused before", "id", it.v.ID, "reason", refused.Reason)
		case a.protected[it.v.Digest] != "":
			a.protect(it, a.protected[it.v.Digest])
		}
	}
	for _, it := range a.items {
		if it.state == itemBlocked {
			a.hold(it, a.blockedWhy(it))
		}
	}
	for _, it := range a.items {
		if it.state != itemQueued || len(it.parents) == 0 {
			continue
		}
		it.waiting = 0
		for _, p := range it.parents {
			if p.state != itemDeleted {
				it.waiting++
			}
		}
		if it.waiting == 0 {
			it.state = itemReady
			a.ready = append(a.ready, it)
		}
	}
	for _, it := range a.items {
		if it.state == itemDeleted || it.state == itemBlocked {
			a.settled++
		}
	}
}

// blockedWhy says why a blocked version stays, for the children it holds.
func (a *applier) blockedWhy(it *applyItem) string {
	switch {
	case it.v.ID == 0:
		return "has no version id yet"
	case a.protected[it.v.Digest] != "":
		return "is protected"
	}
	if r, ok := a.st.Undeletable[it.v.ID]; ok {
		return "cannot be deleted (" + string(r.Reason) + ")"
	}
	return "was not deleted"
}

// protect leaves a queued version alone because a live tag reaches it.
func (a *applier) protect(it *applyItem, why string) {
	it.state = itemBlocked
	a.res.Protected = append(a.res.Protected, Skip{ID: it.v.ID, Digest: it.v.Digest, Why: why})
	a.log.Warn("ghcr: a live tag reaches a planned delete: left alone", "digest", it.v.Digest, "why", why)
}

// hold leaves alone the children (and their children) of a version that stays, unless they are
// settled already, and returns how many it held.
func (a *applier) hold(parent *applyItem, why string) int {
	held := 0
	stack := []*applyItem{parent}
	for n := 0; len(stack) > 0 && n <= len(a.items); n++ {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range p.children {
			if c.state != itemQueued && c.state != itemReady {
				continue
			}
			c.state = itemBlocked
			held++
			a.res.Held = append(a.res.Held, Skip{ID: c.v.ID, Digest: c.v.Digest,
				Why: fmt.Sprintf("index %s, which lists it, %s", shortDigest(p.v.Digest), why)})
			stack = append(stack, c)
		}
	}
	return held
}

// next returns the next version to delete: a ready child first (to finish the image under way),
// else the next root, oldest first; nil when none is left.
func (a *applier) next() *applyItem {
	for len(a.ready) > 0 {
		it := a.ready[0]
		a.ready = a.ready[1:]
		if it.state == itemReady {
			return it
		}
	}
	for a.nextRoot < len(a.roots) {
		it := a.roots[a.nextRoot]
		a.nextRoot++
		if it.state == itemQueued {
			return it
		}
	}
	return nil
}

// run deletes until every planned version is settled, the budget is spent, ctx is cancelled or
// the journal fails. It is the only goroutine touching the items and the state; deletes run in
// their own goroutines, up to the client's concurrency, and report back on a channel.
func (a *applier) run(ctx context.Context) {
	limit := a.c.pacer.inflight()
	results := make(chan deleteDone, limit)
	inflight := 0
	for {
		if a.canLaunch(ctx) && inflight < limit {
			if it := a.next(); it != nil {
				if a.now().Sub(a.lastCheck) >= a.opt.RecheckEvery {
					if err := a.recheck(ctx); err != nil {
						a.eng.Abort(err)
						continue
					}
					if it.state != itemQueued && it.state != itemReady {
						continue // protected by the re-check
					}
				}
				if a.launch(ctx, it, results) {
					inflight++
				}
				continue
			}
		}
		if inflight == 0 {
			return
		}
		d := <-results
		inflight--
		a.settle(ctx, d)
	}
}

func (a *applier) canLaunch(ctx context.Context) bool {
	return a.stopErr == nil && a.eng.Aborted() == nil && ctx.Err() == nil
}

// launch journals the version and starts its delete; false when it did not (budget, pacing
// cancelled, journal failure), with the reason recorded.
func (a *applier) launch(ctx context.Context, it *applyItem, results chan<- deleteDone) bool {
	if a.eng.Take(1) == 0 {
		a.stopErr = fmt.Errorf("%w: %d deletes sent, the most this run may send", errDeleteCap, a.opt.MaxDeletes)
		return false
	}
	if a.opt.DryRun {
		it.state = itemInflight
		results <- deleteDone{it: it, at: a.now()}
		return true
	}
	if err := a.c.budget.check(a.now()); err != nil {
		a.eng.Give(1)
		a.stopErr = err
		return false
	}
	if err := a.journalIntent(it); err != nil {
		a.eng.Give(1)
		a.eng.Abort(err)
		return false
	}
	it.state = itemInflight
	go func() {
		// The engine journals the outcome, and carries the delete through a cancelled ctx.
		err, _ := a.eng.Delete(ctx, versionPort{a.c}, apply.Target{Digest: it.v.Digest, VersionID: it.v.ID})
		results <- deleteDone{it: it, err: err, at: a.now()}
	}()
	return true
}

// settle records one answer: in the result, the state and the journal; then readies the children
// of a deleted version, or holds those of one that stays.
func (a *applier) settle(ctx context.Context, d deleteDone) {
	it := d.it
	var ue *UndeletableError
	switch {
	case a.opt.DryRun:
		it.state = itemDeleted
		a.res.Deleted = append(a.res.Deleted, it.v)
	case d.err == nil:
		it.state = itemDeleted
		a.res.Deleted = append(a.res.Deleted, it.v)
		a.st.Record(DeleteResult{Version: it.v, Outcome: OutcomeDeleted, At: d.at})
		for _, r := range a.forbidden {
			a.st.Record(r) // a delete went through: the token may delete, so those refusals are the versions'
		}
		a.forbidden = nil
	case errors.Is(d.err, registry.ErrNotFound):
		it.state = itemDeleted
		a.res.Gone = append(a.res.Gone, it.v)
		a.st.Record(DeleteResult{Version: it.v, Outcome: OutcomeGone, At: d.at})
	case errors.As(d.err, &ue):
		it.state = itemBlocked
		a.res.Undeletable = append(a.res.Undeletable, Refusal{ID: it.v.ID, Digest: it.v.Digest, Reason: ue.Reason, Message: ue.Message})
		a.refused(DeleteResult{Version: it.v, Outcome: OutcomeUndeletable, Reason: ue.Reason, Message: ue.Message, At: d.at})
		a.log.Warn("ghcr: GitHub refuses to delete this version; recorded, later runs skip it", "id", it.v.ID, "digest", it.v.Digest, "reason", ue.Reason)
	case errors.Is(d.err, ErrBudgetSpent), errors.Is(d.err, registry.ErrUnauthorized):
		it.state = itemStopped
		if a.stopErr == nil {
			a.stopErr = d.err
		}
	default:
		it.state = itemBlocked
		a.res.Failed = append(a.res.Failed, apply.Failure{ID: it.v.ID, Digest: it.v.Digest, Err: d.err})
		a.log.Warn("ghcr: delete failed; a later run tries again", "id", it.v.ID, "digest", it.v.Digest, "err", redact.Text(d.err.Error()))
	}
	switch it.state {
	case itemDeleted:
		for _, c := range it.children {
			c.waiting--
			if c.waiting <= 0 && c.state == itemQueued {
				c.state = itemReady
				a.ready = append(a.ready, c)
			}
		}
	case itemBlocked:
		a.settled += a.hold(it, a.outcomeWhy(it, d.err))
	}
	if it.state != itemStopped {
		a.settled++
		a.sinceSave++
	}
	if a.opt.Progress != nil {
		a.opt.Progress(a.settled, a.res.Planned)
	}
	if a.sinceSave >= a.opt.SaveEvery && a.now().Sub(a.lastSave) >= a.opt.SaveInterval {
		a.save(ctx)
	}
}

// forbiddenStreak is how many 403 refusals in a row, with no delete through yet, stop a run: the
// token, not the versions, is the likely cause.
const forbiddenStreak = 3

// refused records a version GitHub refuses in the state, so later runs skip it. A 403 before any
// delete of the run went through may be the token's fault (no delete:packages scope, no admin
// rights on the package): such refusals wait for a first success before they are recorded, and
// forbiddenStreak of them stop the run, so that a wrong token never marks every version
// undeletable.
func (a *applier) refused(r DeleteResult) {
	if r.Reason != ReasonForbidden || len(a.res.Deleted) > 0 {
		a.st.Record(r)
		return
	}
	a.forbidden = append(a.forbidden, r)
	if len(a.forbidden) >= forbiddenStreak && a.stopErr == nil {
		a.stopErr = fmt.Errorf("%w: the first %d deletes of this run were refused (403): the token likely lacks the delete:packages scope or admin rights on %s; nothing was recorded as undeletable",
			registry.ErrUnauthorized, len(a.forbidden), a.c.Repository())
	}
}

// outcomeWhy says why a version that was tried stays, for the children it holds.
func (a *applier) outcomeWhy(it *applyItem, err error) string {
	var ue *UndeletableError
	if errors.As(err, &ue) {
		return "cannot be deleted (" + string(ue.Reason) + ")"
	}
	return "failed to delete"
}

// journalIntent journals a version before its delete, with its manifest's bytes when known.
func (a *applier) journalIntent(it *applyItem) error {
	rec := apply.JournalRecord{
		Digest: it.v.Digest, MediaType: it.dec.MediaType, Tags: it.v.Tags,
		Parent: it.dec.Parent, By: plan.ModeVersion, VersionID: it.v.ID, Created: it.v.CreatedAt.UTC(),
	}
	if a.opt.Manifests != nil {
		if raw, mt, ok := a.opt.Manifests.Get(it.v.Digest); ok {
			rec.Raw = raw
			if mt != "" {
				rec.MediaType = mt
			}
		}
	}
	return a.eng.Intent(rec)
}

func (a *applier) now() time.Time { return a.c.now() }

// shortDigest shortens a digest for messages: "sha256:" and 12 hex digits.
func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
