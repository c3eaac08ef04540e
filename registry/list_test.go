package registry_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry"
)

// tagRequests records the tags/list requests a registry receives.
type tagRequests struct {
	mu      sync.Mutex
	queries []string
}

func (r *tagRequests) record(q string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queries = append(r.queries, q)
}

func (r *tagRequests) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.queries...)
}

func isTagList(req *http.Request) bool { return strings.HasSuffix(req.URL.Path, "/tags/list") }

// pagingUnasked makes the registry page tags/list as ghcr.io does: a request without n gets n
// added, so distribution answers pages with Link headers.
func pagingUnasked(n string, rec *tagRequests, inner func(http.ResponseWriter, *http.Request) bool) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if isTagList(req) {
				rec.record(req.URL.RawQuery)
				if inner != nil && inner(w, req) {
					return
				}
				if q := req.URL.Query(); q.Get("n") == "" {
					q.Set("n", n)
					req.URL.RawQuery = q.Encode()
				}
			}
			h.ServeHTTP(w, req)
		})
	}
}

var sevenTags = []string{"a1", "b2", "c3", "d4", "e5", "f6", "g7"}

func pushSevenTags(t *testing.T, c *registry.Client, repo string) {
	t.Helper()
	img := pushImage(t, c, repo, sevenTags[0], inventory.MediaTypeOCIManifest, "seven")
	tagAll(t, c, repo, img, sevenTags[1:]...)
}

func TestListTagsAsksForEverythingAtOnce(t *testing.T) {
	rec := &tagRequests{}
	r := startRegistry(t, regtest.Options{MaxTags: 2, Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if isTagList(req) {
				rec.record(req.URL.RawQuery)
			}
			h.ServeHTTP(w, req)
		})
	}})
	c := newClient()
	repo := r.Host + "/team/app"
	pushSevenTags(t, c, repo)

	pages, err := listAll(t, c, repo)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{sevenTags}, pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{""}, rec.all()); diff != "" {
		t.Errorf("tags/list queries (-want +got):\n%s", diff)
	}
}

func TestListTagsFollowsPagesTheRegistryImposes(t *testing.T) {
	rec := &tagRequests{}
	r := startRegistry(t, regtest.Options{Wrap: pagingUnasked("3", rec, nil)})
	c := newClient()
	repo := r.Host + "/team/app"
	pushSevenTags(t, c, repo)

	pages, err := listAll(t, c, repo)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"a1", "b2", "c3"}, {"d4", "e5", "f6"}, {"g7"}}
	if diff := cmp.Diff(want, pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	if got := rec.all(); len(got) != 3 || got[0] != "" {
		t.Errorf("tags/list queries = %q, want 3, the first without n", got)
	}
}

func TestListTagsRetriesAFailedPageWithoutRestarting(t *testing.T) {
	rec := &tagRequests{}
	var failed sync.Once
	fail := func(w http.ResponseWriter, req *http.Request) bool {
		if req.URL.Query().Get("last") == "" {
			return false
		}
		hit := false
		failed.Do(func() {
			hit = true
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"errors":[{"code":"UNKNOWN","message":"storage hiccup"}]}`))
		})
		return hit
	}
	r := startRegistry(t, regtest.Options{Wrap: pagingUnasked("2", rec, fail)})
	c := newClient()
	repo := r.Host + "/team/app"
	pushSevenTags(t, c, repo)

	pages, err := listAll(t, c, repo)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pages {
		got = append(got, p...)
	}
	if diff := cmp.Diff(sevenTags, got); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if len(pages) != 4 {
		t.Errorf("pages = %d, want 4", len(pages))
	}
	first := 0
	for _, q := range rec.all() {
		if q == "" {
			first++
		}
	}
	if first != 1 {
		t.Errorf("first page requested %d times, want 1 (the listing resumed, not restarted)", first)
	}
	if n := c.Counter().Snapshot().Count(http.MethodGet, http.StatusInternalServerError); n != 1 {
		t.Errorf("GET 500 counted %d times, want 1", n)
	}
}

func TestListTagsHonoursRetryAfter(t *testing.T) {
	rec := &tagRequests{}
	var limited sync.Once
	tooMany := func(w http.ResponseWriter, _ *http.Request) bool {
		hit := false
		limited.Do(func() {
			hit = true
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		})
		return hit
	}
	r := startRegistry(t, regtest.Options{Wrap: pagingUnasked("100", rec, tooMany)})
	c := newClient()
	repo := r.Host + "/team/app"
	pushSevenTags(t, c, repo)

	start := time.Now()
	pages, err := listAll(t, c, repo)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < 900*time.Millisecond {
		t.Errorf("listing took %v, want at least the 1 s Retry-After", elapsed)
	}
	if len(pages) != 1 || len(pages[0]) != len(sevenTags) {
		t.Errorf("pages = %q, want all seven tags in one page", pages)
	}
	if n := c.Counter().Snapshot().Count(http.MethodGet, http.StatusTooManyRequests); n != 1 {
		t.Errorf("GET 429 counted %d times, want 1", n)
	}
}

// linkOverride sets the Link header of every response just before it is written.
type linkOverride struct {
	http.ResponseWriter
	link        string
	wroteHeader bool
}

func (w *linkOverride) WriteHeader(status int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.Header().Set("Link", w.link)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *linkOverride) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

func TestListTagsRefusesBadLinks(t *testing.T) {
	tests := []struct {
		name      string
		link      string
		wantPages int
	}{
		{"loop to the second page", `</v2/team/app/tags/list?n=1&last=a1>; rel="next"`, 2},
		{"same page, query reordered", `</v2/team/app/tags/list?last=a1&n=1>; rel="next"`, 2},
		{"another host", `<http://127.0.0.2:1/v2/team/app/tags/list?n=1&last=a1>; rel="next"`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startRegistry(t, regtest.Options{Wrap: func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					if isTagList(req) {
						w = &linkOverride{ResponseWriter: w, link: tt.link}
					}
					h.ServeHTTP(w, req)
				})
			}})
			c := newClient()
			repo := r.Host + "/team/app"
			pushSevenTags(t, c, repo)

			pages, err := listAll(t, c, repo)
			if !errors.Is(err, registry.ErrPaging) {
				t.Fatalf("err = %v, want ErrPaging", err)
			}
			if len(pages) != tt.wantPages {
				t.Errorf("pages received = %d, want %d", len(pages), tt.wantPages)
			}
		})
	}
}

func TestListTagsBoundsPages(t *testing.T) {
	r := startRegistry(t, regtest.Options{Wrap: pagingUnasked("1", &tagRequests{}, nil)})
	c := newClient(registry.WithMaxTagPages(3))
	repo := r.Host + "/team/app"
	pushSevenTags(t, c, repo)
	pages, err := listAll(t, c, repo)
	if !errors.Is(err, registry.ErrPaging) || len(pages) != 3 {
		t.Errorf("err = %v after %d pages, want ErrPaging after 3", err, len(pages))
	}
}

func TestListTagsStopsOnCallbackError(t *testing.T) {
	r := startRegistry(t, regtest.Options{Wrap: pagingUnasked("2", &tagRequests{}, nil)})
	c := newClient()
	repo := r.Host + "/team/app"
	pushSevenTags(t, c, repo)
	stop := errors.New("enough")
	calls := 0
	err := c.ListTags(t.Context(), repo, func([]string) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("err = %v after %d calls, want the callback's error after 1", err, calls)
	}
}

func TestListTagsUnknownRepository(t *testing.T) {
	r := startRegistry(t, regtest.Options{})
	_, err := listAll(t, newClient(), r.Host+"/no/such/repo")
	if !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	var rerr *registry.Error
	if !errors.As(err, &rerr) || rerr.Code != "NAME_UNKNOWN" || rerr.Status != http.StatusNotFound {
		t.Errorf("err = %#v, want a 404 NAME_UNKNOWN *Error", err)
	}
}
