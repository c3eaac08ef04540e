package ghcr

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry"
	"github.com/regtidy/regtidy/registry/transport"
)

func TestListVersionsFetchesPagesConcurrently(t *testing.T) {
	e, clock := emulate(t, ghcremu.Options{Latency: 20 * time.Millisecond})
	idx, img, att := pushIndex(t, e, "v1")
	pushIndex(t, e, "v2")
	register(t, e, 0, 94) // 100 versions: 10 pages of 10
	c := client(t, e, clock, WithConcurrency(4))

	ids, st, err := collect(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(activeIDs(e), ids); diff != "" {
		t.Errorf("listed ids (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(ListStats{Pages: 10, Last: 10, Versions: 100}, st); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	// One request finds the package (an organization), then one per page.
	if got := c.Stats().Requests; got != 11 {
		t.Errorf("requests = %d, want 11", got)
	}
	if peak := e.Stats().PeakInFlight; peak < 2 {
		t.Errorf("peak requests in flight = %d, want pages fetched concurrently", peak)
	}
	// Index children and attestations are versions of their own; the index carries the tag.
	tags := map[string][]string{}
	_, err = c.ListVersions(t.Context(), func(vs []inventory.Version) error {
		for _, v := range vs {
			tags[v.Digest] = v.Tags
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{idx: {"v1"}, img: {}, att: {}}
	got := map[string][]string{idx: tags[idx], img: tags[img], att: tags[att]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
}

func TestTransportCounterSeesEveryRequest(t *testing.T) {
	e, clock := emulate(t, ghcremu.Options{ErrorRate: 0.1, Seed: 5})
	register(t, e, 0, 200)
	var counter transport.Counter
	c := client(t, e, clock, WithTransport(counter.Wrap(http.DefaultTransport)))
	if _, _, err := collect(t, c); err != nil {
		t.Fatal(err)
	}
	if got, want := counter.Snapshot().Total(), int64(c.Stats().Requests); got != want || want != int64(e.Stats().Total()) {
		t.Errorf("transport counted %d requests, client %d, emulator %d: want the same", got, want, e.Stats().Total())
	}
}

func TestListVersionsRetriesServerErrorsPerPage(t *testing.T) {
	e, clock := emulate(t, ghcremu.Options{ErrorRate: 0.05, Seed: 3})
	register(t, e, 0, 1000)
	c := client(t, e, clock)

	ids, st, err := collect(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(activeIDs(e), ids); diff != "" {
		t.Errorf("listed ids (-want +got):\n%s", diff)
	}
	injected := 0
	for _, es := range e.Stats().REST {
		injected += es.Injected
	}
	if injected == 0 {
		t.Fatal("no 500 was injected; the test proves nothing")
	}
	if got := c.Stats().Retries; got != injected {
		t.Errorf("retries = %d, want one per injected 500 (%d)", got, injected)
	}
	if st.Pages != 100 {
		t.Errorf("pages = %d, want 100 (a 500 retries its page, not the listing)", st.Pages)
	}
}

func TestOwnerKind(t *testing.T) {
	tests := []struct {
		name         string
		users        []string
		given        OwnerKind
		wantKind     OwnerKind
		wantRequests int
	}{
		{"organization found first", nil, OwnerUnknown, Org, 1},
		{"user found second", []string{"acme"}, OwnerUnknown, User, 2},
		{"given user", []string{"acme"}, User, User, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, clock := emulate(t, ghcremu.Options{Users: tt.users})
			register(t, e, 0, 3)
			c := client(t, e, clock, WithOwnerKind(tt.given))
			p, err := c.Package(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			want := Package{ID: p.ID, Name: "app", Owner: "acme", OwnerKind: tt.wantKind, VersionCount: 3, Visibility: "public"}
			if diff := cmp.Diff(want, p); diff != "" {
				t.Errorf("package (-want +got):\n%s", diff)
			}
			if got := c.Stats().Requests; got != tt.wantRequests {
				t.Errorf("requests = %d, want %d", got, tt.wantRequests)
			}
		})
	}
	e, clock := emulate(t, ghcremu.Options{})
	if _, err := client(t, e, clock).Package(t.Context()); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("missing package: err %v, want ErrNotFound", err)
	}
	t.Setenv("GITHUB_TOKEN", "")
	t.Setenv("GH_TOKEN", "")
	if _, err := New(testRepo, WithBaseURL(e.URL)); !errors.Is(err, ErrNoToken) {
		t.Errorf("New without a token: err %v, want ErrNoToken", err)
	}
	e, clock = emulate(t, ghcremu.Options{Tokens: map[string]int{testToken: 0}})
	register(t, e, 0, 1)
	c := client(t, e, clock, WithToken("wrong"))
	if _, err := c.Package(t.Context()); !errors.Is(err, registry.ErrUnauthorized) {
		t.Errorf("bad token: err %v, want ErrUnauthorized", err)
	}
}

func TestPrimaryBudgetWaitsForReset(t *testing.T) {
	for _, status := range []int{http.StatusForbidden, http.StatusTooManyRequests} {
		t.Run(http.StatusText(status), func(t *testing.T) { testPrimaryBudgetWaitsForReset(t, status) })
	}
}

func testPrimaryBudgetWaitsForReset(t *testing.T, status int) {
	e, clock := emulate(t, ghcremu.Options{RateLimit: 12, PrimaryStatus: status})
	register(t, e, 0, 300) // 30 pages: the budget runs out mid-listing
	c := client(t, e, clock, WithConcurrency(3))

	ids, _, err := collect(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(activeIDs(e), ids); diff != "" {
		t.Errorf("listed ids (-want +got):\n%s", diff)
	}
	if waits := c.Stats().PrimaryWaits; waits < 2 {
		t.Errorf("primary waits = %d, want at least 2 (31 requests at 12 an hour)", waits)
	}
	if elapsed := clock.Now().Sub(epoch); elapsed < 2*time.Hour || elapsed > 4*time.Hour {
		t.Errorf("listing took %v of fake time, want two resets", elapsed)
	}
	if limited := e.Stats().REST[ghcremu.EndpointList].PrimaryLimited; limited > 3*3 {
		t.Errorf("%d answers over the primary limit: the client should stop at remaining 0", limited)
	}
}

func TestSecondaryLimitBacksOff(t *testing.T) {
	for _, status := range []int{http.StatusForbidden, http.StatusTooManyRequests} {
		t.Run(http.StatusText(status), func(t *testing.T) { testSecondaryLimitBacksOff(t, status) })
	}
}

func testSecondaryLimitBacksOff(t *testing.T, status int) {
	e, clock := emulate(t, ghcremu.Options{SecondaryPoints: 20, SecondaryStatus: status})
	register(t, e, 0, 500)
	c := client(t, e, clock)

	ids, _, err := collect(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(activeIDs(e), ids); diff != "" {
		t.Errorf("listed ids (-want +got):\n%s", diff)
	}
	es := e.Stats().REST[ghcremu.EndpointList]
	if es.SecondaryLimited == 0 {
		t.Fatal("never limited: the test proves nothing")
	}
	if got := c.Stats().SecondaryLimited; got != es.SecondaryLimited || got > 16 {
		t.Errorf("client saw %d secondary-limit answers, emulator sent %d; want the same, and few", got, es.SecondaryLimited)
	}
	if es.PeakPoints > 20 {
		t.Errorf("peak points %d over the limit", es.PeakPoints)
	}
}

func TestListNewStopsAtAPageWithNothingNew(t *testing.T) {
	e, clock := emulate(t, ghcremu.Options{})
	register(t, e, 0, 95)
	known := map[int64]bool{}
	for _, id := range activeIDs(e) {
		known[id] = true
	}
	register(t, e, 95, 12) // 12 new: page 1 and 2 of 11 hold new versions
	c := client(t, e, clock, WithOwnerKind(Org))
	var got []int64
	st, err := c.ListNew(t.Context(), func(id int64) bool { return known[id] }, func(vs []inventory.Version) error {
		for _, v := range vs {
			got = append(got, v.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 12 || st.Pages != 3 {
		t.Errorf("got %d new versions in %d pages, want 12 in 3", len(got), st.Pages)
	}
	if got := c.Stats().Requests; got != 3 {
		t.Errorf("requests = %d, want 3", got)
	}
}

func TestParseLink(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]string
	}{
		{"", map[string]string{}},
		{`<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=9>; rel="last"`,
			map[string]string{"next": "https://api.github.com/x?page=2", "last": "https://api.github.com/x?page=9"}},
		{`<u?page=1>; rel="prev", <u?page=3>; rel="next", <u?page=5>; rel="last", <u?page=1>; rel="first"`,
			map[string]string{"prev": "u?page=1", "next": "u?page=3", "last": "u?page=5", "first": "u?page=1"}},
		{`<u?page=2>; rel=next`, map[string]string{"next": "u?page=2"}},
		{`garbage, <u>; title="x"`, map[string]string{}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, ParseLink(tt.in)); diff != "" {
			t.Errorf("ParseLink(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestParseRepository(t *testing.T) {
	tests := []struct {
		in, owner, name string
		wantErr         bool
	}{
		{"ghcr.io/openhands/eval-agent-server", "openhands", "eval-agent-server", false},
		{"openhands/eval-agent-server", "openhands", "eval-agent-server", false},
		{"ghcr.io/acme/team/tool:v1", "acme", "team/tool", false},
		{"127.0.0.1:5000/acme/app@sha256:abc", "acme", "app", false},
		{"ghcr.io/acme", "", "", true},
		{"app", "", "", true},
	}
	for _, tt := range tests {
		owner, name, err := ParseRepository(tt.in)
		if (err != nil) != tt.wantErr || owner != tt.owner || name != tt.name {
			t.Errorf("ParseRepository(%q) = %q, %q, %v; want %q, %q, error %v", tt.in, owner, name, err, tt.owner, tt.name, tt.wantErr)
		}
	}
}

func TestTokenFromEnv(t *testing.T) {
	tests := []struct {
		name, github, gh, custom, envName, want string
		wantErr                                 bool
	}{
		{name: "GITHUB_TOKEN first", github: "a", gh: "b", want: "a"},
		{name: "GH_TOKEN second", gh: "b", want: "b"},
		{name: "named variable only", github: "a", custom: "c", envName: "MY_TOKEN", want: "c"},
		{name: "none", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GITHUB_TOKEN", tt.github)
			t.Setenv("GH_TOKEN", tt.gh)
			t.Setenv("MY_TOKEN", tt.custom)
			got, err := TokenFromEnv(tt.envName)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("TokenFromEnv(%q) = %q, %v; want %q", tt.envName, got, err, tt.want)
			}
			if err != nil && (!errors.Is(err, ErrNoToken) || !errors.Is(err, registry.ErrUnauthorized)) {
				t.Errorf("error %v, want ErrNoToken and ErrUnauthorized", err)
			}
		})
	}
}
