package report_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob/fileblob"

	"github.com/regtidy/regtidy/examples"
	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/registry"
	"github.com/regtidy/regtidy/report"
	"github.com/regtidy/regtidy/source"
)

// caseNow is the present of the case fixtures: the newest push, the newest run, the plan's now.
var caseNow = time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC)

// caseFixture is the case at one scale with everything the pages show: the report (with commit
// order from the SDK's git history and the tag list) and the example policy's plan, made with
// its real keep sources (the git repository and the run metadata bucket).
type caseFixture struct {
	Case   *casegen.Case
	Inv    *inventory.Inventory
	Report *report.Report
	Plan   *plan.Plan
}

// newCaseFixture makes the case's world at scale: the SDK history, the repository and the run
// metadata. With inMemory the repository is the case's content held in memory
// (casegen.MaterializeCase) and read through the same inventory.Build; otherwise it is filled
// into the in-process distribution registry and listed over HTTP.
func newCaseFixture(tb testing.TB, scale float64, inMemory bool) *caseFixture {
	tb.Helper()
	ctx := context.Background()
	start := time.Now()
	dir := tb.TempDir()
	gitDir, runsDir := filepath.Join(dir, "software-agent-sdk"), filepath.Join(dir, "evaluation-results")
	n := max(casegen.MinCaseCommits, int(float64(casegen.FullCommits)*scale+0.5))
	step := (casegen.CasePeriod / time.Duration(n)).Truncate(time.Second)
	commits, err := casegen.MakeGitHistory(gitDir, n, caseNow.Add(-casegen.CasePeriod), step)
	if err != nil {
		tb.Fatal(err)
	}
	spec := casegen.CaseSpec{Scale: scale, Seed: 3, Now: caseNow, Commits: commits, Referrers: 8}
	var (
		c    *casegen.Case
		src  inventory.Source
		repo string
	)
	if inMemory {
		var cc *casegen.CaseContent
		if c, cc, err = casegen.MaterializeCase(spec); err != nil {
			tb.Fatal(err)
		}
		src, repo = memSource{cc}, "memory/"+c.Repository
	} else {
		reg, err := regtest.Start(ctx, regtest.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { reg.Close() })
		if c, err = casegen.FillCase(ctx, reg.Host, spec); err != nil {
			tb.Fatal(err)
		}
		src, repo = registry.New(), reg.Host+"/"+c.Repository
	}
	tb.Logf("case at scale %v: %d tags made in %s", scale, len(c.Tags), time.Since(start).Round(time.Millisecond))
	inv, _, err := inventory.Build(ctx, src, repo, inventory.BuildOptions{
		IsNotFound: func(err error) bool { return errors.Is(err, registry.ErrNotFound) || errors.Is(err, os.ErrNotExist) },
		Now:        func() time.Time { return caseNow }})
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(runsDir, 0o755); err != nil {
		tb.Fatal(err)
	}
	bucket, err := fileblob.OpenBucket(runsDir, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer bucket.Close()
	if err := casegen.WriteRuns(ctx, bucket, casegen.CaseRuns(c, caseNow, 3)); err != nil {
		tb.Fatal(err)
	}
	w := &casegen.World{GitDir: gitDir, RunsDir: runsDir}
	polText, err := w.Policy(examples.OpenHands)
	if err != nil {
		tb.Fatal(err)
	}
	pol, err := policy.Parse("openhands.yaml", polText)
	if err != nil {
		tb.Fatal(err)
	}
	keep, err := policy.Resolve(ctx, pol, source.Loader{CacheDir: filepath.Join(dir, "git-cache")}, caseNow)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := policy.Evaluate(inv, pol, keep, caseNow)
	if err != nil {
		tb.Fatal(err)
	}
	p.Cost = plan.EstimateCost(p, plan.ModeAuto)
	h := &report.History{Repo: gitDir, Branch: "main"}
	for i := len(commits) - 1; i >= 0; i-- {
		h.Commits = append(h.Commits, report.Commit{SHA: commits[i].SHA, Time: commits[i].Time})
	}
	tb.Logf("inventory, keep sources and plan in %s", time.Since(start).Round(time.Millisecond))
	r := report.Compute(inv, pol.Scheme, report.Options{History: h, TagList: true})
	return &caseFixture{Case: c, Inv: inv, Report: r, Plan: p}
}

// memSource serves casegen.CaseContent as inventory.Build reads a registry.
type memSource struct{ cc *casegen.CaseContent }

func (m memSource) ListTags(_ context.Context, _ string, fn func([]string) error) error {
	tags := make([]string, 0, len(m.cc.Tags))
	for t := range m.cc.Tags {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	return fn(tags)
}

func (m memSource) desc(ref string) (inventory.Descriptor, CaseDoc, error) {
	d := ref
	if !strings.HasPrefix(ref, "sha256:") {
		d = m.cc.Tags[ref]
	}
	doc, ok := m.cc.Manifests[d]
	if !ok {
		return inventory.Descriptor{}, CaseDoc{}, os.ErrNotExist
	}
	return inventory.Descriptor{MediaType: doc.MediaType, Digest: d, Size: int64(len(doc.Data))}, CaseDoc(doc), nil
}

// CaseDoc is a manifest of the case's content.
type CaseDoc casegen.CaseManifest

func (m memSource) Resolve(_ context.Context, _, ref string) (inventory.Descriptor, error) {
	d, _, err := m.desc(ref)
	return d, err
}

func (m memSource) FetchManifest(_ context.Context, _, ref string) ([]byte, inventory.Descriptor, error) {
	d, doc, err := m.desc(ref)
	return doc.Data, d, err
}

func (m memSource) FetchBlob(_ context.Context, _, digest string) (io.ReadCloser, error) {
	b, ok := m.cc.Blobs[digest]
	if !ok {
		return nil, os.ErrNotExist
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}
