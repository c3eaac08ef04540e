package ghcremu

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Documentation URLs and messages of GitHub's answers.
const (
	docREST      = "https://docs.github.com/rest"
	docPackages  = "https://docs.github.com/rest/packages/packages"
	docPrimary   = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit"
	docSecondary = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits"

	// MessageDownloads is GitHub's answer to deleting a public version with over 5,000 downloads.
	MessageDownloads = "Publicly visible package versions with more than 5000 downloads cannot be deleted. Contact GitHub support for further assistance."
	// MessageLastTagged is GitHub's answer to deleting a container package's last tagged version.
	MessageLastTagged = "You cannot delete the last tagged version of a package. You must delete the package instead."
	// MessageSecondary is GitHub's answer over a secondary rate limit.
	MessageSecondary = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
	// MessageForbidden is the emulator's answer to deleting a version made undeletable by Forbid.
	MessageForbidden = "You do not have permission to delete this package version."

	webURL = "https://github.com"
)

// route is a parsed REST path.
type route struct {
	ownerKind string // "orgs" or "users"
	owner     string
	name      string // unescaped package name
	endpoint  string
	id        int64
}

// parseRoute maps a method and escaped path to an endpoint; ok is false for anything else.
func parseRoute(method, escaped string) (route, bool) {
	seg := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
	if len(seg) == 3 && seg[2] == "packages" && method == http.MethodGet {
		owner, err := url.PathUnescape(seg[1])
		if err != nil || owner == "" {
			return route{}, false
		}
		return route{ownerKind: seg[0], owner: owner, endpoint: EndpointPackages}, true
	}
	if len(seg) < 5 || seg[2] != "packages" || seg[3] != "container" {
		return route{}, false
	}
	owner, err1 := url.PathUnescape(seg[1])
	name, err2 := url.PathUnescape(seg[4])
	if err1 != nil || err2 != nil || owner == "" || name == "" {
		return route{}, false
	}
	rt := route{ownerKind: seg[0], owner: owner, name: name}
	switch {
	case len(seg) == 5 && method == http.MethodGet:
		rt.endpoint = EndpointPackage
	case len(seg) == 6 && seg[5] == "versions" && method == http.MethodGet:
		rt.endpoint = EndpointList
	case len(seg) == 7 && seg[5] == "versions":
		switch method {
		case http.MethodGet:
			rt.endpoint = EndpointVersion
		case http.MethodDelete:
			rt.endpoint = EndpointDelete
		default:
			return route{}, false
		}
	case len(seg) == 8 && seg[5] == "versions" && seg[7] == "restore" && method == http.MethodPost:
		rt.endpoint = EndpointRestore
	default:
		return route{}, false
	}
	if len(seg) >= 7 {
		id, err := strconv.ParseInt(seg[6], 10, 64)
		if err != nil || id <= 0 {
			return route{}, false
		}
		rt.id = id
	}
	return rt, true
}

// serveREST answers a Packages API request: latency, authentication, the primary and secondary
// limits and injected faults first, in that order, then the endpoint.
func (e *Emulator) serveREST(w http.ResponseWriter, r *http.Request) {
	rt, ok := parseRoute(r.Method, r.URL.EscapedPath())
	if !ok {
		writeError(w, http.StatusNotFound, "Not Found", docREST)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	e.mu.Lock()
	es := e.statsLocked(rt.endpoint)
	es.Requests++
	now := e.opts.Clock()
	if gap := now.Sub(es.lastArrival); !es.lastArrival.IsZero() && (es.Requests == 2 || gap < es.MinGap) {
		es.MinGap = gap
	}
	es.lastArrival = now
	es.inflight++
	es.PeakInFlight = max(es.PeakInFlight, es.inflight)
	e.inflight++
	e.peak = max(e.peak, e.inflight)
	latency := e.opts.Latency
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.inflight--
		es := e.statsLocked(rt.endpoint)
		es.inflight--
		es.Status[sw.code()]++
		e.mu.Unlock()
	}()
	if err := sleep(r.Context(), latency); err != nil {
		return
	}
	if !e.admit(sw, r, rt) {
		return
	}
	switch rt.endpoint {
	case EndpointPackages:
		e.handlePackages(sw, r, rt)
	case EndpointPackage:
		e.handlePackage(sw, r, rt)
	case EndpointList:
		e.handleList(sw, r, rt)
	case EndpointVersion:
		e.handleVersion(sw, r, rt)
	case EndpointDelete:
		e.handleDelete(sw, r, rt)
	case EndpointRestore:
		e.handleRestore(sw, r, rt)
	}
}

// admit applies authentication, the limits and fault injection. It writes the answer and returns
// false when the request goes no further.
func (e *Emulator) admit(w http.ResponseWriter, r *http.Request, rt route) bool {
	token := bearer(r.Header.Get("Authorization"))
	e.mu.Lock()
	defer e.mu.Unlock()
	es := e.statsLocked(rt.endpoint)
	if token == "" {
		writeError(w, http.StatusUnauthorized, "Requires authentication", docREST)
		return false
	}
	if _, ok := e.opts.Tokens[token]; e.opts.Tokens != nil && !ok {
		writeError(w, http.StatusUnauthorized, "Bad credentials", docREST)
		return false
	}
	ts := e.tokens[token]
	if ts == nil {
		ts = &tokenState{userID: len(e.tokens) + 1, points: map[string]*window{}}
		e.tokens[token] = ts
	}
	now := e.opts.Clock()
	rh, ok := e.takePrimaryLocked(ts, token, now)
	setRateHeaders(w.Header(), rh)
	if !ok {
		es.PrimaryLimited++
		writeError(w, e.opts.PrimaryStatus,
			fmt.Sprintf("API rate limit exceeded for user ID %d. If you reach out to GitHub Support for help, please include the request ID.", ts.userID),
			docPrimary)
		return false
	}
	if e.opts.MaxConcurrent > 0 && e.inflight > e.opts.MaxConcurrent {
		es.SecondaryLimited++
		w.Header().Set("Retry-After", "1")
		writeError(w, e.opts.SecondaryStatus, MessageSecondary, docSecondary)
		return false
	}
	points := 5
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		points = 1
	}
	if wait, ok := e.takeSecondaryLocked(ts, rt.endpoint, points, now); !ok {
		es.SecondaryLimited++
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeError(w, e.opts.SecondaryStatus, MessageSecondary, docSecondary)
		return false
	}
	if e.opts.ErrorRate > 0 && e.rng.Float64() < e.opts.ErrorRate {
		es.Injected++
		e.log.Debug("ghcremu: injected 500", "endpoint", rt.endpoint, "path", r.URL.Path)
		writeError(w, http.StatusInternalServerError, "Server Error", docREST)
		return false
	}
	return true
}

// lookupLocked finds the package of a route, writing a 404 when it or its owner kind is wrong.
func (e *Emulator) lookupLocked(w http.ResponseWriter, rt route) *pkg {
	if e.users[rt.owner] != (rt.ownerKind == "users") {
		writeError(w, http.StatusNotFound, "Not Found", docREST)
		return nil
	}
	p := e.pkgs[rt.owner+"/"+rt.name]
	if p == nil {
		writeError(w, http.StatusNotFound, "Package not found.", docPackages)
		return nil
	}
	return p
}

// packageJSON is the package object GitHub answers, in the fields regtidy reads and a few more.
type packageJSON struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	PackageType  string    `json:"package_type"`
	Owner        ownerJSON `json:"owner"`
	VersionCount int       `json:"version_count"`
	Visibility   string    `json:"visibility"`
	URL          string    `json:"url"`
	HTMLURL      string    `json:"html_url"`
	CreatedAt    string    `json:"created_at"`
	UpdatedAt    string    `json:"updated_at"`
}

type ownerJSON struct {
	Login string `json:"login"`
	Type  string `json:"type"`
}

// versionJSON is a package version as GitHub answers it.
type versionJSON struct {
	ID             int64        `json:"id"`
	Name           string       `json:"name"`
	URL            string       `json:"url"`
	PackageHTMLURL string       `json:"package_html_url"`
	CreatedAt      string       `json:"created_at"`
	UpdatedAt      string       `json:"updated_at"`
	DeletedAt      string       `json:"deleted_at,omitempty"`
	HTMLURL        string       `json:"html_url"`
	Metadata       metadataJSON `json:"metadata"`
}

type metadataJSON struct {
	PackageType string        `json:"package_type"`
	Container   containerJSON `json:"container"`
}

type containerJSON struct {
	Tags []string `json:"tags"`
}

func ghTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// apiBase is the REST URL of the route's package, as the request addressed the emulator.
func apiBase(r *http.Request, rt route) string {
	return fmt.Sprintf("%s://%s/%s/%s/packages/container/%s", scheme(r), r.Host, rt.ownerKind,
		url.PathEscape(rt.owner), url.PathEscape(rt.name))
}

func webBase(rt route) string {
	return fmt.Sprintf("%s/%s/%s/packages/container", webURL, rt.ownerKind, url.PathEscape(rt.owner))
}

func (e *Emulator) versionJSONLocked(r *http.Request, rt route, v *version) versionJSON {
	tags := v.tags
	if !v.active() {
		tags = v.deletedTags
	}
	j := versionJSON{
		ID:             v.id,
		Name:           v.digest,
		URL:            fmt.Sprintf("%s/versions/%d", apiBase(r, rt), v.id),
		PackageHTMLURL: fmt.Sprintf("%s/package/%s", webBase(rt), url.PathEscape(rt.name)),
		CreatedAt:      ghTime(v.created),
		UpdatedAt:      ghTime(v.updated),
		HTMLURL:        fmt.Sprintf("%s/%s/%d", webBase(rt), url.PathEscape(rt.name), v.id),
		Metadata:       metadataJSON{PackageType: "container", Container: containerJSON{Tags: slices.Clone(tags)}},
	}
	if j.Metadata.Container.Tags == nil {
		j.Metadata.Container.Tags = []string{}
	}
	if !v.active() {
		j.DeletedAt = ghTime(v.deleted)
	}
	return j
}

func (e *Emulator) handlePackage(w http.ResponseWriter, r *http.Request, rt route) {
	e.mu.Lock()
	p := e.lookupLocked(w, rt)
	if p == nil {
		e.mu.Unlock()
		return
	}
	j := e.packageJSONLocked(r, rt.ownerKind, p)
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, j)
}

// packageJSONLocked is the package object of p, owned by an account of ownerKind ("orgs" or
// "users"), as GitHub answers it.
func (e *Emulator) packageJSONLocked(r *http.Request, ownerKind string, p *pkg) packageJSON {
	rt := route{ownerKind: ownerKind, owner: p.owner, name: p.name}
	kind, visibility := "Organization", "public"
	if ownerKind == "users" {
		kind = "User"
	}
	if e.opts.Private {
		visibility = "private"
	}
	return packageJSON{
		ID: p.id, Name: p.name, PackageType: "container",
		Owner:        ownerJSON{Login: p.owner, Type: kind},
		VersionCount: p.activeCount, Visibility: visibility,
		URL:       apiBase(r, rt),
		HTMLURL:   fmt.Sprintf("%s/package/%s", webBase(rt), url.PathEscape(p.name)),
		CreatedAt: ghTime(p.created), UpdatedAt: ghTime(e.opts.Clock()),
	}
}

func (e *Emulator) handleList(w http.ResponseWriter, r *http.Request, rt route) {
	q := r.URL.Query()
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage < 1 {
		perPage = DefaultPerPage
	}
	perPage = min(perPage, MaxPerPage)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	e.mu.Lock()
	p := e.lookupLocked(w, rt)
	if p == nil {
		e.mu.Unlock()
		return
	}
	var list []*version
	if q.Get("state") == "deleted" {
		list = p.deletedLocked(e.opts.Clock(), e.opts.RestoreWindow)
	} else {
		list = p.activeLocked()
	}
	last := max(1, (len(list)+perPage-1)/perPage)
	from, to := min((page-1)*perPage, len(list)), min(page*perPage, len(list))
	out := make([]versionJSON, 0, to-from)
	for _, v := range list[from:to] {
		out = append(out, e.versionJSONLocked(r, rt, v))
	}
	e.mu.Unlock()
	if link := linkHeader(r, page, last); link != "" {
		w.Header().Set("Link", link)
	}
	writeJSON(w, http.StatusOK, out)
}

// linkHeader formats the Link header of page out of last: prev, next, last, first, each where it
// applies, as GitHub does; empty when everything fits on page 1.
func linkHeader(r *http.Request, page, last int) string {
	if page <= 1 && last <= 1 {
		return ""
	}
	link := func(n int, rel string) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		u := url.URL{Scheme: scheme(r), Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: q.Encode()}
		return fmt.Sprintf("<%s>; rel=%q", u.String(), rel)
	}
	var parts []string
	if page > 1 {
		parts = append(parts, link(min(page-1, last), "prev"))
	}
	if page < last {
		parts = append(parts, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		parts = append(parts, link(1, "first"))
	}
	return strings.Join(parts, ", ")
}

func (e *Emulator) handleVersion(w http.ResponseWriter, r *http.Request, rt route) {
	e.mu.Lock()
	p := e.lookupLocked(w, rt)
	if p == nil {
		e.mu.Unlock()
		return
	}
	v := p.byID[rt.id]
	if v == nil || !v.active() {
		e.mu.Unlock()
		writeError(w, http.StatusNotFound, "Not Found", docPackages)
		return
	}
	j := e.versionJSONLocked(r, rt, v)
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, j)
}

func (e *Emulator) handleDelete(w http.ResponseWriter, r *http.Request, rt route) {
	e.mu.Lock()
	p := e.lookupLocked(w, rt)
	if p == nil {
		e.mu.Unlock()
		return
	}
	v := p.byID[rt.id]
	status, msg := 0, ""
	switch {
	case v == nil || !v.active():
		status, msg = http.StatusNotFound, "Not Found"
	case v.busy:
		status, msg = http.StatusConflict, "Conflict"
	case v.forbidden:
		status, msg = http.StatusForbidden, MessageForbidden
	case !e.opts.Private && v.downloads > DownloadLimit:
		status, msg = http.StatusBadRequest, MessageDownloads
	case len(v.tags) > 0 && p.tagged == 1:
		status, msg = http.StatusBadRequest, MessageLastTagged
	}
	if status != 0 {
		e.mu.Unlock()
		writeError(w, status, msg, docPackages)
		return
	}
	p.markDeletedLocked(v, e.opts.Clock())
	v.busy = true
	digest, tags, virtual := v.digest, slices.Clone(v.deletedTags), v.virtual
	e.mu.Unlock()

	var raw []byte
	var mediaType string
	var err error
	if !virtual {
		raw, mediaType, err = e.removeFromRegistry(context.WithoutCancel(r.Context()), p.repo, digest, tags)
	}
	e.mu.Lock()
	v.busy = false
	if err != nil {
		p.reviveLocked(v, tags, v.updated)
		e.mu.Unlock()
		e.log.Debug("ghcremu: registry delete failed", "repo", p.repo, "digest", digest, "err", err)
		writeError(w, http.StatusInternalServerError, "Server Error", docREST)
		return
	}
	v.raw = raw
	if mediaType != "" {
		v.mediaType = mediaType
	}
	e.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) handleRestore(w http.ResponseWriter, r *http.Request, rt route) {
	e.mu.Lock()
	p := e.lookupLocked(w, rt)
	if p == nil {
		e.mu.Unlock()
		return
	}
	now := e.opts.Clock()
	v := p.byID[rt.id]
	if v != nil && !v.active() && !v.purged && now.Sub(v.deleted) > e.opts.RestoreWindow {
		v.purged = true
	}
	switch {
	case v == nil || v.active() || v.purged:
		e.mu.Unlock()
		writeError(w, http.StatusNotFound, "Not Found", docPackages)
		return
	case v.busy:
		e.mu.Unlock()
		writeError(w, http.StatusConflict, "Conflict", docPackages)
		return
	}
	var tags []string
	for _, t := range v.deletedTags {
		if p.tagOwner[t] == nil {
			tags = append(tags, t)
		}
	}
	v.busy = true
	digest, raw, mediaType, virtual := v.digest, v.raw, v.mediaType, v.virtual
	e.mu.Unlock()

	ctx := context.WithoutCancel(r.Context())
	var err error
	if raw == nil && !virtual && e.opts.RegistryDelete == DeleteTags {
		raw, mediaType, err = e.readManifest(ctx, p.repo, digest)
		if err == nil && raw == nil {
			err = fmt.Errorf("manifest %s is gone from the registry", digest)
		}
	}
	if raw != nil && err == nil {
		err = e.putToRegistry(ctx, p.repo, digest, mediaType, raw, tags)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	v.busy = false
	if err != nil {
		e.log.Debug("ghcremu: registry restore failed", "repo", p.repo, "digest", digest, "err", err)
		writeError(w, http.StatusInternalServerError, "Server Error", docREST)
		return
	}
	if cur := p.byDigest[digest]; cur != v {
		// The digest was pushed again meanwhile: that push made the live version.
		v.purged = true
	} else {
		p.reviveLocked(v, tags, e.opts.Clock())
	}
	w.WriteHeader(http.StatusNoContent)
}

// errorJSON is GitHub's error body.
type errorJSON struct {
	Message          string `json:"message"`
	DocumentationURL string `json:"documentation_url"`
	Status           string `json:"status"`
}

func writeError(w http.ResponseWriter, status int, msg, doc string) {
	writeJSON(w, status, errorJSON{Message: msg, DocumentationURL: doc, Status: strconv.Itoa(status)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}

func setRateHeaders(h http.Header, rh rateHeaders) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(rh.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(rh.remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(rh.used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(rh.reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

// bearer returns the token of an Authorization header ("Bearer T" or "token T").
func bearer(h string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || (!strings.EqualFold(scheme, "bearer") && !strings.EqualFold(scheme, "token")) {
		return ""
	}
	return strings.TrimSpace(tok)
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// statusWriter remembers the status written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) code() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}
