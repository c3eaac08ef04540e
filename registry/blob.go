package registry

import (
	"context"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"

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

// PushBlob uploads size bytes from r as the blob dgst of repo, monolithically: POST to open an
// upload, then one PUT with the content and the digest; the registry checks the digest. The PUT
// is retried on transient failures only when r can be replayed (a *bytes.Reader, *bytes.Buffer
// or *strings.Reader). A size below 0 sends the content chunked, for registries that accept it.
func (c *Client) PushBlob(ctx context.Context, repo, dgst string, size int64, r io.Reader) error {
	const op = "push blob"
	ep, _, err := c.blobEndpoint(ctx, op, repo, dgst, scopePush)
	if err != nil {
		return err
	}
	location, err := c.startUpload(ctx, op, ep, dgst, nil)
	if err != nil {
		return err
	}
	if location == nil {
		return &Error{Op: op, Repo: ep.display, Ref: dgst, Status: http.StatusCreated,
			Message: "registry completed an upload that was only opened"}
	}
	q := location.Query()
	q.Set("digest", dgst)
	location.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, location.String(), r)
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, refString(ep.display, dgst), err)
	}
	if req.ContentLength == 0 && size != 0 {
		req.ContentLength = size
	}
	if size == 0 {
		req.Body = http.NoBody
		req.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := ep.do(op, dgst, req)
	if err != nil {
		c.cancelUpload(ep, location)
		return err
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
		c.cancelUpload(ep, location)
		return ep.fail(op, dgst, resp)
	}
	resp.Body.Close()
	return nil
}

// MountBlob asks the registry to link the blob dgst of fromRepo into repo, without uploading it.
// It reports whether the blob was mounted; false with a nil error means the registry declined (the
// blob is unknown there, or the registry does not mount, or fromRepo is on another registry), and
// the caller should upload the blob instead.
func (c *Client) MountBlob(ctx context.Context, repo, fromRepo, dgst string) (bool, error) {
	const op = "mount blob"
	r, err := parseRepo(op, repo)
	if err != nil {
		return false, err
	}
	from, err := parseRepo(op, fromRepo)
	if err != nil {
		return false, err
	}
	if from.RegistryStr() != r.RegistryStr() {
		return false, nil
	}
	if _, err := parseDigest(dgst); err != nil {
		return false, &Error{Op: op, Repo: r.Name(), Ref: dgst, Message: err.Error(), Err: ErrInvalidReference}
	}
	ep, err := c.endpoint(ctx, op, r, r.Scope(scopePush), from.Scope(scopePull))
	if err != nil {
		return false, err
	}
	location, err := c.startUpload(ctx, op, ep, dgst, url.Values{"mount": {dgst}, "from": {from.RepositoryStr()}})
	if err != nil {
		return false, err
	}
	if location == nil {
		return true, nil
	}
	c.cancelUpload(ep, location)
	return false, nil
}

// startUpload opens an upload session (POST .../blobs/uploads/ with query) and returns its
// absolute Location; nil when the registry answered 201 Created (a mount that succeeded).
func (c *Client) startUpload(ctx context.Context, op string, ep *endpoint, dgst string, query url.Values) (*url.URL, error) {
	u, err := url.Parse(ep.url("blobs/uploads/"))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, refString(ep.display, dgst), err)
	}
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, refString(ep.display, dgst), err)
	}
	resp, err := ep.do(op, dgst, req)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusCreated:
		resp.Body.Close()
		return nil, nil
	case http.StatusAccepted:
		resp.Body.Close()
	default:
		return nil, ep.fail(op, dgst, resp)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		return nil, &Error{Op: op, Repo: ep.display, Ref: dgst, Status: resp.StatusCode, Message: "upload without a usable Location header"}
	}
	return u.ResolveReference(loc), nil
}

// cancelUpload abandons an upload session, best effort: the registry purges it later anyway.
func (c *Client) cancelUpload(ep *endpoint, location *url.URL) {
	ctx := context.Background()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, location.String(), nil)
	if err != nil {
		return
	}
	if resp, err := ep.client.Do(req); err == nil {
		resp.Body.Close()
	}
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
