package ghcremu

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/regtidy/regtidy/internal/casegen"
)

const (
	testRepo  = "acme/app"
	testToken = "t0ken"
)

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func start(t *testing.T, opts Options) *Emulator {
	t.Helper()
	if opts.Clock == nil {
		opts.Clock = NewFakeClock(epoch).Now
	}
	e, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// fakeDigest is a valid digest made from a number.
func fakeDigest(i int) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(i)))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// pushIndex pushes an index of one linux/amd64 image and its buildx attestation manifest under tag,
// through the emulator, and returns the digests of the index, the image and the attestation.
func pushIndex(t *testing.T, e *Emulator, repo, tag string) (idx, img, att string) {
	t.Helper()
	idx, img, att, err := casegen.PushIndex(t.Context(), e.Host, repo, tag)
	if err != nil {
		t.Fatal(err)
	}
	return idx, img, att
}

// do sends a REST request with the test token (none when token is "").
func do(t *testing.T, e *Emulator, method, path, token string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func versionsPath(repo string) string {
	owner, name, _ := strings.Cut(repo, "/")
	return "/orgs/" + owner + "/packages/container/" + name + "/versions"
}

func TestPushMakesOneVersionPerDigest(t *testing.T) {
	e := start(t, Options{})
	idx, img, att := pushIndex(t, e, testRepo, "v1")
	resp, body := do(t, e, "GET", versionsPath(testRepo), testToken)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got []versionJSON
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	// Newest first: the index was pushed after its children.
	names := map[string][]string{}
	for _, v := range got {
		names[v.Name] = v.Metadata.Container.Tags
	}
	want := map[string][]string{idx: {"v1"}, img: {}, att: {}}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
	if len(got) != 3 || got[0].Name != idx {
		t.Fatalf("want the index first of 3 versions, got %+v", got)
	}
	first := got[0]
	wantFirst := versionJSON{
		ID:             first.ID,
		Name:           idx,
		URL:            fmt.Sprintf("%s/orgs/acme/packages/container/app/versions/%d", e.URL, first.ID),
		PackageHTMLURL: "https://github.com/orgs/acme/packages/container/package/app",
		CreatedAt:      "2025-03-01T12:00:00Z",
		UpdatedAt:      "2025-03-01T12:00:00Z",
		HTMLURL:        fmt.Sprintf("https://github.com/orgs/acme/packages/container/app/%d", first.ID),
		Metadata:       metadataJSON{PackageType: "container", Container: containerJSON{Tags: []string{"v1"}}},
	}
	if diff := cmp.Diff(wantFirst, first); diff != "" {
		t.Errorf("version JSON (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(body), `"tags":[]`) {
		t.Errorf("untagged versions must carry tags: [], body %s", body)
	}

	// Moving the tag to a new index leaves the old one untagged.
	idx2, _, _ := pushIndex(t, e, testRepo, "v1")
	tags := map[string][]string{}
	for _, v := range e.Versions(testRepo) {
		tags[v.Digest] = v.Tags
	}
	if len(tags[idx]) != 0 || len(tags[idx2]) != 1 {
		t.Errorf("tag did not move: old %v new %v", tags[idx], tags[idx2])
	}
}

func TestListPaginationAndLinks(t *testing.T) {
	e := start(t, Options{})
	for i := range 250 {
		if _, err := e.Register(testRepo, fakeDigest(i)); err != nil {
			t.Fatal(err)
		}
	}
	base := e.URL + versionsPath(testRepo)
	tests := []struct {
		query    string
		wantLen  int
		wantLink string
		firstID  int64
	}{
		{"", 30, fmt.Sprintf(`<%s?page=2>; rel="next", <%s?page=9>; rel="last"`, base, base), 250},
		{"?per_page=500", 100, fmt.Sprintf(`<%s?page=2&per_page=500>; rel="next", <%s?page=3&per_page=500>; rel="last"`, base, base), 250},
		{"?per_page=100&page=2", 100, fmt.Sprintf(`<%s?page=1&per_page=100>; rel="prev", <%s?page=3&per_page=100>; rel="next", <%s?page=3&per_page=100>; rel="last", <%s?page=1&per_page=100>; rel="first"`, base, base, base, base), 150},
		{"?per_page=100&page=3", 50, fmt.Sprintf(`<%s?page=2&per_page=100>; rel="prev", <%s?page=1&per_page=100>; rel="first"`, base, base), 50},
		{"?per_page=100&page=7", 0, fmt.Sprintf(`<%s?page=3&per_page=100>; rel="prev", <%s?page=1&per_page=100>; rel="first"`, base, base), 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp, body := do(t, e, "GET", versionsPath(testRepo)+tt.query, testToken)
			var got []versionJSON
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.wantLen {
				t.Errorf("got %d versions, want %d", len(got), tt.wantLen)
			}
			if diff := cmp.Diff(tt.wantLink, resp.Header.Get("Link")); diff != "" {
				t.Errorf("Link (-want +got):\n%s", diff)
			}
			if len(got) > 0 && got[0].ID != tt.firstID {
				t.Errorf("first id %d, want %d (newest first)", got[0].ID, tt.firstID)
			}
		})
	}
	resp, _ := do(t, e, "GET", versionsPath("acme/small"), testToken)
	if resp.StatusCode != 404 {
		t.Errorf("unknown package: status %d, want 404", resp.StatusCode)
	}
	if _, err := e.Register("acme/small", fakeDigest(1)); err != nil {
		t.Fatal(err)
	}
	if resp, _ := do(t, e, "GET", versionsPath("acme/small"), testToken); resp.Header.Get("Link") != "" {
		t.Errorf("one page must have no Link header, got %q", resp.Header.Get("Link"))
	}
}

func TestErrorsAndOwnerKinds(t *testing.T) {
	e := start(t, Options{Users: []string{"alice"}, Tokens: map[string]int{testToken: 0}})
	if _, err := e.Register(testRepo, fakeDigest(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Register("alice/tool", fakeDigest(2)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, token string
		wantStatus        int
		wantMessage       string
	}{
		{"no token", versionsPath(testRepo), "", 401, "Requires authentication"},
		{"bad token", versionsPath(testRepo), "nope", 401, "Bad credentials"},
		{"org route", versionsPath(testRepo), testToken, 200, ""},
		{"user as org", "/orgs/alice/packages/container/tool/versions", testToken, 404, "Not Found"},
		{"user route", "/users/alice/packages/container/tool/versions", testToken, 200, ""},
		{"org as user", "/users/acme/packages/container/app/versions", testToken, 404, "Not Found"},
		{"missing package", "/orgs/acme/packages/container/nope/versions", testToken, 404, "Package not found."},
		{"missing version", "/orgs/acme/packages/container/app/versions/999", testToken, 404, "Not Found"},
		{"other package type", "/orgs/acme/packages/npm/app/versions", testToken, 404, "Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, e, "GET", tt.path, tt.token)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantMessage == "" {
				return
			}
			var ej errorJSON
			if err := json.Unmarshal(body, &ej); err != nil {
				t.Fatal(err)
			}
			if ej.Message != tt.wantMessage || !strings.HasPrefix(ej.DocumentationURL, "https://docs.github.com/") || ej.Status != strconv.Itoa(tt.wantStatus) {
				t.Errorf("body %+v, want message %q", ej, tt.wantMessage)
			}
		})
	}
}

func TestPrimaryRateLimit(t *testing.T) {
	clock := NewFakeClock(epoch)
	e := start(t, Options{Clock: clock.Now, RateLimit: 3})
	if _, err := e.Register(testRepo, fakeDigest(1)); err != nil {
		t.Fatal(err)
	}
	reset := strconv.FormatInt(epoch.Add(time.Hour).Unix(), 10)
	for i := 1; i <= 4; i++ {
		resp, body := do(t, e, "GET", versionsPath(testRepo), testToken)
		want := map[string]string{
			"X-Ratelimit-Limit": "3", "X-Ratelimit-Remaining": strconv.Itoa(max(0, 3-i)),
			"X-Ratelimit-Used": strconv.Itoa(min(i, 3)), "X-Ratelimit-Reset": reset, "X-Ratelimit-Resource": "core",
		}
		got := map[string]string{}
		for k := range want {
			got[k] = resp.Header.Get(k)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("request %d headers (-want +got):\n%s", i, diff)
		}
		wantStatus := 200
		if i == 4 {
			wantStatus = 403
		}
		if resp.StatusCode != wantStatus {
			t.Errorf("request %d: status %d, want %d: %s", i, resp.StatusCode, wantStatus, body)
		}
	}
	// Another token has its own budget.
	if resp, _ := do(t, e, "GET", versionsPath(testRepo), "other"); resp.StatusCode != 200 {
		t.Errorf("other token: status %d", resp.StatusCode)
	}
	clock.Advance(time.Hour)
	resp, _ := do(t, e, "GET", versionsPath(testRepo), testToken)
	if resp.StatusCode != 200 || resp.Header.Get("X-Ratelimit-Remaining") != "2" {
		t.Errorf("after reset: status %d remaining %q", resp.StatusCode, resp.Header.Get("X-Ratelimit-Remaining"))
	}
	if got := e.Stats().REST[EndpointList].PrimaryLimited; got != 1 {
		t.Errorf("PrimaryLimited = %d, want 1", got)
	}
}

func TestSecondaryLimitDeletes(t *testing.T) {
	clock := NewFakeClock(epoch)
	e := start(t, Options{Clock: clock.Now})
	for i := range 200 {
		if _, err := e.Register(testRepo, fakeDigest(i)); err != nil {
			t.Fatal(err)
		}
	}
	versions := e.Versions(testRepo)
	deleted := 0
	var limited *http.Response
	for _, v := range versions {
		resp, _ := do(t, e, "DELETE", fmt.Sprintf("%s/%d", versionsPath(testRepo), v.ID), testToken)
		if resp.StatusCode != 204 {
			limited = resp
			break
		}
		deleted++
		clock.Advance(100 * time.Millisecond)
	}
	if deleted != 180 {
		t.Errorf("deleted %d in a minute, want 180 (900 points at 5 a DELETE)", deleted)
	}
	if limited == nil || limited.StatusCode != 403 || limited.Header.Get("Retry-After") == "" {
		t.Fatalf("want a 403 with retry-after, got %+v", limited)
	}
	// GETs are another endpoint with their own budget.
	if resp, _ := do(t, e, "GET", versionsPath(testRepo), testToken); resp.StatusCode != 200 {
		t.Errorf("list after delete limit: status %d", resp.StatusCode)
	}
	wait, _ := strconv.Atoi(limited.Header.Get("Retry-After"))
	clock.Advance(time.Duration(wait) * time.Second)
	id := versions[deleted+1].ID
	if resp, body := do(t, e, "DELETE", fmt.Sprintf("%s/%d", versionsPath(testRepo), id), testToken); resp.StatusCode != 204 {
		t.Errorf("after retry-after: status %d: %s", resp.StatusCode, body)
	}
	st := e.Stats().REST[EndpointDelete]
	if st.PeakPoints > 900 || st.SecondaryLimited != 1 || st.PeakAsked <= 900 {
		t.Errorf("stats %+v: want peak <= 900, one refusal, asked over 900", st)
	}
}

func TestDeleteRulesAndRestore(t *testing.T) {
	clock := NewFakeClock(epoch)
	e := start(t, Options{Clock: clock.Now})
	idx1, img1, _ := pushIndex(t, e, testRepo, "v1")
	idx2, _, _ := pushIndex(t, e, testRepo, "v2")
	ids := map[string]int64{}
	for _, v := range e.Versions(testRepo) {
		ids[v.Digest] = v.ID
	}
	path := func(d string) string { return fmt.Sprintf("%s/%d", versionsPath(testRepo), ids[d]) }
	if err := e.SetDownloads(testRepo, img1, 5001); err != nil {
		t.Fatal(err)
	}
	resp, body := do(t, e, "DELETE", path(img1), testToken)
	if resp.StatusCode != 400 || !strings.Contains(string(body), MessageDownloads) {
		t.Errorf("5,000 downloads: status %d body %s", resp.StatusCode, body)
	}
	// Deleting idx1 removes it from the registry: the tag and the digest are gone.
	if resp, body := do(t, e, "DELETE", path(idx1), testToken); resp.StatusCode != 204 {
		t.Fatalf("delete: status %d: %s", resp.StatusCode, body)
	}
	if code := ociStatus(t, e, "HEAD", testRepo, "v1"); code != 404 {
		t.Errorf("tag after delete: status %d, want 404", code)
	}
	if code := ociStatus(t, e, "HEAD", testRepo, idx1); code != 404 {
		t.Errorf("digest after delete: status %d, want 404", code)
	}
	if resp, _ := do(t, e, "DELETE", path(idx1), testToken); resp.StatusCode != 404 {
		t.Errorf("second delete: status %d, want 404", resp.StatusCode)
	}
	// idx2 is now the last tagged version.
	resp, body = do(t, e, "DELETE", path(idx2), testToken)
	if resp.StatusCode != 400 || !strings.Contains(string(body), MessageLastTagged) {
		t.Errorf("last tagged: status %d body %s", resp.StatusCode, body)
	}
	// Restore within 30 days puts the manifest and its tag back.
	clock.Advance(29 * 24 * time.Hour)
	if resp, body := do(t, e, "POST", path(idx1)+"/restore", testToken); resp.StatusCode != 204 {
		t.Fatalf("restore: status %d: %s", resp.StatusCode, body)
	}
	if code := ociStatus(t, e, "GET", testRepo, "v1"); code != 200 {
		t.Errorf("tag after restore: status %d, want 200", code)
	}
	if resp, _ := do(t, e, "GET", path(idx1), testToken); resp.StatusCode != 200 {
		t.Errorf("version after restore: status %d", resp.StatusCode)
	}
	// Past 30 days the version is gone for good.
	if resp, _ := do(t, e, "DELETE", path(idx1), testToken); resp.StatusCode != 204 {
		t.Fatalf("delete again: status %d", resp.StatusCode)
	}
	clock.Advance(31 * 24 * time.Hour)
	if resp, _ := do(t, e, "POST", path(idx1)+"/restore", testToken); resp.StatusCode != 404 {
		t.Errorf("restore after 31 days: status %d, want 404", resp.StatusCode)
	}
}

func TestForbiddenVersion(t *testing.T) {
	e := start(t, Options{})
	if _, err := e.Register(testRepo, fakeDigest(1)); err != nil {
		t.Fatal(err)
	}
	if err := e.Forbid(testRepo, fakeDigest(1)); err != nil {
		t.Fatal(err)
	}
	id := e.Versions(testRepo)[0].ID
	resp, body := do(t, e, "DELETE", fmt.Sprintf("%s/%d", versionsPath(testRepo), id), testToken)
	if resp.StatusCode != 403 || resp.Header.Get("Retry-After") != "" || resp.Header.Get("X-Ratelimit-Remaining") == "0" {
		t.Errorf("forbidden: status %d headers %v body %s", resp.StatusCode, resp.Header, body)
	}
}

func ociStatus(t *testing.T, e *Emulator, method, repo, ref string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.URL+"/v2/"+repo+"/manifests/"+ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", acceptManifests)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestOCIDeleteUnsupported(t *testing.T) {
	e := start(t, Options{})
	idx, _, _ := pushIndex(t, e, testRepo, "v1")
	for _, ref := range []string{idx, "v1"} {
		if code := ociStatus(t, e, "DELETE", testRepo, ref); code != 405 {
			t.Errorf("DELETE %s: status %d, want 405", ref, code)
		}
	}
	if code := ociStatus(t, e, "GET", testRepo, "v1"); code != 200 {
		t.Errorf("tag after refused delete: status %d", code)
	}
	if got := e.Stats().OCIDeleteRefused; got != 2 {
		t.Errorf("OCIDeleteRefused = %d, want 2", got)
	}
}

func TestDeleteTagsMode(t *testing.T) {
	e := start(t, Options{RegistryDelete: DeleteTags})
	idx, _, _ := pushIndex(t, e, testRepo, "v1")
	pushIndex(t, e, testRepo, "v2")
	var id int64
	for _, v := range e.Versions(testRepo) {
		if v.Digest == idx {
			id = v.ID
		}
	}
	if resp, _ := do(t, e, "DELETE", fmt.Sprintf("%s/%d", versionsPath(testRepo), id), testToken); resp.StatusCode != 204 {
		t.Fatalf("delete: status %d", resp.StatusCode)
	}
	if code := ociStatus(t, e, "HEAD", testRepo, "v1"); code != 404 {
		t.Errorf("tag: status %d, want 404", code)
	}
	if code := ociStatus(t, e, "GET", testRepo, idx); code != 404 {
		t.Errorf("deleted digest: status %d, want 404", code)
	}
	if resp, _ := do(t, e, "POST", fmt.Sprintf("%s/%d/restore", versionsPath(testRepo), id), testToken); resp.StatusCode != 204 {
		t.Fatalf("restore: status %d", resp.StatusCode)
	}
	if code := ociStatus(t, e, "GET", testRepo, "v1"); code != 200 {
		t.Errorf("tag after restore: status %d", code)
	}
}

func TestScanLearnsExistingRegistry(t *testing.T) {
	dir := t.TempDir()
	first := start(t, Options{Dir: dir})
	idx, img, att := pushIndex(t, first, testRepo, "v1")
	first.Close()

	e := start(t, Options{Dir: dir})
	n, err := e.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("Scan added %d versions, want 3", n)
	}
	got := map[string]int{}
	for _, v := range e.Versions(testRepo) {
		got[v.Digest] = len(v.Tags)
	}
	if diff := cmp.Diff(map[string]int{idx: 1, img: 0, att: 0}, got); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
	if n, _ := e.Scan(context.Background()); n != 0 {
		t.Errorf("second Scan added %d", n)
	}
}

func TestInjectedErrorsAndLatency(t *testing.T) {
	e := start(t, Options{ErrorRate: 0.5, Seed: 7, Latency: 5 * time.Millisecond})
	if _, err := e.Register(testRepo, fakeDigest(1)); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	fails := 0
	for range 40 {
		if resp, _ := do(t, e, "GET", versionsPath(testRepo), testToken); resp.StatusCode == 500 {
			fails++
		}
	}
	if took := time.Since(began); took < 40*5*time.Millisecond {
		t.Errorf("40 requests took %v, want at least 200ms of latency", took)
	}
	if fails < 8 || fails > 32 {
		t.Errorf("%d of 40 failed at rate 0.5", fails)
	}
	if got := e.Stats().REST[EndpointList].Injected; got != fails {
		t.Errorf("Injected = %d, want %d", got, fails)
	}
}

// TestHeadByTagFromTheVersionTable checks that a HEAD by tag answered from the version table says
// what the registry says, follows a tag that moved, and stops at a delete.
func TestHeadByTagFromTheVersionTable(t *testing.T) {
	e := start(t, Options{RegistryDelete: DeleteTags})
	pushIndex(t, e, testRepo, "keep")
	idx1, _, _ := pushIndex(t, e, testRepo, "v1")
	head := func(accept string) http.Header {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodHead, e.URL+"/v2/"+testRepo+"/manifests/v1", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := http.Header{"Status": {strconv.Itoa(resp.StatusCode)}}
		for _, k := range []string{"Content-Type", "Content-Length", "Docker-Content-Digest"} {
			h.Set(k, resp.Header.Get(k))
		}
		return h
	}
	fromRegistry := func(accept string) http.Header {
		t.Helper()
		rec := e.call(t.Context(), http.MethodHead, "/v2/"+testRepo+"/manifests/v1", http.Header{"Accept": {accept}}, nil)
		h := http.Header{"Status": {strconv.Itoa(rec.Code)}}
		for _, k := range []string{"Content-Type", "Content-Length", "Docker-Content-Digest"} {
			h.Set(k, rec.Header().Get(k))
		}
		return h
	}
	for _, accept := range []string{acceptManifests, "application/vnd.oci.image.index.v1+json;q=0.9"} {
		if diff := cmp.Diff(fromRegistry(accept), head(accept)); diff != "" {
			t.Errorf("HEAD with Accept %q (-registry +emulator):\n%s", accept, diff)
		}
	}
	if got := head(acceptManifests).Get("Docker-Content-Digest"); got != idx1 {
		t.Errorf("digest %s, want %s", got, idx1)
	}
	if n := e.Stats().OCIHeadsFromTable; n != 3 {
		t.Errorf("%d HEADs answered from the version table, want 3", n)
	}
	// An Accept without the index's media type goes to the registry, which answers as it does.
	docker := "application/vnd.docker.distribution.manifest.v2+json"
	if diff := cmp.Diff(fromRegistry(docker), head(docker)); diff != "" {
		t.Errorf("HEAD with Accept %q (-registry +emulator):\n%s", docker, diff)
	}
	if n := e.Stats().OCIHeadsFromTable; n != 3 {
		t.Errorf("%d HEADs answered from the version table, want 3", n)
	}
	idx2, _, _ := pushIndex(t, e, testRepo, "v1")
	if got := head(acceptManifests).Get("Docker-Content-Digest"); got != idx2 {
		t.Errorf("digest after the tag moved %s, want %s", got, idx2)
	}
	var id int64
	for _, v := range e.Versions(testRepo) {
		if v.Digest == idx2 {
			id = v.ID
		}
	}
	if resp, body := do(t, e, "DELETE", fmt.Sprintf("%s/%d", versionsPath(testRepo), id), testToken); resp.StatusCode != 204 {
		t.Fatalf("delete: status %d: %s", resp.StatusCode, body)
	}
	if got := head(acceptManifests).Get("Status"); got != "404" {
		t.Errorf("HEAD after delete: status %s, want 404", got)
	}
}
