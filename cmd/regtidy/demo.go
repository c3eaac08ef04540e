package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/regtidy/regtidy/examples"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/report"
	"github.com/spf13/cobra"
)

type demoOptions struct {
	scale float64
	seed  int64
	dir   string
}

func newDemoCmd(o *rootOptions) *cobra.Command {
	do := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run regtidy end to end on an embedded registry filled in the shape of the case",
		Long: `demo starts a real registry (distribution v3) in-process on 127.0.0.1, fills it with a
repository in the shape of the case regtidy was born from (per-commit SWE-bench, commit0, gaia and
python-nodejs images, buildcache and legacy tags; every image a multi-arch index with an
attestation manifest), reports on it, and removes everything it made.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.runDemo(cmd.Context(), do) },
	}
	f := cmd.Flags()
	f.Float64Var(&do.scale, "scale", 0.02, "fraction of the case's 133,445 tags to push (1 = full scale)")
	f.Int64Var(&do.seed, "seed", 1, "seed of the generated case")
	f.StringVar(&do.dir, "dir", "", "keep the registry's storage in this directory (default: in memory)")
	return cmd
}

func (o *rootOptions) runDemo(ctx context.Context, do *demoOptions) error {
	reg, err := regtest.Start(ctx, regtest.Options{Dir: do.dir})
	if err != nil {
		return err
	}
	defer reg.Close()
	if o.cacheDir == "" && !o.noCache {
		tmp, err := os.MkdirTemp("", "regtidy-demo-cache-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		o.cacheDir = tmp
	}

	say := func(format string, a ...any) { fmt.Fprintf(o.stdout, format+"\n", a...) }
	say("== regtidy demo: a registry on %s, filled in the shape of the case (scale %g)", reg.Host, do.scale)
	start := time.Now()
	pr := o.newProgress()
	c, err := regtest.FillCase(ctx, reg.Host, regtest.CaseSpec{
		Scale:    do.scale,
		Seed:     do.seed,
		Progress: func(done, total int) { pr.update("push", done, total) },
	})
	pr.wait()
	if err != nil {
		return err
	}
	say("pushed %d tags (%d manifests, %d blobs) over %d SDK commits in %s",
		c.Totals.Tags, c.Totals.Manifests, c.Totals.Blobs, c.Totals.Commits, time.Since(start).Round(time.Millisecond))

	pol, err := policy.Parse("examples/openhands.yaml", examples.OpenHands)
	if err != nil {
		return fmt.Errorf("embedded example policy: %w", err)
	}
	repo := reg.Host + "/" + c.Repository
	say("\n== regtidy report %s --policy examples/openhands.yaml\n", repo)
	client, err := o.client()
	if err != nil {
		return err
	}
	l, err := o.listRepo(ctx, client, repo)
	if err != nil {
		return err
	}
	if err := o.writeReport(report.Compute(l.inv, pol.Scheme, report.Options{}), l); err != nil {
		return err
	}
	say("\nlisted, resolved and fetched in %s with %d requests (%d manifest GETs, %d config GETs)",
		l.build.TotalDuration.Round(time.Millisecond), l.stats.Total(), l.build.ManifestGets, l.build.ConfigGets)
	o.printStats(client)
	return nil
}
