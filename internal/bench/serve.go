package main

import (
	"context"
	"fmt"
	"os"
)

// benchServe fills (or reuses) the case like `bench report` does and serves it until interrupted,
// so that regtidy can be run and profiled by hand against the same registry:
//
//	go run ./internal/bench serve --scale 1 --dir /var/tmp/regtidy-bench
//	regtidy report 127.0.0.1:PORT/REPO --policy examples/openhands.yaml --memprofile mem.prof
//
// With --world it serves the world `bench memory` makes instead (registry, git history and run
// metadata, the example policy pointed at them written to DIR/openhands.yaml), so plan, apply and
// undo can be run by hand as that bench runs them.
func benchServe(ctx context.Context, args []string) error {
	fs := newFlags("serve")
	scale := fs.Float64("scale", 1, "fraction of the case (1 = 133,425 tags)")
	dir := fs.String("dir", "", "registry storage on disk, reused between runs (default: in memory, filled now)")
	world := fs.Bool("world", false, "serve the world of `bench memory` in --dir (with the policy's keep sources)")
	fs.Parse(args) //nolint:errcheck // ExitOnError

	if *world {
		return serveWorld(ctx, *dir, *scale)
	}
	reg, fc, err := startFilled(ctx, *dir, *scale)
	if err != nil {
		return err
	}
	defer reg.Close()
	fmt.Fprintf(os.Stdout, "serving %s/%s (%d tags, %d manifests); interrupt to stop\n",
		reg.Host, fc.Repository, fc.Totals.Tags, fc.Totals.Manifests)
	<-ctx.Done()
	return nil
}
