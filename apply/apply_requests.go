package apply

import (
	"context"
	"io"
	"sync/atomic"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry"
)

// Requests counts the calls Apply, Undo or Verify made to the registry, by kind. The transport
// below may retry a call; its own counter counts HTTP requests.
type Requests struct {
	Lists     int `json:"lists"`
	Resolves  int `json:"resolves"`
	Fetches   int `json:"fetches"`
	Deletes   int `json:"deletes"`
	Pushes    int `json:"pushes"`
	BlobHeads int `json:"blob_heads"`
}

// Total is the number of calls.
func (r Requests) Total() int {
	return r.Lists + r.Resolves + r.Fetches + r.Deletes + r.Pushes + r.BlobHeads
}

// countingTarget counts the calls made through a registry.Target.
type countingTarget struct {
	registry.Target
	lists, resolves, fetches, deletes, pushes, blobHeads atomic.Int64
}

var _ registry.Target = (*countingTarget)(nil)

func (c *countingTarget) counts() Requests {
	return Requests{
		Lists:     int(c.lists.Load()),
		Resolves:  int(c.resolves.Load()),
		Fetches:   int(c.fetches.Load()),
		Deletes:   int(c.deletes.Load()),
		Pushes:    int(c.pushes.Load()),
		BlobHeads: int(c.blobHeads.Load()),
	}
}

// ListTags implements registry.Lister.
func (c *countingTarget) ListTags(ctx context.Context, repo string, fn func(tags []string) error) error {
	c.lists.Add(1)
	return c.Target.ListTags(ctx, repo, fn)
}

// Resolve implements registry.Resolver.
func (c *countingTarget) Resolve(ctx context.Context, repo, ref string) (inventory.Descriptor, error) {
	c.resolves.Add(1)
	return c.Target.Resolve(ctx, repo, ref)
}

// FetchManifest implements registry.ManifestFetcher.
func (c *countingTarget) FetchManifest(ctx context.Context, repo, ref string) ([]byte, inventory.Descriptor, error) {
	c.fetches.Add(1)
	return c.Target.FetchManifest(ctx, repo, ref)
}

// FetchBlob implements registry.BlobFetcher.
func (c *countingTarget) FetchBlob(ctx context.Context, repo, digest string) (io.ReadCloser, error) {
	c.fetches.Add(1)
	return c.Target.FetchBlob(ctx, repo, digest)
}

// BlobExists implements registry.BlobFetcher.
func (c *countingTarget) BlobExists(ctx context.Context, repo, digest string) (bool, error) {
	c.blobHeads.Add(1)
	return c.Target.BlobExists(ctx, repo, digest)
}

// DeleteManifest implements registry.Deleter.
func (c *countingTarget) DeleteManifest(ctx context.Context, repo, ref string) error {
	c.deletes.Add(1)
	return c.Target.DeleteManifest(ctx, repo, ref)
}

// PushManifest implements registry.ManifestPusher.
func (c *countingTarget) PushManifest(ctx context.Context, repo, ref, mediaType string, raw []byte) error {
	c.pushes.Add(1)
	return c.Target.PushManifest(ctx, repo, ref, mediaType, raw)
}
