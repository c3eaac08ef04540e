package report

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/regtidy/regtidy/internal/units"
)

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report as aligned text for a terminal.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	p("Repository\t%s\n", r.Repository)
	p("Listed at\t%s\n", r.ListedAt.Format(time.RFC3339))
	p("Tags\t%s\n", units.Count(r.Tags))
	if r.Vanished > 0 {
		p("Tags gone while listing\t%s\n", units.Count(r.Vanished))
	}
	if r.Versions > 0 {
		p("Registry versions\t%s\n", units.Count(r.Versions))
	}
	p("\t\n")
	p("KIND\tTAGS\tDIGESTS\t\n")
	for _, k := range r.Kinds {
		p("%s\t%s\t%s\t\n", k.Kind, units.Count(k.Tags), units.Count(k.Manifests))
	}
	p("\t\n")
	m := r.Manifests
	p("Manifests\t%s\n", units.Count(m.Total))
	p("  tagged\t%s\n", units.Count(m.Tagged))
	p("  untagged platform images (children of tagged)\t%s\n", units.Count(m.Children))
	p("  untagged attestation manifests\t%s\n", units.Count(m.Attestations))
	if m.Referrers > 0 {
		p("  referrers (signatures, SBOMs)\t%s\n", units.Count(m.Referrers))
	}
	if m.Orphans > 0 {
		p("  orphans (untagged, nothing tagged reaches them)\t%s\n", units.Count(m.Orphans))
	}
	for _, g := range []*GroupStats{r.Group, r.Split} {
		if g == nil {
			continue
		}
		p("\t\n")
		p("Distinct %s values\t%s (over %s tags)\n", g.Field, units.Count(g.Distinct), units.Count(g.Tagged))
		p("  tags per %s: median / max\t%s / %s\n", g.Field, units.Count(g.Median), units.Count(g.Max))
		p("  %s values with %s+ tags\t%s\n", g.Field, units.Count(g.HeavyMin), units.Count(g.Heavy))
		if oc := g.OldestCommit; oc != nil {
			p("  oldest %s still present\t%s of %s, %d commits behind %s (%s tags)\n", g.Field, oc.SHA[:min(12, len(oc.SHA))], oc.Time.Format("2006-01-02"), oc.Behind, g.Branch, units.Count(oc.Tags))
			p("  %s values not on %s\t%s\n", g.Field, g.Branch, units.Count(g.NotOnBranch))
		}
		p("  top %s\tTAGS\tOLDEST IMAGE\n", g.Field)
		for _, v := range g.Top {
			p("    %s\t%s\t%s\n", v.Value, units.Count(v.Tags), day(v.Oldest))
		}
	}
	p("\t\n")
	p("IMAGE SIZE (compressed)\tIMAGES\tMEDIAN\tP90\tMAX\n")
	for _, s := range r.Sizes {
		p("%s\t%s\t%s\t%s\t%s\n", s.Platform, units.Count(s.Images), units.Bytes(s.Median), units.Bytes(s.P90), units.Bytes(s.Max))
	}
	p("\t\n")
	p("Bytes if nothing were shared\t%s\n", units.Bytes(r.NaiveBytes))
	p("Unique bytes (each blob once)\t%s\n", units.Bytes(r.UniqueBytes))
	if r.UniqueBytes > 0 {
		p("Sharing factor\t%.1fx\n", float64(r.NaiveBytes)/float64(r.UniqueBytes))
	}
	if r.Oldest != nil {
		p("Oldest image\t%s  %s\n", r.Oldest.Created.Format(time.RFC3339), r.Oldest.Tag)
		p("Newest image\t%s  %s\n", r.Newest.Created.Format(time.RFC3339), r.Newest.Tag)
	}
	return tw.Flush()
}

func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("2006-01-02")
}
