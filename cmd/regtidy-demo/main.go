// Command regtidy-demo is the developers' demo of regtidy, with the test registries the regtidy
// binary does not link:
//
//	go run ./cmd/regtidy-demo oci    # the story of `regtidy demo` on distribution v3 (registry:3's server)
//	go run ./cmd/regtidy-demo ghcr   # the GitHub Container Registry story on an emulated GitHub API
//
// Both run in this process on 127.0.0.1 and remove everything they made; both call the library
// (package regtidy) as any Go program would.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/demo"
	"github.com/regtidy/regtidy/internal/redact"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/registry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "regtidy-demo:", redact.Text(err.Error()))
		os.Exit(1)
	}
}

// errUsage marks a command line that could not be parsed (already reported on stderr).
var errUsage = errors.New("usage")

// flags are the demos' flags.
type flags struct {
	scale   float64
	seed    int64
	keep    bool
	now     string
	json    bool
	verbose bool
}

// run parses args ("oci" or "ghcr", then flags) and runs that demo.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "oci" && args[0] != "ghcr") {
		fmt.Fprintln(stderr, "usage: regtidy-demo oci|ghcr [--scale F] [--seed N] [--now RFC3339] [--keep] [--json] [-v]")
		return errUsage
	}
	var f flags
	fs := flag.NewFlagSet("regtidy-demo "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Float64Var(&f.scale, "scale", 0.02, "fraction of the case's 133,425 tags to push (1 = full scale)")
	fs.Int64Var(&f.seed, "seed", 1, "seed of the generated case")
	fs.BoolVar(&f.keep, "keep", false, "keep the demo's directory (git repository, run metadata, plan, journal, state)")
	fs.StringVar(&f.now, "now", "", "the demo world's present, RFC 3339 (default: the case's date, "+casegen.DefaultCaseNow.Format(time.RFC3339)+")")
	fs.BoolVar(&f.json, "json", false, "results as JSON instead of tables (oci)")
	fs.BoolVar(&f.verbose, "v", false, "log regtidy's work on stderr")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	c := &demo.Config{Stdout: stdout, Scale: f.scale, Seed: f.seed, Keep: f.keep, JSON: f.json}
	if f.now != "" {
		t, err := time.Parse(time.RFC3339, f.now)
		if err != nil {
			return fmt.Errorf("--now: %w", err)
		}
		c.Now = t
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	c.Options.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	c.Options.Client = registry.New(registry.WithLogger(c.Options.Logger))
	if args[0] == "ghcr" {
		return runGHCR(ctx, c)
	}
	return demo.Run(ctx, c, startDistribution)
}

// startDistribution starts distribution v3 in this process on 127.0.0.1, in memory.
func startDistribution(ctx context.Context) (*demo.Registry, error) {
	reg, err := regtest.Start(ctx, regtest.Options{})
	if err != nil {
		return nil, err
	}
	return &demo.Registry{Host: reg.Host, Name: "distribution v3 (the registry:3 image's server), in this process on 127.0.0.1", Close: reg.Close}, nil
}
