package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/spf13/cobra"

	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/demo"
)

type demoOptions struct {
	scale float64
	seed  int64
	keep  bool
	ghcr  bool
	now   string
}

// errDemoGHCR is what `regtidy demo --ghcr` answers: the GHCR story runs on an emulator, which
// the shipped binary does not hold.
var errDemoGHCR = errors.New("the GitHub Container Registry demo runs an emulator of GitHub's API, which is not in the regtidy binary: run `go run ./cmd/regtidy-demo ghcr` from a clone of regtidy")

func newDemoCmd(o *rootOptions) *cobra.Command {
	do := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run regtidy end to end on an in-process registry filled in the shape of the case",
		Long: `demo builds the case regtidy was born from on this machine, in a temporary directory:
a registry in this process on 127.0.0.1 (go-containerregistry's in-memory registry) holding
per-commit SWE-bench, commit0, gaia and python-nodejs images, buildcache and legacy tags, every
image a multi-arch index with an attestation manifest; the SDK's git history those images were
built from; and a bucket folder of evaluation-run metadata. Then it runs what a user would:
report, plan with examples/openhands.yaml, explain, apply, report again and verify. It removes
everything it made.

The same story on distribution v3 (the registry:3 image's server), and the GitHub Container
Registry story on an emulated GitHub API, are in the developer command: go run ./cmd/regtidy-demo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if do.ghcr {
				return usageError(errDemoGHCR)
			}
			return o.runDemo(cmd.Context(), do)
		},
	}
	f := cmd.Flags()
	f.Float64Var(&do.scale, "scale", 0.02, "fraction of the case's 133,425 tags to push (1 = full scale)")
	f.Int64Var(&do.seed, "seed", 1, "seed of the generated case")
	f.BoolVar(&do.keep, "keep", false, "keep the demo's directory (git repository, run metadata, plan, journal)")
	f.BoolVar(&do.ghcr, "ghcr", false, "moved: the GitHub Container Registry demo is `go run ./cmd/regtidy-demo ghcr`")
	f.StringVar(&do.now, "now", "", "the demo world's present, RFC 3339 (default: the case's date, "+casegen.DefaultCaseNow.Format(time.RFC3339)+")")
	o.addFormatFlag(cmd, "output", "o")
	return cmd
}

// runDemo tells the demo's story (package demo) on go-containerregistry's in-memory registry.
func (o *rootOptions) runDemo(ctx context.Context, do *demoOptions) error {
	if err := o.checkFormat(); err != nil {
		return err
	}
	var now time.Time
	if do.now != "" {
		t, err := time.Parse(time.RFC3339, do.now)
		if err != nil {
			return usageError(fmt.Errorf("--now: %w", err))
		}
		now = t
	}
	client, err := o.client()
	if err != nil {
		return err
	}
	pr := o.newProgress()
	defer func() { pr.wait() }()
	c := &demo.Config{
		Stdout: o.stdout, Scale: do.scale, Seed: do.seed, Now: now, Keep: do.keep, JSON: o.output == "json",
		Options: o.options(client, nil),
		Wait:    func() { pr.wait(); pr = o.newProgress() },
	}
	c.Options.Progress = func(phase string, done, total int) { pr.update(phase, done, total) }
	if err := demo.Run(ctx, c, startMemoryRegistry); err != nil {
		return err
	}
	o.printStats(client)
	return nil
}

// startMemoryRegistry serves go-containerregistry's in-memory registry on 127.0.0.1.
func startMemoryRegistry(context.Context) (*demo.Registry, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	return &demo.Registry{
		Host: ln.Addr().String(),
		Name: "go-containerregistry's in-memory registry, in this process on 127.0.0.1 (no garbage collection)",
		AfterApply: "go-containerregistry's in-memory registry has no garbage collection: the untagged manifests and every blob stay " +
			"until the demo ends, and the advice above is for distribution. `go run ./cmd/regtidy-demo oci` runs this story on distribution v3.",
		Close: srv.Close,
	}, nil
}
