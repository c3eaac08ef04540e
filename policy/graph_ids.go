package policy

import (
	"runtime"
	"sync"

	"github.com/regtidy/regtidy/inventory"
)

// digestIDs maps digests to graph ids, in shards by the digest's last byte so that the cores
// can fill and read them at once: for the case's 400k manifests, building this map is most of
// building the graph.
type digestIDs struct {
	shards []map[string]int32
}

// shardOf is the shard of a digest.
func (x *digestIDs) shardOf(d string) int {
	if d == "" {
		return 0
	}
	return int(d[len(d)-1]) % len(x.shards)
}

// lookup returns a digest's id. The map is dropped once the keep verdicts are made (see
// Evaluate): a later lookup panics rather than answer "absent".
func (x *digestIDs) lookup(d string) (int32, bool) {
	i, ok := x.shards[x.shardOf(d)][d]
	return i, ok
}

// fillIDs gives the inventory's manifests the ids 0..n-1 (in the map's order) and fills the
// per-id data they carry. Each shard of the id map is filled by its own goroutine.
func (g *graph) fillIDs(inv *inventory.Inventory, extra int) {
	n := len(inv.Manifests)
	size := n + extra
	g.digests = make([]string, n, size)
	g.manifests = make([]*inventory.Manifest, n, size)
	i := 0
	for d, m := range inv.Manifests {
		g.digests[i], g.manifests[i] = d, m
		i++
	}
	g.heads = make([][2]uint64, n, size)
	shard := make([]uint8, n)
	shards := 1
	if n >= parallelMin {
		shards = min(runtime.GOMAXPROCS(0), 8)
	}
	g.id = &digestIDs{shards: make([]map[string]int32, shards)}
	inParallel(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d := g.digests[i]
			g.heads[i] = digestHead(d)
			shard[i] = uint8(g.id.shardOf(d))
		}
	})
	var wg sync.WaitGroup
	for s := range shards {
		wg.Go(func() {
			ids := make(map[string]int32, size/shards+size/(8*shards)+8)
			for i, sh := range shard {
				if int(sh) == s {
					ids[g.digests[i]] = int32(i)
				}
			}
			g.id.shards[s] = ids
		})
	}
	wg.Wait()
}

// intern returns a digest's id, giving it one if it has none. It is for the few digests the
// inventory's manifests do not cover (children missing from the registry, dangling tags), after
// fillIDs, on one goroutine.
func (g *graph) intern(d string) int32 {
	if i, ok := g.id.lookup(d); ok {
		return i
	}
	i := int32(len(g.digests))
	g.id.shards[g.id.shardOf(d)][d] = i
	g.digests = append(g.digests, d)
	g.heads = append(g.heads, digestHead(d))
	g.manifests = append(g.manifests, nil)
	return i
}
