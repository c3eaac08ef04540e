package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxTagListBody bounds one tags/list response: 133k tags take about 13 MB.
const maxTagListBody = 512 << 20

// ListTags lists the tags of repo, calling fn once per page received, in order.
//
// It first asks for the whole list in one request, without n: distribution v3 then answers every
// tag at once (133k tags in 1.7 s), where asking in pages of 1,000 makes it re-read and sort the
// whole tag directory for each page (48 s). When the registry pages anyway (ghcr.io does), the
// `Link: <...>; rel="next"` headers are followed, at most WithMaxTagPages pages, on the same host
// only, and never twice to the same URL; otherwise the listing fails with ErrPaging. A page that
// fails transiently is retried by the transport, so listing resumes where it was.
//
// A missing repository returns an error wrapping ErrNotFound. An error returned by fn stops the
// listing and is returned as is.
func (c *Client) ListTags(ctx context.Context, repo string, fn func(tags []string) error) error {
	const op = "list tags"
	r, err := parseRepo(op, repo)
	if err != nil {
		return err
	}
	ep, err := c.endpoint(ctx, op, r, r.Scope(scopePull))
	if err != nil {
		return err
	}
	first, err := url.Parse(ep.url("tags/list"))
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, ep.display, err)
	}
	seen := map[string]bool{}
	for next, pages := first, 0; next != nil; pages++ {
		if pages >= c.cfg.maxTagPages {
			return &Error{Op: op, Repo: ep.display, Message: fmt.Sprintf("more than %d pages", c.cfg.maxTagPages), Err: ErrPaging}
		}
		key := pageKey(next)
		if seen[key] {
			return &Error{Op: op, Repo: ep.display, Message: "Link loop at " + next.RequestURI(), Err: ErrPaging}
		}
		seen[key] = true
		tags, link, err := c.tagPage(ctx, ep, next)
		if err != nil {
			return err
		}
		if err := fn(tags); err != nil {
			return err
		}
		next = link
		if next != nil && (next.Scheme != first.Scheme || next.Host != first.Host) {
			return &Error{Op: op, Repo: ep.display, Message: "Link to another host: " + next.Host, Err: ErrPaging}
		}
	}
	return nil
}

// tagPage fetches one page of tags and returns them with the absolute URL of the next page, if
// any.
func (c *Client) tagPage(ctx context.Context, ep *endpoint, u *url.URL) ([]string, *url.URL, error) {
	const op = "list tags"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", op, ep.display, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ep.do(op, "", req)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, ep.fail(op, "", resp)
	}
	defer resp.Body.Close()
	var page struct {
		Tags []string `json:"tags"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxTagListBody)).Decode(&page); err != nil {
		return nil, nil, fmt.Errorf("%s %s: decode page: %w", op, ep.display, err)
	}
	target := nextLink(resp.Header.Values("Link"))
	if target == "" {
		return page.Tags, nil, nil
	}
	ref, err := url.Parse(target)
	if err != nil {
		return nil, nil, &Error{Op: op, Repo: ep.display, Message: "bad Link header: " + err.Error(), Err: ErrPaging}
	}
	return page.Tags, u.ResolveReference(ref), nil
}

// pageKey identifies a page URL whatever the order of its query parameters.
func pageKey(u *url.URL) string {
	return u.Scheme + "://" + u.Host + u.EscapedPath() + "?" + u.Query().Encode()
}

// nextLink returns the target of the rel="next" link among Link header values (RFC 8288), or "".
func nextLink(values []string) string {
	for _, v := range values {
		for v != "" {
			start := strings.IndexByte(v, '<')
			if start < 0 {
				break
			}
			end := strings.IndexByte(v[start:], '>')
			if end < 0 {
				break
			}
			target := v[start+1 : start+end]
			params := v[start+end+1:]
			v = ""
			if i := strings.IndexByte(params, '<'); i >= 0 {
				params, v = params[:i], params[i:]
			}
			for _, p := range strings.Split(params, ";") {
				key, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(key), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(val), `",`)) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
		}
	}
	return ""
}
