package casegen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// pusher speaks the push side of the OCI distribution API over plain HTTP: monolithic blob
// uploads (a single POST with ?digest= where the registry finishes uploads on POST, else POST then
// PUT) and manifest PUTs. Each blob is uploaded once per repository, whatever the concurrency.
type pusher struct {
	client *http.Client
	base   *url.URL
	// postOnly stays true while the registry may complete an upload on POST ?digest=; the first
	// 202 Accepted shows it does not (distribution v3), and later uploads skip the body on POST.
	postOnly atomic.Bool

	mu    sync.Mutex
	repos map[string]*repoPushes
}

// repoPushes is what was pushed into one repository.
type repoPushes struct {
	blobs     map[string]*blobOnce
	blobCount int
	blobBytes int64
	manifests map[string]int64
}

// blobOnce uploads one blob once; concurrent callers wait for the first.
type blobOnce struct {
	once sync.Once
	err  error
}

func newPusher(client *http.Client, baseURL string) *pusher {
	u, _ := url.Parse(baseURL) // built from "http://" + host by the caller
	p := &pusher{client: client, base: u, repos: map[string]*repoPushes{}}
	p.postOnly.Store(true)
	return p
}

func (p *pusher) repo(name string) *repoPushes {
	r := p.repos[name]
	if r == nil {
		r = &repoPushes{blobs: map[string]*blobOnce{}, manifests: map[string]int64{}}
		p.repos[name] = r
	}
	return r
}

// totals returns the distinct manifests and blobs pushed into repo and their bytes.
func (p *pusher) totals(repo string) (manifests, blobs int, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.repo(repo)
	bytes = r.blobBytes
	for _, n := range r.manifests {
		bytes += n
	}
	return len(r.manifests), r.blobCount, bytes
}

// blob uploads b into repo unless this pusher already did.
func (p *pusher) blob(ctx context.Context, repo string, b blobData) error {
	p.mu.Lock()
	r := p.repo(repo)
	o := r.blobs[b.digest]
	if o == nil {
		o = &blobOnce{}
		r.blobs[b.digest] = o
	}
	p.mu.Unlock()
	o.once.Do(func() {
		o.err = p.upload(ctx, repo, b)
		if o.err == nil {
			p.mu.Lock()
			r.blobCount++
			r.blobBytes += int64(len(b.data))
			p.mu.Unlock()
		}
	})
	return o.err
}

// upload sends one blob: POST (with the content while the registry may take it there), then PUT.
func (p *pusher) upload(ctx context.Context, repo string, b blobData) error {
	start := p.base.String() + "/v2/" + repo + "/blobs/uploads/"
	var body []byte
	postOnly := p.postOnly.Load()
	if postOnly {
		start += "?digest=" + url.QueryEscape(b.digest)
		body = b.data
	}
	resp, err := p.do(ctx, http.MethodPost, start, "application/octet-stream", body)
	if err != nil {
		return err
	}
	loc := resp.Header.Get("Location")
	switch {
	case resp.StatusCode == http.StatusCreated && postOnly:
		return drain(resp)
	case resp.StatusCode != http.StatusAccepted:
		defer resp.Body.Close()
		return statusError(http.MethodPost, start, resp)
	}
	if err := drain(resp); err != nil {
		return err
	}
	p.postOnly.Store(false)
	u, err := url.Parse(loc)
	if err != nil || loc == "" {
		return fmt.Errorf("POST %s: bad Location %q: %w", start, loc, ErrUnexpectedStatus)
	}
	u = p.base.ResolveReference(u)
	q := u.Query()
	q.Set("digest", b.digest)
	u.RawQuery = q.Encode()
	resp, err = p.do(ctx, http.MethodPut, u.String(), "application/octet-stream", b.data)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		defer resp.Body.Close()
		return statusError(http.MethodPut, u.Path, resp)
	}
	return drain(resp)
}

// manifest puts doc into repo under ref (a tag or its digest) and checks the digest the registry
// computed.
func (p *pusher) manifest(ctx context.Context, repo, ref string, doc manifestDoc) error {
	u := p.base.String() + "/v2/" + repo + "/manifests/" + ref
	resp, err := p.do(ctx, http.MethodPut, u, doc.mediaType, doc.data)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		defer resp.Body.Close()
		return statusError(http.MethodPut, u, resp)
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != doc.digest {
		drain(resp) //nolint:errcheck // the digest mismatch is the error to report
		return fmt.Errorf("PUT %s: registry digest %s, want %s: %w", u, got, doc.digest, ErrUnexpectedStatus)
	}
	if err := drain(resp); err != nil {
		return err
	}
	p.mu.Lock()
	p.repo(repo).manifests[doc.digest] = int64(len(doc.data))
	p.mu.Unlock()
	return nil
}

func (p *pusher) do(ctx context.Context, method, u, contentType string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("regtest: %s %s: %w", method, u, err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("regtest: %s %s: %w", method, u, err)
	}
	return resp, nil
}

// drain reads the rest of a body and closes it, so the connection is reused.
func drain(resp *http.Response) error {
	_, err := io.Copy(io.Discard, resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	return err
}

// push sends the whole plan: base images and the main tags concurrently, then the referrers,
// whose names and content follow from their subjects' digests.
func (p *casePlan) push(ctx context.Context, pu *pusher, m *materializer, conc int, progress func(done, total int)) error {
	total := len(p.c.Tags) + len(p.c.BaseTags)
	var mu sync.Mutex
	done := 0
	report := func(n int) {
		mu.Lock()
		defer mu.Unlock()
		done += n
		if progress != nil {
			progress(done, total)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	if len(p.bases) > 0 {
		bm := newMaterializer(p.seed, p.c.BaseRepository)
		for _, mp := range p.bases {
			if gctx.Err() != nil {
				break
			}
			g.Go(func() error { return p.pushOne(gctx, pu, bm, p.c.BaseRepository, mp, p.c.BaseTags, report) })
		}
	}
	for _, mp := range p.main {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return p.pushOne(gctx, pu, m, p.c.Repository, mp, p.c.Tags, report) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, mp := range p.refs {
		t := &p.c.Tags[mp.tags[0]]
		t.Subject = mp.subject.digest
		t.Name = "sha256-" + strings.TrimPrefix(mp.subject.digest, "sha256:")
		if mp.sig {
			t.Name += ".sig"
		}
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for _, mp := range p.refs {
		g.Go(func() error { return p.pushOne(gctx, pu, m, p.c.Repository, mp, p.c.Tags, report) })
	}
	return g.Wait()
}

// pushOne pushes one planned manifest, its children and blobs, under each of its tags.
func (p *casePlan) pushOne(ctx context.Context, pu *pusher, m *materializer, repo string, mp *manifestPlan, tags []CaseTag, report func(int)) error {
	first := tags[mp.tags[0]].Name
	b := m.bundleFor(mp, first, p.c.Commits)
	for _, blob := range b.blobs {
		if err := pu.blob(ctx, repo, blob); err != nil {
			return fmt.Errorf("push %s:%s: blob %s: %w", repo, first, blob.digest, err)
		}
	}
	var children []string
	for _, doc := range b.manifests[:len(b.manifests)-1] {
		if err := pu.manifest(ctx, repo, doc.digest, doc); err != nil {
			return fmt.Errorf("push %s:%s: %w", repo, first, err)
		}
		children = append(children, doc.digest)
	}
	top := b.top()
	for _, i := range mp.tags {
		if err := pu.manifest(ctx, repo, tags[i].Name, top); err != nil {
			return fmt.Errorf("push %s:%s: %w", repo, tags[i].Name, err)
		}
	}
	mp.digest, mp.size, mp.children = top.digest, int64(len(top.data)), children
	for _, i := range mp.tags {
		tags[i].Digest = top.digest
		tags[i].ChildDigests = append([]string(nil), children...)
	}
	report(len(mp.tags))
	return nil
}
