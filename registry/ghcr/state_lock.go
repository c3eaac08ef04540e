package ghcr

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/regtidy/regtidy/apply"
)

// LockLocation is where the lock of the state at loc lives: beside it, with ".lock" appended to
// the file's name or the object's key (a URL's query is kept).
func LockLocation(loc string) string {
	if !isURL(loc) {
		return loc + ".lock"
	}
	u, err := url.Parse(loc)
	if err != nil {
		return loc + ".lock"
	}
	u.Path += ".lock"
	return u.String()
}

// LockStore returns the store of a lock at loc: a bucket's (conditional writes) for a URL, the
// file system's otherwise.
func LockStore(loc string) apply.LockStore {
	if isURL(loc) {
		return bucketLockStore{}
	}
	return apply.FileLockStore{}
}

// bucketLockStore keeps locks as objects of a gocloud.dev bucket; keys are object URLs. Create is
// a write with IfNotExist, which the bucket refuses when the object exists.
type bucketLockStore struct{}

// Create writes the object only if it does not exist.
func (bucketLockStore) Create(ctx context.Context, key string, data []byte) error {
	bucket, k, err := openBlob(ctx, key)
	if err != nil {
		return err
	}
	defer bucket.Close()
	err = bucket.WriteAll(ctx, k, data, &blob.WriterOptions{ContentType: "application/json", IfNotExist: true})
	if gcerrors.Code(err) == gcerrors.FailedPrecondition {
		return apply.ErrLockExists
	}
	return err
}

// Read reads the object; a missing one is an error wrapping fs.ErrNotExist.
func (bucketLockStore) Read(ctx context.Context, key string) ([]byte, error) {
	bucket, k, err := openBlob(ctx, key)
	if err != nil {
		return nil, err
	}
	defer bucket.Close()
	data, err := bucket.ReadAll(ctx, k)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	return data, err
}

// Write replaces the object.
func (bucketLockStore) Write(ctx context.Context, key string, data []byte) error {
	bucket, k, err := openBlob(ctx, key)
	if err != nil {
		return err
	}
	defer bucket.Close()
	return bucket.WriteAll(ctx, k, data, &blob.WriterOptions{ContentType: "application/json"})
}

// Delete removes the object; a missing one is no error.
func (bucketLockStore) Delete(ctx context.Context, key string) error {
	bucket, k, err := openBlob(ctx, key)
	if err != nil {
		return err
	}
	defer bucket.Close()
	if err := bucket.Delete(ctx, k); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return err
	}
	return nil
}
