package ghcremu

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Version is the emulator's record of one package version, for tests to inspect.
type Version struct {
	ID         int64
	Repository string
	Digest     string
	// Tags are the version's tags; for a deleted version, the tags it had when deleted.
	Tags      []string
	CreatedAt time.Time
	UpdatedAt time.Time
	// DeletedAt is zero for an active version.
	DeletedAt time.Time
	Downloads int
}

// version is one package version. Its fields are guarded by Emulator.mu.
type version struct {
	id          int64
	digest      string
	tags        []string
	created     time.Time
	updated     time.Time
	deleted     time.Time
	deletedTags []string
	// raw is the manifest's bytes, kept at delete time for restore (not with DeleteTags, which
	// leaves them in the registry). mediaType and size are the manifest's, as pushed through the
	// emulator (unknown for versions Scan or Register made).
	raw       []byte
	mediaType string
	size      int64
	downloads int
	forbidden bool
	// busy marks a delete or restore in progress against the registry.
	busy bool
	// virtual versions were registered without registry content.
	virtual bool
	// purged versions are past restoring.
	purged bool
}

func (v *version) active() bool { return v.deleted.IsZero() }

// pkg is one container package: the versions of one repository "owner/name".
type pkg struct {
	repo, owner, name string
	id                int64
	created           time.Time
	all               []*version // in creation order
	byID              map[int64]*version
	byDigest          map[string]*version // the newest record of each digest, active or not
	tagOwner          map[string]*version // tag -> active version holding it
	tagged            int                 // active versions with at least one tag
	activeCount       int
	listCache         []*version // active versions, newest first; nil when stale
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// pkgLocked returns the package of repo, creating it; nil when repo has no owner segment.
func (e *Emulator) pkgLocked(repo string) *pkg {
	if p := e.pkgs[repo]; p != nil {
		return p
	}
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" {
		return nil
	}
	p := &pkg{
		repo: repo, owner: owner, name: name,
		id:       int64(len(e.pkgs) + 1),
		created:  e.opts.Clock(),
		byID:     map[int64]*version{},
		byDigest: map[string]*version{},
		tagOwner: map[string]*version{},
	}
	e.pkgs[repo] = p
	return p
}

// recordLocked notes that digest was pushed to repo, under tag if not empty, and returns its
// version (nil when repo is not "owner/name").
func (e *Emulator) recordLocked(repo, digest, tag string, virtual bool) *version {
	p := e.pkgLocked(repo)
	if p == nil {
		return nil
	}
	now := e.opts.Clock()
	v := p.byDigest[digest]
	if v == nil || !v.active() {
		if v != nil {
			v.purged = true // pushed again: a new version; the deleted one is gone for good
		}
		v = &version{id: e.nextID, digest: digest, created: now, updated: now, virtual: virtual, tags: []string{}}
		e.nextID++
		p.all = append(p.all, v)
		p.byID[v.id] = v
		p.byDigest[digest] = v
		p.activeCount++
		p.listCache = nil
	}
	if tag != "" {
		p.setTagLocked(v, tag, now)
	}
	return v
}

// setTagLocked points tag at the active version v, taking it from the version holding it.
func (p *pkg) setTagLocked(v *version, tag string, now time.Time) {
	prev := p.tagOwner[tag]
	if prev == v {
		return
	}
	if prev != nil {
		prev.tags = slices.DeleteFunc(prev.tags, func(t string) bool { return t == tag })
		prev.updated = now
		if len(prev.tags) == 0 {
			p.tagged--
		}
	}
	if len(v.tags) == 0 {
		p.tagged++
	}
	v.tags = append(v.tags, tag)
	v.updated = now
	p.tagOwner[tag] = v
}

// markDeletedLocked turns the active version v into a deleted one.
func (p *pkg) markDeletedLocked(v *version, now time.Time) {
	for _, t := range v.tags {
		delete(p.tagOwner, t)
	}
	if len(v.tags) > 0 {
		p.tagged--
	}
	v.deletedTags, v.tags = v.tags, []string{}
	v.deleted = now
	p.activeCount--
	p.listCache = nil
}

// reviveLocked makes the deleted version v active again with the given tags.
func (p *pkg) reviveLocked(v *version, tags []string, now time.Time) {
	v.deleted = time.Time{}
	v.deletedTags = nil
	v.raw = nil
	v.updated = now
	p.activeCount++
	p.listCache = nil
	for _, t := range tags {
		p.setTagLocked(v, t, now)
	}
}

// activeLocked returns the active versions, newest first (created_at, then id).
func (p *pkg) activeLocked() []*version {
	if p.listCache != nil {
		return p.listCache
	}
	out := make([]*version, 0, p.activeCount)
	for i := len(p.all) - 1; i >= 0; i-- {
		if p.all[i].active() {
			out = append(out, p.all[i])
		}
	}
	sortNewestFirst(out)
	p.listCache = out
	return out
}

// deletedLocked returns the versions that can still be restored, newest first.
func (p *pkg) deletedLocked(now time.Time, window time.Duration) []*version {
	var out []*version
	for i := len(p.all) - 1; i >= 0; i-- {
		v := p.all[i]
		if v.active() || v.purged {
			continue
		}
		if now.Sub(v.deleted) > window {
			v.purged = true
			continue
		}
		out = append(out, v)
	}
	sortNewestFirst(out)
	return out
}

func sortNewestFirst(vs []*version) {
	cmp := func(a, b *version) int {
		if c := b.created.Compare(a.created); c != 0 {
			return c
		}
		switch {
		case a.id > b.id:
			return -1
		case a.id < b.id:
			return 1
		}
		return 0
	}
	if !slices.IsSortedFunc(vs, cmp) {
		slices.SortStableFunc(vs, cmp)
	}
}

// Register records a version of digest in repo ("owner/name") with the given tags, without any
// registry content: for REST-only tests and benchmarks at a scale where pushing manifests would
// take too long. Deleting and restoring it touch only the emulator's state. It returns the id.
func (e *Emulator) Register(repo, digest string, tags ...string) (int64, error) {
	if !digestRE.MatchString(digest) {
		return 0, fmt.Errorf("ghcremu: register %s: not a sha256 digest: %q", repo, digest)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.recordLocked(repo, digest, "", true)
	if v == nil {
		return 0, fmt.Errorf("ghcremu: register: repository %q is not owner/name", repo)
	}
	p := e.pkgs[repo]
	now := e.opts.Clock()
	for _, t := range tags {
		p.setTagLocked(v, t, now)
	}
	return v.id, nil
}

// Versions returns every version of repo ("owner/name"), active and deleted, newest first.
func (e *Emulator) Versions(repo string) []Version {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.pkgs[repo]
	if p == nil {
		return nil
	}
	all := slices.Clone(p.all)
	sortNewestFirst(all)
	out := make([]Version, 0, len(all))
	for _, v := range all {
		if v.purged {
			continue
		}
		tags := v.tags
		if !v.active() {
			tags = v.deletedTags
		}
		out = append(out, Version{
			ID: v.id, Repository: repo, Digest: v.digest, Tags: slices.Clone(tags),
			CreatedAt: v.created, UpdatedAt: v.updated, DeletedAt: v.deleted, Downloads: v.downloads,
		})
	}
	return out
}
