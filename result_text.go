package regtidy

import (
	"fmt"
	"io"
	"slices"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/internal/redact"
	"github.com/regtidy/regtidy/registry/ghcr"
)

// WriteText writes the result as the regtidy command shows it: what was deleted, what was
// already gone, skipped, failed or left, and how to undo it.
func (r *ApplyResult) WriteText(w io.Writer) error {
	if r.GHCR != nil {
		return writeGHCRApply(w, r.GHCR, r.Journal)
	}
	return writeOCIApply(w, r.OCI, r.Journal)
}

func writeOCIApply(w io.Writer, r *apply.ApplyResult, journal string) error {
	verb := "deleted"
	if r.DryRun {
		verb = "would delete"
	}
	fmt.Fprintf(w, "%s in %s mode: %s %d tags and %d manifests\n", r.Repository, r.Mode, verb, len(r.DeletedTags), len(r.DeletedManifests))
	if n := len(r.GoneTags) + len(r.GoneManifests); n > 0 {
		fmt.Fprintf(w, "already gone (an earlier run, or someone else): %d\n", n)
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "skipped %s: it moved from %s to %s since the plan\n", s.Tag, short(s.Planned), short(s.Live))
	}
	for _, f := range r.Failed {
		fmt.Fprintf(w, "FAILED %v\n", f) // Failure.Error redacts credentials
	}
	if r.Remaining > 0 {
		fmt.Fprintf(w, "%d deletes not done yet (--max-deletes or interrupted): run the same command again to continue\n", r.Remaining)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "note: %s\n", warn)
	}
	if r.AfterApply != "" && !slices.Contains(r.Warnings, r.AfterApply) {
		fmt.Fprintf(w, "afterwards: %s\n", r.AfterApply)
	}
	if !r.DryRun && journal != "" && len(r.DeletedTags)+len(r.DeletedManifests) > 0 {
		_, err := fmt.Fprintf(w, "journal: %s (regtidy undo %s puts the deleted images back while the registry still has their blobs)\n", journal, journal)
		return err
	}
	return nil
}

func writeGHCRApply(w io.Writer, r *ghcr.ApplyResult, journal string) error {
	verb := "deleted"
	if r.DryRun {
		verb = "would delete"
	}
	fmt.Fprintf(w, "%s: %s %d of %d planned package versions (%d REST requests)\n", r.Repository, verb, len(r.Deleted), r.Planned, r.Requests)
	if n := len(r.Gone); n > 0 {
		fmt.Fprintf(w, "already gone (404, deleted by someone else or a run whose state was lost): %d\n", n)
	}
	if r.DoneBefore > 0 {
		fmt.Fprintf(w, "deleted by an earlier run (the state records it): %d\n", r.DoneBefore)
	}
	for _, u := range r.Undeletable {
		fmt.Fprintf(w, "REFUSED: GitHub refuses to delete version %d (%s): %s; recorded, later runs skip it\n", u.ID, short(u.Digest), u.Reason)
	}
	if r.RefusedBefore > 0 {
		fmt.Fprintf(w, "refused: %d versions GitHub refused to delete in earlier runs stay (the state records why: over 5,000 downloads, the last tagged version, or no admin rights); skipped without a request\n", r.RefusedBefore)
	}
	if n := len(r.Protected) + len(r.Held); n > 0 {
		fmt.Fprintf(w, "kept after all: %d versions a kept tag now reaches, or whose parent could not be deleted\n", n)
	}
	for _, f := range r.Failed {
		fmt.Fprintf(w, "FAILED %v\n", redact.Text(f.Error()))
	}
	if r.Remaining > 0 {
		stopped := r.Stopped
		if stopped == "" {
			stopped = "budget or interruption"
		}
		fmt.Fprintf(w, "%d versions not done yet (%s): run the same command again to continue\n", r.Remaining, stopped)
	}
	if r.AfterApply != "" {
		fmt.Fprintf(w, "afterwards: %s\n", r.AfterApply)
	}
	if !r.DryRun && journal != "" && len(r.Deleted) > 0 {
		_, err := fmt.Fprintf(w, "journal: %s (regtidy undo %s restores the versions within GitHub's 30-day window)\n", journal, journal)
		return err
	}
	return nil
}

// WriteText writes the result as the regtidy command shows it: what was restored, what was
// already there, and what could not be.
func (r *UndoResult) WriteText(w io.Writer) error {
	if g := r.GHCR; g != nil {
		verb := "restored"
		if g.DryRun {
			verb = "would restore"
		}
		fmt.Fprintf(w, "%s: %s %d package versions; %d were not deleted; %d are past GitHub's 30-day restore window\n",
			g.Repository, verb, len(g.Restored), len(g.NotDeleted), len(g.Expired))
		for _, f := range g.Failed {
			fmt.Fprintf(w, "NOT RESTORED %v\n", redact.Text(f.Error()))
		}
		if g.Remaining > 0 {
			fmt.Fprintf(w, "%d versions not restored yet (budget): run the same command again\n", g.Remaining)
		}
		return nil
	}
	o := r.OCI
	verb := "restored"
	if o.DryRun {
		verb = "would restore"
	}
	fmt.Fprintf(w, "%s: %s %d manifests and %d tags; %d manifests and %d tags were already there\n",
		o.Repository, verb, len(o.RestoredManifests), len(o.RestoredTags), len(o.PresentManifests), len(o.PresentTags))
	for _, c := range o.Conflicts {
		fmt.Fprintf(w, "left alone: %s now points at %s (it was %s)\n", c.Tag, short(c.Live), short(c.Planned))
	}
	for _, f := range o.Failed {
		fmt.Fprintf(w, "NOT RESTORED %v\n", f) // UndoFailure.Error redacts credentials
	}
	return nil
}

// short is a digest cut to "sha256:" and its first 12 hex digits.
func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
