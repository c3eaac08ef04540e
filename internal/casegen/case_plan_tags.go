package casegen

import (
	"fmt"
	"math"
	"time"
)

// Planning of each kind of tag: per-commit images (and the aliases the scheme change left),
// legacy releases, buildcache groups, referrers and eval-base images.

// planImages plans every per-commit image, and a few tags that share an index across schemes.
func (p *casePlan) planImages(sizes commitSizes, scale float64) {
	nc := len(p.c.Commits)
	r := newRand(p.seed, "images")
	dfr := newRand(p.seed, "dockerfiles")
	df, dfCount := "", 0
	firstCur := -1
	for i := range nc {
		if schemeOf(i, nc) == SchemeCurrent {
			if firstCur < 0 {
				firstCur = i
			}
			if df == "" || i == firstCur+(nc-firstCur)/2 || dfr.IntN(20) == 0 {
				dfCount++
				df = seededHex(p.seed, 7, "dockerfile", dfCount)
			}
		}
		p.planCommitImages(i, sizes.n[i], sizes.big[i], schemeOf(i, nc), df, r)
	}
	p.planAliases(scale, firstCur)
	if p.settle {
		p.settleNow()
	}
}

// settleNow makes Now the newest image push: derived commits move (with their images) so the
// newest push lands on Now; given commits keep their times and Now follows them.
func (p *casePlan) settleNow() {
	var newest time.Time
	for _, mp := range p.main {
		if mp.created.After(newest) {
			newest = mp.created
		}
	}
	if !p.derived {
		p.c.Now = newest
		return
	}
	delta := p.c.Now.Sub(newest)
	for i := range p.c.Commits {
		p.c.Commits[i].Time = p.c.Commits[i].Time.Add(delta)
	}
	for _, mp := range p.main {
		mp.created = mp.created.Add(delta)
		for _, t := range mp.tags {
			p.c.Tags[t].Created = mp.created
		}
	}
}

// planCommitImages plans the n images of commit i: the python-nodejs image, GAIA, commit0 repos
// (current scheme) and SWE-bench instances, pushed over a few hours after the commit.
func (p *casePlan) planCommitImages(i, n int, big bool, scheme, df string, r randSource) {
	type img struct{ bench, group string }
	imgs := []img{{BenchPythonNodeJS, pythonNodeSlug}}
	if n >= 2 {
		imgs = append(imgs, img{BenchGAIA, BenchGAIA})
	}
	rest := n - len(imgs)
	c0n := 0
	if scheme == SchemeCurrent {
		switch {
		case big:
			c0n = min(len(p.c0Pool), rest)
		case r.IntN(4) == 0:
			c0n = min(len(p.c0Pool), max(1, rest/3))
		}
		c0n = max(c0n, rest-len(p.swebPool))
	}
	sweb := rest - c0n
	for _, g := range pick(p.c0Pool, c0n, big, r) {
		imgs = append(imgs, img{BenchCommit0, g})
	}
	// Big commits ran either the most used instances or another subset of the dataset.
	for _, g := range pick(p.swebPool, sweb, big && r.IntN(2) == 0, r) {
		imgs = append(imgs, img{BenchSWEBench, g})
	}
	commit := p.c.Commits[i]
	delay := time.Duration(3+r.IntN(20)) * time.Minute
	span := min(10*time.Hour, time.Duration(n)*18*time.Second)
	for j, im := range imgs {
		created := commit.Time.Add(delay + span*time.Duration(j)/time.Duration(len(imgs))).Truncate(time.Second)
		if created.After(p.c.Now) {
			created = p.c.Now
		}
		sch, d := "", ""
		if im.bench == BenchSWEBench {
			sch = scheme
		}
		if scheme == SchemeCurrent && (im.bench == BenchSWEBench || im.bench == BenchCommit0) {
			d = df
		}
		mp := &manifestPlan{kind: KindImage, bench: im.bench, group: im.group, scheme: sch, commit: i, df: d, created: created}
		p.addTag(mp, imageTagName(commit.SHA[:7], d, im.bench, im.group, sch))
		p.add(mp)
	}
}

// planAliases turns a few SWE-bench images of the first current-scheme commit into plain-scheme
// aliases: the same index under both names, as pushed while the scheme changed.
func (p *casePlan) planAliases(scale float64, firstCur int) {
	if firstCur < 0 {
		return
	}
	want := min(20, max(2, int(math.Round(20*scale))))
	var best []*manifestPlan
	for _, mp := range p.main {
		if mp.commit < firstCur || mp.bench != BenchSWEBench {
			continue
		}
		if len(best) > 0 && best[0].commit != mp.commit {
			if len(best) >= 2*want {
				break
			}
			best = nil
		}
		best = append(best, mp)
	}
	a := min(want, len(best)/2)
	for k := range a {
		keep, drop := best[k], best[len(best)-1-k]
		// The dropped plan's tag becomes the plain-scheme name of the kept image.
		t := &p.c.Tags[drop.tags[0]]
		*t = CaseTag{Kind: KindImage, Scheme: SchemePlain, SDK: t.SDK, Bench: BenchSWEBench, Group: keep.group,
			Name: imageTagName(t.SDK[:7], "", BenchSWEBench, keep.group, SchemePlain), Created: keep.created}
		keep.tags = append(keep.tags, drop.tags[0])
		drop.tags = nil
	}
	live := p.main[:0]
	for _, mp := range p.main {
		if len(mp.tags) > 0 {
			live = append(live, mp)
		}
	}
	p.main = live
}

// planLegacy plans the v1.0.0 tags: release candidates early in the period, and the final release
// plus its last candidate on the python-nodejs image of an early commit (three tags, one index).
func (p *casePlan) planLegacy(scale float64) {
	n := min(FullLegacyTags, max(3, int(math.Round(FullLegacyTags*scale))))
	names := legacyTagNames(n)
	k := len(p.c.Commits) / 10
	var release *manifestPlan
	for _, mp := range p.main {
		if mp.commit == k && mp.bench == BenchPythonNodeJS {
			release = mp
			break
		}
	}
	shared := map[string]bool{names[n-1]: true, names[n-2]: true}
	for i, name := range names {
		if shared[name] && release != nil {
			p.c.Tags = append(p.c.Tags, CaseTag{Name: name, Kind: KindLegacy, Created: release.created})
			release.tags = append(release.tags, len(p.c.Tags)-1)
			continue
		}
		end := p.c.Commits[k].Time
		created := p.start.Add(end.Sub(p.start) * time.Duration(i+1) / time.Duration(n+1)).Truncate(time.Second)
		mp := &manifestPlan{kind: KindLegacy, commit: -1, created: created}
		p.addTag(mp, name)
		p.add(mp)
	}
}

// planBuildcache plans the buildcache tags: groups per SWE-bench instance and build target with
// 1 to 10 tags each (no suffix, "-main", "-<branch>"), written at builds spread over the period.
// The groups are the same in number and size whatever the targets; each base image (instance)
// has a group of every target, so with two targets half as many bases hold the caches. With one
// target the draws are those of the source-minimal-only case, tag for tag.
func (p *casePlan) planBuildcache(scale float64, targets []string) error {
	total := max(12, int(math.Round(FullBuildcacheTags*scale)))
	nt := len(targets)
	groups := min(len(p.swebPool)*nt, max(3, int(math.Ceil(float64(total)/4.5))))
	groups = (groups + nt - 1) / nt * nt // every base has a group of every target
	r := newRand(p.seed, "buildcache")
	w := make([]float64, groups)
	lo, hi := make([]int, groups), make([]int, groups)
	for i := range w {
		w[i] = math.Exp(0.6 * r.NormFloat64())
		lo[i], hi[i] = 1, 2+len(buildBranches)
	}
	sizes, err := allocate(total, w, lo, hi)
	if err != nil {
		return fmt.Errorf("buildcache: %d tags over %d groups: %v: %w", total, groups, err, ErrInvalidSpec)
	}
	span := p.c.Now.Sub(p.start)
	for g, k := range sizes {
		inst, target := p.swebPool[g/nt], targets[g%nt]
		var suffixes []string
		switch {
		case k == 1:
			suffixes = []string{[]string{"", "main"}[r.IntN(2)]}
		case k == 2:
			suffixes = []string{"", "main"}
		case k-1 <= len(buildBranches) && r.IntN(5) == 0:
			suffixes = append([]string{"main"}, pick(buildBranches, k-1, false, r)...)
		default:
			suffixes = append([]string{"", "main"}, pick(buildBranches, k-2, false, r)...)
		}
		for _, branch := range suffixes {
			created := p.start.Add(time.Duration(r.Int64N(int64(span)))).Truncate(time.Second)
			mp := &manifestPlan{kind: KindBuildcache, bench: BenchSWEBench, group: inst, commit: -1, created: created}
			p.addTag(mp, buildcacheTagName(target, inst, branch))
			t := &p.c.Tags[mp.tags[0]]
			t.Slug, t.Branch, t.Target = swebSlug(inst), branch, target
			p.add(mp)
		}
	}
	return nil
}

// planReferrers picks images to sign (".sig" tags) and to attach OCI 1.1 artifacts to, half among
// the newest 30 commits' images and half among older ones. Names follow once digests are known.
func (p *casePlan) planReferrers(sigs int) {
	if sigs == 0 {
		return
	}
	subjects := (sigs + 3) / 4
	recent := len(p.c.Commits) - 30
	var newer, older []*manifestPlan
	for _, mp := range p.main {
		switch {
		case mp.kind != KindImage:
		case mp.commit >= recent:
			newer = append(newer, mp)
		default:
			older = append(older, mp)
		}
	}
	r := newRand(p.seed, "referrers")
	r.Shuffle(len(newer), func(i, j int) { newer[i], newer[j] = newer[j], newer[i] })
	r.Shuffle(len(older), func(i, j int) { older[i], older[j] = older[j], older[i] })
	var chosen []*manifestPlan
	for i := 0; len(chosen) < sigs+subjects && (i < len(newer) || i < len(older)); i++ {
		if i < len(newer) {
			chosen = append(chosen, newer[i])
		}
		if i < len(older) && len(chosen) < sigs+subjects {
			chosen = append(chosen, older[i])
		}
	}
	for i, s := range chosen {
		created := s.created.Add(time.Duration(1+r.IntN(10)) * time.Minute)
		if created.After(p.c.Now) {
			created = p.c.Now
		}
		mp := &manifestPlan{kind: KindReferrer, commit: -1, created: created, subject: s, sig: i < sigs}
		p.addTag(mp, "")
		p.refs = append(p.refs, mp)
		p.seq++
		mp.seq = p.seq
	}
}

// planBases plans one eval-base image per Dockerfile hash and SWE-bench instance that a
// current-scheme image is built on, pushed an hour before the first image that uses it.
func (p *casePlan) planBases() {
	byKey := map[string]*manifestPlan{}
	for _, mp := range p.main {
		if mp.kind != KindImage || mp.scheme != SchemeCurrent || mp.bench != BenchSWEBench {
			continue
		}
		key := baseTagName(mp.df, mp.group)
		created := mp.created.Add(-time.Hour)
		if b := byKey[key]; b != nil {
			if created.Before(b.created) {
				b.created = created
			}
			continue
		}
		b := &manifestPlan{kind: KindBase, bench: BenchSWEBench, group: mp.group, df: mp.df, commit: -1, created: created}
		byKey[key] = b
		p.c.BaseTags = append(p.c.BaseTags, CaseTag{Name: key, Kind: KindBase, DF: mp.df, Bench: BenchSWEBench, Group: mp.group})
		b.tags = []int{len(p.c.BaseTags) - 1}
		p.bases = append(p.bases, b)
		p.seq++
		b.seq = p.seq
	}
	for _, b := range p.bases {
		p.c.BaseTags[b.tags[0]].Created = b.created
	}
}
