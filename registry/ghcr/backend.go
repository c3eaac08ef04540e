package ghcr

import (
	"context"
	"errors"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/registry"
)

// versionPort is GitHub Container Registry's apply.Port: a package version deleted through the
// GitHub Packages REST API, by id.
type versionPort struct{ c *Client }

// Delete deletes version t.VersionID (paced by the caller): nil, an error wrapping
// registry.ErrNotFound when it is gone, an *UndeletableError when GitHub refuses it for good,
// ErrBudgetSpent when the budget is spent.
func (p versionPort) Delete(ctx context.Context, t apply.Target) error {
	return p.c.deleteOnce(ctx, t.VersionID)
}

// Outcome journals GitHub's refusal as undeletable with its reason and message, and a spent
// budget or a refused token as not attempted (the next run's): neither is the version's failure.
func (versionPort) Outcome(err error) (outcome, reason, text string) {
	var ue *UndeletableError
	switch {
	case errors.As(err, &ue):
		return apply.OutcomeUndeletable, string(ue.Reason), ue.Message
	case errors.Is(err, ErrBudgetSpent), errors.Is(err, registry.ErrUnauthorized):
		return apply.OutcomeNotAttempted, "", err.Error()
	}
	return apply.OutcomeFailed, "", err.Error()
}
