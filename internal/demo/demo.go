// Package demo tells regtidy's story on the case it was born from, on a registry in this process:
// the case's world (casegen) filled into it, then report, plan with examples/openhands.yaml,
// explain, apply, report again, verify and compose, each through the library (package regtidy).
// It imports no registry implementation: the caller starts one and says what it is, so that
// `regtidy demo` runs it on go-containerregistry's in-memory registry and the developer command
// (cmd/regtidy-demo) on distribution v3.
package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/regtidy/regtidy"
	"github.com/regtidy/regtidy/examples"
	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/report"
)

// Registry is the registry a demo runs on, serving on a loopback port.
type Registry struct {
	// Host is "127.0.0.1:PORT".
	Host string
	// Name says what serves the registry, e.g. "distribution v3, in-process on 127.0.0.1".
	Name string
	// AfterApply, if set, is said after apply: what this registry does with what apply left
	// (untagged manifests, blobs), where that differs from the plan's advice.
	AfterApply string
	// Close stops it.
	Close func() error
}

// Config says how a demo runs.
type Config struct {
	// Stdout receives the story.
	Stdout io.Writer
	// Scale is the fraction of the case's tags to push; Seed the case's seed.
	Scale float64
	Seed  int64
	// Now is the world's present (zero: the case's own date), never the wall clock, so that the
	// demo tells the same story on any day.
	Now time.Time
	// Keep keeps the demo's directory.
	Keep bool
	// JSON writes the results as JSON instead of tables.
	JSON bool
	// Options reach the registry (Client, Logger, Progress). An empty CacheDir means a folder in
	// the demo's directory.
	Options regtidy.Options
	// Wait, if set, is called when a phase that reported Options.Progress is over (a terminal's
	// progress bars are completed there).
	Wait func()
}

// Present is the world's present: c.Now, or the case's date.
func (c *Config) Present() time.Time {
	if c.Now.IsZero() {
		return casegen.DefaultCaseNow
	}
	return c.Now.UTC().Truncate(time.Second)
}

func (c *Config) say(format string, a ...any) { fmt.Fprintf(c.Stdout, format+"\n", a...) }

func (c *Config) wait() {
	if c.Wait != nil {
		c.Wait()
	}
}

// Dir makes the demo's temporary directory and keeps the manifest cache in it unless the options
// name a cache directory. done removes the directory or, with Keep, says where it is.
func Dir(c *Config, prefix string) (dir string, done func(), err error) {
	dir, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	if c.Options.CacheDir == "" {
		c.Options.CacheDir = filepath.Join(dir, "cache")
	}
	return dir, func() {
		if c.Keep {
			fmt.Fprintf(c.Stdout, "\nthe demo's files are in %s\n", dir)
			return
		}
		os.RemoveAll(dir)
	}, nil
}

// Policy writes examples/openhands.yaml, its sources pointed at the world's git repository and
// run metadata, into dir, and loads it.
func Policy(w *casegen.World, dir string) (string, *policy.Policy, error) {
	polBytes, err := w.Policy(examples.OpenHands)
	if err != nil {
		return "", nil, err
	}
	polPath := filepath.Join(dir, "openhands.yaml")
	if err := os.WriteFile(polPath, polBytes, 0o644); err != nil {
		return "", nil, err
	}
	pol, err := policy.Load(polPath)
	return polPath, pol, err
}

// Live counts the world's live runs.
func Live(w *casegen.World) int {
	live := 0
	for _, r := range w.Runs {
		if r.Live() {
			live++
		}
	}
	return live
}

// WriteJSON writes v as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteReport writes a report as a table, or as JSON.
func (c *Config) WriteReport(res *regtidy.ReportResult) error {
	if c.JSON {
		return WriteJSON(c.Stdout, res.JSON())
	}
	return res.Report.WriteTable(c.Stdout)
}

// WritePlan writes a plan's summary and sources, or its JSON summary.
func (c *Config) WritePlan(p *plan.Plan) error {
	if c.JSON {
		return WriteJSON(c.Stdout, regtidy.SummaryOf(p))
	}
	return regtidy.WritePlanText(c.Stdout, p)
}

// WriteApply writes an apply's result as text, or as JSON.
func (c *Config) WriteApply(res *regtidy.ApplyResult) error {
	if c.JSON {
		return WriteJSON(c.Stdout, res)
	}
	return res.WriteText(c.Stdout)
}

// Explain shows `regtidy explain` for one kept (by a live run) and one deleted image tag of p.
func Explain(w io.Writer, p *plan.Plan) error {
	var kept, deleted *plan.Decision
	for i := range p.Decisions {
		d := &p.Decisions[i]
		if d.Kind != "image" || len(d.Tags) == 0 {
			continue
		}
		if d.Action == plan.Keep && kept == nil && len(d.Reasons) > 0 && d.Reasons[0].Rule == "runs" {
			kept = d
		}
		if d.Action == plan.Delete && deleted == nil {
			deleted = d
		}
	}
	for _, d := range []*plan.Decision{kept, deleted} {
		if d == nil {
			continue
		}
		fmt.Fprintf(w, "\n== regtidy explain plan.json %s\n\n", d.Tags[0])
		if err := p.WriteDecision(w, *d); err != nil {
			return err
		}
	}
	return nil
}

// Report runs the demo's first report: with the policy's scheme and the SDK history dating the
// commits, and what the listing cost.
func (c *Config) Report(ctx context.Context, repo string, pol *policy.Policy) error {
	res, err := regtidy.Report(ctx, repo, regtidy.ReportOptions{Options: c.Options, Policy: pol, Report: report.Options{GroupBy: "sdk"}})
	c.wait()
	if err != nil {
		return err
	}
	if err := c.WriteReport(res); err != nil {
		return err
	}
	l := res.Listing
	c.say("\n(listed, resolved and fetched in %s: %d requests, %d manifest GETs, %d config GETs)",
		l.Build.TotalDuration.Round(time.Millisecond), l.Requests.Total(), l.Build.ManifestGets, l.Build.ConfigGets)
	return nil
}

// ReportAfter lists repo again and says how many tags are left, by kind.
func (c *Config) ReportAfter(ctx context.Context, repo string, pol *policy.Policy, before int) (*report.Report, error) {
	l, err := regtidy.Inventory(ctx, repo, regtidy.InventoryOptions{Options: c.Options})
	c.wait()
	if err != nil {
		return nil, err
	}
	after := report.Compute(l.Inventory, pol.Scheme, report.Options{})
	c.say("tags: %d before, %d after", before, after.Tags)
	for _, k := range after.Kinds {
		c.say("  %-12s %d", k.Kind, k.Tags)
	}
	return after, nil
}

// Verify checks the plan's kept tags and says what it found; a broken tag is an error.
func (c *Config) Verify(ctx context.Context, repo string, p *plan.Plan) error {
	c.say("\n== regtidy verify %s --plan plan.json\n", repo)
	res, err := regtidy.Verify(ctx, repo, regtidy.VerifyOptions{Options: c.Options, Plan: p})
	c.wait()
	if err != nil {
		return err
	}
	c.say("checked %d kept tags, %d manifests, %d blobs: %d broken", res.Tags, res.Manifests, res.Blobs, len(res.Broken))
	if !res.OK() {
		return fmt.Errorf("verify found %d broken tags after apply", len(res.Broken))
	}
	return nil
}
