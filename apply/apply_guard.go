package apply

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/regtidy/regtidy/plan"
)

// ErrPlanMismatch is wrapped by the error Apply returns, before any delete, when most of the tags
// the plan deletes are missing from the registry for no reason the plan's journal (or, on GitHub,
// its state) knows: the plan was made for another repository or registry, and the tags whose
// name and digest happen to match would be deleted in the wrong place.
var ErrPlanMismatch = errors.New("the plan does not match the registry")

// MismatchMinGone is how many planned-delete tags must be unexpectedly missing, besides more than
// half of them, for Apply to refuse the plan: a few tags deleted by someone else since the plan
// are normal.
const MismatchMinGone = 10

// MismatchError reports a plan most of whose deleted tags are missing from the registry.
type MismatchError struct {
	Repository string
	// Planned counts the tags the plan deletes that no earlier run of it recorded deleting;
	// Missing how many of them the registry does not list; Examples names a few.
	Planned, Missing int
	Examples         []string
}

// Error says what is missing and what to do.
func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s: %d of the %d tags the plan deletes are not in the registry, and no journal of this plan records deleting them (e.g. %v): the plan does not match the registry (wrong repository?); nothing was deleted; make the plan again against this repository",
		e.Repository, e.Missing, e.Planned, e.Examples)
}

// Unwrap returns ErrPlanMismatch.
func (e *MismatchError) Unwrap() error { return ErrPlanMismatch }

// CheckMissing returns a *MismatchError when missing tags are more than MismatchMinGone and more
// than half of planned; planned and missing count the tags the plan deletes that no earlier run
// recorded deleting, examples names some of the missing ones.
func CheckMissing(repo string, planned int, missing []string) error {
	if len(missing) <= MismatchMinGone || 2*len(missing) <= planned {
		return nil
	}
	return &MismatchError{Repository: repo, Planned: planned, Missing: len(missing), Examples: missing[:min(5, len(missing))]}
}

// JournaledDeletes returns what the journal at path records deleting (or about to delete: an
// intent whose outcome was lost to a killed run counts) in runs for repo: tags, digests and
// version ids. A missing file records nothing.
func JournaledDeletes(path, repo string) (tags, digests map[string]bool, versions map[int64]bool, err error) {
	tags, digests, versions = map[string]bool{}, map[string]bool{}, map[int64]bool{}
	if path == "" {
		return tags, digests, versions, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return tags, digests, versions, nil
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrJournal, err)
	}
	defer f.Close()
	// Streamed a record at a time: the journal of a whole-case run holds every deleted
	// manifest's bytes, some 180 MB.
	s := newJournalScanner(f)
	ours := false
	for s.next() {
		r := &s.rec
		switch {
		case r.Type == RecordHeader:
			ours = r.Repository == repo
		case !ours:
		case r.Type == RecordManifest, r.Type == RecordOutcome && (r.Outcome == OutcomeDeleted || r.Outcome == OutcomeGone):
			for _, t := range r.Tags {
				tags[t] = true
			}
			if r.Tag != "" {
				tags[r.Tag] = true
			}
			if r.Digest != "" {
				digests[r.Digest] = true
			}
			if r.VersionID != 0 {
				versions[r.VersionID] = true
			}
		}
	}
	if s.err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, s.err)
	}
	return tags, digests, versions, nil
}

// checkMissing is the OCI applier's check, made once before the first delete: the planned-delete
// tags the listing lacks, less those the journal records, must not be most of them.
func (a *applier) checkMissing(listed map[string]bool) error {
	tags, _, _, err := JournaledDeletes(a.opt.JournalPath, a.repo)
	if err != nil {
		return err
	}
	planned := 0
	var missing []string
	for _, d := range a.p.Decisions {
		if d.Action != plan.Delete {
			continue
		}
		for _, t := range d.Tags {
			if tags[t] {
				continue
			}
			planned++
			if !listed[t] {
				missing = append(missing, t)
			}
		}
	}
	return CheckMissing(a.repo, planned, missing)
}
