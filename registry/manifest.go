package registry

import (
	"bytes"
	"context"
	_ "crypto/sha256" // digest algorithm sha256
	_ "crypto/sha512" // digest algorithms sha384 and sha512
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/regtidy/regtidy/inventory"
)

// maxManifestSize bounds a manifest read: the OCI spec lets registries refuse manifests over
// 4 MiB; twice that leaves room for large indexes.
const maxManifestSize = 8 << 20

// acceptManifest is the Accept header of manifest requests.
var acceptManifest = strings.Join(AcceptManifest, ", ")

// Resolve returns the descriptor of the manifest that ref (a tag or a digest) names in repo, from
// a HEAD request: Docker-Content-Digest, Content-Type and Content-Length. When the registry leaves
// out the digest or the size, the manifest is fetched instead. A missing ref returns an error
// wrapping ErrNotFound.
func (c *Client) Resolve(ctx context.Context, repo, ref string) (inventory.Descriptor, error) {
	const op = "resolve"
	ep, byDigest, err := c.manifestEndpoint(ctx, op, repo, ref, scopePull)
	if err != nil {
		return inventory.Descriptor{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, ep.url("manifests/"+ref), nil)
	if err != nil {
		return inventory.Descriptor{}, fmt.Errorf("%s %s: %w", op, refString(ep.display, ref), err)
	}
	req.Header.Set("Accept", acceptManifest)
	resp, err := ep.do(op, ref, req)
	if err != nil {
		return inventory.Descriptor{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return inventory.Descriptor{}, ep.fail(op, ref, resp)
	}
	resp.Body.Close()
	desc := inventory.Descriptor{
		MediaType: mediaType(resp.Header),
		Digest:    resp.Header.Get("Docker-Content-Digest"),
		Size:      resp.ContentLength,
	}
	if byDigest && desc.Digest != "" && desc.Digest != ref {
		return inventory.Descriptor{}, &Error{Op: op, Repo: ep.display, Ref: ref, Err: ErrDigestMismatch,
			Message: "registry answered with digest " + desc.Digest}
	}
	if desc.Digest == "" || desc.Size < 0 || desc.MediaType == "" {
		_, desc, err = c.FetchManifest(ctx, repo, ref)
	}
	return desc, err
}

// FetchManifest fetches the manifest ref (a tag or a digest) names in repo and returns its raw
// bytes and descriptor. The bytes are hashed: fetched by digest they must match it, and they must
// match the Docker-Content-Digest header when the registry sends one; otherwise the error wraps
// ErrDigestMismatch. A missing ref returns an error wrapping ErrNotFound.
func (c *Client) FetchManifest(ctx context.Context, repo, ref string) ([]byte, inventory.Descriptor, error) {
	const op = "fetch manifest"
	ep, byDigest, err := c.manifestEndpoint(ctx, op, repo, ref, scopePull)
	if err != nil {
		return nil, inventory.Descriptor{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.url("manifests/"+ref), nil)
	if err != nil {
		return nil, inventory.Descriptor{}, fmt.Errorf("%s %s: %w", op, refString(ep.display, ref), err)
	}
	req.Header.Set("Accept", acceptManifest)
	resp, err := ep.do(op, ref, req)
	if err != nil {
		return nil, inventory.Descriptor{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, inventory.Descriptor{}, ep.fail(op, ref, resp)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize+1))
	if err != nil {
		return nil, inventory.Descriptor{}, fmt.Errorf("%s %s: %w", op, refString(ep.display, ref), err)
	}
	if len(raw) > maxManifestSize {
		return nil, inventory.Descriptor{}, &Error{Op: op, Repo: ep.display, Ref: ref,
			Message: fmt.Sprintf("manifest larger than %d bytes", maxManifestSize)}
	}

	header := resp.Header.Get("Docker-Content-Digest")
	alg := digest.Canonical
	if byDigest {
		alg = digest.Digest(ref).Algorithm()
	} else if d, err := digest.Parse(header); err == nil && d.Algorithm().Available() {
		alg = d.Algorithm()
	}
	got := alg.FromBytes(raw).String()
	want := header
	if byDigest {
		want = ref
	}
	if want != "" && digest.Digest(want).Algorithm() == alg && want != got {
		return nil, inventory.Descriptor{}, &Error{Op: op, Repo: ep.display, Ref: ref, Err: ErrDigestMismatch,
			Message: fmt.Sprintf("content hashes to %s, expected %s", got, want)}
	}
	mt := mediaType(resp.Header)
	if mt == "" || mt == "application/json" || mt == "application/octet-stream" {
		if sniffed := sniffMediaType(raw); sniffed != "" {
			mt = sniffed
		}
	}
	return raw, inventory.Descriptor{MediaType: mt, Digest: got, Size: int64(len(raw))}, nil
}

// DeleteManifest deletes ref in repo. A tag removes only that tag where the registry supports it;
// a digest removes the manifest and every tag pointing at it. Deleting what is already gone
// returns an error wrapping ErrNotFound; a registry that refuses deletes (405, UNSUPPORTED)
// returns one wrapping ErrUnsupported.
func (c *Client) DeleteManifest(ctx context.Context, repo, ref string) error {
	const op = "delete manifest"
	ep, _, err := c.manifestEndpoint(ctx, op, repo, ref, scopeDelete)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, ep.url("manifests/"+ref), nil)
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, refString(ep.display, ref), err)
	}
	resp, err := ep.do(op, ref, req)
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted, http.StatusNoContent:
		resp.Body.Close()
		return nil
	}
	return ep.fail(op, ref, resp)
}

// PushManifest uploads raw as a manifest of mediaType under ref, a tag or raw's digest. A digest
// ref that raw does not hash to is refused before sending, with ErrDigestMismatch.
func (c *Client) PushManifest(ctx context.Context, repo, ref, mediaType string, raw []byte) error {
	const op = "push manifest"
	ep, byDigest, err := c.manifestEndpoint(ctx, op, repo, ref, scopePush)
	if err != nil {
		return err
	}
	alg := digest.Canonical
	if byDigest {
		alg = digest.Digest(ref).Algorithm()
	}
	sum := alg.FromBytes(raw).String()
	if byDigest && sum != ref {
		return &Error{Op: op, Repo: ep.display, Ref: ref, Err: ErrDigestMismatch, Message: "manifest hashes to " + sum}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, ep.url("manifests/"+ref), bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, refString(ep.display, ref), err)
	}
	req.Header.Set("Content-Type", mediaType)
	resp, err := ep.do(op, ref, req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		return ep.fail(op, ref, resp)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && alg == digest.Canonical && got != sum {
		return &Error{Op: op, Repo: ep.display, Ref: ref, Err: ErrDigestMismatch,
			Message: fmt.Sprintf("registry stored %s, sent %s", got, sum)}
	}
	return nil
}

// tagPattern is the OCI Distribution tag grammar.
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// manifestEndpoint parses repo and ref and returns the endpoint for scope, and whether ref is a
// digest.
func (c *Client) manifestEndpoint(ctx context.Context, op, repo, ref, scope string) (*endpoint, bool, error) {
	r, err := parseRepo(op, repo)
	if err != nil {
		return nil, false, err
	}
	byDigest, err := checkRef(ref)
	if err != nil {
		return nil, false, &Error{Op: op, Repo: r.Name(), Ref: ref, Message: err.Error(), Err: ErrInvalidReference}
	}
	ep, err := c.endpoint(ctx, op, r, r.Scope(scope))
	return ep, byDigest, err
}

// checkRef validates a tag or digest and reports whether it is a digest.
func checkRef(ref string) (bool, error) {
	if strings.Contains(ref, ":") {
		d, err := digest.Parse(ref)
		if err != nil {
			return false, err
		}
		if !d.Algorithm().Available() {
			return false, fmt.Errorf("digest algorithm %q unavailable", d.Algorithm())
		}
		return true, nil
	}
	if !tagPattern.MatchString(ref) {
		return false, fmt.Errorf("tag %q is not a valid tag", ref)
	}
	return false, nil
}

// mediaType returns the Content-Type without parameters.
func mediaType(h http.Header) string {
	ct := h.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		return mt
	}
	return ct
}

// sniffMediaType reads the mediaType field of a manifest, or "".
func sniffMediaType(raw []byte) string {
	var m struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	return m.MediaType
}
