package ghcr

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/inventory"
)

const (
	testRepo  = "acme/app"
	testToken = "t0ken"
)

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// emulate starts an emulated ghcr.io on a fake clock.
func emulate(t *testing.T, opts ghcremu.Options) (*ghcremu.Emulator, *ghcremu.FakeClock) {
	t.Helper()
	clock := ghcremu.NewFakeClock(epoch)
	opts.Clock = clock.Now
	e, err := ghcremu.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, clock
}

// client returns a client of testRepo on the emulator, sharing its fake clock, with pages of 10.
func client(t *testing.T, e *ghcremu.Emulator, clock *ghcremu.FakeClock, opts ...Option) *Client {
	t.Helper()
	all := append([]Option{
		WithBaseURL(e.URL), WithToken(testToken), WithClock(clock.Now, clock.Sleep), WithPageSize(10),
	}, opts...)
	c, err := New("ghcr.io/"+testRepo, all...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fakeDigest(i int) string {
	sum := sha256.Sum256([]byte("v" + strconv.Itoa(i)))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// register records n versions without registry content, numbered from `from`.
func register(t *testing.T, e *ghcremu.Emulator, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := e.Register(testRepo, fakeDigest(i)); err != nil {
			t.Fatal(err)
		}
	}
}

// pushIndex pushes, through the emulator, an index of one linux/amd64 image and its buildx
// attestation manifest under tag, and returns the digests of the index, image and attestation.
func pushIndex(t *testing.T, e *ghcremu.Emulator, tag string) (idx, img, att string) {
	t.Helper()
	idx, img, att, err := casegen.PushIndex(t.Context(), e.Host, testRepo, tag)
	if err != nil {
		t.Fatal(err)
	}
	return idx, img, att
}

// activeIDs returns the ids of the emulator's active versions, sorted.
func activeIDs(e *ghcremu.Emulator) []int64 {
	var ids []int64
	for _, v := range e.Versions(testRepo) {
		if v.DeletedAt.IsZero() {
			ids = append(ids, v.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// versionsOf returns the emulator's active versions as inventory versions, newest first.
func versionsOf(e *ghcremu.Emulator) []inventory.Version {
	var out []inventory.Version
	for _, v := range e.Versions(testRepo) {
		if v.DeletedAt.IsZero() {
			out = append(out, inventory.Version{ID: v.ID, Digest: v.Digest, Tags: v.Tags, CreatedAt: v.CreatedAt})
		}
	}
	return out
}

// collect lists with ListVersions and returns the ids seen, sorted, failing on a duplicate.
func collect(t *testing.T, c *Client) ([]int64, ListStats, error) {
	t.Helper()
	seen := map[int64]bool{}
	var ids []int64
	st, err := c.ListVersions(t.Context(), func(vs []inventory.Version) error {
		for _, v := range vs {
			if seen[v.ID] {
				t.Errorf("version %d listed twice", v.ID)
			}
			seen[v.ID] = true
			ids = append(ids, v.ID)
		}
		return nil
	})
	slices.Sort(ids)
	return ids, st, err
}

func versionAt(id int64, digest string) inventory.Version {
	return inventory.Version{ID: id, Digest: digest}
}
