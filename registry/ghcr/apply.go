package ghcr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
)

// Defaults of ApplyOptions.
const (
	// DefaultSaveEvery is how many outcomes Apply records at least between two saves of the
	// state (DefaultSaveInterval must pass too).
	DefaultSaveEvery = 100
	// DefaultSaveInterval is the least time between two saves of the state during a run. The
	// state of a package of 400k versions is some 50 MB of JSON: saved every 100 outcomes to a
	// bucket, a night of 5,000 deletes would upload 2.5 GB. A run killed between saves loses at
	// most this much of its record, which the next run's listing and 404s make good.
	DefaultSaveInterval = time.Minute
	// DefaultRecheckEvery is how often a long run resolves the kept tags again (a request per
	// kept tag through the OCI API): a kept tag moved onto a version this run deletes, after the
	// first check, is seen within the hour. At one delete a second a night then makes one pass
	// over the kept tags an hour, where relisting every night reads every tagged manifest.
	DefaultRecheckEvery = time.Hour
	// DefaultCheckConcurrency bounds the OCI resolves and fetches of a re-check.
	DefaultCheckConcurrency = 16
	// DefaultDeleteTimeout bounds one journaled delete, which is carried through even when ctx is
	// cancelled, so that every intent in the journal gets its outcome.
	DefaultDeleteTimeout = 2 * time.Minute
)

// OCIReader is what Apply reads through ghcr.io's OCI API right before deleting: the live tags,
// what they resolve to, and manifests (to find the children of a digest a kept tag moved onto).
// *registry.Client is one. These reads do not count against the REST rate limit.
type OCIReader interface {
	registry.Lister
	registry.Resolver
	registry.ManifestFetcher
}

// ApplyOptions tune Apply. The zero value journals nothing and does not save the state; request
// and time budgets and the pace are the Client's (WithMaxRequests, WithDeadline, WithPace).
type ApplyOptions struct {
	// Journal receives the journal (JSON lines, plan.JournalSchema, mode "version"): each version
	// with its id, digest, tags and, when Manifests has them, its manifest's bytes, written before
	// its delete, and the outcome after. Undo reads it back. Without one, nothing can be undone.
	Journal io.Writer
	// JournalPath, if Journal is nil, is a file the journal is appended to (created 0600).
	JournalPath string
	// Manifests, if set, supplies manifest bytes by digest (the inventory cache): journaled with
	// each version, and read for the children of indexes, so that a child waits for every index
	// that lists it and not only the parent the plan names.
	Manifests apply.ManifestSource
	// StatePath, if set, is where the state is saved (LoadState's locations): once SaveEvery
	// outcomes and SaveInterval have passed since the last save, when the budget is spent, and at
	// the end of the run.
	StatePath string
	// LockPath is the lock that keeps a second run of the package out while this one deletes (a
	// local path or a bucket URL, see plan.AcquireLock). Empty: beside the state
	// (LockLocation(StatePath)) when StatePath is set, else beside the journal file, else no
	// lock. Dry runs take no lock.
	LockPath string
	// LockExpiry is how long the lock holds without a refresh (on the client's clock; the run
	// refreshes it every third of it). The default value is plan.DefaultLockExpiry.
	LockExpiry time.Duration
	// SaveEvery is how many outcomes pass between saves at least. The default value is
	// DefaultSaveEvery.
	SaveEvery int
	// SaveInterval is how much time (on the client's clock) passes between saves at least. The
	// default value is DefaultSaveInterval.
	SaveInterval time.Duration
	// MaxDeletes caps the DELETE requests of this run (0: no cap). Past it the run stops as when
	// the budget is spent.
	MaxDeletes int
	// RecheckEvery is how often the kept tags are resolved again during a run. The first check is
	// made before any delete. The default value is DefaultRecheckEvery.
	RecheckEvery time.Duration
	// CheckConcurrency bounds the OCI requests of a check. The default value is 16.
	CheckConcurrency int
	// DeleteTimeout bounds one journaled delete. The default value is DefaultDeleteTimeout.
	DeleteTimeout time.Duration
	// DryRun checks like a real run and reports what would be deleted, without a REST request,
	// a journal or a change to the state.
	DryRun bool
	// Progress, if set, is called after each version settled with done and total.
	Progress func(done, total int)
	// Logger receives what is skipped and why; nil discards.
	Logger *slog.Logger
}

func (o ApplyOptions) withDefaults() ApplyOptions {
	apply.Default(&o.SaveEvery, DefaultSaveEvery)
	apply.Default(&o.SaveInterval, DefaultSaveInterval)
	apply.Default(&o.RecheckEvery, DefaultRecheckEvery)
	apply.Default(&o.CheckConcurrency, DefaultCheckConcurrency)
	apply.Default(&o.DeleteTimeout, DefaultDeleteTimeout)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// ApplyResult reports what Apply did. In a dry run, Deleted says what would be deleted.
type ApplyResult struct {
	apply.Result
	// Planned counts the versions the plan deletes.
	Planned int `json:"planned"`
	// Deleted were deleted by this run; Gone were already gone (404: an earlier run whose state
	// was lost, or someone else).
	Deleted []inventory.Version `json:"deleted,omitempty"`
	Gone    []inventory.Version `json:"gone,omitempty"`
	// Undeletable are the versions GitHub refused for good in this run: recorded in the state
	// and skipped by later runs.
	Undeletable []Refusal `json:"undeletable,omitempty"`
	// Protected are planned deletes left alone because a kept tag (or a tag the plan does not
	// know) now points at them or at an index that lists them.
	Protected []Skip `json:"protected,omitempty"`
	// Held are children left alone because an index listing them was not deleted (undeletable,
	// failed, protected or unlisted): deleting them would break it.
	Held []Skip `json:"held,omitempty"`
	// Unlisted are planned-delete digests with no version id yet: a later listing finds them.
	Unlisted []string `json:"unlisted,omitempty"`
	// DoneBefore and RefusedBefore count planned versions the state records as deleted, or as
	// refused by GitHub, in earlier runs: skipped without a request.
	DoneBefore    int `json:"done_before,omitempty"`
	RefusedBefore int `json:"refused_before,omitempty"`
	// Requests counts the REST requests this run sent (retries included).
	Requests int `json:"requests"`
	// Checks describes the OCI re-checks of the kept tags.
	Checks CheckStats `json:"checks"`
	// Stopped says why the run stopped before the end, if it did.
	Stopped string `json:"stopped,omitempty"`
}

// Partial reports whether work is left for a later run.
func (r *ApplyResult) Partial() bool {
	return r.Remaining > 0 || len(r.Failed) > 0 || len(r.Unlisted) > 0
}

// Settled counts the planned versions that need nothing more from a later run.
func (r *ApplyResult) Settled() int { return r.Planned - r.Remaining - len(r.Failed) - len(r.Unlisted) }

// Refusal is a version GitHub refuses to delete, with GitHub's reason and message.
type Refusal struct {
	ID      int64  `json:"id"`
	Digest  string `json:"digest"`
	Reason  Reason `json:"reason"`
	Message string `json:"message"`
}

// Skip is a planned delete left alone, and why.
type Skip struct {
	ID     int64  `json:"id,omitempty"`
	Digest string `json:"digest"`
	Why    string `json:"why"`
}

// CheckStats counts the OCI requests of the re-checks of the live tags.
type CheckStats struct {
	// Runs counts the checks; Tags the live tags they listed, summed.
	Runs int `json:"runs"`
	Tags int `json:"tags"`
	// Resolves and Fetches count the tags resolved and the manifests fetched.
	Resolves int `json:"resolves"`
	Fetches  int `json:"fetches"`
	// Protected counts the digests the last check found a live tag reaching outside the plan's keeps.
	Protected int `json:"protected"`
}

// Apply carries out a plan's deletes on ghcr.io, one package version at a time through rest, and
// records every outcome in st:
//
//   - Right before deleting (and again every RecheckEvery), it lists the live tags through oci and
//     resolves every tag the plan keeps and every tag the plan does not know. A planned delete
//     that such a tag now points at is left alone, with every manifest that digest reaches
//     (index children, attestations, sha256-<digest> referrer tags): invariants 1 and 5.
//   - A version is deleted only when the plan deletes its digest, that is when none of its tags is
//     kept (invariant 2), and only by the version id the plan (or st, for versions listed since)
//     gives: a digest with no id is never deleted.
//   - Indexes go before their children, and a child only once every index listing it is deleted:
//     an index GitHub refuses to delete keeps its children. Whole images are finished before the
//     next starts, oldest first, so a run stopped by its budget leaves few orphans.
//   - Each version is journaled before its delete and its outcome after. A 404 counts as done; a
//     version GitHub refuses for good (over 5,000 downloads, last tagged version, a 403) is
//     recorded and skipped by later runs, and never stops the rest; a version st records as
//     deleted or refused costs no request. Running Apply again with the same plan and state
//     continues where a run stopped and deletes nothing twice.
//   - It refuses a plan without an intact seal or deleting a manifest with keep reasons
//     (plan.Plan.CheckApplicable), and, before any delete, a plan most of whose deleted tags are
//     missing for no reason st or the journal records (plan.ErrPlanMismatch).
//   - One run at a time per package: a second run finds the lock (ApplyOptions.LockPath, by
//     default beside the state) and is refused with a *plan.LockedError naming the holder; an
//     expired lock is taken over.
//   - When the budget is spent (Client's WithMaxRequests, WithDeadline, a rate limit beyond its
//     longest wait, or MaxDeletes), it stops starting deletes, saves st and returns an error
//     wrapping a *BudgetError: "delete: N of M versions done; the next run continues".
//
// A cancelled ctx stops it too: deletes already journaled are carried through, st is saved, and
// the error is ctx's. Failed deletes are collected (the error wraps plan.ErrPartial). The result
// is non-nil once the plan was accepted.
func Apply(ctx context.Context, p *plan.Plan, oci OCIReader, rest *Client, st *State, opt ApplyOptions) (*ApplyResult, error) {
	if err := checkApplyInputs(p, rest, st); err != nil {
		return nil, err
	}
	opt = opt.withDefaults()
	a := newApplier(p, oci, rest, st, opt)
	eng, err := a.start(ctx)
	if err != nil {
		return nil, err
	}
	defer eng.Release(ctx)
	a.eng = eng
	if a.anyToDelete() {
		if err := a.check(ctx); err != nil {
			return a.finish(), err
		}
	} else {
		a.protected, a.lastCheck = map[string]string{}, a.now() // a quiet night: nothing to delete, nothing to check
	}
	a.settleInitial()
	if err := eng.Begin(apply.JournalRecord{Repository: p.Repository, Fingerprint: p.Fingerprint, Mode: plan.ModeVersion}); err != nil {
		return a.finish(), err
	}
	a.run(ctx)
	a.writeEnd()
	a.save(ctx)
	res := a.finish()
	return res, a.err(ctx)
}

// start starts the run's engine: its lock (none for a dry run or without a place for it: by
// default beside the state, else beside the journal file), kept fresh; a lock lost while running
// stops the run from starting deletes.
func (a *applier) start(ctx context.Context) (*apply.Engine, error) {
	loc := a.opt.LockPath
	switch {
	case loc != "":
	case a.opt.StatePath != "":
		loc = LockLocation(a.opt.StatePath)
	case a.opt.JournalPath != "":
		loc = a.opt.JournalPath + ".lock"
	}
	var store apply.LockStore
	if loc != "" {
		store = LockStore(loc)
	}
	eng, err := apply.StartEngine(ctx, apply.EngineOptions{
		Journal: a.opt.Journal, JournalPath: a.opt.JournalPath,
		LockStore: store, LockKey: loc, LockExpiry: a.opt.LockExpiry, Purpose: "apply " + a.p.Repository,
		DryRun: a.opt.DryRun, MaxDeletes: a.opt.MaxDeletes, DeleteTimeout: a.opt.DeleteTimeout, Now: a.now, Logger: a.log,
	})
	if err != nil {
		return nil, fmt.Errorf("ghcr: %w", err)
	}
	return eng, nil
}

// checkApplyInputs refuses a plan of another package, a plan without an intact seal or with a
// delete carrying keep reasons (plan.Plan.CheckApplicable), or a state of another package.
func checkApplyInputs(p *plan.Plan, rest *Client, st *State) error {
	if p == nil || rest == nil || st == nil {
		return errors.New("ghcr: Apply needs a plan, a REST client and a state")
	}
	if p.Schema != plan.Schema {
		return fmt.Errorf("ghcr: plan schema %q, this regtidy reads %q", p.Schema, plan.Schema)
	}
	if err := p.CheckApplicable(); err != nil {
		return fmt.Errorf("ghcr: %w", err)
	}
	owner, name, err := ParseRepository(p.Repository)
	if err != nil {
		return err
	}
	if got := owner + "/" + name; got != rest.Repository() {
		return fmt.Errorf("ghcr: the plan is for package %s, the REST client for %s", got, rest.Repository())
	}
	switch {
	case st.Repository == "":
		st.Repository = rest.Repository()
	case st.Repository != rest.Repository():
		return fmt.Errorf("ghcr: state is for %s, not %s", st.Repository, rest.Repository())
	}
	rest.learnOwnerKind(st)
	return nil
}

// learnOwnerKind tells the client the owner's kind the state knows, sparing a lookup, or records
// in the state the kind the client knows.
func (c *Client) learnOwnerKind(st *State) {
	c.kindMu.Lock()
	defer c.kindMu.Unlock()
	switch {
	case c.kind == OwnerUnknown:
		c.kind = st.OwnerKind
	case st.OwnerKind == OwnerUnknown:
		st.OwnerKind = c.kind
	}
}

// finish completes the result's counts.
func (a *applier) finish() *ApplyResult {
	a.res.Requests = a.c.Stats().Requests - a.requestsBefore
	a.res.Remaining = 0
	for _, it := range a.items {
		if it.state == itemQueued || it.state == itemReady || it.state == itemStopped {
			a.res.Remaining++
		}
	}
	if a.stopErr != nil {
		a.res.Stopped = a.stopErr.Error()
	}
	if len(a.res.Deleted) > 0 && !a.res.DryRun {
		a.res.AfterApply = "GitHub can restore deleted versions for 30 days after their deletion (regtidy undo with this run's journal); " +
			"ghcr.io frees their storage itself: there is no garbage collection to run"
	}
	res := a.res
	return &res
}

// err composes Apply's error: an abort (journal, re-check), the budget or cancellation, the
// failures, and a state that could not be saved.
func (a *applier) err(ctx context.Context) error {
	var errs []error
	if err := a.eng.Aborted(); err != nil {
		errs = append(errs, err)
	}
	switch {
	case a.stopErr != nil && errors.Is(a.stopErr, ErrBudgetSpent):
		errs = append(errs, &BudgetError{Op: "delete", Unit: "versions", Done: a.res.Planned - a.res.Remaining,
			Total: a.res.Planned, Cause: a.stopErr})
	case a.stopErr != nil:
		errs = append(errs, a.stopErr)
	case ctx.Err() != nil && a.res.Remaining > 0:
		errs = append(errs, ctx.Err())
	}
	if err := apply.PartialError(a.res.Failed, "versions"); err != nil {
		errs = append(errs, err)
	}
	if a.saveErr != nil {
		errs = append(errs, a.saveErr)
	}
	return errors.Join(errs...)
}

// save writes the state to opt.StatePath, even after ctx was cancelled.
func (a *applier) save(ctx context.Context) {
	a.sinceSave, a.lastSave = 0, a.now()
	if a.st.OwnerKind == OwnerUnknown {
		a.st.OwnerKind = a.c.OwnerKind()
	}
	if a.opt.StatePath == "" || a.opt.DryRun {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := a.st.Save(sctx, a.opt.StatePath, a.now()); err != nil {
		a.log.Error("ghcr: saving the state", "err", err)
		a.saveErr = err
	}
}

// writeEnd journals the run's end record.
func (a *applier) writeEnd() {
	remaining := 0
	for _, it := range a.items {
		if it.state == itemQueued || it.state == itemReady || it.state == itemStopped {
			remaining++
		}
	}
	a.eng.End(len(a.res.Deleted), len(a.res.Failed), remaining, len(a.res.Unlisted) == 0)
}
