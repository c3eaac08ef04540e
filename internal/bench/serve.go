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
func benchServe(ctx context.Context, args []string) error {
	fs := newFlags("serve")
	scale := fs.Float64("scale", 1, "fraction of the case (1 = 133,425 tags)")
	dir := fs.String("dir", "", "registry storage on disk, reused between runs (default: in memory, filled now)")
	fs.Parse(args) //nolint:errcheck // ExitOnError

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
