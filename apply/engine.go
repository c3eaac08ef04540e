package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regtidy/regtidy/registry"
)

// Target is one thing a backend deletes: a tag (tag mode) or a manifest by digest on an OCI
// registry, or a package version of GitHub Container Registry.
type Target struct {
	// Digest is the manifest the delete concerns.
	Digest string
	// Tag is the tag deleted (OCI tag mode); empty for a delete by digest or version.
	Tag string
	// VersionID is the GitHub package version deleted; 0 on an OCI registry.
	VersionID int64
}

// Port is a backend's delete: the one call the engine makes, through Engine.Delete, for each
// target whose intent is journaled.
type Port interface {
	// Delete removes t. It returns nil when t is deleted, an error wrapping registry.ErrNotFound
	// when t was gone already, or another error.
	Delete(ctx context.Context, t Target) error
}

// Classifier is implemented by a Port whose errors mean more than "failed": it returns the
// journal outcome of err (not nil, not ErrNotFound), the reason recorded with it, and the text
// journaled as the record's error.
type Classifier interface {
	Outcome(err error) (outcome, reason, text string)
}

// EngineOptions are what every backend's apply shares: journal, lock, dry run, the cap on
// deletes, the bound of each delete, the clock and the logger.
type EngineOptions struct {
	// Journal receives the journal; JournalPath, if Journal is nil, is a file it is appended to
	// (created 0600). Neither: deletes cannot be undone.
	Journal     io.Writer
	JournalPath string
	// LockStore and LockKey locate the run's lock; an empty key takes none. Dry runs take none.
	LockStore LockStore
	LockKey   string
	// LockExpiry is how long the lock holds without a refresh. The default value is
	// DefaultLockExpiry.
	LockExpiry time.Duration
	// Purpose is written in the lock, e.g. "apply 127.0.0.1:5000/app".
	Purpose string
	// DryRun: no lock, no journal, no delete.
	DryRun bool
	// MaxDeletes caps the deletes of the run (0: no cap); Take hands them out.
	MaxDeletes int
	// DeleteTimeout bounds each journaled delete, carried through even when ctx is cancelled.
	DeleteTimeout time.Duration
	// Now is the clock of journal records and the lock; nil uses time.Now.
	Now func() time.Time
	// Logger receives the run's stops and journal troubles; nil discards.
	Logger *slog.Logger
}

// Engine is one apply run as both backends share it: it holds the lock, writes the journal (an
// intent before each delete, the outcome after), hands out the deletes MaxDeletes allows, makes
// each delete through the backend's Port, carries a journaled delete through a cancelled ctx,
// counts "already gone" as done, and keeps the first reason the run was stopped.
type Engine struct {
	opt    EngineOptions
	log    *slog.Logger
	lock   *Lock
	j      *Journal
	closeJ func() error
	budget budget

	mu       sync.Mutex
	abortErr error
}

// StartEngine takes the run's lock (see EngineOptions) and keeps it fresh; a lock lost while
// running aborts the run (Aborted). Release releases it.
func StartEngine(ctx context.Context, opt EngineOptions) (*Engine, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.LockStore == nil {
		opt.LockStore = FileLockStore{}
	}
	e := &Engine{opt: opt, log: opt.Logger, budget: budget{max: int64(opt.MaxDeletes)}}
	if opt.LockKey == "" || opt.DryRun {
		return e, nil
	}
	l, err := AcquireLock(ctx, opt.LockStore, opt.LockKey, LockOptions{Expiry: opt.LockExpiry, Now: opt.Now, Purpose: opt.Purpose})
	if err != nil {
		return nil, err
	}
	l.KeepFresh(ctx, e.Abort)
	e.lock = l
	return e, nil
}

// Release closes the journal and releases the lock, logging what fails.
func (e *Engine) Release(ctx context.Context) {
	if e.closeJ != nil {
		if err := e.closeJ(); err != nil {
			e.log.Error("closing the journal", "err", err)
		}
		e.closeJ = nil
	}
	if e.lock != nil {
		if err := e.lock.Release(ctx); err != nil {
			e.log.Error("releasing the lock", "err", err)
		}
		e.lock = nil
	}
}

// Begin opens the journal (not in a dry run) and writes the run's header: header's repository,
// fingerprint and mode, with the schema and the start time.
func (e *Engine) Begin(header JournalRecord) error {
	if e.opt.DryRun {
		return nil
	}
	j, closeJ, err := OpenJournal(e.opt.Journal, e.opt.JournalPath)
	if err != nil {
		return err
	}
	e.j, e.closeJ = j, closeJ
	if j == nil {
		e.log.Warn("no journal: the deletes of this run cannot be undone")
		return nil
	}
	header.Type, header.Schema, header.Started = RecordHeader, JournalSchema, e.opt.Now().UTC()
	return j.Write(header)
}

// Intent journals rec as the intent of a delete (a manifest record, outcome pending), before the
// delete is made.
func (e *Engine) Intent(rec JournalRecord) error {
	rec.Type, rec.Outcome, rec.At = RecordManifest, OutcomePending, e.opt.Now().UTC()
	return e.j.Write(rec)
}

// Delete makes one journaled delete through port and journals its outcome. The delete runs on a
// context that ctx's cancellation does not reach, bounded by DeleteTimeout: once its intent is
// journaled, a delete is carried through. A 404 is journaled "gone"; a journal that cannot be
// written aborts the run. It returns the port's error, and the journal's.
func (e *Engine) Delete(ctx context.Context, port Port, t Target) (deleteErr, journalErr error) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opt.DeleteTimeout)
	err := port.Delete(dctx, t)
	cancel()
	rec := JournalRecord{Type: RecordOutcome, Digest: t.Digest, Tag: t.Tag, VersionID: t.VersionID, At: e.opt.Now().UTC()}
	c, classifies := port.(Classifier)
	switch {
	case err == nil:
		rec.Outcome = OutcomeDeleted
	case errors.Is(err, registry.ErrNotFound):
		rec.Outcome = OutcomeGone
	case classifies:
		rec.Outcome, rec.Reason, rec.Error = c.Outcome(err)
	default:
		rec.Outcome, rec.Error = OutcomeFailed, err.Error()
	}
	if jerr := e.j.Write(rec); jerr != nil {
		e.Abort(jerr)
		return err, jerr
	}
	return err, nil
}

// NotAttempted journals that the delete of a journaled target was not made (the run stopped
// first); why, if not empty, says what stopped it.
func (e *Engine) NotAttempted(t Target, why string) {
	rec := JournalRecord{Type: RecordOutcome, Digest: t.Digest, Tag: t.Tag, VersionID: t.VersionID,
		At: e.opt.Now().UTC(), Outcome: OutcomeNotAttempted, Error: why}
	if err := e.j.Write(rec); err != nil {
		e.log.Error("journal", "err", err)
	}
}

// End journals the run's end record; the run is complete when nothing failed or remains and it
// was not aborted.
func (e *Engine) End(deleted, failed, remaining int, complete bool) {
	rec := JournalRecord{
		Type: RecordEnd, At: e.opt.Now().UTC(), Deleted: deleted, Failed: failed, Remaining: remaining,
		Complete: complete && failed == 0 && remaining == 0 && e.Aborted() == nil,
	}
	if err := e.j.Write(rec); err != nil {
		e.log.Error("journal end record", "err", err)
	}
}

// Take reserves up to n deletes of MaxDeletes and returns how many it granted.
func (e *Engine) Take(n int) int { return e.budget.take(n) }

// Give returns n reserved deletes that were not made.
func (e *Engine) Give(n int) { e.budget.give(n) }

// Spent reports whether MaxDeletes is reached.
func (e *Engine) Spent() bool { return e.budget.spent() }

// Abort stops the run: no new delete starts. The first cause is kept and logged.
func (e *Engine) Abort(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.abortErr == nil {
		e.abortErr = err
		e.log.Error("apply stopped", "err", err)
	}
}

// Aborted returns why the run was aborted, or nil.
func (e *Engine) Aborted() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.abortErr
}

// PartialError joins failures under ErrPartial: "apply finished partially: N failed: ...", with
// noun naming what failed ("versions"), or nil when there are none.
func PartialError(failures []Failure, noun string) error {
	if len(failures) == 0 {
		return nil
	}
	errs := make([]error, len(failures))
	for i, f := range failures {
		errs[i] = f
	}
	what := "failed"
	if noun != "" {
		what = noun + " failed"
	}
	return fmt.Errorf("%w: %d %s: %w", ErrPartial, len(failures), what, errors.Join(errs...))
}

// budget hands out DELETE requests up to max (0: unbounded).
type budget struct {
	max  int64
	used atomic.Int64
}

// take reserves up to n deletes and returns how many it granted.
func (b *budget) take(n int) int {
	if b.max <= 0 {
		b.used.Add(int64(n))
		return n
	}
	for {
		used := b.used.Load()
		k := min(int64(n), b.max-used)
		if k <= 0 {
			return 0
		}
		if b.used.CompareAndSwap(used, used+k) {
			return int(k)
		}
	}
}

// give returns n reserved deletes that were not made.
func (b *budget) give(n int) { b.used.Add(-int64(n)) }

// spent reports whether no delete is left.
func (b *budget) spent() bool { return b.max > 0 && b.used.Load() >= b.max }

// Default sets *v to d when *v is zero or negative: an option's "0 means the default value".
func Default[T ~int | ~int64](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}
