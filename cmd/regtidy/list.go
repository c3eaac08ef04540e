package main

import (
	"fmt"

	"github.com/regtidy/regtidy/internal/units"
	"github.com/regtidy/regtidy/registry"
)

// printStats writes request counts to stderr when --stats is set.
func (o *rootOptions) printStats(c *registry.Client) {
	if !o.stats {
		return
	}
	fmt.Fprintln(o.stderr)
	c.Counter().Snapshot().WriteTable(o.stderr) //nolint:errcheck // diagnostics on stderr
	if rss := peakRSS(); rss > 0 {
		fmt.Fprintf(o.stderr, "peak memory (RSS) %s\n", units.Bytes(rss))
	}
}
