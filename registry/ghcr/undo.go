package ghcr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/internal/redact"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
)

// RestoreWindow is how long after its deletion GitHub can restore a package version.
const RestoreWindow = 30 * 24 * time.Hour

// ErrRestoreWindow is wrapped by the error of an undo that met versions deleted longer ago than
// RestoreWindow: GitHub cannot restore them any more.
var ErrRestoreWindow = errors.New("deleted more than 30 days ago: past GitHub's restore window")

// UndoOptions tune Undo. The zero value restores at the client's pace and does not save the state.
type UndoOptions struct {
	// StatePath, if set, is where the state is saved after the run (LoadState's locations).
	StatePath string
	// DryRun reports what would be restored, without restoring or changing the state (it may list
	// the deleted versions).
	DryRun bool
	// Progress, if set, is called after each version with done and total.
	Progress func(done, total int)
	// Logger receives what could not be restored; nil discards.
	Logger *slog.Logger
}

// UndoResult reports what Undo did. In a dry run, Restored says what would be restored.
type UndoResult struct {
	Repository string `json:"repository"`
	DryRun     bool   `json:"dry_run,omitempty"`
	// Restored were restored, with the tags they had (GitHub gives back those no other version
	// took meanwhile).
	Restored []inventory.Version `json:"restored,omitempty"`
	// NotDeleted answered 404 within the restore window: restored already, never deleted (a run
	// killed between its journal and its delete), or their digest was pushed again since, as a
	// new version.
	NotDeleted []inventory.Version `json:"not_deleted,omitempty"`
	// Expired were deleted longer ago than RestoreWindow: GitHub cannot restore them.
	Expired []inventory.Version `json:"expired,omitempty"`
	// Failed could not be restored; running Undo again retries them.
	Failed []apply.Failure `json:"failed,omitempty"`
	// Remaining counts versions not attempted: the budget was spent or the run cancelled.
	Remaining int `json:"remaining,omitempty"`
	// Requests counts the REST requests sent.
	Requests int `json:"requests"`
}

// Partial reports whether something was not restored.
func (r *UndoResult) Partial() bool {
	return len(r.Failed) > 0 || len(r.Expired) > 0 || r.Remaining > 0
}

// Undo restores, through GitHub's restore endpoint, every version the journal of version-mode
// Apply runs records as deleted, as already gone (a 404 may answer the retry of a delete whose
// first answer was lost), or as about to be deleted with no outcome (a killed run):
// children (by the parent each intent names, and the children its journaled manifest lists)
// before the indexes that list them, so an index comes back whole, and otherwise newest intent
// first. A
// restored version comes back with its tags, except those another version took meanwhile. Each
// restored version goes back into st, so later runs see it without a full listing.
//
// It first lists the package's deleted versions (state=deleted: one request per 100; page 1 says
// how many there are), when that costs fewer requests than there are versions to restore, so that only versions GitHub holds as
// deleted cost a restore request: what is back already, or was never deleted, is NotDeleted (a
// restore answered 404 within the window is NotDeleted too). GitHub restores a version only within 30 days of its deletion:
// older ones are reported in Expired without a request, and the error wraps ErrRestoreWindow.
// When the budget is spent it stops and returns a *BudgetError ("restore: N of M versions
// done"); running Undo again continues. Failures are collected (the error wraps plan.ErrPartial).
func Undo(ctx context.Context, journal io.Reader, rest *Client, st *State, opt UndoOptions) (*UndoResult, error) {
	recs, err := apply.ReadJournal(journal)
	if err != nil {
		return nil, err
	}
	entries, repo, err := restoreEntries(recs, rest)
	if err != nil {
		return nil, err
	}
	if st.Repository == "" {
		st.Repository = rest.Repository()
	} else if st.Repository != rest.Repository() {
		return nil, fmt.Errorf("ghcr: state is for %s, not %s", st.Repository, rest.Repository())
	}
	rest.learnOwnerKind(st)
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	u := &undoer{c: rest, st: st, opt: opt, res: UndoResult{Repository: repo, DryRun: opt.DryRun}, total: len(entries)}
	before := rest.Stats().Requests
	restorable, err := u.restorable(ctx, entries)
	if err != nil {
		u.res.Remaining = len(entries)
		u.res.Requests = rest.Stats().Requests - before
		res := u.res
		return &res, fmt.Errorf("ghcr: listing the deleted versions of %s: %w", rest.Repository(), err)
	}
	u.run(ctx, entries, restorable)
	u.res.Requests = rest.Stats().Requests - before
	if opt.StatePath != "" && !opt.DryRun {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := st.Save(sctx, opt.StatePath, rest.now()); err != nil {
			u.errs = append(u.errs, err)
		}
	}
	res := u.res
	return &res, u.err(ctx)
}

// restoreEntry is one version a journal says was deleted (or was about to be).
type restoreEntry struct {
	v inventory.Version
	// parent is the index the plan named for it; children are those its journaled manifest lists.
	parent   string
	children []string
	// deletedAt is when the delete was answered; zero for an intent with no outcome.
	deletedAt time.Time
	deleted   bool
	pending   bool
}

// expired reports whether the entry was deleted longer ago than RestoreWindow.
func (e *restoreEntry) expired(now time.Time) bool {
	return e.deleted && now.Sub(e.deletedAt) > RestoreWindow
}

// restoreEntries folds the journal's records by version id and returns the versions to restore,
// newest intent first, and the journal's repository. Every header must be of a version-mode run
// on rest's package.
func restoreEntries(recs []apply.JournalRecord, rest *Client) ([]*restoreEntry, string, error) {
	repo := ""
	byID := map[int64]*restoreEntry{}
	var order []*restoreEntry
	for i, r := range recs {
		switch r.Type {
		case apply.RecordHeader:
			if r.Mode != plan.ModeVersion {
				return nil, "", fmt.Errorf("%w: record %d: a %q-mode apply run, not a GitHub package version run: undo it with the registry's own undo", apply.ErrJournal, i+1, r.Mode)
			}
			owner, name, err := ParseRepository(r.Repository)
			if err != nil {
				return nil, "", fmt.Errorf("%w: record %d: %w", apply.ErrJournal, i+1, err)
			}
			if got := owner + "/" + name; got != rest.Repository() {
				return nil, "", fmt.Errorf("%w: record %d: the journal is for package %s, the REST client for %s", apply.ErrJournal, i+1, got, rest.Repository())
			}
			repo = r.Repository
		case apply.RecordManifest:
			if r.VersionID == 0 {
				return nil, "", fmt.Errorf("%w: record %d: no version id for %s", apply.ErrJournal, i+1, r.Digest)
			}
			e := byID[r.VersionID]
			if e == nil {
				e = &restoreEntry{v: inventory.Version{ID: r.VersionID, Digest: r.Digest, Tags: r.Tags, CreatedAt: r.Created}, parent: r.Parent}
				if r.Raw != nil {
					if m, err := inventory.ParseManifest(r.Digest, r.MediaType, r.Raw, nil); err == nil {
						for _, c := range m.Manifests {
							e.children = append(e.children, c.Digest)
						}
					}
				}
				byID[r.VersionID] = e
			}
			order = append(order, e)
			e.pending = true
		case apply.RecordOutcome:
			e := byID[r.VersionID]
			if e == nil {
				continue // an outcome whose intent was cut off
			}
			e.pending = false
			// A delete answered 404 may be this run's own: GitHub deleted the version, the
			// answer was lost, and the retry met 404. It is restored like a deleted one; what
			// someone else deleted in fact, or nobody, the listing of deleted versions sorts out.
			if r.Outcome == apply.OutcomeDeleted || r.Outcome == apply.OutcomeGone {
				e.deleted, e.deletedAt = true, r.At
			}
		}
	}
	var out []*restoreEntry
	seen := map[int64]bool{}
	for _, e := range slices.Backward(order) {
		if !seen[e.v.ID] && (e.deleted || e.pending) {
			seen[e.v.ID] = true
			out = append(out, e)
		}
	}
	return out, repo, nil
}

// undoer is one run of Undo.
type undoer struct {
	c   *Client
	st  *State
	opt UndoOptions

	mu      sync.Mutex
	res     UndoResult
	done    int
	total   int
	stopErr error
	errs    []error
}

// run restores the entries at the client's pace, up to its concurrency in flight; with a
// restorable set, only those it holds: the others cost no request.
func (u *undoer) run(ctx context.Context, entries []*restoreEntry, restorable map[int64]bool) {
	attempted := 0
	for _, level := range levels(entries) {
		if u.stopped() || ctx.Err() != nil {
			break
		}
		attempted += u.runLevel(ctx, level, restorable)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.res.Remaining = len(entries) - attempted
	for _, f := range u.res.Failed {
		if errors.Is(f.Err, ErrBudgetSpent) || errors.Is(f.Err, registry.ErrUnauthorized) || errors.Is(f.Err, context.Canceled) {
			u.res.Remaining++
		}
	}
	u.res.Failed = slices.DeleteFunc(u.res.Failed, func(f apply.Failure) bool {
		return errors.Is(f.Err, ErrBudgetSpent) || errors.Is(f.Err, registry.ErrUnauthorized) || errors.Is(f.Err, context.Canceled)
	})
}

// runLevel restores one level and waits for it; it returns how many entries it attempted.
func (u *undoer) runLevel(ctx context.Context, entries []*restoreEntry, restorable map[int64]bool) int {
	g := new(errgroup.Group)
	g.SetLimit(u.c.pacer.inflight())
	attempted := 0
	for _, e := range entries {
		if u.stopped() || ctx.Err() != nil {
			break
		}
		if e.expired(u.c.now()) {
			u.record(func(r *UndoResult) { r.Expired = append(r.Expired, e.v) })
			attempted++
			continue
		}
		if restorable != nil && !restorable[e.v.ID] {
			u.record(func(r *UndoResult) { r.NotDeleted = append(r.NotDeleted, e.v) })
			attempted++
			continue
		}
		if u.opt.DryRun {
			u.record(func(r *UndoResult) { r.Restored = append(r.Restored, e.v) })
			attempted++
			continue
		}
		attempted++
		g.Go(func() error {
			u.restore(ctx, e)
			return nil
		})
	}
	_ = g.Wait() // restore reports through u.res and u.stopErr
	return attempted
}

// levels groups the entries by height (apply.RestoreOrder), keeping their order within a level:
// level 0 has no journaled child, level k's children are all in lower levels. Children come back
// before the indexes listing them, so an index is never restored while its children are deleted.
// An entry's children are the entries naming it as parent and the digests its manifest lists.
func levels(entries []*restoreEntry) [][]*restoreEntry {
	byDigest := make(map[string]*restoreEntry, len(entries))
	keys := make([]string, 0, len(entries))
	for _, e := range entries {
		byDigest[e.v.Digest] = e
		keys = append(keys, e.v.Digest)
	}
	kids := map[string][]string{}
	for _, e := range entries {
		if byDigest[e.parent] != nil {
			kids[e.parent] = append(kids[e.parent], e.v.Digest)
		}
		kids[e.v.Digest] = append(kids[e.v.Digest], e.children...)
	}
	var out [][]*restoreEntry
	for _, level := range apply.RestoreOrder(keys, func(d string) []string { return kids[d] }) {
		es := make([]*restoreEntry, len(level))
		for i, d := range level {
			es[i] = byDigest[d]
		}
		out = append(out, es)
	}
	return out
}

// restorable returns the ids of the package's deleted versions, so that only those cost a
// restore request; or nil (try every entry) when listing them would cost more requests than the
// restores it could spare, or when every entry is past the restore window.
func (u *undoer) restorable(ctx context.Context, entries []*restoreEntry) (map[int64]bool, error) {
	now := u.c.now()
	live := 0
	for _, e := range entries {
		if !e.expired(now) {
			live++
		}
	}
	if live == 0 {
		return nil, nil
	}
	out := map[int64]bool{}
	_, err := u.c.deletedVersions(ctx, func(last int, vs []inventory.Version) error {
		if last > live {
			return errListingCostsMore
		}
		for _, v := range vs {
			out[v.ID] = true
		}
		return nil
	})
	if errors.Is(err, errListingCostsMore) {
		return nil, nil
	}
	return out, err
}

// errListingCostsMore stops the listing of deleted versions when it has more pages than there
// are versions to restore.
var errListingCostsMore = errors.New("listing the deleted versions costs more than it spares")

// restore restores one version and records the outcome.
func (u *undoer) restore(ctx context.Context, e *restoreEntry) {
	err := u.c.restoreOnce(ctx, e.v.ID)
	now := u.c.now()
	switch {
	case err == nil:
		u.record(func(r *UndoResult) {
			r.Restored = append(r.Restored, e.v)
			delete(u.st.Deleted, e.v.ID)
			u.st.Versions[e.v.Digest] = StateVersion{ID: e.v.ID, Created: e.v.CreatedAt}
		})
	case errors.Is(err, registry.ErrNotFound) && e.deleted && now.Sub(e.deletedAt) > RestoreWindow-24*time.Hour:
		u.record(func(r *UndoResult) { r.Expired = append(r.Expired, e.v) })
	case errors.Is(err, registry.ErrNotFound):
		u.record(func(r *UndoResult) { r.NotDeleted = append(r.NotDeleted, e.v) })
	default:
		if errors.Is(err, ErrBudgetSpent) || errors.Is(err, registry.ErrUnauthorized) {
			u.stop(err)
		}
		u.opt.Logger.Warn("ghcr: restore failed", "id", e.v.ID, "digest", e.v.Digest, "err", redact.Text(err.Error()))
		u.record(func(r *UndoResult) {
			r.Failed = append(r.Failed, apply.Failure{ID: e.v.ID, Digest: e.v.Digest, Err: err})
		})
	}
}

// record applies f to the result (and the state) under the lock, and reports progress.
func (u *undoer) record(f func(*UndoResult)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	f(&u.res)
	u.done++
	if u.opt.Progress != nil {
		u.opt.Progress(u.done, u.total)
	}
}

func (u *undoer) stop(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stopErr == nil {
		u.stopErr = err
	}
}

func (u *undoer) stopped() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.stopErr != nil
}

// err composes Undo's error.
func (u *undoer) err(ctx context.Context) error {
	errs := slices.Clone(u.errs)
	switch {
	case u.stopErr != nil && errors.Is(u.stopErr, ErrBudgetSpent):
		errs = append(errs, &BudgetError{Op: "restore", Unit: "versions", Done: u.total - u.res.Remaining, Total: u.total, Cause: u.stopErr})
	case u.stopErr != nil:
		errs = append(errs, u.stopErr)
	case ctx.Err() != nil && u.res.Remaining > 0:
		errs = append(errs, ctx.Err())
	}
	if n := len(u.res.Expired); n > 0 {
		errs = append(errs, fmt.Errorf("%d versions cannot be restored: %w (GitHub restores a version only within 30 days of its deletion)", n, ErrRestoreWindow))
	}
	if n := len(u.res.Failed); n > 0 {
		fails := make([]error, n)
		for i, f := range u.res.Failed {
			fails[i] = f
		}
		errs = append(errs, fmt.Errorf("%w: %d versions could not be restored: %w", apply.ErrPartial, n, errors.Join(fails...)))
	}
	return errors.Join(errs...)
}

// DeletedVersions lists the package's deleted versions that GitHub can still restore
// (state=deleted), newest first, page by page in order. fn receives each page's versions. When
// the budget is spent it returns a *BudgetError.
func (c *Client) DeletedVersions(ctx context.Context, fn func([]inventory.Version) error) (ListStats, error) {
	return c.deletedVersions(ctx, func(_ int, vs []inventory.Version) error { return fn(vs) })
}

// deletedVersions is DeletedVersions, telling fn the last page number too.
func (c *Client) deletedVersions(ctx context.Context, fn func(last int, vs []inventory.Version) error) (ListStats, error) {
	var st ListStats
	base, err := c.versionsBase(ctx)
	if err != nil {
		return st, listBudgetError(err, 0, 0)
	}
	for n := 1; n <= maxPages; n++ {
		u := fmt.Sprintf("%s/versions?state=deleted&per_page=%d&page=%d", base, c.pageSize, n)
		resp, err := c.do(ctx, request{method: http.MethodGet, url: u, endpoint: EndpointList})
		if err != nil {
			return st, listBudgetError(err, st.Pages, max(st.Last, st.Pages+1))
		}
		var raw []versionJSON
		if err := json.Unmarshal(resp.body, &raw); err != nil {
			return st, fmt.Errorf("ghcr: %s deleted versions, page %d: %w", c.Repository(), n, err)
		}
		st.Pages++
		links := ParseLink(resp.header.Get("Link"))
		st.Last = max(st.Last, pageNumber(links["last"]), n)
		vs := make([]inventory.Version, 0, len(raw))
		for _, v := range raw {
			vs = append(vs, v.version())
		}
		st.Versions += len(vs)
		if err := fn(st.Last, vs); err != nil {
			return st, err
		}
		if links["next"] == "" || len(raw) == 0 {
			return st, nil
		}
	}
	return st, fmt.Errorf("ghcr: %s: more than %d pages of deleted versions", c.Repository(), maxPages)
}
