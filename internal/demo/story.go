package demo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/regtidy/regtidy"
	"github.com/regtidy/regtidy/compose"
	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/plan"

	"github.com/google/go-containerregistry/pkg/name"
)

// Run tells the OCI story on the registry start returns: the case at c.Scale, then what a user
// would run: report, plan with examples/openhands.yaml, explain, apply, report again, verify and
// compose. It removes everything it made unless c.Keep.
func Run(ctx context.Context, c *Config, start func(context.Context) (*Registry, error)) error {
	// The registry runs in this process and allocates a buffer for every blob it serves: give
	// the garbage collector room so the demo measures regtidy, not the GC.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	dir, done, err := Dir(c, "regtidy-demo-")
	if err != nil {
		return err
	}
	defer done()
	began := time.Now()
	reg, err := start(ctx)
	if err != nil {
		return fmt.Errorf("starting the demo's registry: %w", err)
	}
	defer reg.Close()
	w, err := casegen.MakeWorld(ctx, reg.Host, casegen.WorldSpec{
		Dir: dir, Scale: c.Scale, Seed: c.Seed, Now: c.Present(), BaseRepository: "openhands/eval-base",
		Progress: c.progress("push"),
	})
	c.wait()
	if err != nil {
		return err
	}
	cs := w.Case
	c.say("== The case, at scale %g, made in %s", c.Scale, time.Since(began).Round(time.Millisecond))
	c.say("registry   %s: %d tags, %d manifests, %d blobs over %d SDK commits", w.Repository(), cs.Totals.Tags, cs.Totals.Manifests, cs.Totals.Blobs, cs.Totals.Commits)
	c.say("           served by %s", reg.Name)
	c.say("git        %s: the SDK's main branch, %d first-parent commits (and merged pull requests)", w.GitDir, len(cs.Commits))
	c.say("runs       %s: %d evaluation runs, %d of them live", w.RunsDir, len(w.Runs), Live(w))

	polPath, pol, err := Policy(w, dir)
	if err != nil {
		return err
	}
	repo := w.Repository()

	c.say("\n== regtidy report %s --policy examples/openhands.yaml\n", repo)
	if err := c.Report(ctx, repo, pol); err != nil {
		return err
	}

	c.say("\n== regtidy plan %s --policy examples/openhands.yaml --out plan.json\n", repo)
	p, err := regtidy.Plan(ctx, repo, regtidy.PlanOptions{Options: c.Options, PolicyFile: polPath, Now: w.Now, Mode: plan.ModeAuto})
	c.wait()
	if err != nil {
		return err
	}
	if err := p.WriteFile(filepath.Join(dir, "plan.json")); err != nil {
		return err
	}
	if err := c.WritePlan(p); err != nil {
		return err
	}
	if err := Explain(c.Stdout, p); err != nil {
		return err
	}

	c.say("\n== regtidy apply plan.json\n")
	res, err := regtidy.Apply(ctx, p, regtidy.ApplyOptions{Options: c.Options, Journal: filepath.Join(dir, "plan.journal.jsonl"), DeleteConcurrency: 8})
	c.wait()
	if res != nil {
		if werr := c.WriteApply(res); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		return err
	}
	if reg.AfterApply != "" && !c.JSON {
		c.say("on this registry: %s", reg.AfterApply)
	}

	c.say("\n== regtidy report %s (after apply)\n", repo)
	after, err := c.ReportAfter(ctx, repo, pol, cs.Totals.Tags)
	if err != nil {
		return err
	}
	if after.Group != nil {
		c.say("distinct sdk commits: %d", after.Group.Distinct)
	}
	if err := c.Verify(ctx, repo, p); err != nil {
		return err
	}
	return c.compose(ctx, w, dir)
}

// progress returns the phase's progress function, or nil.
func (c *Config) progress(phase string) func(done, total int) {
	if c.Options.Progress == nil {
		return nil
	}
	return func(done, total int) { c.Options.Progress(phase, done, total) }
}

// compose builds the thin images of a new SDK commit over the world's base images: one shared
// layer on each base, composed in the registry.
func (c *Config) compose(ctx context.Context, w *casegen.World, dir string) error {
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
	base := w.Host + "/" + w.Case.BaseRepository
	c.say("\n== regtidy compose --base-repo %s --base-match ... --layer-dir ./agent-server --at /agent-server --shard 1/10 (new SDK commit c0ffee1)\n", base)
	baseRepo, err := name.NewRepository(base, name.Insecure)
	if err != nil {
		return err
	}
	target, err := name.NewRepository(w.Repository(), name.Insecure)
	if err != nil {
		return err
	}
	match, err := compose.CompileMatch(`(?P<df>[0-9a-f]{7})-(?P<custom>sweb\.eval\..+)`)
	if err != nil {
		return err
	}
	tmpl, err := compose.ParseTemplate("{sdk}-{df}-{custom}-source-minimal")
	if err != nil {
		return err
	}
	shard, err := compose.ParseShard("1/10")
	if err != nil {
		return err
	}
	mtime, _, err := compose.SourceDateEpoch()
	if err != nil {
		return err
	}
	layer, err := compose.BuildLayer(ctx, compose.Dir(sdk), compose.LayerOptions{At: "/agent-server", ModTime: mtime})
	if err != nil {
		return err
	}
	defer layer.Close()
	// A client of its own, so that the report counts compose's requests only.
	opts := c.Options
	opts.Client = nil
	rep, err := regtidy.Compose(ctx, regtidy.ComposeOptions{
		Options: opts, BaseRepo: &baseRepo, Match: match, Target: target, Template: tmpl,
		Fields: map[string]string{"sdk": "c0ffee1"}, Shard: shard,
		Image: compose.Options{
			Layer: layer, Env: []string{"AGENT_SERVER=/agent-server"}, Created: w.Now,
			CreatedBy: "COPY /agent-server (regtidy compose)",
		},
	})
	c.wait()
	if rep == nil {
		return err
	}
	// One line per image goes to a file; the demo shows the summary.
	var out bytes.Buffer
	if werr := regtidy.WriteComposeText(&out, rep, false); werr != nil && err == nil {
		err = werr
	}
	if werr := os.WriteFile(filepath.Join(dir, "compose.txt"), out.Bytes(), 0o644); werr != nil && err == nil {
		err = werr
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	for _, l := range lines[max(0, len(lines)-4):] {
		fmt.Fprintln(c.Stdout, l)
	}
	c.say("(the demo's base images are a few KiB each; the case's are 1.38 GB, which a thin image never uploads again)")
	return err
}
