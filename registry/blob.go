package registry

import (
	"context"
	"fmt"
	"hash"
	"io"
	"net/http"

	"github.com/opencontainers/go-digest"
)

// FetchBlob opens the blob dgst of repo. The returned reader checks the bytes as they are read:
// at the end, a size or digest that does not match returns an error wrapping ErrDigestMismatch
// instead of io.EOF. A missing blob returns an error wrapping ErrNotFound. Close the reader.
func (c *Client) FetchBlob(ctx context.Context, repo, dgst string) (io.ReadCloser, error) {
	const op = "fetch blob"
	ep, d, err := c.blobEndpoint(ctx, op, repo, dgst, scopePull)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.url("blobs/"+dgst), nil)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, refString(ep.display, dgst), err)
	}
	resp, err := ep.do(op, dgst, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, ep.fail(op, dgst, resp)
	}
	return &verifyingReader{
		body: resp.Body, hash: d.Algorithm().Hash(), want: d, size: resp.ContentLength,
		op: op, repo: ep.display,
	}, nil
}

// BlobExists reports whether repo holds the blob dgst (HEAD).
func (c *Client) BlobExists(ctx context.Context, repo, dgst string) (bool, error) {
	const op = "blob exists"
	ep, _, err := c.blobEndpoint(ctx, op, repo, dgst, scopePull)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, ep.url("blobs/"+dgst), nil)
	if err != nil {
		return false, fmt.Errorf("%s %s: %w", op, refString(ep.display, dgst), err)
	}
	resp, err := ep.do(op, dgst, req)
	if err != nil {
		return false, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		resp.Body.Close()
		return true, nil
	case http.StatusNotFound:
		resp.Body.Close()
		return false, nil
	}
	return false, ep.fail(op, dgst, resp)
}

// blobEndpoint parses repo and dgst and returns the endpoint for scope and the digest.
func (c *Client) blobEndpoint(ctx context.Context, op, repo, dgst, scope string) (*endpoint, digest.Digest, error) {
	r, err := parseRepo(op, repo)
	if err != nil {
		return nil, "", err
	}
	d, err := parseDigest(dgst)
	if err != nil {
		return nil, "", &Error{Op: op, Repo: r.Name(), Ref: dgst, Message: err.Error(), Err: ErrInvalidReference}
	}
	ep, err := c.endpoint(ctx, op, r, r.Scope(scope))
	return ep, d, err
}

// parseDigest parses a digest whose algorithm this build can compute.
func parseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", err
	}
	if !d.Algorithm().Available() {
		return "", fmt.Errorf("digest algorithm %q unavailable", d.Algorithm())
	}
	return d, nil
}

// verifyingReader hashes a blob as it is read and checks its size and digest at the end.
type verifyingReader struct {
	body io.ReadCloser
	hash hash.Hash
	want digest.Digest
	size int64 // expected size, or -1
	read int64
	op   string
	repo string
	err  error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.body.Read(p)
	v.hash.Write(p[:n])
	v.read += int64(n)
	if err == io.EOF {
		got := digest.NewDigestFromBytes(v.want.Algorithm(), v.hash.Sum(nil))
		switch {
		case v.size >= 0 && v.read != v.size:
			err = &Error{Op: v.op, Repo: v.repo, Ref: v.want.String(), Err: ErrDigestMismatch,
				Message: fmt.Sprintf("read %d bytes, expected %d", v.read, v.size)}
		case got != v.want:
			err = &Error{Op: v.op, Repo: v.repo, Ref: v.want.String(), Err: ErrDigestMismatch,
				Message: "content hashes to " + got.String()}
		}
	}
	v.err = err
	return n, err
}

func (v *verifyingReader) Close() error { return v.body.Close() }
