package policy

import (
	"slices"
	"strings"

	"golang.org/x/mod/semver"
)

// The orderings of newest.by that are not tag fields.
const (
	// ByCreated orders by the image's creation time, else the registry version's (the default).
	ByCreated = "created"
	// BySemver orders by the tag read as a semantic version (see semverOf): the greatest
	// version first; tags that are not one come after every tag that is, newest first.
	BySemver = "semver"
)

// semverOf reads a tag as a semantic version: MAJOR.MINOR.PATCH with an optional pre-release
// (1.2.3, v1.2.3, v1.2.3-rc.1), with or without a leading "v". It returns the version in the
// form golang.org/x/mod/semver compares ("v" first) and whether the tag is one. Shorthands such as
// v1 or v1.2, which name a moving release line rather than a release, are not.
func semverOf(tag string) (string, bool) {
	if tag == "" {
		return "", false
	}
	v := tag
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if !semver.IsValid(v) {
		return "", false
	}
	// Canonical drops build metadata and fills in a shorthand's missing parts: a full version
	// is its own canonical form, less the build metadata.
	full, _, _ := strings.Cut(v, "+")
	if semver.Canonical(v) != full {
		return "", false
	}
	return v, true
}

// semverKeyed is an item with its tag read as a semantic version, for sorting.
type semverKeyed struct {
	it *item
	v  string
	ok bool
}

// sortBySemver orders the items of a newest group greatest version first, by semantic version
// precedence (a pre-release below its release; build metadata ignored). Items that are not
// semantic versions come after all that are, newest first by creation time. Ties go to the
// newer image, then to the tag name.
func sortBySemver(members []*item) {
	keyed := make([]semverKeyed, len(members))
	for i, it := range members {
		v, ok := semverOf(it.tag)
		keyed[i] = semverKeyed{it: it, v: v, ok: ok}
	}
	slices.SortFunc(keyed, func(a, b semverKeyed) int {
		switch {
		case a.ok && !b.ok:
			return -1
		case !a.ok && b.ok:
			return 1
		case a.ok:
			if c := semver.Compare(b.v, a.v); c != 0 {
				return c
			}
		}
		if !a.it.created.Equal(b.it.created) {
			if a.it.created.After(b.it.created) {
				return -1
			}
			return 1
		}
		return strings.Compare(a.it.sortKey(), b.it.sortKey())
	})
	for i := range keyed {
		members[i] = keyed[i].it
	}
}
