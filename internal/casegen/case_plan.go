package casegen

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"time"
)

// The plan decides every tag of the case (names, kinds, commits, times) without touching a
// registry; the materializer turns each planned manifest into bytes, and the pusher sends them.

// manifestPlan is one manifest that tags point at directly.
type manifestPlan struct {
	tags    []int // indexes into casePlan.c.Tags (or c.BaseTags for base images)
	kind    TagKind
	bench   string
	group   string
	scheme  string
	commit  int // index into c.Commits; -1 for none
	df      string
	created time.Time
	seq     int           // unique ordinal, for content that must be distinct
	subject *manifestPlan // referrers: the image they refer to
	sig     bool          // referrers: a cosign ".sig" manifest (else a referrers-tag-schema index)

	// Filled when pushed.
	digest   string
	size     int64
	children []string
}

// casePlan is a planned case.
type casePlan struct {
	c     *Case
	seed  int64
	start time.Time // the earliest push time of the case
	main  []*manifestPlan
	bases []*manifestPlan
	refs  []*manifestPlan

	swebPool []string // SWE-bench instances in Docker form, most used first
	c0Pool   []string // commit0 repositories, most used first
	seq      int      // last manifestPlan.seq handed out
	settle   bool     // Now follows the images: derived commits, or given ones without Now
	derived  bool     // the commits were derived, not given
}

var shaRe = regexp.MustCompile(`^[0-9a-f]{40}$`)

// planCase validates the spec and plans the whole case.
func planCase(spec CaseSpec) (*casePlan, error) {
	if !(spec.Scale > 0) || math.IsInf(spec.Scale, 0) {
		return nil, fmt.Errorf("scale %v must be positive: %w", spec.Scale, ErrInvalidSpec)
	}
	if spec.Referrers < 0 {
		return nil, fmt.Errorf("referrers %d must not be negative: %w", spec.Referrers, ErrInvalidSpec)
	}
	targets, err := caseTargets(spec.BuildcacheTargets)
	if err != nil {
		return nil, err
	}
	repo := spec.Repository
	if repo == "" {
		repo = DefaultRepository
	}
	p := &casePlan{seed: spec.Seed, c: &Case{Repository: repo, BaseRepository: spec.BaseRepository}}
	if err := p.planCommits(spec); err != nil {
		return nil, err
	}
	sizes, err := p.planSizes(spec.Scale)
	if err != nil {
		return nil, err
	}
	p.planImages(sizes, spec.Scale)
	p.planLegacy(spec.Scale)
	if err := p.planBuildcache(spec.Scale, targets); err != nil {
		return nil, err
	}
	p.planReferrers(spec.Referrers)
	if spec.BaseRepository != "" {
		p.planBases()
	}
	return p, nil
}

// caseTargets validates CaseSpec.BuildcacheTargets; empty means source-minimal only.
func caseTargets(targets []string) ([]string, error) {
	if len(targets) == 0 {
		return []string{targetSource}, nil
	}
	seen := map[string]bool{}
	for _, t := range targets {
		if !slices.Contains(buildTargets, t) {
			return nil, fmt.Errorf("buildcache target %q is none of %v: %w", t, buildTargets, ErrInvalidSpec)
		}
		if seen[t] {
			return nil, fmt.Errorf("buildcache target %q is listed twice: %w", t, ErrInvalidSpec)
		}
		seen[t] = true
	}
	return append([]string(nil), targets...), nil
}

// planCommits takes the spec's commits or derives them, and settles Now.
func (p *casePlan) planCommits(spec CaseSpec) error {
	if len(spec.Commits) > 0 {
		commits := append([]Commit(nil), spec.Commits...)
		sort.SliceStable(commits, func(i, j int) bool { return commits[i].Time.Before(commits[j].Time) })
		short := map[string]string{}
		for _, c := range commits {
			if !shaRe.MatchString(c.SHA) {
				return fmt.Errorf("commit %q is not a 40-hex lowercase sha: %w", c.SHA, ErrInvalidSpec)
			}
			if prev, ok := short[c.SHA[:7]]; ok {
				return fmt.Errorf("commits %s and %s share the short sha %s: %w", prev, c.SHA, c.SHA[:7], ErrInvalidSpec)
			}
			short[c.SHA[:7]] = c.SHA
		}
		last := commits[len(commits)-1].Time
		p.c.Now = spec.Now
		if p.c.Now.IsZero() {
			p.c.Now, p.settle = last.Add(maxPushLag), true
		}
		if last.After(p.c.Now) {
			return fmt.Errorf("commit %s at %s is after Now %s: %w", commits[len(commits)-1].SHA, last, p.c.Now, ErrInvalidSpec)
		}
		p.c.Commits = commits
		p.start = p.c.Now.Add(-CasePeriod)
		if commits[0].Time.Before(p.start) {
			p.start = commits[0].Time
		}
		return nil
	}
	now := spec.Now
	if now.IsZero() {
		now = DefaultCaseNow
	}
	p.c.Now = now.UTC()
	p.start = p.c.Now.Add(-CasePeriod)
	p.settle, p.derived = true, true
	n := max(MinCaseCommits, int(math.Round(FullCommits*spec.Scale)))
	r := newRand(p.seed, "commit-times")
	// Commits land anywhere in the period but the last day, so the newest one's pushes end by Now.
	span := CasePeriod - 24*time.Hour
	offs := make([]int64, n)
	for i := range offs {
		offs[i] = r.Int64N(int64(span / time.Second))
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	seen := map[string]bool{}
	commits := make([]Commit, n)
	for i := range commits {
		var sha string
		for salt := 0; ; salt++ {
			sha = seededHex(p.seed, 40, "commit", i, salt)
			if !seen[sha[:7]] {
				break
			}
		}
		seen[sha[:7]] = true
		t := p.start.Add(time.Duration(offs[i]+int64(i)) * time.Second)
		commits[i] = Commit{SHA: sha, Time: t}
	}
	p.c.Commits = commits
	return nil
}

// commitSizes is the planned number of image tags per commit, and which commits are big.
type commitSizes struct {
	n   []int
	big []bool
}

// planSizes spreads the image tags over the commits with the case's skew: about 11.5% of the
// commits (63 of 548) rebuilt the whole dataset and hold 85% of the images; the rest hold a
// log-normal handful each.
func (p *casePlan) planSizes(scale float64) (commitSizes, error) {
	nc := len(p.c.Commits)
	total := max(int(math.Round(FullImageTags*scale)), 3*nc)
	nb := min(nc, max(1, int(math.Round(float64(FullBigCommits)*float64(nc)/FullCommits))))
	r := newRand(p.seed, "commit-sizes")
	big := make([]bool, nc)
	// One big commit per stratum of the history, so the newest commits have one too.
	for s := range nb {
		lo, hi := s*nc/nb, (s+1)*nc/nb
		big[lo+r.IntN(hi-lo)] = true
	}
	smallTotal := 0
	if nb < nc {
		smallTotal = max(int(math.Round(0.145*float64(total))), 2*(nc-nb))
	}
	bigTotal := total - smallTotal
	avgBig := float64(bigTotal) / float64(nb)
	var bigIdx, smallIdx []int
	for i := range nc {
		if big[i] {
			bigIdx = append(bigIdx, i)
		} else {
			smallIdx = append(smallIdx, i)
		}
	}
	bigW := make([]float64, len(bigIdx))
	for i := range bigW {
		bigW[i] = 0.8 + 0.45*r.Float64()
	}
	smallW := make([]float64, len(smallIdx))
	for i := range smallW {
		smallW[i] = math.Exp(r.NormFloat64())
	}
	schemes := make([]string, nc)
	for i := range schemes {
		schemes[i] = schemeOf(i, nc)
	}
	// First pass without capacity limits decides the pools; the second respects them.
	capOf := func(int) int { return total }
	var n []int
	for pass := 0; pass < 2; pass++ {
		n = make([]int, nc)
		bigLo := min(int(math.Ceil(0.6*avgBig)), bigTotal/nb)
		smallHi := max(2, int(0.5*avgBig))
		if err := p.allocateInto(n, bigIdx, bigTotal, bigW, bigLo, total, capOf); err != nil {
			return commitSizes{}, err
		}
		if err := p.allocateInto(n, smallIdx, smallTotal, smallW, 2, smallHi, capOf); err != nil {
			return commitSizes{}, err
		}
		if pass == 0 {
			p.sizePools(scale, n, schemes)
			capOf = func(i int) int {
				if schemes[i] == SchemeCurrent {
					return len(p.swebPool) + len(p.c0Pool) + 2
				}
				return len(p.swebPool) + 2
			}
		}
	}
	return commitSizes{n: n, big: big}, nil
}

// allocateInto splits total over the commits idx by weight, each within [lo, min(hi, cap(i))].
func (p *casePlan) allocateInto(n, idx []int, total int, w []float64, lo, hi int, capOf func(int) int) error {
	if len(idx) == 0 {
		if total != 0 {
			return fmt.Errorf("no commits for %d image tags: %w", total, ErrInvalidSpec)
		}
		return nil
	}
	los := make([]int, len(idx))
	his := make([]int, len(idx))
	for k, i := range idx {
		his[k] = min(hi, capOf(i))
		los[k] = min(lo, his[k])
	}
	out, err := allocate(total, w, los, his)
	if err != nil {
		return fmt.Errorf("%d commits cannot hold %d image tags at this scale (%v): %w", len(idx), total, err, ErrInvalidSpec)
	}
	for k, i := range idx {
		n[i] = out[k]
	}
	return nil
}

// sizePools decides how many SWE-bench instances and commit0 repositories the case uses: the
// scaled share of the real 2,294 and 57, at least enough for the biggest commit.
func (p *casePlan) sizePools(scale float64, n []int, schemes []string) {
	maxOld, maxCur := 0, 0
	for i, v := range n {
		if schemes[i] == SchemeCurrent {
			maxCur = max(maxCur, v)
		} else {
			maxOld = max(maxOld, v)
		}
	}
	ps := max(int(math.Round(swebenchTotal*scale)), 24, maxOld-2)
	c0 := 0
	for range 3 {
		ps = min(ps, swebenchTotal)
		c0 = min(len(commit0Repos), max(4, int(math.Round(float64(len(commit0Repos)*ps)/swebenchTotal))))
		if ps+c0+2 < maxCur {
			ps = maxCur - 2 - c0
		}
	}
	ps = min(ps, swebenchTotal)
	universe := swebenchUniverse()
	r := newRand(p.seed, "pools")
	order := r.Perm(len(universe))
	famous := map[string]bool{}
	for _, f := range famousInstances {
		famous[f] = true
		p.swebPool = append(p.swebPool, dockerInstance(f))
	}
	for _, k := range order {
		if len(p.swebPool) == ps {
			break
		}
		if !famous[universe[k]] {
			p.swebPool = append(p.swebPool, dockerInstance(universe[k]))
		}
	}
	p.c0Pool = append([]string(nil), commit0Repos[:c0]...)
}

// schemeOf is the SWE-bench tag scheme in use at the i-th of n commits.
func schemeOf(i, n int) string {
	switch f := float64(i) / float64(n); {
	case f < 0.3:
		return SchemeTagLatest
	case f < 0.5:
		return SchemePlain
	default:
		return SchemeCurrent
	}
}

// maxPushLag bounds how long after its commit an image is pushed.
const maxPushLag = 11 * time.Hour

// add appends a plan of the main phase.
func (p *casePlan) add(mp *manifestPlan) {
	p.main = append(p.main, mp)
	p.seq++
	mp.seq = p.seq
}

// addTag records a tag pointing at mp, with the fields its plan implies.
func (p *casePlan) addTag(mp *manifestPlan, name string) {
	t := CaseTag{Name: name, Kind: mp.kind, Scheme: mp.scheme, DF: mp.df, Bench: mp.bench, Group: mp.group, Created: mp.created}
	if mp.commit >= 0 {
		t.SDK = p.c.Commits[mp.commit].SHA
	}
	if mp.scheme == SchemeTagLatest {
		t.Slug = swebSlug(mp.group)
	}
	p.c.Tags = append(p.c.Tags, t)
	mp.tags = append(mp.tags, len(p.c.Tags)-1)
}

// finish sorts the tags by name and counts them.
func (p *casePlan) finish() {
	c := p.c
	sort.Slice(c.Tags, func(i, j int) bool { return c.Tags[i].Name < c.Tags[j].Name })
	sort.Slice(c.BaseTags, func(i, j int) bool { return c.BaseTags[i].Name < c.BaseTags[j].Name })
	t := Totals{Tags: len(c.Tags), Commits: len(c.Commits), BaseTags: len(c.BaseTags)}
	perDigest := map[string]int{}
	for _, tag := range c.Tags {
		switch tag.Kind {
		case KindImage:
			t.Images++
		case KindBuildcache:
			t.Buildcache++
		case KindLegacy:
			t.Legacy++
		case KindReferrer:
			t.Referrers++
		}
		perDigest[tag.Digest]++
	}
	for _, n := range perDigest {
		if n > 1 {
			t.SharedDigests++
		}
	}
	c.Totals = t
}
