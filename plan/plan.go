// Package plan holds regtidy's plan: the reviewable, versioned record of what a retention policy
// decided for every manifest of a repository, with a reason for each decision. A plan is made by
// the policy engine (package policy), written as JSON, read back by `regtidy apply`, which carries
// it out against the live registry, and by `regtidy explain`.
package plan

import (
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/regtidy/regtidy/inventory"
)

// Schema is the version string written in every plan file. Readers refuse other versions.
const Schema = "regtidy/plan/v1"

// Action is what a plan does with one manifest.
type Action string

// The two actions.
const (
	Keep   Action = "keep"
	Delete Action = "delete"
)

// Reason says why a decision was made: the rule that decided it and a sentence with the facts.
// Reasons are data: `regtidy explain` and the summaries are made from them.
type Reason struct {
	// Rule names the deciding rule: a policy condition ("commits", "runs", "newest", "age",
	// "match", "list", "base"), a safety rule ("unknown-kind", "no-rule", "child-of-kept",
	// "referrer-of-kept", "base-of-kept", "shared-digest", "undeletable") — all keep rules —, or
	// for deletes one of DeleteRules ("no-keep-rule-matched", "child-of-deleted",
	// "referrer-of-deleted"). Apply refuses a delete carrying a keep rule.
	Rule string `json:"rule"`
	// Kind is the tag-scheme kind whose rules made the decision, if any.
	Kind string `json:"kind,omitempty"`
	// Detail is a human-readable phrase, e.g. "commit 1a2b3c4 is #3 of the last 30 on main".
	// For rules that follow another manifest it ends in what Of names: "linux/amd64 image of
	// kept index" (explain writes "... of kept index sha256:1a2b3c4d5e6f (tag X)").
	Detail string `json:"detail"`
	// Of is the digest of the manifest the reason follows, for rules that follow one: the index
	// a child belongs to or the subject of a referrer ("linux/amd64 image of kept index", of
	// sha256:...). A plan of 400k manifests names its parents here once, not in 270k sentences.
	Of string `json:"of,omitempty"`
}

// Decision is the plan for one manifest digest: the unit of deletion.
type Decision struct {
	Digest string `json:"digest"`
	Action Action `json:"action"`
	// Tags are the tags pointing at the digest when the plan was made (empty for untagged).
	Tags []string `json:"tags,omitempty"`
	// Kind is the tag-scheme kind of the tags ("unknown" when none matched); for untagged
	// manifests one of "child", "attestation", "referrer" or "untagged".
	Kind string `json:"kind"`
	// Fields are the named groups the kind's pattern captured from the first tag.
	Fields Fields `json:"fields,omitempty"`
	// Parent is, for an untagged index child or referrer, the digest it belongs to.
	Parent string `json:"parent,omitempty"`
	// MediaType of the manifest.
	MediaType string `json:"mediaType,omitempty"`
	// Created is the image's creation (or, on GHCR, the version's) time, if known.
	Created time.Time `json:"created,omitzero"`
	// VersionID is the registry's version id (GitHub package version), 0 elsewhere.
	VersionID int64 `json:"version_id,omitempty"`
	// Reasons: every keep rule that held for a kept manifest; for a deleted one, why nothing kept it.
	Reasons []Reason `json:"reasons"`
}

// Summary counts a plan's decisions.
type Summary struct {
	Kinds []KindSummary `json:"kinds"`
	// KeptManifests, DeletedManifests count digests; KeptTags, DeletedTags count tags.
	KeptManifests    int `json:"kept_manifests"`
	DeletedManifests int `json:"deleted_manifests"`
	KeptTags         int `json:"kept_tags"`
	DeletedTags      int `json:"deleted_tags"`
	// BytesFreed counts the compressed bytes of blobs that only deleted manifests use, each blob
	// once: what the registry's garbage collection can reclaim.
	BytesFreed int64 `json:"bytes_freed"`
	// TopReasons are the most frequent rules, with counts, most frequent first.
	TopReasons []ReasonCount `json:"top_reasons"`
}

// KindSummary counts the decisions of one kind.
type KindSummary struct {
	Kind             string `json:"kind"`
	KeptManifests    int    `json:"kept_manifests"`
	DeletedManifests int    `json:"deleted_manifests"`
	KeptTags         int    `json:"kept_tags"`
	DeletedTags      int    `json:"deleted_tags"`
	BytesFreed       int64  `json:"bytes_freed"`
}

// ReasonCount is how many decisions a rule made with an action.
type ReasonCount struct {
	Action Action `json:"action"`
	Rule   string `json:"rule"`
	Count  int    `json:"count"`
}

// Cost estimates what carrying out the plan will spend.
type Cost struct {
	// Mode is how deletes are done: "tag" (DELETE by tag, manifests left to the registry's garbage
	// collection), "digest" (DELETE by digest) or "version" (GitHub package versions).
	Mode string `json:"mode"`
	// Requested is the mode the planner was asked for ("auto" unless a mode was forced); apply
	// uses it when not told otherwise, so an auto plan keeps auto's fallback to digest deletes.
	Requested string `json:"requested,omitempty"`
	// Why explains the choice of mode.
	Why string `json:"why"`
	// Requests is the number of requests apply will make (re-checks and deletes).
	Requests int `json:"requests"`
	// Deletes is the number of delete requests among them.
	Deletes int `json:"deletes"`
	// Hours is the REST budget in hours at the token's hourly limit (GitHub only).
	Hours float64 `json:"hours,omitempty"`
	// AfterApply says what the registry must still do after apply (e.g. garbage collection).
	AfterApply string `json:"after_apply,omitempty"`
}

// Plan is a whole plan file.
type Plan struct {
	Schema     string    `json:"schema"`
	Repository string    `json:"repository"`
	CreatedAt  time.Time `json:"created_at"`
	// Now is the time the policy was evaluated at (ages are measured from it).
	Now time.Time `json:"now"`
	// Fingerprint is the inventory's fingerprint (tag to digest mapping) the plan was made from.
	Fingerprint string `json:"fingerprint"`
	// Policy names the policy file and the sha256 of its bytes.
	Policy PolicyRef `json:"policy"`
	// Sources says what each keep source read (commits, run metadata, bases), in the order
	// the policy's sources are resolved.
	Sources []SourceRead `json:"sources,omitempty"`
	// SealDigest is the plan's seal (see Seal): a digest over everything the policy decided but
	// each decision's action. Read and Apply check it; Apply refuses a plan without one.
	SealDigest string `json:"seal,omitempty"`
	// Tags is the tag to digest mapping the plan was made from, sorted by name; apply compares
	// it with the live registry.
	Tags      []inventory.Tag `json:"tags"`
	Decisions []Decision      `json:"decisions"`
	Summary   Summary         `json:"summary"`
	Cost      Cost            `json:"cost"`
}

// PolicyRef identifies the policy a plan was made with.
type PolicyRef struct {
	Path   string `json:"path"`
	Digest string `json:"digest"`
}

// Deletes returns the decisions that delete, in plan order.
func (p *Plan) Deletes() []Decision {
	var out []Decision
	for _, d := range p.Decisions {
		if d.Action == Delete {
			out = append(out, d)
		}
	}
	return out
}

// DeleteLevels groups the digests the plan deletes by depth along their Parent chain, the order
// a delete by digest takes (an index before its children): level 0 has no deleted parent, level 1
// a parent in level 0, and so on. Each level is sorted by digest.
func (p *Plan) DeleteLevels() [][]string {
	parent := make(map[string]string, len(p.Decisions))
	deleted := map[string]bool{}
	for _, d := range p.Decisions {
		if d.Action == Delete {
			deleted[d.Digest] = true
			parent[d.Digest] = d.Parent
		}
	}
	depth := map[string]int{}
	var depthOf func(d string, seen int) int
	depthOf = func(d string, seen int) int {
		if v, ok := depth[d]; ok {
			return v
		}
		v := 0
		if par := parent[d]; par != "" && deleted[par] && seen < len(deleted) {
			v = depthOf(par, seen+1) + 1
		}
		depth[d] = v
		return v
	}
	var out [][]string
	for _, d := range p.Decisions {
		if d.Action != Delete {
			continue
		}
		lv := depthOf(d.Digest, 0)
		for len(out) <= lv {
			out = append(out, nil)
		}
		out[lv] = append(out[lv], d.Digest)
	}
	for _, l := range out {
		slices.Sort(l)
	}
	return out
}

// deletedLookup returns a function that reports whether the plan deletes a digest (whether any
// of its decisions does). Decisions sorted by digest, as the planner makes them, are searched by
// bisection; otherwise the deleted digests are put in a set (for the full case's plan, 366k
// digests and some 20 MB).
func (p *Plan) deletedLookup() func(digest string) bool {
	ds := p.Decisions
	if !slices.IsSortedFunc(ds, func(a, b Decision) int { return strings.Compare(a.Digest, b.Digest) }) {
		set := map[string]bool{}
		for i := range ds {
			if ds[i].Action == Delete {
				set[ds[i].Digest] = true
			}
		}
		return func(digest string) bool { return set[digest] }
	}
	return func(digest string) bool {
		i, _ := slices.BinarySearchFunc(ds, digest, compareDigest)
		for ; i < len(ds) && ds[i].Digest == digest; i++ {
			if ds[i].Action == Delete {
				return true
			}
		}
		return false
	}
}

// Find returns the decision for a digest, or for the digest a tag pointed at when planned.
func (p *Plan) Find(tagOrDigest string) (Decision, bool) {
	digest := tagOrDigest
	for _, t := range p.Tags {
		if t.Name == tagOrDigest {
			digest = t.Digest
			break
		}
	}
	for _, d := range p.Decisions {
		if d.Digest == digest {
			return d, true
		}
	}
	return Decision{}, false
}

// Summarize fills p.Summary from p.Decisions and the inventory's blob sizes (inv may be nil:
// then nothing is counted as freed).
//
// A blob is freed when at least one deleted manifest uses it and no other manifest of the
// inventory does (a manifest with no decision counts as surviving). Its bytes count once, for the
// kind of the first deleted manifest, in digest order, that uses it. When several decisions
// name one digest, it is deleted if any of them deletes it and takes the last one's kind.
//
// It makes one pass over the decisions and keeps one entry per distinct blob, so a plan of 400k
// manifests is summarised in a fraction of a second.
func (p *Plan) Summarize(inv *inventory.Inventory) {
	var freed map[string]int64
	if inv != nil {
		freed = freedBytes(p.Decisions, inv)
	}
	p.Summary = summarize(p.Decisions, freed)
}

// SummarizeDecided is Summarize for a caller that holds each decision's manifest already:
// manifests[i] is the inventory's manifest of p.Decisions[i] (nil when it has none), no two
// decisions name one digest, and every manifest of the inventory has a decision. It gives what
// Summarize gives, without looking each decision's manifest up by digest.
func (p *Plan) SummarizeDecided(manifests []*inventory.Manifest) {
	freed := FreedBytes(len(p.Decisions), func(i int) (*inventory.Manifest, bool, string) {
		if i >= len(manifests) {
			return nil, false, ""
		}
		d := &p.Decisions[i]
		return manifests[i], d.Action == Delete, d.Kind
	})
	p.SummarizeFreed(freed)
}

// SummarizeFreed sets the plan's summary from its decisions and the bytes FreedBytes found.
func (p *Plan) SummarizeFreed(freed map[string]int64) {
	p.Summary = summarize(p.Decisions, freed)
}

// FreedBytes returns, per kind, the compressed bytes of the blobs that only deleted manifests
// use, each blob once, counted for the kind of the first deleted manifest using it. at(i) gives
// the i-th of n manifests in digest order (nil: none), whether it is deleted, and its kind; every
// manifest of the inventory must be among them. at is called from several goroutines at once.
//
// The planner calls it before it writes its decisions, so that this ledger and the decisions are
// not in memory together; the blobs are shared out among the cores by digest.
func FreedBytes(n int, at func(i int) (m *inventory.Manifest, deleted bool, kind string)) map[string]int64 {
	shards := 1
	if n >= 10_000 {
		shards = min(runtime.GOMAXPROCS(0), 8)
	}
	freed := make([]map[string]int64, shards)
	var wg sync.WaitGroup
	for s := range shards {
		wg.Go(func() {
			l := newBlobLedger(n / shards)
			l.shard, l.shards = s, shards
			for i := range n {
				if m, deleted, kind := at(i); m != nil {
					l.add(m, deleted, kind)
				}
			}
			freed[s] = l.freed()
		})
	}
	wg.Wait()
	total := freed[0]
	for _, f := range freed[1:] {
		for k, b := range f {
			total[k] += b
		}
	}
	return total
}

// summarize counts decisions per kind and reason; freed holds the bytes freed per kind.
func summarize(decisions []Decision, freed map[string]int64) Summary {
	s := Summary{}
	kinds := make(map[string]int, 16)
	kindAt := func(k string) *KindSummary {
		i, ok := kinds[k]
		if !ok {
			i = len(s.Kinds)
			kinds[k] = i
			s.Kinds = append(s.Kinds, KindSummary{Kind: k})
		}
		return &s.Kinds[i]
	}
	reasons := make(map[ReasonCount]int, 32)
	for i := range decisions {
		d := &decisions[i]
		k := kindAt(d.Kind)
		if d.Action == Delete {
			s.DeletedManifests++
			s.DeletedTags += len(d.Tags)
			k.DeletedManifests++
			k.DeletedTags += len(d.Tags)
		} else {
			s.KeptManifests++
			s.KeptTags += len(d.Tags)
			k.KeptManifests++
			k.KeptTags += len(d.Tags)
		}
		if len(d.Reasons) > 0 {
			reasons[ReasonCount{Action: d.Action, Rule: d.Reasons[0].Rule}]++
		}
	}
	for kind, n := range freed {
		s.BytesFreed += n
		kindAt(kind).BytesFreed += n
	}
	sort.Slice(s.Kinds, func(i, j int) bool { return s.Kinds[i].Kind < s.Kinds[j].Kind })
	for rc, n := range reasons {
		rc.Count = n
		s.TopReasons = append(s.TopReasons, rc)
	}
	sort.Slice(s.TopReasons, func(i, j int) bool {
		a, b := s.TopReasons[i], s.TopReasons[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Action != b.Action {
			return a.Action < b.Action
		}
		return a.Rule < b.Rule
	})
	return s
}

// freedBytes returns, per kind, the bytes of the blobs that only deleted manifests use.
func freedBytes(decisions []Decision, inv *inventory.Inventory) map[string]int64 {
	decisions = uniqueDecisions(decisions)
	l := newBlobLedger(len(inv.Manifests))
	covered := 0
	for i := range decisions {
		d := &decisions[i]
		if m := inv.Manifests[d.Digest]; m != nil {
			covered++
			l.add(m, d.Action == Delete, d.Kind)
		}
	}
	if covered < len(inv.Manifests) {
		// Manifests the plan does not decide survive, and so do their blobs.
		for digest, m := range inv.Manifests {
			if _, found := slices.BinarySearchFunc(decisions, digest, compareDigest); !found {
				l.add(m, false, "")
			}
		}
	}
	return l.freed()
}

// blobLedger records which manifests use each blob, to find the blobs only deleted ones use.
type blobLedger struct {
	// index maps a blob digest to its entry in uses.
	index map[string]int32
	uses  []blobUse
	// kinds numbers the kinds of deleted manifests; kindNames names them.
	kinds     map[string]int32
	kindNames []string
	// shard and shards: the ledger records only the blobs whose digest's last byte is shard
	// modulo shards (shards 0 or 1: every blob).
	shard, shards int
}

// blobUse is what is known of one blob: its size, the kind of the first deleted manifest using
// it (-1: none), and whether a surviving manifest uses it.
type blobUse struct {
	size int64
	kind int32
	kept bool
}

// newBlobLedger returns a ledger sized for about n manifests (about as many distinct blobs).
func newBlobLedger(n int) *blobLedger {
	return &blobLedger{index: make(map[string]int32, n), uses: make([]blobUse, 0, n), kinds: map[string]int32{}}
}

// add records the config and layers of a manifest, deleted (of a kind) or surviving.
func (l *blobLedger) add(m *inventory.Manifest, deleted bool, kind string) {
	k := int32(-1)
	if deleted {
		var ok bool
		if k, ok = l.kinds[kind]; !ok {
			k = int32(len(l.kindNames))
			l.kinds[kind] = k
			l.kindNames = append(l.kindNames, kind)
		}
	}
	if m.Config != nil {
		l.use(m.Config.Digest, m.Config.Size, k)
	}
	for i := range m.Layers {
		l.use(m.Layers[i].Digest, m.Layers[i].Size, k)
	}
}

// use records one blob of a manifest: deleted, of kind number kind, or surviving (kind -1).
func (l *blobLedger) use(digest string, size int64, kind int32) {
	if l.shards > 1 && shardOf(digest, l.shards) != l.shard {
		return
	}
	i, ok := l.index[digest]
	if !ok {
		i = int32(len(l.uses))
		l.index[digest] = i
		l.uses = append(l.uses, blobUse{size: size, kind: -1})
	}
	u := &l.uses[i]
	switch {
	case kind < 0:
		u.kept = true
	case u.kind < 0:
		u.kind = kind
	}
}

// shardOf shares digests out among n ledgers by their last byte (random in a sha256 digest).
func shardOf(digest string, n int) int {
	if digest == "" {
		return 0
	}
	return int(digest[len(digest)-1]) % n
}

// freed returns, per kind, the bytes of the blobs no surviving manifest uses.
func (l *blobLedger) freed() map[string]int64 {
	out := make(map[string]int64, len(l.kindNames))
	for i := range l.uses {
		if u := &l.uses[i]; u.kind >= 0 && !u.kept {
			out[l.kindNames[u.kind]] += u.size
		}
	}
	return out
}

// compareDigest orders a decision against a digest.
func compareDigest(d Decision, digest string) int { return strings.Compare(d.Digest, digest) }

// uniqueDecisions returns the decisions sorted by digest with one per digest. Plans made by
// package policy are so already and are returned as they are. Otherwise the copy's decisions
// carry only Digest, Action and Kind: a digest is deleted when any of its decisions deletes it,
// and takes its last decision's kind.
func uniqueDecisions(decisions []Decision) []Decision {
	sorted := true
	for i := 1; i < len(decisions) && sorted; i++ {
		sorted = decisions[i-1].Digest < decisions[i].Digest
	}
	if sorted {
		return decisions
	}
	out := make([]Decision, len(decisions))
	for i := range decisions {
		d := &decisions[i]
		out[i] = Decision{Digest: d.Digest, Action: d.Action, Kind: d.Kind}
	}
	slices.SortStableFunc(out, func(a, b Decision) int { return strings.Compare(a.Digest, b.Digest) })
	merged := out[:0]
	for _, d := range out {
		if n := len(merged); n > 0 && merged[n-1].Digest == d.Digest {
			if d.Action == Delete {
				merged[n-1].Action = Delete
			}
			merged[n-1].Kind = d.Kind
			continue
		}
		merged = append(merged, d)
	}
	return merged
}

// WriteFile writes the plan to path, atomically (a temp file renamed into place).
func (p *Plan) WriteFile(path string) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := p.Write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
