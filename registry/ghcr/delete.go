package ghcr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry"
)

// BudgetError says how far an operation got before its budget was spent. It wraps ErrBudgetSpent.
type BudgetError struct {
	// Op is "list" or "delete"; Unit what Done and Total count ("pages", "versions").
	Op, Unit    string
	Done, Total int
	// Cause is the ErrBudgetSpent error that stopped the operation, with the limit that was reached.
	Cause error
}

// Error reads like "delete: 120 of 500 versions done; the next run continues (request budget
// spent: 300 of 300 requests sent)".
func (e *BudgetError) Error() string {
	return fmt.Sprintf("%s: %d of %d %s done; the next run continues (%v)", e.Op, e.Done, e.Total, e.Unit, e.Cause)
}

// Unwrap returns the cause, which wraps ErrBudgetSpent.
func (e *BudgetError) Unwrap() error { return e.Cause }

// Reason says why GitHub refuses to delete a version.
type Reason string

// Reasons a version cannot be deleted.
const (
	// ReasonDownloads: a public version with more than 5,000 downloads.
	ReasonDownloads Reason = "downloads"
	// ReasonLastTagged: the package's last tagged version (only deleting the package removes it).
	ReasonLastTagged Reason = "last-tagged"
	// ReasonForbidden: a 403 on this version that is not a rate limit (no admin rights on it).
	ReasonForbidden Reason = "forbidden"
)

// UndeletableError is GitHub's refusal to delete one version. It matches ErrUndeletable.
type UndeletableError struct {
	ID      int64
	Reason  Reason
	Message string
}

// Error names the version, the reason and GitHub's message.
func (e *UndeletableError) Error() string {
	return fmt.Sprintf("version %d cannot be deleted (%s): %s", e.ID, e.Reason, e.Message)
}

// Is reports whether target is ErrUndeletable.
func (e *UndeletableError) Is(target error) bool { return target == ErrUndeletable }

// Outcome is what became of one version in DeleteVersions.
type Outcome string

// Outcomes.
const (
	// OutcomeDeleted: the version was deleted (204).
	OutcomeDeleted Outcome = "deleted"
	// OutcomeGone: the version was already deleted (404): nothing left to do.
	OutcomeGone Outcome = "gone"
	// OutcomeUndeletable: GitHub refuses to delete it; Reason says why. Record it and move on.
	OutcomeUndeletable Outcome = "undeletable"
	// OutcomeFailed: another error, after retries; Err says which. A later run may try again.
	OutcomeFailed Outcome = "failed"
)

// DeleteResult is the outcome for one version.
type DeleteResult struct {
	Version inventory.Version
	Outcome Outcome
	// Reason and Message are set for OutcomeUndeletable.
	Reason  Reason
	Message string
	// Err is set for OutcomeFailed.
	Err error
	// At is when the answer came.
	At time.Time
}

// DeleteSummary counts the outcomes of DeleteVersions.
type DeleteSummary struct {
	Total, Deleted, Gone, Undeletable, Failed int
	// NotAttempted counts the versions left when the budget was spent or the run was cancelled.
	NotAttempted int
}

// Done counts the versions with a final outcome.
func (s DeleteSummary) Done() int { return s.Deleted + s.Gone + s.Undeletable + s.Failed }

// DeleteVersion deletes one version, at the client's pace. It returns nil on success, an error
// wrapping registry.ErrNotFound when the version is already gone, an *UndeletableError when GitHub
// refuses, and ErrBudgetSpent when the budget is spent.
func (c *Client) DeleteVersion(ctx context.Context, id int64) error {
	return c.deleteOnce(ctx, id)
}

func (c *Client) deleteOnce(ctx context.Context, id int64) error {
	base, err := c.versionsBase(ctx)
	if err != nil {
		return err
	}
	u := fmt.Sprintf("%s/versions/%d", base, id)
	_, err = c.do(ctx, request{method: http.MethodDelete, url: u, endpoint: EndpointDelete})
	var apiErr *APIError
	switch {
	case errors.Is(err, ErrBudgetSpent):
		return err // a rate limit that persisted: not the version's fault
	case err == nil:
		c.pacer.succeeded()
		return nil
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound && apiErr.AfterFailure:
		// The first attempt's 5xx or lost answer came after the delete took effect: this run
		// deleted it.
		c.pacer.succeeded()
		c.log.Info("ghcr: a delete answered with an error had taken effect (404 on its retry)", "id", id)
		return nil
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound:
		c.pacer.succeeded()
		return err
	case errors.As(err, &apiErr):
		if reason, ok := undeletableReason(apiErr); ok {
			return &UndeletableError{ID: id, Reason: reason, Message: apiErr.Message}
		}
	}
	return err
}

// undeletableReason classifies GitHub's refusals to delete a version.
func undeletableReason(e *APIError) (Reason, bool) {
	msg := strings.ToLower(e.Message)
	switch {
	case e.Status == http.StatusBadRequest && strings.Contains(msg, "downloads"):
		return ReasonDownloads, true
	case e.Status == http.StatusBadRequest && strings.Contains(msg, "last") && strings.Contains(msg, "version"):
		return ReasonLastTagged, true
	case e.Status == http.StatusForbidden:
		return ReasonForbidden, true
	}
	return "", false
}

// RestoreVersion restores a deleted version (within 30 days of its deletion), at the client's
// pace. A version that is not deleted, or was deleted too long ago, returns an error wrapping
// registry.ErrNotFound.
func (c *Client) RestoreVersion(ctx context.Context, id int64) error {
	return c.restoreOnce(ctx, id)
}

func (c *Client) restoreOnce(ctx context.Context, id int64) error {
	base, err := c.versionsBase(ctx)
	if err != nil {
		return err
	}
	u := fmt.Sprintf("%s/versions/%d/restore", base, id)
	if _, err := c.do(ctx, request{method: http.MethodPost, url: u, endpoint: EndpointRestore}); err != nil {
		return err
	}
	c.pacer.succeeded()
	return nil
}

// DeleteVersions deletes versions in order at the client's pace: one at a time, a second apart,
// unless WithFastPace lets up to WithConcurrency run at once. fn, if not nil, receives each result as it comes, one call at a time (journal it).
// A version GitHub refuses to delete is an OutcomeUndeletable result, never an error that stops
// the others; a 404 is OutcomeGone. When the budget is spent, it stops starting deletes and
// returns a *BudgetError ("N of M versions done"); a refused token (401) or a cancelled ctx stops
// it too. Otherwise the error joins the failures, if any.
func (c *Client) DeleteVersions(ctx context.Context, versions []inventory.Version, fn func(DeleteResult)) (DeleteSummary, error) {
	sum := DeleteSummary{Total: len(versions)}
	var (
		mu       sync.Mutex
		failures []error
		stopErr  error
	)
	stop := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if stopErr == nil {
			stopErr = err
		}
	}
	stopped := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return stopErr != nil
	}
	g := new(errgroup.Group)
	g.SetLimit(c.pacer.inflight())
	for _, v := range versions {
		if stopped() || ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			err := c.deleteOnce(ctx, v.ID)
			res := DeleteResult{Version: v, At: c.now()}
			var ue *UndeletableError
			switch {
			case err == nil:
				res.Outcome = OutcomeDeleted
			case errors.Is(err, registry.ErrNotFound):
				res.Outcome = OutcomeGone
			case errors.As(err, &ue):
				res.Outcome, res.Reason, res.Message = OutcomeUndeletable, ue.Reason, ue.Message
				c.log.Info("ghcr: version cannot be deleted", "id", v.ID, "digest", v.Digest, "reason", ue.Reason)
			case errors.Is(err, ErrBudgetSpent), errors.Is(err, registry.ErrUnauthorized), ctx.Err() != nil:
				stop(err)
				return nil
			default:
				res.Outcome, res.Err = OutcomeFailed, err
			}
			mu.Lock()
			defer mu.Unlock()
			switch res.Outcome {
			case OutcomeDeleted:
				sum.Deleted++
			case OutcomeGone:
				sum.Gone++
			case OutcomeUndeletable:
				sum.Undeletable++
			case OutcomeFailed:
				sum.Failed++
				failures = append(failures, fmt.Errorf("version %d (%s): %w", v.ID, v.Digest, err))
			}
			if fn != nil {
				fn(res)
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines report through sum, failures and stopErr
	sum.NotAttempted = sum.Total - sum.Done()
	switch {
	case stopErr != nil && errors.Is(stopErr, ErrBudgetSpent):
		return sum, &BudgetError{Op: "delete", Unit: "versions", Done: sum.Done(), Total: sum.Total, Cause: stopErr}
	case stopErr != nil:
		return sum, fmt.Errorf("delete: %d of %d versions done: %w", sum.Done(), sum.Total, stopErr)
	case len(failures) > 0:
		return sum, fmt.Errorf("delete: %d of %d versions failed: %w", len(failures), sum.Total, errors.Join(failures...))
	}
	return sum, nil
}
