package policy

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/regtidy/regtidy/inventory"
)

// Edge kinds: what the target of an edge is to its source.
const (
	edgeChild uint8 = iota
	edgeAttestation
	edgeNested
	edgeReferrer
	// edgeBase links a composed image to its base in the same repository (see graph.bases).
	edgeBase
)

// edge links a manifest to one that depends on it: an index to a child it lists, or a subject to
// a referrer (by its subject field or a "sha256-<digest>" tag). Ends are digest ids.
type edge struct {
	from, to int32
	kind     uint8
	// desc is the index's descriptor of a child; nil for a referrer.
	desc *inventory.Descriptor
}

// graph is the repository's manifests as a graph, built once per evaluation. Each digest gets
// an id (in no particular order); per-digest data lives in slices indexed by id, and order lists
// the ids in digest order for everything whose order shows.
type graph struct {
	// digests is every manifest the plan decides, by id: tagged digests, inventory manifests,
	// registry versions and the children indexes list. id maps them back; Evaluate drops it,
	// with outEdges and outStart, once the keep verdicts are made (heads and rank go at the end
	// of newGraph).
	digests []string
	id      *digestIDs
	// heads are the digests' first bytes, for sorting (see idDigest).
	heads [][2]uint64
	// order holds the ids sorted by digest; rank is each id's place in it, while the graph is
	// built.
	order []int32
	rank  []int32
	// tagNames holds the digests' tag names, sorted and grouped by id: those of id i are
	// tagNames[tagStart[i]:tagStart[i+1]] (see tagsOf).
	tagNames []string
	tagStart []int32
	// manifests and versions are the inventory's records by id (nil when absent; versions is nil
	// where the registry keeps none).
	manifests []*inventory.Manifest
	versions  []*inventory.Version
	// childMediaType holds the media types of children known only from their index (missing
	// from the inventory): the descriptor's. See mediaTypeOf and createdOf for the rest.
	childMediaType map[int32]string
	// outEdges are sorted by source id then target digest, inEdges by target id then source
	// digest; outStart and inStart index them (edges of id i are [start[i], start[i+1])).
	outEdges, inEdges []edge
	outStart, inStart []int32
	// bases links composed images to the bases they name, when the repository holds both.
	// These edges only ever keep: they are not followed to find orphans or to delete.
	bases baseEdges
}

// newGraph builds the graph of an inventory. Tags come from the tag listing and, where the
// registry keeps versions, from the versions too (a tag either source names counts).
func newGraph(inv *inventory.Inventory) *graph {
	g := &graph{}
	g.fillIDs(inv, len(inv.Tags)/8+16)
	// Tags and children mostly name manifests that have ids now: look them up on every core,
	// then give ids to the few that name none.
	tags := make([]tagAt, len(inv.Tags))
	inParallel(len(inv.Tags), func(lo, hi int) {
		for i, t := range inv.Tags[lo:hi] {
			id, ok := g.id.lookup(t.Digest)
			if !ok {
				id = -1
			}
			tags[lo+i] = tagAt{t.Name, id}
		}
	})
	kept := tags[:0]
	for i, t := range tags {
		if t.name == "" || inv.Tags[i].Digest == "" {
			continue
		}
		if t.id < 0 {
			t.id = g.intern(inv.Tags[i].Digest)
		}
		kept = append(kept, t)
	}
	tags = kept
	n := len(inv.Manifests)
	firstEdge := make([]int32, n+1)
	for i, m := range g.manifests[:n] {
		firstEdge[i+1] = firstEdge[i] + int32(len(m.Manifests))
	}
	edges := make([]edge, firstEdge[n], int(firstEdge[n])+len(inv.Tags)/100+8)
	inParallel(n, func(lo, hi int) {
		for from := lo; from < hi; from++ {
			m := g.manifests[from]
			for ci := range m.Manifests {
				c := &m.Manifests[ci]
				kind := edgeChild
				switch {
				case c.IsAttestation():
					kind = edgeAttestation
				case inventory.IsIndexMediaType(c.MediaType):
					kind = edgeNested
				}
				to, ok := g.id.lookup(c.Digest)
				if !ok {
					to = -1
				}
				edges[firstEdge[from]+int32(ci)] = edge{from: int32(from), to: to, kind: kind, desc: c}
			}
		}
	})
	// Children missing from the inventory get ids; children without a digest get no edge.
	edges = slices.DeleteFunc(edges, func(e edge) bool { return e.desc.Digest == "" })
	for i := range edges {
		if edges[i].to < 0 {
			edges[i].to = g.intern(edges[i].desc.Digest)
		}
	}
	var subjects, bases []digestRef
	for from, m := range g.manifests[:n] {
		if m.Extra == nil {
			continue
		}
		if s := m.Subject(); s != "" {
			subjects = append(subjects, digestRef{int32(from), s})
		}
		if b := m.Annotation(inventory.AnnotationBaseDigest); b != "" {
			bases = append(bases, digestRef{int32(from), b})
		}
	}
	versions := make([]idVersion, 0, len(inv.Versions))
	for d, v := range inv.Versions {
		versions = append(versions, idVersion{g.intern(d), v})
	}
	n = len(g.digests)
	for _, x := range subjects {
		if s, ok := g.id.lookup(x.digest); ok {
			edges = append(edges, edge{from: s, to: x.id, kind: edgeReferrer})
		}
	}
	if len(versions) > 0 {
		g.versions = make([]*inventory.Version, n)
	}
	for _, x := range versions {
		g.versions[x.id] = x.v
	}
	g.collectTags(tags, versions)
	for _, t := range tags {
		if s, ok := inventory.ReferrerTagDigest(t.name); ok {
			if from, ok := g.id.lookup(s); ok {
				edges = append(edges, edge{from: from, to: t.id, kind: edgeReferrer})
			}
		}
	}
	byDigest := make([]idDigest, n)
	for i := range byDigest {
		byDigest[i] = idDigest{head: g.heads[i], id: int32(i)}
	}
	slices.SortFunc(byDigest, func(a, b idDigest) int {
		if a.head != b.head {
			if a.head[0] != b.head[0] {
				return cmp.Compare(a.head[0], b.head[0])
			}
			return cmp.Compare(a.head[1], b.head[1])
		}
		return strings.Compare(g.digests[a.id], g.digests[b.id])
	})
	g.order = make([]int32, n)
	g.rank = make([]int32, n)
	for r, x := range byDigest {
		g.order[r] = x.id
		g.rank[x.id] = int32(r)
	}
	edges = slices.DeleteFunc(edges, func(e edge) bool { return e.from == e.to })
	g.outEdges, g.outStart = g.index(edges, func(e edge) (int32, int32) { return e.from, e.to })
	g.inEdges, g.inStart = g.index(slices.Clone(g.outEdges), func(e edge) (int32, int32) { return e.to, e.from })
	// A child missing from the inventory has the media type its first index (by digest) gives.
	for _, e := range g.inEdges {
		if e.kind == edgeReferrer || g.manifests[e.to] != nil {
			continue
		}
		if _, ok := g.childMediaType[e.to]; !ok {
			if g.childMediaType == nil {
				g.childMediaType = map[int32]string{}
			}
			g.childMediaType[e.to] = e.desc.MediaType
		}
	}
	g.bases = g.baseEdges(bases)
	g.heads, g.rank = nil, nil // only for sorting
	return g
}

// digestRef is a manifest (by id) and a digest it names: its subject, or its base.
type digestRef struct {
	id     int32
	digest string
}

// tagAt is a tag of the listing and the id of its digest.
type tagAt struct {
	name string
	id   int32
}

// idVersion is a registry version and the id of its digest.
type idVersion struct {
	id int32
	v  *inventory.Version
}

// createdOf is a manifest's creation time, else its registry version's, else zero.
func (g *graph) createdOf(id int32) time.Time {
	if m := g.manifests[id]; m != nil && !m.Created.IsZero() {
		return m.Created
	}
	if v := g.version(id); v != nil {
		return v.CreatedAt
	}
	return time.Time{}
}

// mediaTypeOf is a manifest's media type, else (for a child known only from its index) the
// descriptor's.
func (g *graph) mediaTypeOf(id int32) string {
	if m := g.manifests[id]; m != nil {
		return m.MediaType
	}
	return g.childMediaType[id]
}

// version returns a digest's registry version, or nil (always nil where the registry has none).
func (g *graph) version(id int32) *inventory.Version {
	if g.versions == nil {
		return nil
	}
	return g.versions[id]
}

// tagsOf returns the names of a digest's tags, sorted (nil when it has none).
func (g *graph) tagsOf(id int32) []string {
	lo, hi := g.tagStart[id], g.tagStart[id+1]
	if lo == hi {
		return nil
	}
	return g.tagNames[lo:hi:hi]
}

// collectTags groups the tag names of the listing and of the versions by digest id, each group
// sorted and without repeats (on GHCR a tag is in both).
func (g *graph) collectTags(tags []tagAt, versions []idVersion) {
	n := len(g.digests)
	start := make([]int32, n+1)
	for _, t := range tags {
		start[t.id+1]++
	}
	for _, x := range versions {
		start[x.id+1] += int32(len(x.v.Tags))
	}
	for i := 1; i <= n; i++ {
		start[i] += start[i-1]
	}
	names := make([]string, start[n])
	fill := slices.Clone(start[:n])
	for _, x := range versions {
		fill[x.id] += int32(copy(names[fill[x.id]:], x.v.Tags))
	}
	for _, t := range tags {
		names[fill[t.id]] = t.name
		fill[t.id]++
	}
	// Sort each group and drop repeats, moving the groups down over the gaps left.
	w := int32(0)
	for i := range n {
		group := names[start[i]:start[i+1]]
		if len(group) > 1 {
			slices.Sort(group)
			group = slices.Compact(group)
		}
		start[i] = w
		w += int32(copy(names[w:], group))
	}
	start[n] = w
	g.tagNames, g.tagStart = names[:w:w], start
}

// idDigest is a digest's id with its head (see digestHead), for sorting by digest: most
// comparisons are decided by the heads, without reading the strings, which lie scattered in
// memory.
type idDigest struct {
	head [2]uint64
	id   int32
}

// digestHead returns a digest's first 16 bytes, zero-padded, as two big-endian words. Digests
// whose heads differ are ordered by their heads exactly as by the strings.
func digestHead(d string) [2]uint64 {
	var head [2]uint64
	for i := range 16 {
		head[i/8] <<= 8
		if i < len(d) {
			head[i/8] |= uint64(d[i])
		}
	}
	return head
}

// index sorts edges by key id, then by the other end's digest, then kind, drops duplicates,
// and returns them with the start offset of each id's run.
func (g *graph) index(edges []edge, key func(edge) (int32, int32)) ([]edge, []int32) {
	slices.SortFunc(edges, func(a, b edge) int {
		ak, ao := key(a)
		bk, bo := key(b)
		if c := cmp.Compare(ak, bk); c != 0 {
			return c
		}
		if c := cmp.Compare(g.rank[ao], g.rank[bo]); c != 0 {
			return c
		}
		if c := cmp.Compare(a.kind, b.kind); c != 0 {
			return c
		}
		// An index listing one child twice (two platforms): which descriptor stays must not
		// depend on the order the inventory's map gave.
		return compareDescs(a.desc, b.desc)
	})
	edges = slices.CompactFunc(edges, func(a, b edge) bool { return a.from == b.from && a.to == b.to && a.kind == b.kind })
	start := make([]int32, len(g.digests)+1)
	for _, e := range edges {
		k, _ := key(e)
		start[k+1]++
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	return edges, start
}

// compareDescs orders index-child descriptors by platform, then media type; nil first.
func compareDescs(a, b *inventory.Descriptor) int {
	switch {
	case a == nil || b == nil:
		return cmp.Compare(boolInt(a != nil), boolInt(b != nil))
	case a.Platform != b.Platform:
		return strings.Compare(a.Platform, b.Platform)
	}
	return strings.Compare(a.MediaType, b.MediaType)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// out returns the edges from a digest, sorted by target.
func (g *graph) out(i int32) []edge { return g.outEdges[g.outStart[i]:g.outStart[i+1]] }

// in returns the edges to a digest, sorted by source.
func (g *graph) in(i int32) []edge { return g.inEdges[g.inStart[i]:g.inStart[i+1]] }

// reach marks every digest reachable from the marked ones along out edges.
func (g *graph) reach(marked []bool) {
	stack := make([]int32, 0, 64)
	for i, m := range marked {
		if m {
			stack = append(stack, int32(i))
		}
	}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, e := range g.out(d) {
			if !marked[e.to] {
				marked[e.to] = true
				stack = append(stack, e.to)
			}
		}
	}
}

// untaggedKind is the plan kind of an untagged manifest reached through edges: "attestation"
// when an index lists it as an attestation manifest, "child" when an index lists it, else
// "referrer".
func (g *graph) untaggedKind(i int32) string {
	kind := ""
	for _, e := range g.in(i) {
		switch {
		case e.kind == edgeAttestation:
			return KindAttestation
		case e.kind != edgeReferrer:
			kind = KindChild
		case kind == "":
			kind = KindReferrer
		}
	}
	return kind
}

// role describes what the edge's target is to its source, for reasons: a platform (to which
// " image" is appended) or a whole phrase.
func (e edge) role() (platform, phrase string) {
	switch {
	case e.kind == edgeReferrer:
		return "", "referrer"
	case e.kind == edgeAttestation:
		return "", "attestation manifest"
	case e.kind == edgeNested:
		return "", "nested index"
	case e.kind == edgeBase:
		return "", "base image"
	case e.desc != nil && e.desc.Platform != "":
		return e.desc.Platform, " image"
	default:
		return "", "child manifest"
	}
}
