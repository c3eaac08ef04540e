// Package registry is regtidy's client for the OCI Distribution API: the narrow ports the rest of
// regtidy needs (list tags, resolve, fetch manifests and blobs, delete, push), implemented over HTTP
// with go-containerregistry's authentication and a RoundTripper stack (package registry/transport)
// that retries, bounds concurrency and counts requests.
package registry

import (
	"context"
	"errors"
	"io"

	"github.com/regtidy/regtidy/inventory"
)

// Sentinel errors. Errors returned by the client wrap one of these where it applies, so callers
// test with errors.Is.
var (
	// ErrNotFound: the tag, manifest or blob does not exist (HTTP 404, or MANIFEST_UNKNOWN /
	// BLOB_UNKNOWN / NAME_UNKNOWN). It is inventory.ErrNotFound, so that package's Build knows a
	// vanished tag without being told.
	ErrNotFound = inventory.ErrNotFound
	// ErrUnauthorized: the credentials were refused or are missing (HTTP 401, or 403 on auth).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrUnsupported: the registry does not support the operation (HTTP 405, UNSUPPORTED), e.g.
	// manifest DELETE on ghcr.io or on a registry with delete disabled.
	ErrUnsupported = errors.New("operation unsupported by the registry")
)

// AcceptManifest lists the manifest media types regtidy asks for, OCI and Docker alike.
var AcceptManifest = []string{
	inventory.MediaTypeOCIIndex,
	inventory.MediaTypeOCIManifest,
	inventory.MediaTypeDockerList,
	inventory.MediaTypeDockerManifest,
}

// Lister lists the tags of a repository. fn is called once per page received, in order; returning
// an error from fn stops the listing and returns that error.
type Lister interface {
	ListTags(ctx context.Context, repo string, fn func(tags []string) error) error
}

// Resolver resolves a tag or digest to the descriptor of the manifest it names (HEAD).
// A missing tag returns an error wrapping ErrNotFound.
type Resolver interface {
	Resolve(ctx context.Context, repo, ref string) (inventory.Descriptor, error)
}

// ManifestFetcher fetches a manifest by tag or digest (GET), returning its raw bytes and descriptor.
// Fetching by digest verifies the bytes against the digest.
type ManifestFetcher interface {
	FetchManifest(ctx context.Context, repo, ref string) ([]byte, inventory.Descriptor, error)
}

// BlobFetcher opens a blob by digest. BlobExists checks one by HEAD.
type BlobFetcher interface {
	FetchBlob(ctx context.Context, repo, digest string) (io.ReadCloser, error)
	BlobExists(ctx context.Context, repo, digest string) (bool, error)
}

// Deleter deletes a manifest reference. ref is a tag (removes only that tag, where the registry
// supports tag deletion) or a digest (removes the manifest and every tag pointing at it).
// Deleting something already gone returns an error wrapping ErrNotFound.
type Deleter interface {
	DeleteManifest(ctx context.Context, repo, ref string) error
}

// ManifestPusher uploads a manifest under a tag or its digest.
type ManifestPusher interface {
	PushManifest(ctx context.Context, repo, ref, mediaType string, raw []byte) error
}

// Target is everything regtidy does with one registry.
type Target interface {
	Lister
	Resolver
	ManifestFetcher
	BlobFetcher
	Deleter
	ManifestPusher
}
