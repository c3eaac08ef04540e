// Package ghcr is regtidy's client for the GitHub Packages REST API behind the GitHub Container
// Registry: the half of ghcr.io that the OCI API does not serve. There, every manifest digest
// pushed to a package is a version with an id; versions are listed page by page and deleted one
// REST call each (DELETE on /v2/.../manifests/ answers 405), under budgets: a primary limit per
// token and hour (5,000 for a personal token, 1,000 for GITHUB_TOKEN) and a secondary limit of 900
// points per minute per endpoint (GET 1 point, DELETE 5).
//
// The Client lists versions (page 1 first, then the remaining pages concurrently), lists only new
// pages on a repeat run (Sync with a State kept between runs), deletes at an adaptive pace that
// starts at GitHub's one mutating request per second and grows towards the secondary ceiling and
// the token's hourly budget, restores, and stops cleanly with ErrBudgetSpent when a stated request
// or time budget is spent, so the next run continues where this one stopped.
package ghcr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/regtidy/regtidy/registry"
)

// Defaults, after GitHub's documentation.
const (
	// DefaultBaseURL is the REST API of github.com; GitHub Enterprise Server's is https://HOST/api/v3.
	DefaultBaseURL = "https://api.github.com"
	// APIVersion is the REST API version the client sends and understands.
	APIVersion = "2022-11-28"
	// DefaultPageSize is the listing page size: GitHub's maximum per_page.
	DefaultPageSize = 100
	// DefaultConcurrency is the number of pages fetched, or deletes sent, at once.
	DefaultConcurrency = 8
	// DefaultMaxRetries is how many times one request is retried after a 5xx, a transport error or a
	// secondary-limit answer.
	DefaultMaxRetries = 5
	// DefaultPointsPerMinute is GitHub's secondary limit for one REST endpoint.
	DefaultPointsPerMinute = 900
	// DefaultMaxWait is the longest single wait (for a primary reset, a retry-after) before the
	// client gives up with ErrBudgetSpent: a little over the primary window.
	DefaultMaxWait = 65 * time.Minute
	// PointsGET and PointsMutation are the secondary-limit points of a GET and of a DELETE or POST.
	PointsGET      = 1
	PointsMutation = 5
)

// Endpoint names: the keys of Stats.ByEndpoint and of the client's secondary-limit accounting.
const (
	EndpointPackage = "GET package"
	EndpointList    = "GET versions"
	EndpointDelete  = "DELETE version"
	EndpointRestore = "POST restore"
)

// Sentinel errors.
var (
	// ErrBudgetSpent: the request budget (WithMaxRequests), the deadline (WithDeadline) or the
	// token's rate limit (beyond WithMaxWait) is spent. Work done so far is kept; run again later.
	ErrBudgetSpent = errors.New("request budget spent")
	// ErrDeadline: the deadline (WithDeadline) has come, or comes before a wait would end. It
	// matches ErrBudgetSpent too.
	ErrDeadline error = stopCause("deadline")
	// ErrRateLimited: the token's rate limit holds for longer than the client may wait
	// (WithMaxWait, the retries of a secondary limit). It matches ErrBudgetSpent too.
	ErrRateLimited error = stopCause("rate limit")
	// errDeleteCap: the run sent the most deletes it may (ApplyOptions.MaxDeletes).
	errDeleteCap error = stopCause("delete cap")
	// ErrUndeletable: GitHub refuses to delete this version (see UndeletableError).
	ErrUndeletable = errors.New("version cannot be deleted")
	// ErrNoToken: no GitHub token was given or found in the environment.
	ErrNoToken = fmt.Errorf("no GitHub token (set GITHUB_TOKEN or GH_TOKEN): %w", registry.ErrUnauthorized)
)

// OwnerKind is the kind of account owning a package: the REST path prefix.
type OwnerKind string

// Owner kinds. The zero value means "find out": the client tries the organization route, then the
// user route.
const (
	OwnerUnknown OwnerKind = ""
	Org          OwnerKind = "orgs"
	User         OwnerKind = "users"
)

// Client talks to the Packages REST API about one container package. It is safe for concurrent use.
type Client struct {
	base        string
	owner, name string
	token       string
	tokenEnv    string
	hc          *http.Client
	log         *slog.Logger
	now         func() time.Time
	sleep       func(context.Context, time.Duration) error
	pageSize    int
	concurrency int
	maxRetries  int
	maxWait     time.Duration
	pace        float64
	fastPace    bool
	pushGrace   time.Duration

	kindMu sync.Mutex
	kind   OwnerKind

	budget    budget
	limits    rateState
	primaryMu sync.Mutex
	points    pointsLimiter
	pacer     pacer

	statsMu sync.Mutex
	stats   Stats
}

// Option configures a Client.
type Option func(*Client)

// WithBaseURL sets the REST API's base URL. The default is DefaultBaseURL.
func WithBaseURL(u string) Option { return func(c *Client) { c.base = strings.TrimSuffix(u, "/") } }

// WithToken sets the token. The default is the first of GITHUB_TOKEN and GH_TOKEN that is set.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithTokenEnv names the environment variable holding the token (--token-env), in place of
// GITHUB_TOKEN and GH_TOKEN.
func WithTokenEnv(name string) Option { return func(c *Client) { c.tokenEnv = name } }

// WithOwnerKind says whether the owner is an organization or a user. The default finds out, at the
// cost of one or two requests.
func WithOwnerKind(k OwnerKind) Option { return func(c *Client) { c.kind = k } }

// WithTransport sets the HTTP transport (the registry/transport stack). The default is
// http.DefaultTransport.
func WithTransport(rt http.RoundTripper) Option {
	return func(c *Client) { c.hc = &http.Client{Transport: rt} }
}

// WithLogger sets the logger. The default discards.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithClock replaces the clock and the sleep function (tests use ghcremu.FakeClock). The default
// is the real time.
func WithClock(now func() time.Time, sleep func(context.Context, time.Duration) error) Option {
	return func(c *Client) { c.now, c.sleep = now, sleep }
}

// WithPageSize sets per_page for listings (GitHub caps it at 100). The default is 100.
func WithPageSize(n int) Option { return func(c *Client) { c.pageSize = n } }

// WithConcurrency sets how many pages are fetched, or deletes are in flight, at once. The default is 8.
func WithConcurrency(n int) Option { return func(c *Client) { c.concurrency = n } }

// WithMaxRetries sets the retries of one request. The default is 5.
func WithMaxRetries(n int) Option { return func(c *Client) { c.maxRetries = n } }

// WithPointsPerMinute sets the secondary limit the client keeps under, per endpoint. The default is 900.
func WithPointsPerMinute(n int) Option { return func(c *Client) { c.points.ceiling = n } }

// WithPace caps deletes and restores per minute (--pace N). The default, 0, is one a second
// (60 a minute), or with WithFastPace the secondary limit's ceiling: points per minute / 5 (180 a
// minute).
func WithPace(perMinute float64) Option { return func(c *Client) { c.pace = perMinute } }

// WithFastPace lets deletes and restores run concurrently (up to WithConcurrency, at most 100)
// and faster than one a second, up to the secondary limit's ceiling (--pace fast). GitHub asks
// clients that send many mutating requests to send them one at a time, a second apart, and may
// tighten its secondary limits without notice: a fast run halves its pace at the first
// secondary-limit answer and waits as the answer says. The default is serial, a second apart.
func WithFastPace(fast bool) Option { return func(c *Client) { c.fastPace = fast } }

// WithPushGrace sets BuildInventory's push grace (--push-grace): untagged versions no tag reaches
// that were created less than d before the listing are withheld from judgement, and kept. The
// default is PushGrace, an hour; a negative d is the default.
func WithPushGrace(d time.Duration) Option {
	return func(c *Client) {
		if d >= 0 {
			c.pushGrace = d
		}
	}
}

// WithHourlyBudget lowers the requests the client takes from the token's primary limit to n a
// window (--hourly-budget): the token's own limit, as every answer's X-RateLimit-Limit says
// (5,000 for a personal token, 1,000 for GITHUB_TOKEN), is the budget otherwise. A budget above
// the token's limit changes nothing. The token's requests used in the window, by this client or
// another, count against it; when it is spent the client waits for the reset like for the
// token's own limit. 0, the default, means the token's limit.
func WithHourlyBudget(n int) Option { return func(c *Client) { c.limits.cap = max(n, 0) } }

// WithMaxRequests caps the REST requests this client sends (--max-requests); 0, the default, is
// no cap. Past it, calls return ErrBudgetSpent.
func WithMaxRequests(n int) Option { return func(c *Client) { c.budget.max = n } }

// WithDeadline stops sending requests at t (--deadline): calls return ErrBudgetSpent, and no wait
// reaches past t. The default is none.
func WithDeadline(t time.Time) Option { return func(c *Client) { c.budget.deadline = t } }

// WithMaxWait caps one wait for a rate limit; a longer one returns ErrBudgetSpent. The default is
// DefaultMaxWait.
func WithMaxWait(d time.Duration) Option { return func(c *Client) { c.maxWait = d } }

// New returns a client for the package of repo: "ghcr.io/OWNER/NAME" or "OWNER/NAME".
func New(repo string, opts ...Option) (*Client, error) {
	owner, name, err := ParseRepository(repo)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base: DefaultBaseURL, owner: owner, name: name,
		hc:          &http.Client{Transport: http.DefaultTransport},
		log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		now:         time.Now,
		sleep:       realSleep,
		pageSize:    DefaultPageSize,
		concurrency: DefaultConcurrency,
		maxRetries:  DefaultMaxRetries,
		maxWait:     DefaultMaxWait,
		points:      pointsLimiter{ceiling: DefaultPointsPerMinute},
		pushGrace:   PushGrace,
	}
	for _, o := range opts {
		o(c)
	}
	if c.token == "" {
		if c.token, err = TokenFromEnv(c.tokenEnv); err != nil {
			return nil, err
		}
	}
	c.pageSize = min(max(c.pageSize, 1), DefaultPageSize)
	c.concurrency = max(c.concurrency, 1)
	c.maxRetries = max(c.maxRetries, 0)
	c.points.ceiling = max(c.points.ceiling, PointsMutation)
	c.pacer.init(c.pace, float64(c.points.ceiling)/PointsMutation, c.fastPace, c.concurrency)
	return c, nil
}

// TokenFromEnv returns the token in the environment variable name, or, when name is empty, in
// GITHUB_TOKEN or else GH_TOKEN. It returns ErrNoToken when there is none.
func TokenFromEnv(name string) (string, error) {
	names := []string{"GITHUB_TOKEN", "GH_TOKEN"}
	if name != "" {
		names = []string{name}
	}
	for _, n := range names {
		if t := strings.TrimSpace(os.Getenv(n)); t != "" {
			return t, nil
		}
	}
	return "", fmt.Errorf("%s: %w", strings.Join(names, ", "), ErrNoToken)
}

// ParseRepository splits "ghcr.io/OWNER/NAME" (or "OWNER/NAME") into the owner and the package
// name, which may itself contain slashes.
func ParseRepository(repo string) (owner, name string, err error) {
	r := strings.TrimPrefix(strings.TrimPrefix(repo, "https://"), "http://")
	if first, rest, ok := strings.Cut(r, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		r = rest
	}
	r, _, _ = strings.Cut(r, "@")
	if i := strings.LastIndex(r, ":"); i > strings.LastIndex(r, "/") {
		r = r[:i]
	}
	owner, name, ok := strings.Cut(r, "/")
	if !ok || owner == "" || name == "" || strings.HasSuffix(name, "/") {
		return "", "", fmt.Errorf("ghcr: repository %q is not OWNER/NAME", repo)
	}
	return owner, name, nil
}

// Repository returns "OWNER/NAME".
func (c *Client) Repository() string { return c.owner + "/" + c.name }

// OwnerKind returns the owner's kind, once given or found out.
func (c *Client) OwnerKind() OwnerKind {
	c.kindMu.Lock()
	defer c.kindMu.Unlock()
	return c.kind
}

// Stats counts what the client did.
type Stats struct {
	// Requests counts REST requests sent, retries included; ByEndpoint splits them.
	Requests   int
	ByEndpoint map[string]int
	// Retries counts requests sent again after a 5xx or a transport error.
	Retries int
	// SecondaryLimited counts secondary-limit answers; PrimaryWaits, waits for a primary reset.
	SecondaryLimited int
	PrimaryWaits     int
	// Waited sums the time spent waiting on limits, pacing and back-off.
	Waited time.Duration
}

// Stats returns a copy of the client's counters.
func (c *Client) Stats() Stats {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	s := c.stats
	s.ByEndpoint = make(map[string]int, len(c.stats.ByEndpoint))
	for k, v := range c.stats.ByEndpoint {
		s.ByEndpoint[k] = v
	}
	return s
}

func (c *Client) count(f func(*Stats)) {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	if c.stats.ByEndpoint == nil {
		c.stats.ByEndpoint = map[string]int{}
	}
	f(&c.stats)
}

// APIError is a REST answer other than success.
type APIError struct {
	Method, URL      string
	Status           int
	Message          string
	DocumentationURL string
	// AfterFailure is set when an earlier attempt of the same request got a 5xx or no answer:
	// that attempt may have taken effect (a DELETE answered 404 on its retry did).
	AfterFailure bool
}

// Error formats the method, URL, status and GitHub's message.
func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s %s: %d: %s", e.Method, e.URL, e.Status, msg)
}

// Unwrap maps 401 to registry.ErrUnauthorized and 404 to registry.ErrNotFound.
func (e *APIError) Unwrap() error {
	switch e.Status {
	case http.StatusUnauthorized:
		return registry.ErrUnauthorized
	case http.StatusNotFound:
		return registry.ErrNotFound
	}
	return nil
}

// request is one REST call.
type request struct {
	method   string
	url      string
	endpoint string
}

func (r request) points() int {
	if r.method == http.MethodGet || r.method == http.MethodHead {
		return PointsGET
	}
	return PointsMutation
}

// response is a REST answer, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends rq within the budgets and limits: it waits out a spent primary limit (up to the reset),
// keeps under the secondary limit, and retries 5xx, transport errors and secondary-limit answers,
// each a bounded number of times. Answers other than 2xx come back as *APIError; a rate limit that
// outlasts the retries, the longest wait or the deadline as ErrBudgetSpent.
func (c *Client) do(ctx context.Context, rq request) (*response, error) {
	fails, limited, primary := 0, 0, 0
	// failedBefore is set once an attempt got a 5xx or no answer: it may have taken effect.
	failedBefore := false
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := c.budget.check(c.now()); err != nil {
			return nil, err
		}
		if err := c.waitPrimary(ctx); err != nil {
			return nil, err
		}
		done := func() {}
		if rq.points() == PointsMutation {
			release, err := c.pacer.start(ctx, c)
			if err != nil {
				return nil, err
			}
			done = release
		}
		ev, err := c.points.acquire(ctx, c, rq.endpoint, rq.points())
		if err != nil {
			done()
			return nil, err
		}
		if err := c.budget.spend(c.now()); err != nil {
			done()
			return nil, err
		}
		c.limits.consume()
		c.count(func(s *Stats) { s.Requests++; s.ByEndpoint[rq.endpoint]++ })
		resp, err := c.send(ctx, rq)
		c.points.settle(rq.endpoint, ev, c.now())
		done()
		if err != nil {
			failedBefore = true
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if fails++; fails > c.maxRetries {
				return nil, fmt.Errorf("%s %s: %w", rq.method, rq.url, err)
			}
			if err := c.backoff(ctx, fails, err.Error()); err != nil {
				return nil, err
			}
			continue
		}
		c.limits.update(resp.header)
		if resp.status < 300 {
			return resp, nil
		}
		apiErr := c.apiError(rq, resp)
		switch limitKind(resp, apiErr.Message) {
		case primaryLimit:
			if primary++; primary > 2 {
				return nil, fmt.Errorf("%w: %w", ErrRateLimited, apiErr)
			}
			c.limits.exhaust(resp.header)
			continue
		case secondaryLimit:
			c.count(func(s *Stats) { s.SecondaryLimited++ })
			if limited++; limited > c.maxRetries {
				return nil, fmt.Errorf("%w: the secondary rate limit persists after %d waits: %w", ErrRateLimited, c.maxRetries, apiErr)
			}
			d := secondaryWait(resp.header, limited)
			c.log.Warn("ghcr: secondary rate limit", "endpoint", rq.endpoint, "wait", d)
			now := c.now()
			c.points.block(rq.endpoint, now, now.Add(d))
			if rq.points() == PointsMutation {
				c.pacer.limited()
			}
			continue
		}
		apiErr.AfterFailure = failedBefore
		if resp.status >= 500 {
			failedBefore = true
			if fails++; fails > c.maxRetries {
				return nil, apiErr
			}
			if err := c.backoff(ctx, fails, apiErr.Error()); err != nil {
				return nil, err
			}
			continue
		}
		return resp, apiErr
	}
}

func (c *Client) send(ctx context.Context, rq request) (*response, error) {
	req, err := http.NewRequestWithContext(ctx, rq.method, rq.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", APIVersion)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", "regtidy")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

func (c *Client) apiError(rq request, resp *response) *APIError {
	e := &APIError{Method: rq.method, URL: rq.url, Status: resp.status}
	var body struct {
		Message          string `json:"message"`
		DocumentationURL string `json:"documentation_url"`
	}
	if json.Unmarshal(bytes.TrimSpace(resp.body), &body) == nil {
		e.Message, e.DocumentationURL = body.Message, body.DocumentationURL
	}
	return e
}

// backoff waits before retry n of a failed request: exponential from half a second, with jitter.
func (c *Client) backoff(ctx context.Context, n int, why string) error {
	c.count(func(s *Stats) { s.Retries++ })
	d := min(500*time.Millisecond<<(n-1), 30*time.Second)
	d += time.Duration(rand.Int64N(int64(d)/4 + 1))
	c.log.Debug("ghcr: retrying", "attempt", n, "after", d, "why", why)
	return c.wait(ctx, d, "retry back-off")
}

// wait sleeps d unless that would pass the deadline or exceed the longest wait allowed, in which
// case it returns ErrBudgetSpent at once.
func (c *Client) wait(ctx context.Context, d time.Duration, why string) error {
	if d <= 0 {
		return nil
	}
	now := c.now()
	if dl := c.budget.deadline; !dl.IsZero() && now.Add(d).After(dl) {
		return fmt.Errorf("%w %s comes before the end of a %s wait (%s)",
			ErrDeadline, dl.Format(time.RFC3339), why, d.Round(time.Second))
	}
	if d > c.maxWait {
		return fmt.Errorf("%w: a %s wait of %s is longer than the longest allowed, %s",
			ErrRateLimited, why, d.Round(time.Second), c.maxWait)
	}
	c.count(func(s *Stats) { s.Waited += d })
	return c.sleep(ctx, d)
}

// waitPrimary waits for the primary window's reset when the token's budget is spent. One caller
// waits at a time, so that concurrent callers wait for the same reset once.
func (c *Client) waitPrimary(ctx context.Context) error {
	c.primaryMu.Lock()
	defer c.primaryMu.Unlock()
	now := c.now()
	reset, spent := c.limits.spent(now)
	if !spent {
		return nil
	}
	d := reset.Sub(now) + time.Second // x-ratelimit-reset is in whole seconds
	c.log.Info("ghcr: primary rate limit spent; waiting for the reset", "reset", reset, "wait", d)
	if err := c.wait(ctx, d, "primary rate limit"); err != nil {
		return err
	}
	c.count(func(s *Stats) { s.PrimaryWaits++ })
	c.limits.forget()
	return nil
}

// limit kinds of a 403 or 429 answer.
const (
	noLimit = iota
	primaryLimit
	secondaryLimit
)

// limitKind tells a rate-limit answer from a refusal, as GitHub documents: x-ratelimit-remaining 0
// is the primary limit; retry-after, or a message naming the secondary rate limit, the secondary.
func limitKind(resp *response, message string) int {
	if resp.status != http.StatusForbidden && resp.status != http.StatusTooManyRequests {
		return noLimit
	}
	switch {
	case resp.header.Get("X-RateLimit-Remaining") == "0":
		return primaryLimit
	case resp.header.Get("Retry-After") != "":
		return secondaryLimit
	case strings.Contains(strings.ToLower(message), "secondary rate limit"), resp.status == http.StatusTooManyRequests:
		return secondaryLimit
	}
	return noLimit
}

// secondaryWait is how long to wait after the n-th secondary-limit answer in a row: retry-after
// when given, else a minute doubling each time, as GitHub advises.
func secondaryWait(h http.Header, n int) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After"))); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	return min(time.Minute<<(n-1), 15*time.Minute)
}

// stopCause is a reason to stop that matches ErrBudgetSpent: the run did part of its work and the
// next one continues.
type stopCause string

// Error returns the cause's name.
func (e stopCause) Error() string { return string(e) }

// Is reports whether target is ErrBudgetSpent.
func (e stopCause) Is(target error) bool { return target == ErrBudgetSpent }

func realSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// packageURL is the REST URL of the package under the given owner kind.
func (c *Client) packageURL(kind OwnerKind) string {
	return fmt.Sprintf("%s/%s/%s/packages/container/%s", c.base, kind, url.PathEscape(c.owner), url.PathEscape(c.name))
}
