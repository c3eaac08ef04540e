package plan

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/regtidy/regtidy/internal/units"
)

// RulePushGrace is the rule that keeps a registry version too young to judge (see
// inventory.Version's Withheld); the policy package makes such decisions.
const RulePushGrace = "push-grace"

// WriteSummary writes a plan's summary for a terminal: per kind, what is kept and deleted; the
// rules that decided most; the bytes freed; and what carrying it out costs.
func (p *Plan) WriteSummary(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	s := p.Summary
	fmt.Fprintf(w, "Plan for %s (policy %s, evaluated at %s)\n\n", p.Repository, p.Policy.Path, p.Now.Format("2006-01-02 15:04 MST"))
	fmt.Fprintln(tw, "KIND\tKEEP TAGS\tDELETE TAGS\tKEEP MANIFESTS\tDELETE MANIFESTS\tFREES\t")
	for _, k := range s.Kinds {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t\n", k.Kind, k.KeptTags, k.DeletedTags, k.KeptManifests, k.DeletedManifests, units.Bytes(k.BytesFreed))
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%d\t%s\t\n", s.KeptTags, s.DeletedTags, s.KeptManifests, s.DeletedManifests, units.Bytes(s.BytesFreed))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.TopReasons) > 0 {
		fmt.Fprintln(w, "\nDecided by (manifests, by first reason):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for i, r := range s.TopReasons {
			if i == 8 {
				break
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\n", r.Action, r.Rule, r.Count)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, r := range s.TopReasons {
		if r.Rule == RulePushGrace {
			fmt.Fprintf(w, "\nWithheld: %d untagged versions created within the push grace before the listing are kept (a push may be in progress); a later run judges them.\n", r.Count)
		}
	}
	c := p.Cost
	if c.Mode != "" {
		fmt.Fprintf(w, "\nApply: %d requests, %d of them deletes, in %s mode.\n", c.Requests, c.Deletes, c.Mode)
		if c.Hours > 0 {
			fmt.Fprintf(w, "At the token's hourly budget that is %s hours of requests.\n", formatHours(c.Hours))
		}
		fmt.Fprintf(w, "Why %s mode: %s\n", c.Mode, c.Why)
		if c.AfterApply != "" {
			fmt.Fprintf(w, "Afterwards: %s\n", c.AfterApply)
		}
	}
	return nil
}

// WriteDecision writes one decision of the plan with all its reasons, for `regtidy explain`.
// A reason that follows another manifest names it with its first tag.
func (p *Plan) WriteDecision(w io.Writer, d Decision) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "digest\t%s\n", d.Digest)
	fmt.Fprintf(tw, "decision\t%s\n", strings.ToUpper(string(d.Action)))
	fmt.Fprintf(tw, "kind\t%s\n", d.Kind)
	if len(d.Tags) > 0 {
		fmt.Fprintf(tw, "tags\t%s\n", strings.Join(d.Tags, ", "))
	}
	if len(d.Fields) > 0 {
		fs := make([]string, 0, len(d.Fields))
		for _, f := range d.Fields {
			fs = append(fs, f.Name+"="+f.Value)
		}
		fmt.Fprintf(tw, "fields\t%s\n", strings.Join(fs, " "))
	}
	if d.Parent != "" {
		fmt.Fprintf(tw, "parent\t%s\n", d.Parent)
	}
	if !d.Created.IsZero() {
		fmt.Fprintf(tw, "created\t%s\n", d.Created.Format("2006-01-02 15:04:05 MST"))
	}
	if d.VersionID != 0 {
		fmt.Fprintf(tw, "version id\t%d\n", d.VersionID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "because:")
	for _, r := range d.Reasons {
		kind := ""
		if r.Kind != "" {
			kind = " [" + r.Kind + "]"
		}
		fmt.Fprintf(w, "  - %s%s: %s%s\n", r.Rule, kind, r.Detail, p.nameOf(r.Of))
	}
	return nil
}

// nameOf names the manifest a reason follows, " sha256:1a2b3c4d5e6f (tag X)", or "" for none.
func (p *Plan) nameOf(digest string) string {
	if digest == "" {
		return ""
	}
	name := " " + digest
	if len(digest) > 19 && strings.HasPrefix(digest, "sha256:") {
		name = " " + digest[:19]
	}
	if d, ok := p.Find(digest); ok && len(d.Tags) > 0 {
		name += " (tag " + d.Tags[0] + ")"
	}
	return name
}

// formatHours writes hours to two significant digits under ten ("0.029", "2.7") and whole above,
// so that a small plan's cost does not read as "0.0 hours".
func formatHours(h float64) string {
	switch {
	case h >= 10:
		return fmt.Sprintf("%.0f", h)
	case h >= 1:
		return fmt.Sprintf("%.1f", h)
	}
	return strconv.FormatFloat(h, 'g', 2, 64)
}
