package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrtransport "github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/regtidy/regtidy/registry/transport"
)

// Client is the OCI Distribution API client: it implements Target for any registry, over the
// transport stack (retries, concurrency limit, logging, counting) and go-containerregistry's
// authentication (basic auth, or bearer tokens exchanged per repository and scope and cached).
// Repositories are named "host[:port]/path". A Client is safe for concurrent use.
type Client struct {
	cfg     config
	stack   http.RoundTripper
	counter *transport.Counter

	mu        sync.Mutex
	origins   map[string]*lazy[origin]
	endpoints map[string]*lazy[endpoint]
}

var _ Target = (*Client)(nil)

// New returns a Client. With no options it is usable as is: anonymous or Docker-config
// credentials (see Keychain), HTTPS except on loopback, 32 requests in flight, 5 attempts per
// request.
func New(opts ...Option) *Client {
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.concurrency <= 0 {
		cfg.concurrency = transport.DefaultConcurrency
	}
	if cfg.keychain == nil {
		cfg.keychain = Keychain(Credentials{})
	}
	if cfg.maxTagPages <= 0 {
		cfg.maxTagPages = DefaultMaxTagPages
	}
	if cfg.base == nil {
		cfg.base = transport.NewBase(cfg.insecure, cfg.concurrency)
	}
	stack, counter := transport.Stack(transport.StackOptions{
		Base:        cfg.base,
		UserAgent:   cfg.userAgent,
		Logger:      cfg.logger,
		Retry:       cfg.retry,
		Concurrency: cfg.concurrency,
		Counter:     cfg.counter,
	})
	return &Client{
		cfg:       cfg,
		stack:     stack,
		counter:   counter,
		origins:   map[string]*lazy[origin]{},
		endpoints: map[string]*lazy[endpoint]{},
	}
}

// Counter returns the request counter of this client: every request it put on the wire, retries
// and token requests included.
func (c *Client) Counter() *transport.Counter { return c.counter }

// Transport returns the client's unauthenticated transport stack, for another API of the same
// registry (a REST API) to share its concurrency limit, retries, logging and counter.
func (c *Client) Transport() http.RoundTripper { return c.stack }

// Scopes a client asks tokens for.
var (
	scopePull   = ggcrtransport.PullScope
	scopePush   = ggcrtransport.PushScope
	scopeDelete = ggcrtransport.DeleteScope
)

// endpoint is one repository reached with one set of token scopes.
type endpoint struct {
	repo    name.Repository
	display string // "host[:port]/path"
	base    string // "scheme://host[:port]"
	client  *http.Client
	creds   string // which credentials, for error messages
}

// url returns the API URL of suffix ("tags/list", "manifests/<ref>", ...) in the repository.
func (e *endpoint) url(suffix string) string {
	return e.base + "/v2/" + e.repo.RepositoryStr() + "/" + suffix
}

// do sends req; a transport error comes back wrapped with the operation and a redacted URL,
// a failed token refresh as an *Error.
func (e *endpoint) do(op, ref string, req *http.Request) (*http.Response, error) {
	resp, err := e.client.Do(req)
	if err != nil {
		var terr *ggcrtransport.Error
		if errors.As(err, &terr) {
			// A token refresh failed mid-run (an expired token whose credentials were revoked).
			return nil, tokenError(op, e.display, e.creds, terr)
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			if u, perr := url.Parse(uerr.URL); perr == nil {
				err = &url.Error{Op: uerr.Op, URL: transport.RedactURL(u), Err: uerr.Err}
			}
		}
		return nil, fmt.Errorf("%s %s: %w", op, refString(e.display, ref), err)
	}
	return resp, nil
}

// fail turns an unexpected response into an *Error (reading and closing its body).
func (e *endpoint) fail(op, ref string, resp *http.Response) *Error {
	err := responseError(op, e.display, ref, resp)
	if errors.Is(err.Err, ErrUnauthorized) {
		err.Credentials = e.creds
	}
	return err
}

// parseRepo parses "host[:port]/path".
func parseRepo(op, repo string) (name.Repository, error) {
	r, err := name.NewRepository(repo)
	if err != nil {
		return name.Repository{}, &Error{Op: op, Repo: repo, Message: err.Error(), Err: ErrInvalidReference}
	}
	return r, nil
}

// endpoint returns the authenticated endpoint of repo for the given scopes (the first one is
// repo's own action; more, such as the pull scope of a mount source, may follow), creating and
// caching it on first use.
func (c *Client) endpoint(ctx context.Context, op string, repo name.Repository, scopes ...string) (*endpoint, error) {
	key := repo.Name() + "\x00" + strings.Join(scopes, " ")
	c.mu.Lock()
	l := c.endpoints[key]
	if l == nil {
		l = &lazy[endpoint]{}
		c.endpoints[key] = l
	}
	c.mu.Unlock()
	return l.get(func() (*endpoint, error) { return c.newEndpoint(ctx, op, repo, scopes) })
}

func (c *Client) newEndpoint(ctx context.Context, op string, repo name.Repository, scopes []string) (*endpoint, error) {
	display := repo.Name()
	org, err := c.origin(ctx, repo.Registry)
	if err != nil {
		return nil, err
	}
	auth, source, err := c.authenticator(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, display, err)
	}
	creds := describeCredentials(ctx, auth, source)
	tok := &ggcrtransport.Token{}
	if strings.EqualFold(org.challenge.Scheme, "bearer") {
		tok, err = ggcrtransport.Exchange(ctx, repo.Registry, auth, c.stack, scopes, org.challenge)
		if err != nil {
			return nil, tokenError(op, display, creds, err)
		}
		if tok.Token == "" {
			tok.Token = tok.AccessToken
		}
	}
	rt, err := ggcrtransport.FromToken(repo.Registry, auth, c.stack, org.challenge, tok)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, display, err)
	}
	return &endpoint{
		repo:    repo,
		display: display,
		base:    org.base,
		client:  &http.Client{Transport: rt},
		creds:   creds,
	}, nil
}

// origin returns how registry answers, pinging it once per client.
func (c *Client) origin(ctx context.Context, reg name.Registry) (*origin, error) {
	host := reg.RegistryStr()
	c.mu.Lock()
	l := c.origins[host]
	if l == nil {
		l = &lazy[origin]{}
		c.origins[host] = l
	}
	c.mu.Unlock()
	return l.get(func() (*origin, error) { return c.ping(ctx, host) })
}

// authenticator returns the credentials for repo and where they came from.
func (c *Client) authenticator(ctx context.Context, repo name.Repository) (authn.Authenticator, string, error) {
	if c.cfg.auth != nil {
		a, src := unwrapAuth(c.cfg.auth, "the configured authenticator")
		return a, src, nil
	}
	a, err := authn.Resolve(ctx, c.cfg.keychain, repo)
	if err != nil {
		return nil, "", err
	}
	a, src := unwrapAuth(a, "the keychain")
	return a, src, nil
}

// tokenError describes a failed token exchange.
func tokenError(op, repo, creds string, err error) error {
	var terr *ggcrtransport.Error
	if !errors.As(err, &terr) {
		return fmt.Errorf("%s %s: token exchange: %w", op, repo, err)
	}
	e := &Error{Op: op, Repo: repo, Status: terr.StatusCode, Message: "token request refused"}
	if len(terr.Errors) > 0 {
		e.Code = string(terr.Errors[0].Code)
		if terr.Errors[0].Message != "" {
			e.Message = "token request refused: " + terr.Errors[0].Message
		}
	}
	e.Err = sentinelFor(e.Status, e.Code)
	if errors.Is(e.Err, ErrUnauthorized) || e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		e.Err = ErrUnauthorized
		e.Credentials = creds
	}
	return e
}

// refString renders repo:tag or repo@digest.
func refString(repo, ref string) string {
	switch {
	case ref == "":
		return repo
	case strings.Contains(ref, ":"):
		return repo + "@" + ref
	}
	return repo + ":" + ref
}

// lazy holds a value made once on first successful use; a failure is not kept, so the next
// caller tries again. Callers arriving while it is being made wait for the outcome.
type lazy[T any] struct {
	mu sync.Mutex
	v  *T
}

func (l *lazy[T]) get(make func() (*T, error)) (*T, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.v != nil {
		return l.v, nil
	}
	v, err := make()
	if err != nil {
		return nil, err
	}
	l.v = v
	return v, nil
}
