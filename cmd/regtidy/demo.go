package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/examples"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/report"
)

type demoOptions struct {
	scale float64
	seed  int64
	keep  bool
	ghcr  bool
	now   string
}

// present is the demo world's present: --now, or the case's own date. It is fixed, never the
// wall clock, so that the demo tells the same story (and deletes the same images) on every day.
func (do *demoOptions) present() (time.Time, error) {
	if do.now == "" {
		return regtest.DefaultCaseNow, nil
	}
	t, err := time.Parse(time.RFC3339, do.now)
	if err != nil {
		return time.Time{}, usageError(fmt.Errorf("--now: %w", err))
	}
	return t.UTC().Truncate(time.Second), nil
}

func newDemoCmd(o *rootOptions) *cobra.Command {
	do := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run regtidy end to end on an embedded registry filled in the shape of the case",
		Long: `demo builds the case regtidy was born from on this machine, in a temporary directory:
a real registry (distribution v3, in-process on 127.0.0.1) holding per-commit SWE-bench, commit0,
gaia and python-nodejs images, buildcache and legacy tags, every image a multi-arch index with an
attestation manifest; the SDK's git history those images were built from; and a bucket folder of
evaluation-run metadata. Then it runs what a user would: report, plan with
examples/openhands.yaml, explain, apply, report again and verify. It removes everything it made.

With --ghcr the registry is an emulated ghcr.io: the GitHub Packages REST API in front of the same
registry, with a personal token's budgets, on an emulated clock. The story is the one of a
nightly job: the versions model, a plan's cost in REST requests and hours, apply over several
nights that each stop at their budget, a repeat listing that the state file makes cheap, verify,
and undo through GitHub's restore.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if do.ghcr {
				return o.runDemoGHCR(cmd.Context(), do)
			}
			return o.runDemo(cmd.Context(), do)
		},
	}
	f := cmd.Flags()
	f.Float64Var(&do.scale, "scale", 0.02, "fraction of the case's 133,425 tags to push (1 = full scale)")
	f.Int64Var(&do.seed, "seed", 1, "seed of the generated case")
	f.BoolVar(&do.keep, "keep", false, "keep the demo's directory (git repository, run metadata, plan, journal)")
	f.BoolVar(&do.ghcr, "ghcr", false, "run the demo on an emulated ghcr.io: package versions, REST budgets, nightly runs, on an emulated clock")
	f.StringVar(&do.now, "now", "", "the demo world's present, RFC 3339 (default: the case's date, "+regtest.DefaultCaseNow.Format(time.RFC3339)+")")
	o.addFormatFlag(cmd, "output", "o")
	return cmd
}

func (o *rootOptions) runDemo(ctx context.Context, do *demoOptions) error {
	if err := o.checkFormat(); err != nil {
		return err
	}
	// The registry runs in this process, and distribution allocates a 4 MiB buffer for every blob
	// it serves: give the garbage collector room so the demo measures regtidy, not the GC.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	dir, done, err := o.demoDir(do, "regtidy-demo-")
	if err != nil {
		return err
	}
	defer done()
	say := func(format string, a ...any) { fmt.Fprintf(o.stdout, format+"\n", a...) }

	now, err := do.present()
	if err != nil {
		return err
	}
	start := time.Now()
	pr := o.newProgress()
	w, err := regtest.NewWorld(ctx, regtest.WorldSpec{
		Dir: dir, Scale: do.scale, Seed: do.seed, Now: now, BaseRepository: "openhands/eval-base",
		Progress: func(done, total int) { pr.update("push", done, total) },
	})
	pr.wait()
	if err != nil {
		return err
	}
	defer w.Close()
	c := w.Case
	live := 0
	for _, r := range w.Runs {
		if r.Live() {
			live++
		}
	}
	say("== The case, at scale %g, made in %s", do.scale, time.Since(start).Round(time.Millisecond))
	say("registry   %s: %d tags, %d manifests, %d blobs over %d SDK commits", w.Repository(), c.Totals.Tags, c.Totals.Manifests, c.Totals.Blobs, c.Totals.Commits)
	say("git        %s: the SDK's main branch, %d first-parent commits (and merged pull requests)", w.GitDir, len(c.Commits))
	say("runs       %s: %d evaluation runs, %d of them live", w.RunsDir, len(w.Runs), live)

	polPath, pol, err := demoPolicy(w, dir)
	if err != nil {
		return err
	}
	client, err := o.client()
	if err != nil {
		return err
	}
	repo := w.Repository()

	say("\n== regtidy report %s --policy examples/openhands.yaml\n", repo)
	l, err := o.listRepo(ctx, client, repo)
	if err != nil {
		return err
	}
	ropt := report.Options{GroupBy: "sdk"}
	ropt.History = o.history(ctx, pol, &reportOptions{ropt: ropt})
	if err := o.writeReport(report.Compute(l.inv, pol.Scheme, ropt), l); err != nil {
		return err
	}
	say("\n(listed, resolved and fetched in %s: %d requests, %d manifest GETs, %d config GETs)",
		l.build.TotalDuration.Round(time.Millisecond), l.stats.Total(), l.build.ManifestGets, l.build.ConfigGets)

	say("\n== regtidy plan %s --policy examples/openhands.yaml -o plan.json\n", repo)
	planPath := filepath.Join(dir, "plan.json")
	p, err := o.makePlan(ctx, client, repo, &planFlags{policy: polPath, mode: "auto", now: w.Now.Format(time.RFC3339)})
	if err != nil {
		return err
	}
	if err := p.WriteFile(planPath); err != nil {
		return err
	}
	if err := o.writePlanSummary(p); err != nil {
		return err
	}
	if err := o.demoExplain(p); err != nil {
		return err
	}

	say("\n== regtidy apply plan.json\n")
	journal := filepath.Join(dir, "plan.journal.jsonl")
	if err := o.applyPlan(ctx, client, p, &applyFlags{journal: journal, concurrency: 8}); err != nil {
		return err
	}

	say("\n== regtidy report %s (after apply)\n", repo)
	l, err = o.listRepo(ctx, client, repo)
	if err != nil {
		return err
	}
	after := report.Compute(l.inv, pol.Scheme, report.Options{})
	say("tags: %d before, %d after", c.Totals.Tags, after.Tags)
	for _, k := range after.Kinds {
		say("  %-12s %d", k.Kind, k.Tags)
	}
	if after.Group != nil {
		say("distinct sdk commits: %d", after.Group.Distinct)
	}

	say("\n== regtidy verify %s --plan plan.json\n", repo)
	res, err := apply.VerifyPlan(ctx, client, p, apply.VerifyOptions{})
	if err != nil {
		return err
	}
	say("checked %d kept tags, %d manifests, %d blobs: %d broken", res.Tags, res.Manifests, res.Blobs, len(res.Broken))
	if !res.OK() {
		return fmt.Errorf("verify found %d broken tags after apply", len(res.Broken))
	}
	if err := o.demoCompose(ctx, w, dir); err != nil {
		return err
	}
	o.printStats(client)
	return nil
}

// demoPolicy writes examples/openhands.yaml, its sources pointed at the world's git repository
// and run metadata, into dir, and loads it.
func demoPolicy(w *regtest.World, dir string) (string, *policy.Policy, error) {
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

// demoDir makes the demo's temporary directory and keeps the manifest cache in it unless
// --cache-dir says otherwise. done removes the directory or, with --keep, says where it is.
func (o *rootOptions) demoDir(do *demoOptions, prefix string) (dir string, done func(), err error) {
	dir, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	if o.cacheDir == "" {
		o.cacheDir = filepath.Join(dir, "cache")
	}
	return dir, func() {
		if do.keep {
			fmt.Fprintf(o.stdout, "\nthe demo's files are in %s\n", dir)
			return
		}
		os.RemoveAll(dir)
	}, nil
}

// demoCompose builds the thin images of a new SDK commit over the world's base images: one
// shared layer on each base, composed in the registry.
func (o *rootOptions) demoCompose(ctx context.Context, w *regtest.World, dir string) error {
	sdk := filepath.Join(dir, "agent-server")
	for i := range 20 {
		p := filepath.Join(sdk, "lib", fmt.Sprintf("module%02d.py", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		body := fmt.Sprintf("# agent server module %d\n%s", i, strings.Repeat("x = 1\n", 2000))
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return err
		}
	}
	base := w.Registry.Host + "/" + w.Case.BaseRepository
	cf := &composeFlags{
		baseRepo:  base,
		baseMatch: `(?P<df>[0-9a-f]{7})-(?P<custom>sweb\.eval\..+)`,
		repo:      w.Repository(),
		tag:       "{sdk}-{df}-{custom}-source-minimal",
		fields:    []string{"sdk=c0ffee1"},
		layerDir:  sdk,
		at:        "/agent-server",
		env:       []string{"AGENT_SERVER=/agent-server"},
		created:   w.Now.Format(time.RFC3339),
	}
	cf.shard = "1/10"
	fmt.Fprintf(o.stdout, "\n== regtidy compose --base-repo %s --base-match ... --layer-dir ./agent-server --at /agent-server --shard 1/10 (new SDK commit c0ffee1)\n\n", base)
	// One line per image goes to a file; the demo shows the summary.
	var out bytes.Buffer
	stdout := o.stdout
	o.stdout = &out
	err := o.runCompose(ctx, cf, nil)
	o.stdout = stdout
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	listing := filepath.Join(dir, "compose.txt")
	if werr := os.WriteFile(listing, out.Bytes(), 0o644); werr != nil && err == nil {
		err = werr
	}
	for _, l := range lines[max(0, len(lines)-4):] {
		fmt.Fprintln(o.stdout, l)
	}
	fmt.Fprintf(o.stdout, "(the demo's base images are a few KiB each; the case's are 1.38 GB, which a thin image never uploads again)\n")
	return err
}

// demoExplain shows `regtidy explain` for one kept and one deleted image tag of the plan.
func (o *rootOptions) demoExplain(p *plan.Plan) error {
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
		fmt.Fprintf(o.stdout, "\n== regtidy explain plan.json %s\n\n", d.Tags[0])
		if err := p.WriteDecision(o.stdout, *d); err != nil {
			return err
		}
	}
	return nil
}
