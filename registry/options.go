package registry

import (
	"log/slog"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/regtidy/regtidy/registry/transport"
)

// DefaultMaxTagPages bounds how many pages one tag listing follows.
const DefaultMaxTagPages = 100_000

// Option configures a Client.
type Option func(*config)

type config struct {
	base        http.RoundTripper
	auth        authn.Authenticator
	keychain    authn.Keychain
	insecure    bool
	logger      *slog.Logger
	concurrency int
	userAgent   string
	retry       transport.RetryOptions
	counter     *transport.Counter
	maxTagPages int
}

// WithTransport sets the RoundTripper that puts requests on the wire, below regtidy's stack of
// retries, limits, logging and counting. The default value is transport.NewBase with the client's
// concurrency (and TLS verification off under WithInsecure).
func WithTransport(rt http.RoundTripper) Option {
	return func(c *config) { c.base = rt }
}

// WithAuth uses one authenticator for every registry, instead of a keychain.
func WithAuth(a authn.Authenticator) Option {
	return func(c *config) { c.auth = a }
}

// WithKeychain resolves credentials per registry through kc. The default value is
// Keychain(Credentials{}): REGTIDY_USERNAME/REGTIDY_PASSWORD, then the Docker config and its
// credential helpers, then anonymous. WithAuth takes precedence.
func WithKeychain(kc authn.Keychain) Option {
	return func(c *config) { c.keychain = kc }
}

// WithInsecure allows plain HTTP and skips TLS certificate verification for every registry: HTTPS
// is tried first, then HTTP. The default value is false; loopback registries (localhost,
// 127.0.0.0/8, [::1]) always use plain HTTP.
func WithInsecure(insecure bool) Option {
	return func(c *config) { c.insecure = insecure }
}

// WithLogger sets the logger for retries (Info) and requests (Debug, secrets redacted). The
// default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithConcurrency bounds the requests in flight across the whole client, token requests
// included. The default value is 32.
func WithConcurrency(n int) Option {
	return func(c *config) { c.concurrency = n }
}

// WithUserAgent sets the User-Agent header. The default value is "regtidy".
func WithUserAgent(ua string) Option {
	return func(c *config) { c.userAgent = ua }
}

// WithRetry configures retries. The default value is the zero RetryOptions: 5 attempts, 250 ms
// base backoff, 30 s cap per wait, 2 minutes of waiting per request at most.
func WithRetry(o transport.RetryOptions) Option {
	return func(c *config) { c.retry = o }
}

// WithCounter counts requests in c, so several clients (the OCI client and a registry's own REST
// client) add up in one place. The default is a new Counter, returned by Client.Counter.
func WithCounter(c *transport.Counter) Option {
	return func(cfg *config) { cfg.counter = c }
}

// WithMaxTagPages bounds the pages one tag listing follows before failing with ErrPaging. The
// default value is 100,000.
func WithMaxTagPages(n int) Option {
	return func(c *config) { c.maxTagPages = n }
}
