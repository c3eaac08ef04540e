package ghcr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/regtidy/regtidy/registry"
)

// EndpointPackages is the owner's package listing, a key of Stats.ByEndpoint.
const EndpointPackages = "GET packages"

// maxPackagePages bounds the pages of an owner's package listing (100 packages a page).
const maxPackagePages = 500

// IsPattern reports whether repo's package name holds glob characters (*, ?, [), so that it names
// the owner's packages that match it rather than one package.
func IsPattern(repo string) bool {
	_, name, err := ParseRepository(repo)
	return err == nil && strings.ContainsAny(name, "*?[")
}

// OwnerPackages lists the container packages of the client's owner (organization first, then
// user, unless WithOwnerKind said so), following the Link header, at 100 a page. Each page is one
// REST request. An owner that is neither answers an error wrapping registry.ErrNotFound.
func (c *Client) OwnerPackages(ctx context.Context) ([]Package, error) {
	kinds := []OwnerKind{c.OwnerKind()}
	if kinds[0] == OwnerUnknown {
		kinds = []OwnerKind{Org, User}
	}
	var lastErr error
	for _, k := range kinds {
		pkgs, err := c.ownerPackages(ctx, k)
		if errors.Is(err, registry.ErrNotFound) {
			lastErr = err
			continue
		}
		return pkgs, err
	}
	return nil, fmt.Errorf("ghcr: packages of %s: %w", c.owner, lastErr)
}

func (c *Client) ownerPackages(ctx context.Context, kind OwnerKind) ([]Package, error) {
	next := fmt.Sprintf("%s/%s/%s/packages?package_type=container&per_page=100", c.base, kind, url.PathEscape(c.owner))
	var out []Package
	for page := 1; next != ""; page++ {
		if page > maxPackagePages {
			return nil, fmt.Errorf("ghcr: packages of %s: more than %d pages", c.owner, maxPackagePages)
		}
		resp, err := c.do(ctx, request{method: http.MethodGet, url: next, endpoint: EndpointPackages})
		if err != nil {
			return nil, err
		}
		var js []packageWire
		if err := json.Unmarshal(resp.body, &js); err != nil {
			return nil, fmt.Errorf("ghcr: packages of %s, page %d: %w", c.owner, page, err)
		}
		for _, j := range js {
			out = append(out, j.pkg(kind))
		}
		next = ParseLink(resp.header.Get("Link"))["next"]
	}
	c.kindMu.Lock()
	c.kind = kind
	c.kindMu.Unlock()
	return out, nil
}

// MatchPackages expands pattern, "HOST/OWNER/GLOB" (path.Match syntax on the package name), into
// the repositories of the owner's packages whose names match, sorted by name, through c (a client
// of any package of that owner, e.g. one made for the pattern itself). No match is an error: a
// nightly job whose pattern matches nothing is misconfigured, not done.
func MatchPackages(ctx context.Context, c *Client, pattern string) ([]string, error) {
	owner, glob, err := ParseRepository(pattern)
	if err != nil {
		return nil, err
	}
	if _, err := path.Match(glob, ""); err != nil {
		return nil, fmt.Errorf("ghcr: repository pattern %q: %w", pattern, err)
	}
	host, _, _ := strings.Cut(pattern, "/")
	prefix := owner + "/"
	if host != owner {
		prefix = host + "/" + owner + "/"
	}
	pkgs, err := c.OwnerPackages(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range pkgs {
		if ok, _ := path.Match(glob, p.Name); ok {
			out = append(out, prefix+p.Name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("ghcr: repository pattern %q matches none of the %d container packages of %s", pattern, len(pkgs), owner)
	}
	slices.Sort(out)
	return out, nil
}
