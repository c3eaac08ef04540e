package apply

import "github.com/regtidy/regtidy/plan"

// Result is what every apply run reports, on either backend; each backend's result embeds it
// (so its JSON fields sit beside the backend's own) and adds what only it knows.
type Result struct {
	// Repository is the plan's repository.
	Repository string `json:"repository"`
	// Mode is the mode the deletes were made in: tag or digest on an OCI registry (digest after
	// an auto fallback), version on GitHub Container Registry.
	Mode plan.Mode `json:"mode"`
	// DryRun: nothing was deleted; the deleted lists say what would have been.
	DryRun bool `json:"dry_run,omitempty"`
	// Failed are the deletes (or the re-checks before them) that failed; a later run tries them
	// again.
	Failed []Failure `json:"failed,omitempty"`
	// Remaining counts planned deletes not attempted: MaxDeletes reached, the budget spent, the
	// run cancelled, or a parent not deleted yet. On an OCI registry it counts in the unit of the
	// mode: tags in tag mode, manifests in digest mode; on GHCR, versions.
	Remaining int `json:"remaining,omitempty"`
	// AfterApply says what the registry must still do (garbage collection), or what still
	// applies after the run (GitHub's restore window).
	AfterApply string `json:"after_apply,omitempty"`
}
