// Package report measures a repository's inventory: tags by kind, how the tags fan out over a
// field such as the SDK commit, how they spread over another such as the benchmark, image sizes per
// platform, what blob sharing saves, and the oldest and newest images. It renders the result as a
// text table, JSON, a self-contained HTML page (WriteHTML) or Markdown (WriteMarkdown), the last
// two with a plan's decisions on the report if one is given.
package report

import (
	"sort"
	"strings"
	"time"

	"github.com/regtidy/regtidy/inventory"
)

// Classifier assigns a tag its kind and named fields (the policy's tag scheme does).
type Classifier interface {
	Classify(tag string) (kind string, fields map[string]string)
}

// Options choose what Compute measures. The zero value groups by "sdk" and splits by "bench".
type Options struct {
	// GroupBy is the field whose distinct values are counted with their tag fan-out. Default "sdk".
	GroupBy string
	// SplitBy is the field whose distribution is shown. Default "bench".
	SplitBy string
	// Top is how many of the largest groups to list. Default 10.
	Top int
	// Heavy is the tag count from which a group counts as heavy. Default 1000.
	Heavy int
	// History, if set, is a branch's first-parent history, newest first. The GroupBy values are
	// then taken as commit hashes (7-40 hex prefixes): the report dates them and says which is
	// the oldest still present and how many are not on the branch.
	History *History
	// TagList fills Report.TagList with one row per tag (for the HTML page's tag table).
	TagList bool
}

// History is a branch's first-parent commits, newest first.
type History struct {
	Repo    string
	Branch  string
	Commits []Commit
}

// Commit is one commit of a History.
type Commit struct {
	SHA  string
	Time time.Time
}

// Report is the measurement of one repository.
type Report struct {
	Repository string    `json:"repository"`
	ListedAt   time.Time `json:"listed_at"`
	Tags       int       `json:"tags"`
	Vanished   int       `json:"vanished_tags"`
	// Kinds counts tags and distinct digests per tag-scheme kind, largest first.
	Kinds     []KindCount    `json:"kinds"`
	Manifests ManifestCounts `json:"manifests"`
	// Group is the fan-out over Options.GroupBy; nil when no tag has that field.
	Group *GroupStats `json:"group,omitempty"`
	// Split is the distribution over Options.SplitBy; nil when no tag has that field.
	Split *GroupStats `json:"split,omitempty"`
	// Sizes per platform of tagged images: compressed bytes of config and layers.
	Sizes []PlatformSizes `json:"sizes"`
	// NaiveBytes adds every tag's image size as if nothing were shared; UniqueBytes counts each blob
	// of the repository once.
	NaiveBytes  int64    `json:"naive_bytes"`
	UniqueBytes int64    `json:"unique_bytes"`
	Oldest      *TagTime `json:"oldest,omitempty"`
	Newest      *TagTime `json:"newest,omitempty"`
	Versions    int      `json:"versions,omitempty"`
	// Fanout is every Options.GroupBy value with its tags: in commit order, oldest first, when
	// Options.History places them (values not on the branch come first, Behind -1); otherwise
	// ordered by their oldest image. Nil when no tag has the field.
	Fanout *Fanout `json:"fanout,omitempty"`
	// Ages counts tags by the age of their image at ListedAt.
	Ages []AgeBucket `json:"ages,omitempty"`
	// SplitBytes is, per Options.SplitBy value, the compressed bytes of its tagged images (shared
	// blobs counted once per image), largest first.
	SplitBytes []ValueBytes `json:"split_bytes,omitempty"`
	// TagList has one row per tag, sorted by name, when Options.TagList is set.
	TagList []TagRow `json:"tag_list,omitempty"`
}

// KindCount counts one kind.
type KindCount struct {
	Kind      string `json:"kind"`
	Tags      int    `json:"tags"`
	Manifests int    `json:"manifests"`
	// Bytes adds the compressed size of every tag's image (shared blobs counted once per image).
	Bytes int64 `json:"bytes"`
}

// ManifestCounts counts the repository's manifests by role.
type ManifestCounts struct {
	Total int `json:"total"`
	// Tagged digests have at least one tag.
	Tagged int `json:"tagged"`
	// Untagged manifests reachable from tagged ones: platform images, attestations, referrers.
	Children     int `json:"children"`
	Attestations int `json:"attestations"`
	Referrers    int `json:"referrers"`
	// Orphans are untagged manifests no tagged manifest reaches (known from registry versions).
	Orphans int `json:"orphans"`
}

// GroupStats describes the tags per distinct value of one field.
type GroupStats struct {
	Field    string `json:"field"`
	Distinct int    `json:"distinct"`
	// Tagged is the number of tags that have the field.
	Tagged int `json:"tagged"`
	// Heavy counts values with at least HeavyMin tags.
	Heavy    int `json:"heavy"`
	HeavyMin int `json:"heavy_min"`
	// Median and Max tags per value.
	Median int `json:"median"`
	Max    int `json:"max"`
	// Top values by tag count, largest first.
	Top []ValueCount `json:"top"`
	// With Options.History: the oldest commit still present, and how many values are commits
	// not on the branch (or not commits at all).
	OldestCommit *CommitAge `json:"oldest_commit,omitempty"`
	NotOnBranch  int        `json:"not_on_branch,omitempty"`
	Branch       string     `json:"branch,omitempty"`
}

// CommitAge places a commit on its branch.
type CommitAge struct {
	SHA  string    `json:"sha"`
	Time time.Time `json:"time"`
	// Behind is how many first-parent commits the branch's head is ahead of it.
	Behind int `json:"behind"`
	Tags   int `json:"tags"`
}

// ValueCount is one value of a field with its tag count and the oldest image carrying it.
type ValueCount struct {
	Value  string    `json:"value"`
	Tags   int       `json:"tags"`
	Oldest time.Time `json:"oldest,omitzero"`
}

// PlatformSizes summarises image sizes on one platform.
type PlatformSizes struct {
	Platform string `json:"platform"`
	Images   int    `json:"images"`
	Median   int64  `json:"median"`
	P90      int64  `json:"p90"`
	Max      int64  `json:"max"`
}

// TagTime names a tag and its image's creation time.
type TagTime struct {
	Tag     string    `json:"tag"`
	Created time.Time `json:"created"`
}

// Compute measures inv. cls may be nil: then every tag is of kind "unknown".
func Compute(inv *inventory.Inventory, cls Classifier, opt Options) *Report {
	if opt.GroupBy == "" {
		opt.GroupBy = "sdk"
	}
	if opt.SplitBy == "" {
		opt.SplitBy = "bench"
	}
	if opt.Top <= 0 {
		opt.Top = 10
	}
	if opt.Heavy <= 0 {
		opt.Heavy = 1000
	}
	r := &Report{Repository: inv.Repository, ListedAt: inv.ListedAt, Tags: len(inv.Tags), Vanished: len(inv.Vanished), Versions: len(inv.Versions)}

	kinds := map[string]*KindCount{}
	kindDigests := map[string]map[string]bool{}
	group := map[string]*ValueCount{}
	split := map[string]*ValueCount{}
	groupTagged, splitTagged := 0, 0
	tagged := map[string]bool{}
	ex := newExtras(r, opt, len(inv.Tags))
	for _, t := range inv.Tags {
		kind, fields := "unknown", map[string]string(nil)
		if cls != nil {
			kind, fields = cls.Classify(t.Name)
		}
		if kinds[kind] == nil {
			kinds[kind] = &KindCount{Kind: kind}
			kindDigests[kind] = map[string]bool{}
		}
		kinds[kind].Tags++
		kindDigests[kind][t.Digest] = true
		tagged[t.Digest] = true
		created := time.Time{}
		if m := inv.Manifests[t.Digest]; m != nil {
			created = m.Created
		}
		if v, ok := fields[opt.GroupBy]; ok && v != "" {
			groupTagged++
			count(group, v, created)
		}
		if v, ok := fields[opt.SplitBy]; ok && v != "" {
			splitTagged++
			count(split, v, created)
		}
		kinds[kind].Bytes += ex.add(inv, t, kind, fields, created)
		if !created.IsZero() {
			if r.Oldest == nil || created.Before(r.Oldest.Created) {
				r.Oldest = &TagTime{Tag: t.Name, Created: created}
			}
			if r.Newest == nil || created.After(r.Newest.Created) {
				r.Newest = &TagTime{Tag: t.Name, Created: created}
			}
		}
	}
	for k, kc := range kinds {
		kc.Manifests = len(kindDigests[k])
		r.Kinds = append(r.Kinds, *kc)
	}
	sort.Slice(r.Kinds, func(i, j int) bool {
		if r.Kinds[i].Tags != r.Kinds[j].Tags {
			return r.Kinds[i].Tags > r.Kinds[j].Tags
		}
		return r.Kinds[i].Kind < r.Kinds[j].Kind
	})
	r.Group = groupStats(opt.GroupBy, group, groupTagged, opt)
	if r.Group != nil && opt.History != nil {
		dateCommits(r.Group, group, opt.History)
	}
	r.Split = groupStats(opt.SplitBy, split, splitTagged, opt)
	ex.finish(group, opt.History)
	r.Manifests = countManifests(inv, tagged)
	r.Sizes, r.NaiveBytes, r.UniqueBytes = sizes(inv)
	return r
}

func count(m map[string]*ValueCount, v string, created time.Time) {
	vc := m[v]
	if vc == nil {
		vc = &ValueCount{Value: v}
		m[v] = vc
	}
	vc.Tags++
	if !created.IsZero() && (vc.Oldest.IsZero() || created.Before(vc.Oldest)) {
		vc.Oldest = created
	}
}

func groupStats(field string, m map[string]*ValueCount, tagged int, opt Options) *GroupStats {
	if len(m) == 0 {
		return nil
	}
	all := make([]ValueCount, 0, len(m))
	for _, vc := range m {
		all = append(all, *vc)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Tags != all[j].Tags {
			return all[i].Tags > all[j].Tags
		}
		return all[i].Value < all[j].Value
	})
	g := &GroupStats{Field: field, Distinct: len(all), Tagged: tagged, HeavyMin: opt.Heavy, Max: all[0].Tags}
	g.Median = all[len(all)/2].Tags
	for _, vc := range all {
		if vc.Tags >= opt.Heavy {
			g.Heavy++
		}
	}
	g.Top = all[:min(opt.Top, len(all))]
	return g
}

func countManifests(inv *inventory.Inventory, tagged map[string]bool) ManifestCounts {
	mc := ManifestCounts{Total: len(inv.Manifests), Tagged: len(tagged)}
	attest := map[string]bool{}
	for _, m := range inv.Manifests {
		for _, c := range m.Manifests {
			if c.IsAttestation() {
				attest[c.Digest] = true
			}
		}
	}
	roots := make([]string, 0, len(tagged))
	for d := range tagged {
		roots = append(roots, d)
	}
	refs := inv.Referrers()
	reach := map[string]bool{}
	for _, d := range inv.Closure(refs, roots...) {
		reach[d] = true
	}
	referrer := map[string]bool{}
	for _, l := range refs {
		for _, d := range l {
			referrer[d] = true
		}
	}
	for d := range inv.Manifests {
		switch {
		case tagged[d]:
		case !reach[d]:
			mc.Orphans++
		case attest[d]:
			mc.Attestations++
		case referrer[d]:
			mc.Referrers++
		default:
			mc.Children++
		}
	}
	return mc
}

// sizes returns per-platform image size statistics over tagged images, the naive sum of tagged
// image sizes, and the bytes of the distinct blobs of the whole repository.
func sizes(inv *inventory.Inventory) ([]PlatformSizes, int64, int64) {
	perPlatform := map[string][]int64{}
	var naive int64
	for _, t := range inv.Tags {
		m := inv.Manifests[t.Digest]
		if m == nil {
			continue
		}
		naive += inv.ImageSize(t.Digest)
		if !m.IsIndex() {
			if m.Config != nil {
				perPlatform["(single)"] = append(perPlatform["(single)"], inv.ImageSize(t.Digest))
			}
			continue
		}
		for _, c := range m.Manifests {
			if c.IsAttestation() {
				continue
			}
			p := c.Platform
			if p == "" {
				p = "(none)"
			}
			perPlatform[p] = append(perPlatform[p], inv.ImageSize(c.Digest))
		}
	}
	var out []PlatformSizes
	for p, s := range perPlatform {
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		out = append(out, PlatformSizes{
			Platform: p, Images: len(s),
			Median: s[len(s)/2], P90: s[min(len(s)-1, len(s)*9/10)], Max: s[len(s)-1],
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Platform < out[j].Platform })
	seen := map[string]bool{}
	var unique int64
	for _, m := range inv.Manifests {
		for b := range m.Blobs() {
			if !seen[b.Digest] {
				seen[b.Digest] = true
				unique += b.Size
			}
		}
	}
	return out, naive, unique
}

// dateCommits finds each group value (a commit prefix) on the branch's history.
func dateCommits(g *GroupStats, values map[string]*ValueCount, h *History) {
	g.Branch = h.Branch
	byPrefix := make(map[string]int, len(h.Commits))
	for i, c := range h.Commits {
		if len(c.SHA) >= 7 {
			byPrefix[c.SHA[:7]] = i
		}
	}
	for v, vc := range values {
		i, ok := -1, false
		if len(v) >= 7 {
			i, ok = byPrefix[v[:7]]
		}
		if ok && !strings.HasPrefix(h.Commits[i].SHA, v) {
			ok = false
		}
		if !ok {
			g.NotOnBranch++
			continue
		}
		if g.OldestCommit == nil || i > g.OldestCommit.Behind {
			c := h.Commits[i]
			g.OldestCommit = &CommitAge{SHA: c.SHA, Time: c.Time, Behind: i, Tags: vc.Tags}
		}
	}
}
