package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// BaseCondition holds for the base images other repositories' images are built on: a tag (or an
// untagged orphan) whose digest, or the digest of a manifest its index lists, is named in the
// org.opencontainers.image.base.digest annotation of an image tagged in one of the Sources'
// repositories when the plan is made. `regtidy compose` writes that annotation on every thin
// image: on the index (naming the base's index) and on each platform image (naming the base's
// image of that platform).
//
// "Tagged when the plan is made" is what can be read, and it errs on the keeping side: prune the
// image repository first, and its tags are then the images its policy kept. A plan file of the
// image repository is not used as the source, because images pushed after that plan was made
// would not be in it, and their bases would be deleted. Bases named by a kept image of the same
// repository are kept without any condition (the "base-of-kept" rule of Evaluate).
type BaseCondition struct {
	// Sources are the image repositories, one spec each, in the order written.
	Sources []BaseSpec
}

// BaseSpec names the images whose bases a base condition keeps: the images tagged in
// Repository, or only those whose tags Match matches.
type BaseSpec struct {
	// Repository is the image repository, "host[:port]/path".
	Repository string `json:"repository"`
	// Match, when set, is a regular expression a tag must match whole for its image to count.
	Match string `json:"match,omitempty"`
	// AllowEmpty accepts images that name no base at all. Otherwise that fails the plan: a wrong
	// repository or a filter that matches nothing would make every base deletable.
	AllowEmpty bool `json:"allow_empty,omitempty"`
}

// BaseRef is one base an image names.
type BaseRef struct {
	// Digest is the base manifest's digest: the org.opencontainers.image.base.digest annotation.
	Digest string `json:"digest"`
	// Name is the base's reference as the image records it (org.opencontainers.image.base.name),
	// if it does.
	Name string `json:"name,omitempty"`
	// Image is the image that names it, "repository:tag".
	Image string `json:"image"`
}

// BaseSet is a loaded base source.
type BaseSet struct {
	Spec  BaseSpec  `json:"spec"`
	Bases []BaseRef `json:"bases"`
}

// String describes the source for messages.
func (s BaseSpec) String() string {
	if s.Match != "" {
		return "bases of the images tagged " + s.Match + " in " + s.Repository
	}
	return "bases of the images in " + s.Repository
}

// key identifies a base source: equal keys load the same bases.
func (s BaseSpec) key() string {
	return fmt.Sprintf("%q %q %t", s.Repository, s.Match, s.AllowEmpty)
}

// BaseSources returns the distinct base sources the policy's conditions use, sorted.
func (p *Policy) BaseSources() []BaseSpec {
	bases := map[string]BaseSpec{}
	for _, r := range p.Rules {
		for _, c := range r.Keep {
			walkConditions(c, func(c *Condition) {
				if c.Base != nil {
					for _, s := range c.Base.Sources {
						bases[s.key()] = s
					}
				}
			})
		}
	}
	return sortedValues(bases)
}

// checkBases validates loaded bases and returns them sorted by digest, then image, without
// repeats.
func checkBases(spec BaseSpec, refs []BaseRef) ([]BaseRef, error) {
	if len(refs) == 0 && !spec.AllowEmpty {
		return nil, fmt.Errorf("no image names a base (org.opencontainers.image.base.digest); set allow_empty if that is expected")
	}
	out := slices.Clone(refs)
	for _, r := range out {
		if !digestRe.MatchString(r.Digest) {
			return nil, fmt.Errorf("image %s names base digest %q, which is not sha256: and 64 lowercase hex digits", r.Image, r.Digest)
		}
	}
	slices.SortFunc(out, func(a, b BaseRef) int {
		if c := strings.Compare(a.Digest, b.Digest); c != 0 {
			return c
		}
		if c := strings.Compare(a.Image, b.Image); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return slices.Compact(out), nil
}

// baseIndex finds the images of one loaded source that name a digest as their base.
type baseIndex struct {
	spec BaseSpec
	// byDigest holds, per base digest, the images naming it, sorted.
	byDigest map[string][]string
}

// newBaseIndex indexes a loaded source.
func newBaseIndex(bs BaseSet) (*baseIndex, error) {
	refs, err := checkBases(bs.Spec, bs.Bases)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeepSource, bs.Spec, err)
	}
	bx := &baseIndex{spec: bs.Spec, byDigest: map[string][]string{}}
	for _, r := range refs {
		images := bx.byDigest[r.Digest]
		if n := len(images); n == 0 || images[n-1] != r.Image {
			bx.byDigest[r.Digest] = append(images, r.Image)
		}
	}
	return bx, nil
}

// baseHolds evaluates a base condition: the item's manifest, else the first of the manifests
// its index lists (in digest order, nested indexes followed), that an image names as its base.
func (e *evaluator) baseHolds(c *BaseCondition, it *item) (bool, string) {
	sources := e.keep.bases[c]
	if images, src := namedBy(sources, it.digest); len(images) > 0 {
		return true, "base of " + imagesPhrase(images, src)
	}
	seen := map[int32]bool{it.id: true}
	stack := []int32{it.id}
	for len(stack) > 0 {
		id := stack[0]
		stack = stack[1:]
		for _, ed := range e.g.out(id) {
			if (ed.kind != edgeChild && ed.kind != edgeNested) || seen[ed.to] {
				continue
			}
			seen[ed.to] = true
			stack = append(stack, ed.to)
			if images, src := namedBy(sources, e.g.digests[ed.to]); len(images) > 0 {
				platform, phrase := ed.role()
				return true, "its " + platform + phrase + " " + shortDigest(e.g.digests[ed.to]) + " is the base of " + imagesPhrase(images, src)
			}
		}
	}
	repos := make([]string, len(sources))
	for i, s := range sources {
		repos[i] = s.spec.Repository
		if s.spec.Match != "" {
			repos[i] += " (tags " + s.spec.Match + ")"
		}
	}
	return false, "no image tagged in " + strings.Join(repos, " or ") + " names " + shortDigest(it.digest) + " or its images as its base"
}

// namedBy returns the images of the first source that name digest as their base.
func namedBy(sources []*baseIndex, digest string) ([]string, *baseIndex) {
	for _, s := range sources {
		if images := s.byDigest[digest]; len(images) > 0 {
			return images, s
		}
	}
	return nil, nil
}

// imagesPhrase names the first image and counts the others: "repo:tag and 3 more images".
func imagesPhrase(images []string, src *baseIndex) string {
	switch len(images) {
	case 1:
		return images[0]
	case 2:
		return images[0] + " and 1 more image of " + src.spec.Repository
	default:
		return images[0] + " and " + strconv.Itoa(len(images)-1) + " more images of " + src.spec.Repository
	}
}

// repositoryRe is a repository reference without tag or digest: a host (with an optional port)
// and one or more lowercase path components.
var repositoryRe = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)+$`)

// hasRegistryHost reports whether a repository reference starts with a registry host: a name
// with a dot or a port, or localhost.
func hasRegistryHost(repo string) bool {
	host, _, _ := strings.Cut(repo, "/")
	return strings.ContainsAny(host, ".:") || host == "localhost"
}

// baseCondition decodes a base condition: {from: REPO or [REPO...], match, allow_empty}.
func (d *decoder) baseCondition(f field) *BaseCondition {
	fields, ok := d.mapping(f.value, f.keyAt, f.path, "from", "match", "allow_empty")
	if !ok {
		return nil
	}
	m := byKey(fields)
	ok = d.require(f, m, "from")
	var spec BaseSpec
	if x, has := m["match"]; has {
		_, good := d.regex(x, true)
		spec.Match, ok = d.mustStr(x), ok && good
	}
	if x, has := m["allow_empty"]; has {
		b, good := d.boolean(x)
		spec.AllowEmpty, ok = b, ok && good
	}
	c := &BaseCondition{}
	if x, has := m["from"]; has {
		repos, at, good := d.repositories(x)
		ok = ok && good
		for i, repo := range repos {
			if slices.Contains(repos[:i], repo) {
				d.errorf(at[i].value, at[i].path, "repository %s is listed twice", repo)
				ok = false
			}
			s := spec
			s.Repository = repo
			c.Sources = append(c.Sources, s)
		}
	}
	if !ok {
		return nil
	}
	return c
}

// repositories decodes `from`: one repository reference or a non-empty list of them. It returns
// the fields too, for errors.
func (d *decoder) repositories(f field) ([]string, []field, bool) {
	items := []field{f}
	if _, isList := d.resolve(f.value).(*ast.SequenceNode); isList {
		var ok bool
		if items, ok = d.list(f); !ok {
			return nil, nil, false
		}
		if len(items) == 0 {
			d.errorf(f.value, f.path, "must name at least one repository")
			return nil, nil, false
		}
	}
	ok := true
	repos := make([]string, 0, len(items))
	for _, it := range items {
		repo, good := d.nonEmpty(it)
		switch {
		case !good:
			ok = false
		case !repositoryRe.MatchString(repo):
			d.errorf(it.value, it.path, "%q is not a repository reference such as ghcr.io/openhands/eval-agent-server (no scheme, tag or digest)", repo)
			ok = false
		case !hasRegistryHost(repo):
			d.errorf(it.value, it.path, "%q names no registry host; write it whole, e.g. ghcr.io/%s", repo, repo)
			ok = false
		}
		repos = append(repos, repo)
	}
	return repos, items, ok
}
