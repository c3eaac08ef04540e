package regtidy

import (
	"context"
	"fmt"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/registry/transport"
	"github.com/regtidy/regtidy/report"
	"github.com/regtidy/regtidy/source"
)

// ReportOptions configure Report.
type ReportOptions struct {
	Options
	// Policy, if set, classifies the tags with its tag scheme, and its commits rule on
	// Report.GroupBy names the git history that dates the group-by values.
	Policy *policy.Policy
	// Report are the report's own options (group-by and split-by fields, top, heavy). Its
	// History, if set, is used as it is.
	Report report.Options
	// Git is a git repository whose first-parent history dates the group-by values (default:
	// the policy's commits rule on that field); Branch its branch (default: the policy's, else
	// main).
	Git    string
	Branch string
	// NoGit reads no git history, even if the policy has a commits rule.
	NoGit bool
}

// ReportResult is a report with the listing it was computed from.
type ReportResult struct {
	Report  *report.Report
	Listing *Listing
	// Warnings say what the report could not do (no commit dates) and what the listing skipped.
	Warnings []string
}

// Report lists repo and measures it: tags by kind, distinct values and fan-out of the group-by
// field, sizes per platform, what blob sharing saves, the oldest image. A git history that fails
// to load is a warning: the report goes on without commit dates.
func Report(ctx context.Context, repo string, opt ReportOptions) (*ReportResult, error) {
	l, err := listWith(ctx, &opt.Options, repo, true)
	if err != nil {
		return nil, fmt.Errorf("report of %s: %w", repo, err)
	}
	res := &ReportResult{Listing: l, Warnings: l.Warnings}
	ropt := opt.Report
	if !opt.NoGit && ropt.History == nil {
		h, err := History(ctx, opt.Policy, HistoryOptions{Options: opt.Options, GroupBy: ropt.GroupBy, Git: opt.Git, Branch: opt.Branch})
		if err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("no commit dates in the report: %v", err))
		}
		ropt.History = h
	}
	var scheme report.Classifier
	if opt.Policy != nil {
		scheme = opt.Policy.Scheme
	}
	res.Report = report.Compute(l.Inventory, scheme, ropt)
	return res, nil
}

// HistoryOptions configure History.
type HistoryOptions struct {
	Options
	// GroupBy is the field whose values are commits (the report's group-by field).
	GroupBy string
	// Git and Branch are as in ReportOptions.
	Git    string
	Branch string
}

// maxHistory bounds the first-parent commits a report reads to date commits.
const maxHistory = 100_000

// History loads the first-parent history that dates a report's group-by values: opt.Git, or the
// repository of pol's commits rule on the group-by field. It returns nil, nil when neither names a
// repository.
func History(ctx context.Context, pol *policy.Policy, opt HistoryOptions) (*report.History, error) {
	spec := policy.CommitsSpec{Repo: opt.Git, Branch: opt.Branch}
	if spec.Repo == "" && pol != nil {
		for _, r := range pol.Rules {
			for _, c := range r.Keep {
				if c.Commits != nil && c.Commits.Field == opt.GroupBy && spec.Repo == "" {
					spec.Repo, spec.Branch = c.Commits.Source.Repo, firstNonEmpty(opt.Branch, c.Commits.Source.Branch)
				}
			}
		}
	}
	if spec.Repo == "" {
		return nil, nil
	}
	spec.Branch = firstNonEmpty(spec.Branch, "main")
	spec.Last, spec.AllowFewer = maxHistory, true
	loader := source.Loader{Logger: opt.logger(), CacheDir: opt.gitCacheDir()}
	commits, err := loader.LastCommits(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", spec.Repo, err)
	}
	h := &report.History{Repo: spec.Repo, Branch: spec.Branch}
	for _, c := range commits {
		h.Commits = append(h.Commits, report.Commit{SHA: c.SHA, Time: c.Time})
	}
	return h, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// ReportJSON is a report's JSON form: the report plus what building it cost.
type ReportJSON struct {
	*report.Report
	Build    inventory.BuildStats `json:"build"`
	Requests transport.Stats      `json:"requests"`
	// PeakRSS is the process's peak resident memory in bytes, when the caller measures it.
	PeakRSS int64 `json:"peak_rss_bytes,omitempty"`
}

// JSON returns the report's JSON form.
func (r *ReportResult) JSON() ReportJSON {
	return ReportJSON{Report: r.Report, Build: r.Listing.Build, Requests: r.Listing.Requests}
}
