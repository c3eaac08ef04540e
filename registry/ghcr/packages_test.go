package ghcr

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/regtidy/regtidy/internal/ghcremu"
)

// A glob in the package name lists the owner's packages once (100 a page) and keeps the matches.
func TestMatchPackagesListsTheOwnersPackages(t *testing.T) {
	e, clock := emulate(t, ghcremu.Options{Users: []string{"octo"}})
	for _, repo := range []string{"acme/eval-agent-server", "acme/eval-runtime", "acme/website", "octo/eval-mine"} {
		if _, err := e.Register(repo, fakeDigest(len(repo))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 150 {
		if _, err := e.Register(fmt.Sprintf("acme/tool-%03d", i), fakeDigest(1000+i)); err != nil {
			t.Fatal(err)
		}
	}
	newClient := func(pattern string) *Client {
		c, err := New(pattern, WithBaseURL(e.URL), WithToken(testToken), WithClock(clock.Now, clock.Sleep))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		pattern   string
		want      []string
		wantPages int // REST requests: the org listing's pages, plus one 404 for a user
	}{
		{e.Host + "/acme/eval-*", []string{e.Host + "/acme/eval-agent-server", e.Host + "/acme/eval-runtime"}, 2},
		{"acme/tool-14?", []string{"acme/tool-140", "acme/tool-141", "acme/tool-142", "acme/tool-143", "acme/tool-144",
			"acme/tool-145", "acme/tool-146", "acme/tool-147", "acme/tool-148", "acme/tool-149"}, 2},
		{"octo/*", []string{"octo/eval-mine"}, 2},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			if !IsPattern(tc.pattern) {
				t.Fatalf("IsPattern(%q) = false", tc.pattern)
			}
			e.ResetStats()
			got, err := MatchPackages(t.Context(), newClient(tc.pattern), tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("matched %v, want %v", got, tc.want)
			}
			if n := e.Stats().REST[ghcremu.EndpointPackages].Requests; n != tc.wantPages {
				t.Errorf("%d package listing requests, want %d", n, tc.wantPages)
			}
		})
	}
	if IsPattern(e.Host + "/acme/eval-runtime") {
		t.Error("a plain repository reads as a pattern")
	}
	_, err := MatchPackages(t.Context(), newClient("acme/nothing-*"), "acme/nothing-*")
	if err == nil || !strings.Contains(err.Error(), "matches none of the 153 container packages of acme") {
		t.Errorf("a pattern matching nothing: %v", err)
	}
}
