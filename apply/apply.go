package apply

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
)

// ErrPartial is wrapped by the error Apply returns when some deletes failed. The result then
// lists each failure; running Apply again retries them.
var ErrPartial = errors.New("apply finished partially")

// DefaultConcurrency is the default number of deletes (and re-checks) in flight.
const DefaultConcurrency = 8

// DefaultDeleteTimeout bounds one journaled delete. Once its intent is journaled, a delete is
// carried through even if ctx is cancelled, so every intent in the journal gets its outcome.
const DefaultDeleteTimeout = 5 * time.Minute

// Digest-mode re-listing defaults. DELETE by digest removes every tag pointing at the digest,
// including one pushed after the check before the run, so digest mode lists and resolves the
// tags again before each level of deletes and at least this often, and stops (ErrPlanStale) when
// a new or kept tag now points at a digest still to be deleted.
const (
	// DefaultRelistEvery is the default number of digest deletes between two re-listings.
	DefaultRelistEvery = 200
	// DefaultRelistInterval is the default longest time between two re-listings while deleting.
	DefaultRelistInterval = 2 * time.Minute
)

// ManifestSource supplies manifest bytes already known by digest, so apply need not GET them
// for the journal. *inventory.Cache is one (it checks the bytes against the digest).
type ManifestSource interface {
	Get(digest string) (raw []byte, mediaType string, ok bool)
}

// ApplyOptions tune Apply. The zero value deletes in ModeAuto, 8 at a time, without a journal.
type ApplyOptions struct {
	// Mode is how to delete; empty means ModeAuto.
	Mode plan.Mode
	// MaxDeletes bounds the DELETE requests made; 0 means no bound. Apply stops cleanly when it
	// is reached: the result counts the deletes left, and running Apply again continues.
	MaxDeletes int
	// Concurrency bounds the items worked on at once. The default value is 8.
	Concurrency int
	// Journal receives the journal (JSON lines): each deleted manifest's exact bytes and tags,
	// written before the delete. Undo reads it back. Each record is one Write call (one write(2)
	// on a file: it survives a killed process); a writer with a Flush method is flushed after
	// every record. Without a journal, deletes cannot be undone.
	Journal io.Writer
	// JournalPath, if Journal is nil, is a file the journal is appended to (created 0600).
	JournalPath string
	// LockPath is the lock file that keeps a second run of the repository out while this one
	// deletes (see AcquireLock). Empty: JournalPath + ".lock" when JournalPath is set, else no
	// lock (a caller writing the journal elsewhere locks for itself). Dry runs take no lock.
	LockPath string
	// LockExpiry is how long the lock holds without a refresh (the run refreshes it every third
	// of it). The default value is DefaultLockExpiry.
	LockExpiry time.Duration
	// Manifests, if set, supplies manifest bytes by digest (an inventory cache) to save GETs.
	Manifests ManifestSource
	// Progress, if set, is called after each item (a deleted digest) with done and total.
	Progress func(done, total int)
	// Logger receives skipped tags, failures and the mode chosen; nil discards.
	Logger *slog.Logger
	// DryRun lists and re-checks like a real run and reports what would be deleted, without
	// fetching manifests, journaling or deleting.
	DryRun bool
	// Now returns the time written in the journal; nil uses time.Now.
	Now func() time.Time
	// DeleteTimeout bounds each journaled delete call. The default value is DefaultDeleteTimeout.
	DeleteTimeout time.Duration
	// RelistEvery is how many digest-mode deletes may be made between two re-listings of the
	// tags (each lists and resolves every tag). The default value is 200 (DefaultRelistEvery).
	RelistEvery int
	// RelistInterval is the longest time digest mode deletes between two re-listings (once a
	// delete was made since the last one). The default value is 2 minutes.
	RelistInterval time.Duration
}

func (o ApplyOptions) withDefaults() ApplyOptions {
	if o.Mode == "" {
		o.Mode = plan.ModeAuto
	}
	Default(&o.Concurrency, DefaultConcurrency)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	Default(&o.DeleteTimeout, DefaultDeleteTimeout)
	Default(&o.RelistEvery, DefaultRelistEvery)
	Default(&o.RelistInterval, DefaultRelistInterval)
	return o
}

// ApplyResult reports what Apply did. In a dry run, the deleted lists say what would be deleted.
type ApplyResult struct {
	Result
	// Diff is the difference between the plan's tags and the live repository found before
	// deleting (the plan's deleted tags are compared by presence only in tag mode).
	Diff plan.PlanDiff `json:"diff"`
	// DeletedTags are tags removed, with the digest they pointed at (in digest mode, the tags
	// removed along with their manifest).
	DeletedTags []inventory.Tag `json:"deleted_tags,omitempty"`
	// DeletedManifests are manifests deleted by digest. A 404 to apply's own DELETE, made right
	// after a re-check found its target, counts as deleted here and in DeletedTags: a retried
	// DELETE whose first answer was lost gets 404.
	DeletedManifests []string `json:"deleted_manifests,omitempty"`
	// Skipped are planned deletes of tags that moved to another digest since the plan: left alone.
	Skipped []plan.TagMove `json:"skipped,omitempty"`
	// GoneTags and GoneManifests were already gone (404): done by an earlier run or by someone else.
	GoneTags      []string `json:"gone_tags,omitempty"`
	GoneManifests []string `json:"gone_manifests,omitempty"`
	// LeftForGC are the planned-delete manifests that are untagged after a tag-mode apply and
	// wait for the registry's garbage collection.
	LeftForGC []string `json:"left_for_gc,omitempty"`
	// Requests counts the calls made to the registry.
	Requests Requests `json:"requests"`
	// Warnings are things the user must know (fallbacks, garbage collection to run).
	Warnings []string `json:"warnings,omitempty"`
}

// Partial reports whether work is left: failures, or deletes not attempted.
func (r *ApplyResult) Partial() bool { return len(r.Failed) > 0 || r.Remaining > 0 }

// Apply carries out the plan's deletes on t, safely:
//
//   - It lists the live tags, resolves the ones whose move could matter, and refuses (an error
//     wrapping ErrPlanStale, a *StaleError) when a tag the plan keeps, or a tag it does not know,
//     now points at a digest the plan deletes, or at an image using one. Tags that vanished are
//     fine.
//   - Right before deleting, it resolves each tag again: a tag that moved is skipped and reported;
//     a tag or manifest already gone (404) counts as done, so running Apply again after an
//     interruption finishes the rest and deletes nothing twice. In digest mode, where one DELETE
//     removes every tag on the digest, it also lists and resolves the tags again before each level
//     and every RelistEvery deletes (or RelistInterval), and stops with a *StaleError when a new
//     or kept tag now points at a digest still to be deleted.
//   - ModeTag deletes only the tags of deleted digests, leaving the untagged manifests to the
//     registry's garbage collection; ModeDigest deletes manifests by digest, parents before
//     children, a child only once its parents are gone; ModeAuto is ModeTag, falling back to
//     ModeDigest when the registry refuses tag deletes.
//   - Before each delete it journals the manifest's exact bytes and every tag the delete may
//     remove (ApplyOptions.Journal), and the outcome after, so Undo can put everything back.
//   - It refuses a plan that contradicts itself, has no seal or a broken one, or deletes a manifest
//     with keep reasons (ErrPlanInvalid; see Plan.Seal), and, before any delete, a plan most of
//     whose deleted tags are missing for no reason its journal knows (ErrPlanMismatch).
//   - One run at a time: a second run with the same lock (by default, the journal's path plus
//     ".lock") is refused with a *LockedError naming the holder; an expired lock is taken over.
//
// Failures do not stop the other deletes; they are collected in the result, and the error wraps
// ErrPartial. A cancelled ctx stops starting new deletes; deletes already journaled are carried
// through. The result is non-nil once listing started (after the plan was accepted and the lock
// taken).
func Apply(ctx context.Context, p *plan.Plan, t registry.Target, opt ApplyOptions) (*ApplyResult, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	opt = opt.withDefaults()
	requested, err := plan.ParseMode(string(opt.Mode))
	if err != nil {
		return nil, err
	}
	start, why, _ := plan.ChooseMode(requested, p)
	a := newApplier(p, t, opt)
	a.res.Mode = start
	a.log.Info("apply", "repository", p.Repository, "mode", requested, "why", why, "dry_run", opt.DryRun)

	lockKey := opt.LockPath
	if lockKey == "" && opt.JournalPath != "" {
		lockKey = opt.JournalPath + ".lock"
	}
	eng, err := StartEngine(ctx, EngineOptions{
		Journal: opt.Journal, JournalPath: opt.JournalPath,
		LockStore: FileLockStore{}, LockKey: lockKey, LockExpiry: opt.LockExpiry, Purpose: "apply " + p.Repository,
		DryRun: opt.DryRun, MaxDeletes: opt.MaxDeletes, DeleteTimeout: opt.DeleteTimeout, Now: opt.Now, Logger: opt.Logger,
	})
	if err != nil {
		return nil, err
	}
	defer eng.Release(ctx)
	a.eng = eng
	if err := a.preflight(ctx, requested == plan.ModeDigest); err != nil {
		return a.finish(), err
	}
	if err := eng.Begin(JournalRecord{Repository: p.Repository, Fingerprint: p.Fingerprint, Mode: requested}); err != nil {
		return a.finish(), err
	}

	switch requested {
	case plan.ModeDigest:
		a.runDigest(ctx)
	case plan.ModeTag:
		a.runTag(ctx, false)
	default:
		if a.runTag(ctx, true) {
			msg := "the registry refused DELETE by tag (unsupported); falling back to DELETE by digest"
			a.log.Warn(msg)
			a.res.Warnings = append(a.res.Warnings, msg)
			a.res.Mode = plan.ModeDigest
			if err := a.preflight(ctx, true); err != nil {
				a.writeEnd()
				return a.finish(), err
			}
			a.runDigest(ctx)
		}
	}
	a.writeEnd()
	res := a.finish()
	return res, a.err(ctx)
}

// writeEnd journals the run's end record.
func (a *applier) writeEnd() {
	a.mu.Lock()
	deleted, failed, remaining := len(a.res.DeletedTags)+len(a.res.DeletedManifests), len(a.res.Failed), a.res.Remaining
	a.mu.Unlock()
	a.eng.End(deleted, failed, remaining, true)
}

// err composes Apply's error: an abort (journal failure, deletes refused), cancellation, and
// the failed deletes.
func (a *applier) err(ctx context.Context) error {
	var errs []error
	if err := a.eng.Aborted(); err != nil {
		errs = append(errs, err)
	}
	if err := ctx.Err(); err != nil && a.res.Remaining > 0 {
		errs = append(errs, err)
	}
	if err := PartialError(a.res.Failed, ""); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
