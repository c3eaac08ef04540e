package report

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/regtidy/regtidy/internal/units"
	"github.com/regtidy/regtidy/plan"
)

// page is what the HTML page and the Markdown summary show, computed once from a report and an
// optional plan. The HTML page embeds it as JSON; its script draws the charts and the tag table.
type page struct {
	Title      string       `json:"title"`
	Repository string       `json:"repository"`
	ListedAt   string       `json:"listed_at"`
	Evidence   [][2]string  `json:"evidence"`
	Kinds      []KindCount  `json:"kinds"`
	SplitField string       `json:"split_field"`
	Split      []ValueBytes `json:"split"`
	Ages       []AgeBucket  `json:"ages"`
	Fanout     *pageFanout  `json:"fanout"`
	Plan       *pagePlan    `json:"plan"`
	Table      *pageTable   `json:"table"`
	// Unknown says, sentence by sentence, what the page cannot show and why.
	Unknown []string `json:"unknown"`
}

// pageFanout is the fan-out chart: one point per group-by value, in Report.Fanout's order.
type pageFanout struct {
	Field  string `json:"field"`
	Order  string `json:"order"`
	Branch string `json:"branch"`
	// Window is the number of newest commits the plan's commits source kept (0 when unknown);
	// WindowShaded says the points with Behind < Window are the window (same head).
	Window       int  `json:"window"`
	WindowShaded bool `json:"window_shaded"`
	// Points: value, tags, behind, kept tags, deleted tags, flags (1: the commits rule kept an
	// image of it, 2: the runs rule did: a live run uses it).
	Points [][6]any `json:"points"`
	Live   int      `json:"live"`
}

// pagePlan is the plan's part of the page.
type pagePlan struct {
	Policy     string             `json:"policy"`
	Now        string             `json:"now"`
	Kinds      []plan.KindSummary `json:"kinds"`
	Totals     plan.KindSummary   `json:"totals"`
	Reasons    []plan.ReasonCount `json:"reasons"`
	BytesFreed int64              `json:"bytes_freed"`
	Cost       plan.Cost          `json:"cost"`
	Sources    [][3]string        `json:"sources"`
}

// pageTable is the tag table, column by column so that 133k rows are one compact JSON value.
// Tag names are front-coded: row i's name is the first TagPrefix[i] bytes of row i-1's name
// followed by TagSuffix[i] (the case's sorted names share most of their length). Kind and
// Reason are indexes into Kinds and Reasons; Action is 0 (no plan), 1 keep, 2 delete.
type pageTable struct {
	Kinds     []string `json:"kinds"`
	Reasons   []string `json:"reasons"`
	TagPrefix []int    `json:"tag_prefix"`
	TagSuffix []string `json:"tag_suffix"`
	// Tag holds the names while the table is built; the page carries them front-coded.
	Tag     []string `json:"-"`
	Kind    []int    `json:"kind"`
	Created []int64  `json:"created"`
	Bytes   []int64  `json:"bytes"`
	Action  []int    `json:"action"`
	Reason  []int    `json:"reason"`
}

// buildPage gathers what the pages show.
func buildPage(r *Report, p *plan.Plan, title string) *page {
	pg := &page{Title: title, Repository: r.Repository, ListedAt: stamp(r.ListedAt), Kinds: r.Kinds,
		Split: r.SplitBytes, Ages: r.Ages}
	if pg.Title == "" {
		pg.Title = "regtidy report: " + r.Repository
	}
	if r.Split != nil {
		pg.SplitField = r.Split.Field
	}
	pg.Evidence = evidence(r)
	var byDigest map[string]*plan.Decision
	if p != nil {
		byDigest = make(map[string]*plan.Decision, len(p.Decisions))
		for i := range p.Decisions {
			byDigest[p.Decisions[i].Digest] = &p.Decisions[i]
		}
		pg.Plan = planPart(p)
	} else {
		pg.Unknown = append(pg.Unknown, "No plan was given: what a policy keeps and deletes, the keep window and the commits of live runs are not shown.")
	}
	pg.Fanout = fanoutPart(r, p, pg)
	pg.Table = tablePart(r, p, byDigest, pg)
	return pg
}

// evidence is the report's key figures as label and value.
func evidence(r *Report) [][2]string {
	e := [][2]string{{"Repository", r.Repository}, {"Listed at", stamp(r.ListedAt)}, {"Tags", units.Count(r.Tags)}}
	if r.Versions > 0 {
		e = append(e, [2]string{"Registry versions", units.Count(r.Versions)})
	}
	m := r.Manifests
	e = append(e, [2]string{"Manifests", fmt.Sprintf("%s (%s tagged, %s platform images, %s attestations, %s referrers, %s orphans)",
		units.Count(m.Total), units.Count(m.Tagged), units.Count(m.Children), units.Count(m.Attestations), units.Count(m.Referrers), units.Count(m.Orphans))})
	for _, g := range []*GroupStats{r.Group, r.Split} {
		if g == nil {
			continue
		}
		e = append(e, [2]string{"Distinct " + g.Field + " values", fmt.Sprintf("%s over %s tags; median %s, max %s tags per value; %s values with %s+ tags",
			units.Count(g.Distinct), units.Count(g.Tagged), units.Count(g.Median), units.Count(g.Max), units.Count(g.Heavy), units.Count(g.HeavyMin))})
		if oc := g.OldestCommit; oc != nil {
			e = append(e, [2]string{"Oldest " + g.Field + " still present", fmt.Sprintf("%s of %s, %d commits behind %s (%s tags); %s values not on %s",
				oc.SHA[:min(12, len(oc.SHA))], oc.Time.Format("2006-01-02"), oc.Behind, g.Branch, units.Count(oc.Tags), units.Count(g.NotOnBranch), g.Branch)})
		}
	}
	e = append(e, [2]string{"Bytes if nothing were shared", units.Bytes(r.NaiveBytes)}, [2]string{"Unique bytes (each blob once)", units.Bytes(r.UniqueBytes)})
	if r.UniqueBytes > 0 {
		e = append(e, [2]string{"Sharing factor", fmt.Sprintf("%.1fx", float64(r.NaiveBytes)/float64(r.UniqueBytes))})
	}
	for _, s := range r.Sizes {
		e = append(e, [2]string{"Image size " + s.Platform, fmt.Sprintf("%s images: median %s, p90 %s, max %s", units.Count(s.Images), units.Bytes(s.Median), units.Bytes(s.P90), units.Bytes(s.Max))})
	}
	if r.Oldest != nil {
		e = append(e, [2]string{"Oldest image", stamp(r.Oldest.Created) + " " + r.Oldest.Tag}, [2]string{"Newest image", stamp(r.Newest.Created) + " " + r.Newest.Tag})
	}
	return e
}

func planPart(p *plan.Plan) *pagePlan {
	s := p.Summary
	pp := &pagePlan{Policy: p.Policy.Path, Now: stamp(p.Now), Kinds: s.Kinds, Reasons: s.TopReasons, BytesFreed: s.BytesFreed, Cost: p.Cost,
		Totals: plan.KindSummary{Kind: "total", KeptTags: s.KeptTags, DeletedTags: s.DeletedTags, KeptManifests: s.KeptManifests,
			DeletedManifests: s.DeletedManifests, BytesFreed: s.BytesFreed}}
	for _, src := range p.Sources {
		pp.Sources = append(pp.Sources, [3]string{src.Kind, src.Source, src.Describe()})
	}
	return pp
}

// fanoutPart places the plan's decisions on the fan-out: kept and deleted tags per value, and
// which values the commits and runs rules kept.
func fanoutPart(r *Report, p *plan.Plan, pg *page) *pageFanout {
	if r.Fanout == nil {
		pg.Unknown = append(pg.Unknown, "No tag has the group-by field, so there is no fan-out chart.")
		return nil
	}
	f := r.Fanout
	pf := &pageFanout{Field: f.Field, Order: f.Order, Branch: f.Branch}
	if f.Order != "commit" {
		pg.Unknown = append(pg.Unknown, "No git history was read: the "+f.Field+" values are ordered by their oldest image, not by commit.")
	}
	type overlay struct{ kept, deleted, flags int }
	ov := map[string]*overlay{}
	if p != nil {
		for i := range p.Decisions {
			d := &p.Decisions[i]
			v, ok := d.Fields.Lookup(f.Field)
			if !ok || len(d.Tags) == 0 {
				continue
			}
			o := ov[v]
			if o == nil {
				o = &overlay{}
				ov[v] = o
			}
			if d.Action == plan.Delete {
				o.deleted += len(d.Tags)
			} else {
				o.kept += len(d.Tags)
			}
			for _, rs := range d.Reasons {
				switch rs.Rule {
				case "commits":
					o.flags |= 1
				case "runs":
					o.flags |= 2
				}
			}
		}
		commitsSources := 0
		for _, s := range p.Sources {
			if s.Commits == nil {
				continue
			}
			commitsSources++
			if commitsSources == 1 {
				pf.Window = s.Commits.Count
				pf.WindowShaded = f.Order == "commit" && f.Head != "" && s.Commits.Head != "" &&
					(strings.HasPrefix(f.Head, s.Commits.Head) || strings.HasPrefix(s.Commits.Head, f.Head))
			}
		}
		switch {
		case commitsSources == 0:
			pg.Unknown = append(pg.Unknown, "The plan read no commits source: there is no keep window to mark.")
		case !pf.WindowShaded:
			pg.Unknown = append(pg.Unknown, "The keep window cannot be placed on the commit order (no history, or another head than the plan's commits source read): values the commits rule kept are marked instead.")
		}
		if commitsSources > 1 {
			pg.Unknown = append(pg.Unknown, "The plan read several commits sources; the window drawn is the first one's.")
		}
	}
	for _, pt := range f.Points {
		o := ov[pt.Value]
		if o == nil {
			o = &overlay{}
		}
		if o.flags&2 != 0 {
			pf.Live++
		}
		pf.Points = append(pf.Points, [6]any{pt.Value, pt.Tags, pt.Behind, o.kept, o.deleted, o.flags})
	}
	return pf
}

// tablePart builds the tag table from the report's tag list, or else from the plan's tags.
func tablePart(r *Report, p *plan.Plan, byDigest map[string]*plan.Decision, pg *page) *pageTable {
	t := &pageTable{}
	kinds, reasons := map[string]int{}, map[string]int{}
	intern := func(m map[string]int, list *[]string, s string) int {
		i, ok := m[s]
		if !ok {
			i = len(*list)
			m[s] = i
			*list = append(*list, s)
		}
		return i
	}
	add := func(tag, digest, kind string, created time.Time, bytes int64) {
		action, reason := 0, -1
		if d := byDigest[digest]; d != nil {
			action = 1
			if d.Action == plan.Delete {
				action = 2
			}
			if kind == "" {
				kind = d.Kind
			}
			if len(d.Reasons) > 0 {
				rs := d.Reasons[0]
				text := rs.Rule + ": " + rs.Detail
				if len(d.Reasons) > 1 {
					text += fmt.Sprintf(" (+%d more)", len(d.Reasons)-1)
				}
				reason = intern(reasons, &t.Reasons, text)
			}
		}
		var unix int64
		if !created.IsZero() {
			unix = created.Unix()
		}
		t.Tag = append(t.Tag, tag)
		t.Kind = append(t.Kind, intern(kinds, &t.Kinds, kind))
		t.Created = append(t.Created, unix)
		t.Bytes = append(t.Bytes, bytes)
		t.Action = append(t.Action, action)
		t.Reason = append(t.Reason, reason)
	}
	switch {
	case len(r.TagList) > 0:
		for _, row := range r.TagList {
			add(row.Tag, row.Digest, row.Kind, row.Created, row.Bytes)
		}
	case p != nil:
		pg.Unknown = append(pg.Unknown, "The report holds no tag list: the tag table is the plan's tags, without sizes.")
		for _, tg := range p.Tags {
			var created time.Time
			if d := byDigest[tg.Digest]; d != nil {
				created = d.Created
			}
			add(tg.Name, tg.Digest, "", created, -1)
		}
	default:
		pg.Unknown = append(pg.Unknown, "The report holds no tag list and no plan was given: there is no tag table.")
		return nil
	}
	t.TagPrefix, t.TagSuffix = make([]int, len(t.Tag)), make([]string, len(t.Tag))
	prev := ""
	for i, tag := range t.Tag {
		// The shared prefix stops at the first non-ASCII byte: the page slices UTF-16 strings,
		// and over ASCII (all OCI tags are) a byte count and a UTF-16 count agree.
		n := 0
		for n < len(prev) && n < len(tag) && prev[n] == tag[n] && tag[n] < utf8.RuneSelf {
			n++
		}
		t.TagPrefix[i], t.TagSuffix[i] = n, tag[n:]
		prev = tag
	}
	return t
}

// stamp writes a time for the pages, "-" for none.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
