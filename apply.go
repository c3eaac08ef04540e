package regtidy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry/ghcr"
)

// This file is the one place that chooses a delete engine: apply.Apply, apply.Undo and apply.Verify*
// for OCI registries, ghcr.Apply and ghcr.Undo for GitHub Container Registry. Everything above it
// (the command, the demos) sees ApplyResult and UndoResult only.

// ErrPartial marks an apply or undo that did part of its work (some deletes failed or were
// skipped, or a budget ran out): running it again continues. Test with IsPartial.
var ErrPartial = errors.New("partial")

// IsPartial reports whether err is a partial run: a run that stopped at a budget or with some
// failures, whose next run continues.
func IsPartial(err error) bool {
	return errors.Is(err, ErrPartial) || errors.Is(err, apply.ErrPartial) || ghcr.IsBudgetSpent(err)
}

// ApplyOptions configure Apply.
type ApplyOptions struct {
	Options
	// Mode overrides the mode the plan was made with (auto, tag or digest; OCI plans only).
	Mode plan.Mode
	// MaxDeletes stops after this many DELETE requests (0: no limit); run again to continue.
	MaxDeletes int
	// DeleteConcurrency is the number of deletes in flight at once (0: the engine's default).
	DeleteConcurrency int
	// Journal is the file every deleted manifest's bytes and tags are appended to before its
	// delete, for Undo. Empty means no journal: the command always names one, the library leaves
	// the choice to its caller. A dry run writes none.
	Journal string
	// DryRun checks everything and deletes nothing.
	DryRun bool
}

// ApplyResult is what an apply did: OCI is set for OCI registries, GHCR for GitHub Container
// Registry. Its JSON is the backend's result.
type ApplyResult struct {
	OCI  *apply.ApplyResult
	GHCR *ghcr.ApplyResult
	// Journal is the journal written, empty in a dry run.
	Journal string
}

// Partial reports whether deletes are left (a cap, a budget, an interruption) or failed.
func (r *ApplyResult) Partial() bool {
	if r.GHCR != nil {
		return r.GHCR.Partial()
	}
	return r.OCI != nil && r.OCI.Partial()
}

// Remaining is the number of deletes not done yet.
func (r *ApplyResult) Remaining() int {
	if r.GHCR != nil {
		return r.GHCR.Remaining
	}
	if r.OCI != nil {
		return r.OCI.Remaining
	}
	return 0
}

// MarshalJSON writes the backend's result.
func (r *ApplyResult) MarshalJSON() ([]byte, error) {
	if r.GHCR != nil {
		return json.Marshal(r.GHCR)
	}
	return json.Marshal(r.OCI)
}

// Apply carries out p: it refuses a plan whose repository changed in ways that matter, re-checks
// each tag right before deleting it, journals every manifest before its delete, and treats
// "already gone" as done, so running it again finishes the rest. A partial run returns its
// result and an error for which IsPartial is true.
func Apply(ctx context.Context, p *plan.Plan, opt ApplyOptions) (*ApplyResult, error) {
	res, err := applyPlan(ctx, p, &opt)
	if err != nil {
		err = fmt.Errorf("apply to %s: %w", p.Repository, err)
	}
	return res, err
}

func applyPlan(ctx context.Context, p *plan.Plan, o *ApplyOptions) (*ApplyResult, error) {
	c := o.client()
	cache, err := o.cache(p.Repository)
	if err != nil {
		return nil, err
	}
	if cache != nil {
		defer cache.Close()
	}
	out := &ApplyResult{}
	if !o.DryRun {
		out.Journal = o.Journal
	}
	if p.Cost.Mode == string(plan.ModeVersion) {
		gb, err := openGHCR(ctx, &o.Options, p.Repository)
		if err != nil {
			return nil, err
		}
		opt := ghcr.ApplyOptions{StatePath: gb.statePath, MaxDeletes: o.MaxDeletes, DryRun: o.DryRun,
			Logger: o.logger(), JournalPath: out.Journal, Progress: o.progress("delete")}
		if cache != nil {
			opt.Manifests = cache
		}
		out.GHCR, err = ghcr.Apply(ctx, p, c, gb.rest, gb.state, opt)
		if out.GHCR == nil {
			return nil, err
		}
		switch {
		case err == nil && out.GHCR.Partial():
			err = fmt.Errorf("%w: %d versions left; run the same command again to continue", ErrPartial, out.GHCR.Remaining)
		case err == nil && len(out.GHCR.Undeletable) > 0:
			err = fmt.Errorf("%w: GitHub refused to delete %d versions; they are recorded in the state, and later runs skip them and report them", ErrPartial, len(out.GHCR.Undeletable))
		}
		return out, err
	}
	mode := o.Mode
	if mode == "" {
		mode = plan.Mode(firstNonEmpty(p.Cost.Requested, p.Cost.Mode))
	}
	if mode, err = plan.ParseMode(string(mode)); err != nil {
		return nil, err
	}
	opt := apply.ApplyOptions{Mode: mode, MaxDeletes: o.MaxDeletes, Concurrency: o.DeleteConcurrency,
		Logger: o.logger(), DryRun: o.DryRun, JournalPath: out.Journal, Progress: o.progress("delete")}
	if cache != nil {
		opt.Manifests = cache
	}
	out.OCI, err = apply.Apply(ctx, p, c, opt)
	if out.OCI == nil {
		return nil, err
	}
	if err == nil && out.OCI.Partial() {
		err = fmt.Errorf("%w: %d deletes left; run the same command again to continue", ErrPartial, out.OCI.Remaining)
	}
	return out, err
}

// UndoOptions configure Undo.
type UndoOptions struct {
	Options
	// DryRun reports what would be restored and pushes nothing.
	DryRun bool
}

// UndoResult is what an undo did: OCI is set for OCI registries, GHCR for GitHub Container
// Registry. Its JSON is the backend's result.
type UndoResult struct {
	OCI  *apply.UndoResult
	GHCR *ghcr.UndoResult
}

// MarshalJSON writes the backend's result.
func (r *UndoResult) MarshalJSON() ([]byte, error) {
	if r.GHCR != nil {
		return json.Marshal(r.GHCR)
	}
	return json.Marshal(r.OCI)
}

// Undo puts back what an apply deleted, from its journal file: on OCI registries it pushes every
// journaled manifest back by digest with its exact bytes, then its tags (while the registry still
// holds the blobs); on GitHub Container Registry it restores the deleted package versions (within
// GitHub's 30 days). The journal's first header says whose it is. Something not restored makes a
// result and an error for which IsPartial is true.
func Undo(ctx context.Context, journal string, opt UndoOptions) (*UndoResult, error) {
	res, err := undo(ctx, journal, &opt)
	if err != nil {
		err = fmt.Errorf("undo %s: %w", journal, err)
	}
	return res, err
}

func undo(ctx context.Context, journal string, o *UndoOptions) (*UndoResult, error) {
	// The journal of a whole-case apply is some 180 MB: apply.Undo streams it, reading each
	// manifest's bytes back from the file when it pushes them.
	f, err := os.Open(journal)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, err := apply.ReadJournalHeader(f)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	out := &UndoResult{}
	if h.Mode == plan.ModeVersion {
		gb, err := openGHCR(ctx, &o.Options, h.Repository)
		if err != nil {
			return nil, err
		}
		out.GHCR, err = ghcr.Undo(ctx, f, gb.rest, gb.state, ghcr.UndoOptions{
			StatePath: gb.statePath, DryRun: o.DryRun, Logger: o.logger(), Progress: o.progress("restore"),
		})
		if out.GHCR == nil {
			return nil, err
		}
		if n := len(out.GHCR.Failed) + out.GHCR.Remaining; err == nil && n > 0 {
			err = fmt.Errorf("%w: %d not restored", ErrPartial, n)
		}
		return out, err
	}
	out.OCI, err = apply.Undo(ctx, f, o.client(), apply.UndoOptions{
		Logger: o.logger(), DryRun: o.DryRun, Progress: o.progress("restore"),
	})
	if out.OCI == nil {
		return nil, err
	}
	if err == nil && len(out.OCI.Failed) > 0 {
		err = fmt.Errorf("%w: %d could not be restored", ErrPartial, len(out.OCI.Failed))
	}
	return out, err
}

// VerifyOptions configure Verify.
type VerifyOptions struct {
	Options
	// Plan, if set, checks the plan's kept tags (its repository must be the one verified).
	Plan *plan.Plan
	// Tags, if set (and no Plan), checks these tags; neither means every tag.
	Tags []string
}

// Verify resolves each tag of repo and checks every manifest it reaches (index children, nested
// indexes) and every config and layer blob by HEAD. Broken or unchecked tags are in the result,
// not an error: see VerifyResult.OK.
func Verify(ctx context.Context, repo string, opt VerifyOptions) (*apply.VerifyResult, error) {
	c := opt.client()
	vopt := apply.VerifyOptions{Logger: opt.logger(), Progress: opt.progress("verify")}
	var (
		res *apply.VerifyResult
		err error
	)
	switch {
	case opt.Plan != nil:
		if opt.Plan.Repository != repo {
			return nil, fmt.Errorf("verify %s: the plan is for %s", repo, opt.Plan.Repository)
		}
		res, err = apply.VerifyPlan(ctx, c, opt.Plan, vopt)
	case len(opt.Tags) > 0:
		res, err = apply.Verify(ctx, c, repo, apply.TagsNamed(opt.Tags...), vopt)
	default:
		res, err = apply.Verify(ctx, c, repo, nil, vopt)
	}
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", repo, err)
	}
	return res, nil
}
