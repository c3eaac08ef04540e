package regtidy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/regtidy/regtidy"
	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/registry"
)

// A report of a public GHCR package needs no token: without one it reads tags and manifests
// through the registry API alone and says so; with one it also lists the package's versions.
func TestReportOfGHCRWorksWithoutAToken(t *testing.T) {
	e, err := ghcremu.Start(t.Context(), ghcremu.Options{Clock: ghcremu.NewFakeClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)).Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if _, _, _, err := casegen.PushIndex(t.Context(), e.Host, "acme/app", "v1"); err != nil {
		t.Fatal(err)
	}
	repo := e.Host + "/acme/app"
	opt := regtidy.ReportOptions{Options: regtidy.Options{NoCache: true, GHCR: regtidy.GHCROptions{API: e.URL, State: t.TempDir() + "/state.json"}}}

	t.Setenv(registry.EnvGitHubToken, "")
	t.Setenv(registry.EnvGHToken, "")
	res, err := regtidy.Report(t.Context(), repo, opt)
	if err != nil {
		t.Fatalf("report without a token: %v", err)
	}
	if res.Report.Tags != 1 || !strings.Contains(strings.Join(res.Warnings, "\n"), "no GitHub token") {
		t.Errorf("report without a token: %d tags, warnings %q", res.Report.Tags, res.Warnings)
	}
	if n := e.Stats().REST[ghcremu.EndpointList].Requests; n != 0 {
		t.Errorf("%d REST listing requests without a token", n)
	}

	t.Setenv(registry.EnvGitHubToken, "ghp_reader")
	res, err = regtidy.Report(t.Context(), repo, opt)
	if err != nil {
		t.Fatalf("report with a token: %v", err)
	}
	if strings.Contains(strings.Join(res.Warnings, "\n"), "no GitHub token") || e.Stats().REST[ghcremu.EndpointList].Requests == 0 {
		t.Errorf("report with a token: warnings %q, REST stats %+v", res.Warnings, e.Stats().REST)
	}
}
