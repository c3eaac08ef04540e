package report

import (
	"sort"
	"strings"
	"time"

	"github.com/regtidy/regtidy/inventory"
)

// Fanout is the tag count of every value of the group-by field, in the order a chart draws them.
type Fanout struct {
	Field string `json:"field"`
	// Order is "commit" when the values are placed on Branch's first-parent history (oldest
	// commit first), "oldest-image" when no history was read and they are ordered by the
	// creation of their oldest image.
	Order  string `json:"order"`
	Branch string `json:"branch,omitempty"`
	// Head is the branch's newest commit read, with commit order.
	Head string `json:"head,omitempty"`
	// Points are the values, in Order. With commit order, values not on the branch come first.
	Points []FanoutPoint `json:"points"`
}

// FanoutPoint is one value of the group-by field.
type FanoutPoint struct {
	Value string `json:"value"`
	Tags  int    `json:"tags"`
	// Behind is how many first-parent commits the branch's head is ahead of this commit, -1 when
	// the value is not on the branch or no history was read.
	Behind int `json:"behind"`
	// Time is the commit's time, zero when unknown.
	Time time.Time `json:"time,omitzero"`
	// Oldest is the creation time of the oldest image carrying the value.
	Oldest time.Time `json:"oldest,omitzero"`
}

// AgeBucket counts the tags whose image's age at ListedAt falls in [From, To); To 0 means no
// upper bound. The bucket with Label "unknown" counts images without a creation time.
type AgeBucket struct {
	Label string        `json:"label"`
	From  time.Duration `json:"from"`
	To    time.Duration `json:"to"`
	Tags  int           `json:"tags"`
}

// ValueBytes is the image bytes of one value of a field.
type ValueBytes struct {
	Value string `json:"value"`
	Tags  int    `json:"tags"`
	Bytes int64  `json:"bytes"`
}

// TagRow is one tag of the repository, for the HTML page's tag table.
type TagRow struct {
	Tag     string    `json:"tag"`
	Kind    string    `json:"kind"`
	Digest  string    `json:"digest"`
	Created time.Time `json:"created,omitzero"`
	// Bytes is the compressed size of the tag's image.
	Bytes int64 `json:"bytes"`
	// Group and Split are the tag's values of Options.GroupBy and Options.SplitBy, if any.
	Group string `json:"group,omitempty"`
	Split string `json:"split,omitempty"`
}

const day24 = 24 * time.Hour

// ageBounds are the lower bounds of the age histogram's buckets.
var ageBounds = []struct {
	label string
	from  time.Duration
}{
	{"under 1 day", 0}, {"1-7 days", day24}, {"7-30 days", 7 * day24}, {"30-90 days", 30 * day24},
	{"90-180 days", 90 * day24}, {"180-365 days", 180 * day24}, {"over 1 year", 365 * day24},
}

// extras gathers, in Compute's one pass over the tags, what the HTML and Markdown pages show
// besides the text table.
type extras struct {
	r       *Report
	opt     Options
	ages    []AgeBucket
	unknown int
	split   map[string]*ValueBytes
}

func newExtras(r *Report, opt Options, tags int) *extras {
	ex := &extras{r: r, opt: opt, split: map[string]*ValueBytes{}}
	for i, b := range ageBounds {
		ab := AgeBucket{Label: b.label, From: b.from}
		if i+1 < len(ageBounds) {
			ab.To = ageBounds[i+1].from
		}
		ex.ages = append(ex.ages, ab)
	}
	if opt.TagList {
		r.TagList = make([]TagRow, 0, tags)
	}
	return ex
}

// add counts one tag and returns its image's size.
func (ex *extras) add(inv *inventory.Inventory, t inventory.Tag, kind string, fields map[string]string, created time.Time) int64 {
	size := inv.ImageSize(t.Digest)
	if created.IsZero() {
		ex.unknown++
	} else {
		age := max(ex.r.ListedAt.Sub(created), 0)
		i := sort.Search(len(ex.ages), func(i int) bool { return ex.ages[i].From > age }) - 1
		ex.ages[max(i, 0)].Tags++
	}
	if v := fields[ex.opt.SplitBy]; v != "" {
		vb := ex.split[v]
		if vb == nil {
			vb = &ValueBytes{Value: v}
			ex.split[v] = vb
		}
		vb.Tags++
		vb.Bytes += size
	}
	if ex.opt.TagList {
		ex.r.TagList = append(ex.r.TagList, TagRow{Tag: t.Name, Kind: kind, Digest: t.Digest, Created: created,
			Bytes: size, Group: fields[ex.opt.GroupBy], Split: fields[ex.opt.SplitBy]})
	}
	return size
}

// finish fills the report's fan-out, ages and split bytes. group holds the group-by values.
func (ex *extras) finish(group map[string]*ValueCount, h *History) {
	r := ex.r
	if ex.unknown > 0 {
		ex.ages = append(ex.ages, AgeBucket{Label: "unknown", Tags: ex.unknown})
	}
	if r.Tags > 0 {
		r.Ages = ex.ages
	}
	for _, vb := range ex.split {
		r.SplitBytes = append(r.SplitBytes, *vb)
	}
	sort.Slice(r.SplitBytes, func(i, j int) bool {
		a, b := r.SplitBytes[i], r.SplitBytes[j]
		if a.Bytes != b.Bytes {
			return a.Bytes > b.Bytes
		}
		return a.Value < b.Value
	})
	if ex.opt.TagList {
		sort.Slice(r.TagList, func(i, j int) bool { return r.TagList[i].Tag < r.TagList[j].Tag })
	}
	if len(group) > 0 {
		r.Fanout = fanout(ex.opt.GroupBy, group, h)
	}
}

// fanout orders the group-by values: on the branch's history when there is one, else by their
// oldest image.
func fanout(field string, group map[string]*ValueCount, h *History) *Fanout {
	f := &Fanout{Field: field, Order: "oldest-image"}
	var find func(v string) (int, bool)
	if h != nil {
		f.Order, f.Branch = "commit", h.Branch
		if len(h.Commits) > 0 {
			f.Head = h.Commits[0].SHA
		}
		find = branchFinder(h)
	}
	for _, vc := range group {
		p := FanoutPoint{Value: vc.Value, Tags: vc.Tags, Behind: -1, Oldest: vc.Oldest}
		if find != nil {
			if i, ok := find(vc.Value); ok {
				p.Behind, p.Time = i, h.Commits[i].Time
			}
		}
		f.Points = append(f.Points, p)
	}
	sort.Slice(f.Points, func(i, j int) bool {
		a, b := f.Points[i], f.Points[j]
		if a.Behind != b.Behind {
			if a.Behind < 0 || b.Behind < 0 {
				return a.Behind < 0
			}
			return a.Behind > b.Behind
		}
		if !a.Oldest.Equal(b.Oldest) {
			return a.Oldest.Before(b.Oldest)
		}
		return a.Value < b.Value
	})
	return f
}

// branchFinder returns a lookup of a 7-40 hex commit prefix on the history: its position
// (commits behind the head).
func branchFinder(h *History) func(v string) (int, bool) {
	byPrefix := make(map[string]int, len(h.Commits))
	for i, c := range h.Commits {
		if len(c.SHA) >= 7 {
			if _, dup := byPrefix[c.SHA[:7]]; !dup {
				byPrefix[c.SHA[:7]] = i
			}
		}
	}
	return func(v string) (int, bool) {
		if len(v) < 7 {
			return 0, false
		}
		i, ok := byPrefix[v[:7]]
		if !ok || !strings.HasPrefix(h.Commits[i].SHA, v) {
			return 0, false
		}
		return i, true
	}
}
