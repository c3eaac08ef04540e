package ghcr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry"
)

// maxTailPages bounds the pages read past the last page announced on page 1 (versions pushed
// during the listing push the oldest ones onto new pages).
const maxTailPages = 1000

// Package is a container package as the REST API describes it.
type Package struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	Owner        string    `json:"owner"`
	OwnerKind    OwnerKind `json:"owner_kind"`
	VersionCount int       `json:"version_count"`
	Visibility   string    `json:"visibility"`
}

// packageWire is a package object as the REST API sends it, in the fields regtidy reads.
type packageWire struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	VersionCount int    `json:"version_count"`
	Visibility   string `json:"visibility"`
	Owner        struct {
		Login string `json:"login"`
	} `json:"owner"`
}

// pkg is the package, owned by an account of kind.
func (j packageWire) pkg(kind OwnerKind) Package {
	return Package{ID: j.ID, Name: j.Name, Owner: j.Owner.Login, OwnerKind: kind, VersionCount: j.VersionCount, Visibility: j.Visibility}
}

// Package fetches the package, finding out on the way whether the owner is an organization or a
// user (organization first) unless WithOwnerKind said so. A missing package returns an error
// wrapping registry.ErrNotFound.
func (c *Client) Package(ctx context.Context) (Package, error) {
	c.kindMu.Lock()
	defer c.kindMu.Unlock()
	kinds := []OwnerKind{c.kind}
	if c.kind == OwnerUnknown {
		kinds = []OwnerKind{Org, User}
	}
	var lastErr error
	for _, k := range kinds {
		resp, err := c.do(ctx, request{method: http.MethodGet, url: c.packageURL(k), endpoint: EndpointPackage})
		if errors.Is(err, registry.ErrNotFound) {
			lastErr = err
			continue
		}
		if err != nil {
			return Package{}, err
		}
		var j packageWire
		if err := json.Unmarshal(resp.body, &j); err != nil {
			return Package{}, fmt.Errorf("ghcr: package %s: %w", c.Repository(), err)
		}
		c.kind = k
		return j.pkg(k), nil
	}
	return Package{}, fmt.Errorf("ghcr: package %s: %w", c.Repository(), lastErr)
}

// versionsURL returns the package's REST URL, finding out the owner kind first if needed.
func (c *Client) versionsBase(ctx context.Context) (string, error) {
	if k := c.OwnerKind(); k != OwnerUnknown {
		return c.packageURL(k), nil
	}
	if _, err := c.Package(ctx); err != nil {
		return "", err
	}
	return c.packageURL(c.OwnerKind()), nil
}

// ListStats describes one listing.
type ListStats struct {
	// Pages counts the pages fetched; Last is the last page number the API announced.
	Pages, Last int
	// Versions counts the versions passed to the callback.
	Versions int
}

// ListVersions lists every version of the package, newest first on each page: page 1, then the
// remaining pages up to the last one its Link header names, concurrently (WithConcurrency) within
// the secondary limit. fn receives each page's versions, one call at a time but not in page order;
// a version seen twice (pages shift when versions are pushed meanwhile) is passed once. A 5xx is
// retried for its page alone. When the budget is spent it returns a *BudgetError, after fn has
// seen every page fetched.
func (c *Client) ListVersions(ctx context.Context, fn func([]inventory.Version) error) (ListStats, error) {
	var st ListStats
	seen := map[int64]bool{}
	first, err := c.fetchPage(ctx, 1)
	if err != nil {
		return st, listBudgetError(err, 0, 0)
	}
	err = c.listInOrder(ctx, first, c.fetchPage, func(p page) error {
		fresh := p.versions[:0:0]
		for _, v := range p.versions {
			if !seen[v.ID] {
				seen[v.ID] = true
				fresh = append(fresh, v)
			}
		}
		st.Pages++
		st.Last = max(st.Last, p.last)
		st.Versions += len(fresh)
		if len(fresh) == 0 {
			return nil
		}
		return fn(fresh)
	})
	return st, listBudgetError(err, st.Pages, st.Last)
}

// ListNew lists the versions that known does not know, from page 1 on, and stops after the first
// page with nothing new: versions list newest first, so the pages after it hold only versions
// listed before. fn receives the new versions of each page, in page order.
func (c *Client) ListNew(ctx context.Context, known func(id int64) bool, fn func([]inventory.Version) error) (ListStats, error) {
	var st ListStats
	err := c.listNewFrom(ctx, nil, 1, known, func(p page, fresh []inventory.Version) error {
		st.Pages++
		st.Last = max(st.Last, p.last)
		st.Versions += len(fresh)
		if len(fresh) == 0 {
			return nil
		}
		return fn(fresh)
	})
	return st, listBudgetError(err, st.Pages, st.Last)
}

// page is one page of a listing.
type page struct {
	number   int
	versions []inventory.Version
	// last is the last page number: from rel="last", or this page when there is no next.
	last int
	full bool
}

// fetchPage fetches page n of the active versions.
func (c *Client) fetchPage(ctx context.Context, n int) (page, error) {
	base, err := c.versionsBase(ctx)
	if err != nil {
		return page{}, err
	}
	u := fmt.Sprintf("%s/versions?per_page=%d&page=%d", base, c.pageSize, n)
	resp, err := c.do(ctx, request{method: http.MethodGet, url: u, endpoint: EndpointList})
	if err != nil {
		return page{}, err
	}
	var raw []versionJSON
	if err := json.Unmarshal(resp.body, &raw); err != nil {
		return page{}, fmt.Errorf("ghcr: %s page %d: %w", c.Repository(), n, err)
	}
	p := page{number: n, versions: make([]inventory.Version, 0, len(raw)), full: len(raw) >= c.pageSize}
	for _, v := range raw {
		p.versions = append(p.versions, v.version())
	}
	links := ParseLink(resp.header.Get("Link"))
	switch {
	case links["last"] != "":
		p.last = pageNumber(links["last"])
	case links["next"] != "":
		p.last = pageNumber(links["next"])
	default:
		p.last = n
	}
	p.last = max(p.last, n)
	return p, nil
}

// listNewFrom lists pages in order from start (or from first, already fetched) and stops after a
// page where known knows every version, or at the last page.
func (c *Client) listNewFrom(ctx context.Context, first *page, start int, known func(int64) bool, onPage func(page, []inventory.Version) error) error {
	for n := start; n < start+maxPages; n++ {
		var p page
		if first != nil && first.number == n {
			p = *first
		} else {
			var err error
			if p, err = c.fetchPage(ctx, n); err != nil {
				return err
			}
		}
		var fresh []inventory.Version
		for _, v := range p.versions {
			if !known(v.ID) {
				fresh = append(fresh, v)
			}
		}
		if err := onPage(p, fresh); err != nil {
			return err
		}
		if len(fresh) == 0 || n >= p.last || !p.full {
			return nil
		}
	}
	return fmt.Errorf("ghcr: %s: more than %d pages of new versions", c.Repository(), maxPages)
}

// maxPages bounds one listing: 10 million versions at 100 a page.
const maxPages = 100_000

// versionJSON is a package version as the REST API answers it, in the fields regtidy reads.
type versionJSON struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Metadata  struct {
		Container struct {
			Tags []string `json:"tags"`
		} `json:"container"`
	} `json:"metadata"`
}

func (v versionJSON) version() inventory.Version {
	return inventory.Version{
		ID: v.ID, Digest: v.Name, Tags: v.Metadata.Container.Tags,
		CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt,
	}
}

// ParseLink parses a Link header into its URLs by rel: next, last, first, prev.
func ParseLink(h string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(h, ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if !ok {
			continue
		}
		target = strings.TrimSpace(target)
		if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
			continue
		}
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "rel") {
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
					out[strings.ToLower(rel)] = target[1 : len(target)-1]
				}
			}
		}
	}
	return out
}

// pageNumber returns the page query parameter of a link, or 0.
func pageNumber(link string) int {
	u, err := url.Parse(link)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(u.Query().Get("page"))
	return n
}

// listBudgetError wraps a spent budget with the listing's progress.
func listBudgetError(err error, done, total int) error {
	if err == nil || !errors.Is(err, ErrBudgetSpent) {
		return err
	}
	var be *BudgetError
	if errors.As(err, &be) {
		return err
	}
	return &BudgetError{Op: "list", Unit: "pages", Done: done, Total: max(total, done), Cause: err}
}
