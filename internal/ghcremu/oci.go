package ghcremu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// acceptManifests is the Accept header of the emulator's own manifest reads.
const acceptManifests = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, " +
	"application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json"

// ociPath splits "/v2/<repo>/<kind>/<ref>" where kind is "manifests" or "blobs".
func ociPath(p string) (repo, kind, ref string, ok bool) {
	rest := strings.TrimPrefix(p, "/v2/")
	for _, k := range []string{"manifests", "blobs"} {
		if i := strings.LastIndex(rest, "/"+k+"/"); i > 0 {
			return rest[:i], k, rest[i+len(k)+2:], true
		}
	}
	return "", "", "", false
}

// ociRepo is the repository an OCI request is about, for its token's scope: the one ociPath found,
// else the one before /tags/list or /referrers/; empty for the base /v2/ and the catalog.
func ociRepo(p, repo string, ok bool) string {
	if ok {
		return repo
	}
	rest := strings.TrimPrefix(p, "/v2/")
	for _, suffix := range []string{"/tags/list", "/referrers/"} {
		if i := strings.LastIndex(rest, suffix); i > 0 {
			return rest[:i]
		}
	}
	return ""
}

// serveOCI passes OCI API requests to the registry, with ghcr.io's differences: no DELETE, deleted
// versions read as unknown, and manifest pushes recorded as versions.
func (e *Emulator) serveOCI(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.oci[r.Method]++
	latency := e.opts.OCILatency
	e.mu.Unlock()
	if err := sleep(r.Context(), latency); err != nil {
		return
	}
	repo, kind, ref, ok := ociPath(r.URL.Path)
	if !e.authorizeOCI(w, r, ociRepo(r.URL.Path, repo, ok)) {
		return
	}
	if !ok {
		e.inner.ServeHTTP(w, r)
		return
	}
	switch {
	case r.Method == http.MethodDelete && !(kind == "blobs" && strings.HasPrefix(ref, "uploads/")):
		e.mu.Lock()
		e.refused++
		e.mu.Unlock()
		writeOCIError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "The operation is unsupported.")
	case kind == "manifests" && (r.Method == http.MethodGet || r.Method == http.MethodHead) && e.deletedDigest(repo, ref):
		writeOCIError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown")
	case kind == "manifests" && r.Method == http.MethodHead && e.headTag(w, r, repo, ref):
	case kind == "manifests" && r.Method == http.MethodPut:
		sw := &statusWriter{ResponseWriter: w}
		body := &countingReader{r: r.Body}
		r.Body = body
		e.inner.ServeHTTP(sw, r)
		if sw.code() != http.StatusCreated {
			return
		}
		digest := sw.Header().Get("Docker-Content-Digest")
		if digest == "" {
			return
		}
		tag := ""
		if !strings.Contains(ref, ":") {
			tag = ref
		}
		e.mu.Lock()
		if v := e.recordLocked(repo, digest, tag, false); v != nil {
			v.mediaType, v.size = mediaTypeOf(r.Header.Get("Content-Type")), body.n
		}
		e.mu.Unlock()
	default:
		e.inner.ServeHTTP(w, r)
	}
}

// headTag answers HEAD of a manifest by tag from the version table, as ghcr.io answers it from its
// own database, when the tag's version was pushed through the emulator (its media type and size
// are known) and the Accept header names its media type; the registry, which reads and parses the
// manifest for a HEAD, answers everything else. It reports whether it answered.
func (e *Emulator) headTag(w http.ResponseWriter, r *http.Request, repo, tag string) bool {
	if strings.Contains(tag, ":") {
		return false // a digest
	}
	e.mu.Lock()
	var digest, mediaType string
	var size int64
	if p := e.pkgs[repo]; p != nil {
		if v := p.tagOwner[tag]; v != nil && v.active() && !v.virtual && v.mediaType != "" {
			digest, mediaType, size = v.digest, v.mediaType, v.size
		}
	}
	ok := digest != "" && accepts(r.Header.Values("Accept"), mediaType)
	if ok {
		e.heads++
	}
	e.mu.Unlock()
	if !ok {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", mediaType)
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("Docker-Content-Digest", digest)
	h.Set("Etag", `"`+digest+`"`)
	w.WriteHeader(http.StatusOK)
	return true
}

// accepts reports whether Accept header values name mediaType.
func accepts(values []string, mediaType string) bool {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if mediaTypeOf(part) == mediaType {
				return true
			}
		}
	}
	return false
}

// mediaTypeOf returns a Content-Type or Accept value without its parameters.
func mediaTypeOf(v string) string {
	mt, _, _ := strings.Cut(v, ";")
	return strings.TrimSpace(mt)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.ReadCloser
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

// deletedDigest reports whether ref is a digest whose newest version in repo is deleted.
func (e *Emulator) deletedDigest(repo, ref string) bool {
	if !strings.HasPrefix(ref, "sha256:") {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.pkgs[repo]
	if p == nil {
		return false
	}
	v := p.byDigest[ref]
	return v != nil && !v.active()
}

func writeOCIError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{ // the client went away; nothing to do
		"errors": []map[string]string{{"code": code, "message": msg}},
	})
}

// call sends a request straight to the registry, in-process.
func (e *Emulator) call(ctx context.Context, method, path string, hdr http.Header, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequestWithContext(ctx, method, "http://"+e.Host+path, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	e.inner.ServeHTTP(rec, req)
	return rec
}

// removeFromRegistry deletes a version's manifest from the registry and returns its bytes, kept
// for restore. With DeleteTags it deletes only the tags and returns no bytes: the manifest stays
// in the registry, where restore reads it. A manifest the registry does not hold is no error.
func (e *Emulator) removeFromRegistry(ctx context.Context, repo, digest string, tags []string) ([]byte, string, error) {
	if e.opts.RegistryDelete == DeleteTags {
		return nil, "", e.deleteRefs(ctx, repo, tags)
	}
	raw, mediaType, err := e.readManifest(ctx, repo, digest)
	if err != nil || raw == nil {
		return nil, "", err
	}
	return raw, mediaType, e.deleteRefs(ctx, repo, []string{digest})
}

// readManifest reads a manifest's bytes and media type from the registry; nil when it holds none.
func (e *Emulator) readManifest(ctx context.Context, repo, digest string) ([]byte, string, error) {
	rec := e.call(ctx, http.MethodGet, "/v2/"+repo+"/manifests/"+digest, http.Header{"Accept": {acceptManifests}}, nil)
	switch rec.Code {
	case http.StatusOK:
		return rec.Body.Bytes(), rec.Header().Get("Content-Type"), nil
	case http.StatusNotFound:
		return nil, "", nil
	}
	return nil, "", fmt.Errorf("read manifest %s: status %d", digest, rec.Code)
}

// deleteRefs deletes manifests by tag or digest from the registry; one already gone is no error.
func (e *Emulator) deleteRefs(ctx context.Context, repo string, refs []string) error {
	for _, ref := range refs {
		rec := e.call(ctx, http.MethodDelete, "/v2/"+repo+"/manifests/"+ref, nil, nil)
		if rec.Code != http.StatusAccepted && rec.Code != http.StatusNotFound {
			return fmt.Errorf("delete manifest %s: status %d", ref, rec.Code)
		}
	}
	return nil
}

// putToRegistry puts a manifest back by digest and under each tag.
func (e *Emulator) putToRegistry(ctx context.Context, repo, digest, mediaType string, raw []byte, tags []string) error {
	for _, ref := range append([]string{digest}, tags...) {
		rec := e.call(ctx, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, http.Header{"Content-Type": {mediaType}}, raw)
		if rec.Code != http.StatusCreated {
			return fmt.Errorf("put manifest %s: status %d: %s", ref, rec.Code, rec.Body.String())
		}
	}
	return nil
}

// Scan learns the versions of manifests that reached the registry without going through the
// emulator (a storage directory filled earlier): for every repository "owner/name" of the
// catalog and every tag, in name order, the tagged manifest and, for an index, its children
// (children first, as a push makes them). It returns how many versions it added. Manifests that
// no tag reaches are not found.
func (e *Emulator) Scan(ctx context.Context) (int, error) {
	repos, err := e.catalog(ctx)
	if err != nil {
		return 0, err
	}
	added := 0
	for _, repo := range repos {
		if !strings.Contains(repo, "/") {
			continue
		}
		rec := e.call(ctx, http.MethodGet, "/v2/"+repo+"/tags/list", nil, nil)
		if rec.Code != http.StatusOK {
			return added, fmt.Errorf("ghcremu: scan %s: tags/list: status %d", repo, rec.Code)
		}
		var tl struct {
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &tl); err != nil {
			return added, fmt.Errorf("ghcremu: scan %s: tags/list: %w", repo, err)
		}
		sort.Strings(tl.Tags)
		for _, tag := range tl.Tags {
			n, err := e.scanTag(ctx, repo, tag)
			if err != nil {
				return added, err
			}
			added += n
		}
	}
	return added, nil
}

func (e *Emulator) scanTag(ctx context.Context, repo, tag string) (int, error) {
	rec := e.call(ctx, http.MethodGet, "/v2/"+repo+"/manifests/"+tag, http.Header{"Accept": {acceptManifests}}, nil)
	if rec.Code != http.StatusOK {
		return 0, fmt.Errorf("ghcremu: scan %s:%s: status %d", repo, tag, rec.Code)
	}
	digest := rec.Header().Get("Docker-Content-Digest")
	var m struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		return 0, fmt.Errorf("ghcremu: scan %s:%s: %w", repo, tag, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	before := e.nextID
	for _, c := range m.Manifests {
		e.recordLocked(repo, c.Digest, "", false)
	}
	e.recordLocked(repo, digest, tag, false)
	return int(e.nextID - before), nil
}

// catalog lists the registry's repositories, following its Link pages.
func (e *Emulator) catalog(ctx context.Context) ([]string, error) {
	var repos []string
	path := "/v2/_catalog?n=1000"
	for range 100000 {
		rec := e.call(ctx, http.MethodGet, path, nil, nil)
		if rec.Code != http.StatusOK {
			return nil, fmt.Errorf("ghcremu: catalog: status %d", rec.Code)
		}
		var c struct {
			Repositories []string `json:"repositories"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil {
			return nil, fmt.Errorf("ghcremu: catalog: %w", err)
		}
		repos = append(repos, c.Repositories...)
		next := nextLink(rec.Header().Get("Link"))
		if next == "" || len(c.Repositories) == 0 {
			return repos, nil
		}
		u, err := url.Parse(next)
		if err != nil {
			return nil, fmt.Errorf("ghcremu: catalog: link %q: %w", next, err)
		}
		path = u.RequestURI()
	}
	return nil, fmt.Errorf("ghcremu: catalog: too many pages")
}

// nextLink returns the URL of rel="next" in a Link header, or "".
func nextLink(h string) string {
	for _, part := range strings.Split(h, ",") {
		u, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if ok && strings.Contains(params, `rel="next"`) {
			return strings.Trim(strings.TrimSpace(u), "<>")
		}
	}
	return ""
}
