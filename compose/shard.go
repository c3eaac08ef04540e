package compose

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Shard is one of Count parts of the bases, numbered from 1 like a CI matrix entry ("2/8"), so
// that Count jobs given the same bases compose each base exactly once between them. A base belongs
// to the shard its reference hashes to: the assignment depends on nothing but the reference, so
// every job agrees without talking to the others. The zero Shard holds every base.
type Shard struct {
	Index int // 1..Count
	Count int
}

// ParseShard parses "i/n" with 1 <= i <= n. The empty string is the zero Shard (everything).
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{}, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	i, ierr := strconv.Atoi(is)
	n, nerr := strconv.Atoi(ns)
	if !ok || ierr != nil || nerr != nil || n < 1 || i < 1 || i > n {
		return Shard{}, fmt.Errorf("%w: %q: want i/n with 1 <= i <= n, e.g. 1/4", ErrBadShard, s)
	}
	return Shard{Index: i, Count: n}, nil
}

// String returns "i/n", or "" for the zero Shard.
func (s Shard) String() string {
	if s.Count == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Of returns the shard (1..n) that ref belongs to among n. It hashes the repository path and the
// tag or digest, not the registry host, so a mirror or another spelling of the host
// (localhost:5000 vs 127.0.0.1:5000) does not move bases between shards.
func Of(ref name.Reference, n int) int {
	if n <= 1 {
		return 1
	}
	h := fnv.New64a()
	h.Write([]byte(ref.Context().RepositoryStr()))
	h.Write([]byte{0})
	h.Write([]byte(ref.Identifier()))
	return int(h.Sum64()%uint64(n)) + 1
}

// Has reports whether the shard holds ref.
func (s Shard) Has(ref name.Reference) bool {
	return s.Count <= 1 || Of(ref, s.Count) == s.Index
}

// Select returns the bases the shard holds, in their order.
func (s Shard) Select(bases []Base) []Base {
	if s.Count <= 1 {
		return bases
	}
	var out []Base
	for _, b := range bases {
		if s.Has(b.Ref) {
			out = append(out, b)
		}
	}
	return out
}
