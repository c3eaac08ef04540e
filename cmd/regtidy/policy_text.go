package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/regtidy/regtidy/internal/units"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/policy"
)

// writeText writes the check as `regtidy policy check` shows it: the policy's kinds and rules,
// what the keep sources read, and what the kinds and conditions match in the repository.
func (c *policyCheck) writeText(w io.Writer) error {
	digest := c.Digest
	if len(digest) > 19 {
		digest = digest[:19]
	}
	fmt.Fprintf(w, "Policy %s: valid (version %d, %s)\n", c.File, c.Version, digest)
	fmt.Fprintln(w, "\nKinds, in the order their patterns are tried (the first that matches a tag gives its kind):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  KIND\tFIELDS\tPATTERN")
	for _, p := range c.Patterns {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", p.Kind, fieldList(p), p.Match)
	}
	fmt.Fprintf(tw, "  %s\t\t%s\n", policy.KindUnknown, "(a tag no pattern matches)")
	fmt.Fprintf(tw, "  %s\t%s\t%s\n", policy.KindReferrer, "subject", "(a sha256-<digest>[.suffix] tag no pattern matches)")
	fmt.Fprintf(tw, "  %s\t\t%s\n", policy.KindUntagged, "(an untagged manifest nothing points at)")
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nRules (a tag is kept when any condition of its kind holds):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range c.Rules {
		for i, cond := range r.Conditions {
			kind := ""
			if i == 0 {
				kind = r.Kind
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s%s\n", kind, keepIndex(cond.Path), cond.Condition, readsNote(cond.Sources))
		}
	}
	if len(c.Rules) == 0 {
		fmt.Fprintln(tw, "  (none: the policy keeps everything)")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var kept []string
	for _, k := range c.Unruled {
		if k == policy.KindReferrer {
			fmt.Fprintln(w, "Without referrer rules, a referrer tag goes with the image it names, and is kept when that image is not in the repository.")
			continue
		}
		kept = append(kept, k)
	}
	if len(kept) > 0 {
		fmt.Fprintf(w, "Kinds without rules are kept whole: %s.\n", strings.Join(kept, ", "))
	}
	if len(c.Sources) > 0 {
		if err := (&plan.Plan{Sources: c.Sources}).WriteSources(w); err != nil {
			return err
		}
	}
	if c.Repository != nil {
		return c.Repository.writeText(w)
	}
	return nil
}

// writeText writes the counts of a repository: tags by kind, then what each condition holds for.
func (r *policyCheckRepo) writeText(w io.Writer) error {
	fmt.Fprintf(w, "\nIn %s: %s tags, %s untagged manifests nothing points at\n", r.Name, units.Count(r.Tags), units.Count(r.Untagged))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  KIND\tCOUNT\t")
	for _, k := range r.Kinds {
		fmt.Fprintf(tw, "  %s\t%s\t\n", k.Kind, units.Count(k.Count))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Rules) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nWhat each condition holds for, on its own, among the tags of its kind:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  RULE\tCONDITION\tHOLDS FOR\t")
	skipped := false
	for _, rc := range r.Rules {
		for i, cc := range rc.Conditions {
			kind := ""
			if i == 0 {
				kind = rc.Kind
			}
			holds := fmt.Sprintf("%s of %s", units.Count(cc.Holds), units.Count(rc.Count))
			if !cc.Evaluated {
				holds = "not evaluated: reads " + strings.Join(cc.Sources, ", ")
				skipped = true
			}
			fmt.Fprintf(tw, "  %s\t%s %s\t%s\t\n", kind, keepIndex(cc.Path), cc.Condition, holds)
		}
		any := fmt.Sprintf("%s of %s", units.Count(rc.Kept), units.Count(rc.Count))
		if rc.Partial {
			any = "at least " + any
		}
		fmt.Fprintf(tw, "  \t%s\t%s\t\n", "any condition (kept by the rule)", any)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if skipped {
		fmt.Fprintln(w, "Conditions that read a keep source were not evaluated: --sources loads the sources (as plan does) and counts them too.")
	}
	fmt.Fprintln(w, "Counts are per tag and before plan's safety rules: what a kept image reaches, and tags sharing a kept digest, are kept too.")
	return nil
}

// keepIndex shortens a condition's path to its place in its rule: "keep[1]".
func keepIndex(path string) string {
	if i := strings.LastIndex(path, ".keep["); i >= 0 {
		return path[i+1:]
	}
	return path
}

// readsNote says which keep sources a condition reads, for the rule listing.
func readsNote(sources []string) string {
	if len(sources) == 0 {
		return ""
	}
	return "  [reads " + strings.Join(sources, ", ") + "]"
}

// fieldList writes a pattern's fields: its named groups, then its constants as name=value.
func fieldList(p policyCheckPattern) string {
	fields := append([]string(nil), p.Fields...)
	consts := make([]string, 0, len(p.Const))
	for k, v := range p.Const {
		consts = append(consts, k+"="+v)
	}
	sort.Strings(consts)
	fields = append(fields, consts...)
	if len(fields) == 0 {
		return "-"
	}
	return strings.Join(fields, ", ")
}
