package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/regtidy/regtidy/internal/units"
	"github.com/regtidy/regtidy/plan"
)

// MarkdownOptions choose what WriteMarkdown writes.
type MarkdownOptions struct {
	// Title is the first heading; the default is "regtidy report: REPOSITORY".
	Title string
	// Top is how many group-by values the fan-out table lists, largest first; default 10.
	Top int
}

// WriteMarkdown writes the content of the HTML page (WriteHTML) as GitHub-flavoured Markdown
// with no script and no image, for a job summary or a pull-request comment: the evidence, what
// is unknown, the largest values of the fan-out with the plan's decisions on them, bytes by
// kind and split value, tag ages, and with a plan its summary by kind and reason, the bytes it
// frees, what applying it costs and what the keep sources read. It lists no tags one by one.
func WriteMarkdown(w io.Writer, r *Report, p *plan.Plan, opt MarkdownOptions) error {
	if opt.Top <= 0 {
		opt.Top = 10
	}
	pg := buildPage(r, p, opt.Title)
	b := bufio.NewWriter(w)
	f := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	f("# %s\n\n", cell(pg.Title))
	f("| | |\n| --- | --- |\n")
	for _, e := range pg.Evidence {
		f("| %s | %s |\n", cell(e[0]), cell(e[1]))
	}
	f("\n")
	for _, u := range pg.Unknown {
		f("> %s\n>\n", u)
	}
	if len(pg.Unknown) > 0 {
		f("\n")
	}
	if fo := pg.Fanout; fo != nil {
		writeFanoutMarkdown(f, fo, p != nil, opt.Top)
	}
	f("## Image bytes by kind\n\nCompressed bytes of each tag's image, shared blobs counted once per image.\n\n")
	f("| kind | tags | digests | bytes |\n| --- | ---: | ---: | ---: |\n")
	for _, k := range pg.Kinds {
		f("| %s | %s | %s | %s |\n", cell(k.Kind), units.Count(k.Tags), units.Count(k.Manifests), units.Bytes(k.Bytes))
	}
	if len(pg.Split) > 0 {
		f("\n| %s | tags | bytes |\n| --- | ---: | ---: |\n", cell(pg.SplitField))
		for _, s := range pg.Split {
			f("| %s | %s | %s |\n", cell(s.Value), units.Count(s.Tags), units.Bytes(s.Bytes))
		}
	}
	if len(pg.Ages) > 0 {
		f("\n## Tag age at listing time\n\n| age | tags |\n| --- | ---: |\n")
		for _, a := range pg.Ages {
			f("| %s | %s |\n", a.Label, units.Count(a.Tags))
		}
	}
	if pp := pg.Plan; pp != nil {
		writePlanMarkdown(f, pp)
	}
	return b.Flush()
}

// writeFanoutMarkdown lists the largest values of the fan-out with where they are and, with a
// plan, what it decided for their tags.
func writeFanoutMarkdown(f func(string, ...any), fo *pageFanout, withPlan bool, top int) {
	f("## Tags per %s\n\n", cell(fo.Field))
	f("%s %s values", units.Count(len(fo.Points)), cell(fo.Field))
	if withPlan {
		f("; %s of them used by a live run", units.Count(fo.Live))
		if fo.Window > 0 {
			f("; the plan's commits source kept the last %s commits", units.Count(fo.Window))
		}
	}
	f(". The %d with the most tags:\n\n", min(top, len(fo.Points)))
	idx := make([]int, len(fo.Points))
	for i := range idx {
		idx[i] = i
	}
	// Largest first; ties keep the chart's order.
	for i := 1; i < len(idx); i++ {
		for j := i; j > 0 && fo.Points[idx[j]][1].(int) > fo.Points[idx[j-1]][1].(int); j-- {
			idx[j], idx[j-1] = idx[j-1], idx[j]
		}
	}
	f("| %s | tags | commits behind %s |", cell(fo.Field), cell(orDash(fo.Branch)))
	if withPlan {
		f(" kept | deleted | kept by |\n| --- | ---: | ---: | ---: | ---: | --- |\n")
	} else {
		f("\n| --- | ---: | ---: |\n")
	}
	for _, i := range idx[:min(top, len(idx))] {
		pt := fo.Points[i]
		behind := "-"
		if b := pt[2].(int); b >= 0 {
			behind = units.Count(b)
		}
		f("| %s | %s | %s |", cell(pt[0].(string)), units.Count(pt[1].(int)), behind)
		if withPlan {
			var by []string
			if pt[5].(int)&1 != 0 {
				by = append(by, "commits")
			}
			if pt[5].(int)&2 != 0 {
				by = append(by, "live run")
			}
			f(" %s | %s | %s |", units.Count(pt[3].(int)), units.Count(pt[4].(int)), orDash(strings.Join(by, ", ")))
		}
		f("\n")
	}
	f("\n")
}

// writePlanMarkdown writes the plan's summary.
func writePlanMarkdown(f func(string, ...any), pp *pagePlan) {
	f("\n## Plan\n\nPolicy `%s`, evaluated at %s.\n\n", strings.ReplaceAll(pp.Policy, "`", "'"), pp.Now)
	f("| kind | keep tags | delete tags | keep manifests | delete manifests | frees |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, k := range append(append([]plan.KindSummary(nil), pp.Kinds...), pp.Totals) {
		f("| %s | %s | %s | %s | %s | %s |\n", cell(k.Kind), units.Count(k.KeptTags), units.Count(k.DeletedTags),
			units.Count(k.KeptManifests), units.Count(k.DeletedManifests), units.Bytes(k.BytesFreed))
	}
	if len(pp.Reasons) > 0 {
		f("\nDecided by (manifests, by first reason):\n\n| decision | rule | manifests |\n| --- | --- | ---: |\n")
		for _, r := range pp.Reasons {
			f("| %s | %s | %s |\n", r.Action, cell(r.Rule), units.Count(r.Count))
		}
	}
	f("\nFrees %s of blobs that only deleted manifests use.", units.Bytes(pp.BytesFreed))
	if c := pp.Cost; c.Mode != "" {
		f(" Applying it takes %s requests, %s of them deletes, in %s mode", units.Count(c.Requests), units.Count(c.Deletes), c.Mode)
		if c.Hours > 0 {
			f(": %s hours of the token's hourly REST budget", hours(c.Hours))
		}
		f(". Why %s mode: %s", c.Mode, sentence(cell(c.Why)))
		if c.AfterApply != "" {
			f(" Afterwards: %s", sentence(cell(c.AfterApply)))
		}
	}
	f("\n")
	if len(pp.Sources) > 0 {
		f("\n| keep source | read | what it read |\n| --- | --- | --- |\n")
		for _, s := range pp.Sources {
			f("| %s | %s | %s |\n", cell(s[0]), cell(s[1]), cell(s[2]))
		}
	}
}

// cell makes text safe in a Markdown table cell: no pipe, no line break, no HTML.
func cell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// sentence ends s with a full stop.
func sentence(s string) string {
	if s == "" || strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// hours writes hours as plan summaries do: two significant digits under ten, whole above.
func hours(h float64) string {
	switch {
	case h >= 10:
		return fmt.Sprintf("%.0f", h)
	case h >= 1:
		return fmt.Sprintf("%.1f", h)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2g", h), "0"), ".")
}

// WritePlanMarkdown writes the plan part of WriteMarkdown alone, under a heading naming the
// plan's repository: its summary by kind and reason, the bytes it frees, what applying it costs
// and what the keep sources read. `regtidy plan -o markdown` and the job summary of prune use it.
func WritePlanMarkdown(w io.Writer, p *plan.Plan) error {
	b := bufio.NewWriter(w)
	f := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	f("# regtidy plan: %s\n", cell(p.Repository))
	writePlanMarkdown(f, planPart(p))
	return b.Flush()
}
