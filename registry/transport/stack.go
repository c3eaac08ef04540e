// Package transport holds regtidy's HTTP RoundTripper decorators: Retry, Limit, Counter, Log and
// UserAgent, each small and usable alone, and Stack, which composes them in the order regtidy
// uses for every registry and API it talks to.
//
// Authentication is not here: go-containerregistry's transport wraps the stack, so token
// requests travel through it too and are retried, limited, logged and counted like any other.
package transport

import (
	"crypto/tls"
	"log/slog"
	"net/http"
)

// StackOptions configure Stack. The zero value gives the defaults of every layer.
type StackOptions struct {
	// Base sends requests on the wire. The default value is NewBase(false, Concurrency).
	Base http.RoundTripper
	// UserAgent is sent with every request. The default value is DefaultUserAgent ("regtidy").
	UserAgent string
	// Logger receives retries (Info) and requests (Debug). The default discards.
	Logger *slog.Logger
	// Retry configures retries; its Logger defaults to Logger.
	Retry RetryOptions
	// Concurrency bounds the requests in flight. The default value is 32.
	Concurrency int
	// Counter counts requests; pass one to share it between stacks. The default is a new Counter.
	Counter *Counter
}

// Stack returns the composed RoundTripper and its Counter. From the caller down to the wire:
//
//	UserAgent -> Retry -> Limit -> Log -> Counter -> Base
//
// Retry sits above Limit, so a request waiting out a backoff gives its slot to others; Log and
// Counter sit below Retry, so every attempt on the wire is logged and counted exactly once,
// retries included, and token requests (made through the stack by the authenticating transport
// above it) are counted too.
func Stack(opts StackOptions) (http.RoundTripper, *Counter) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Base == nil {
		opts.Base = NewBase(false, opts.Concurrency)
	}
	if opts.UserAgent == "" {
		opts.UserAgent = DefaultUserAgent
	}
	if opts.Logger == nil {
		opts.Logger = discard
	}
	if opts.Retry.Logger == nil {
		opts.Retry.Logger = opts.Logger
	}
	if opts.Counter == nil {
		opts.Counter = &Counter{}
	}
	var rt http.RoundTripper = opts.Counter.Wrap(opts.Base)
	rt = Log(rt, opts.Logger)
	rt = Limit(rt, opts.Concurrency)
	rt = Retry(rt, opts.Retry)
	rt = UserAgent(rt, opts.UserAgent)
	return rt, opts.Counter
}

// NewBase returns an http.Transport for registry traffic: http.DefaultTransport's settings with
// enough idle connections per host for maxConns requests in flight (so a busy client reuses its
// connections instead of opening new ones), and, when insecureSkipVerify is set, no TLS
// certificate verification.
func NewBase(insecureSkipVerify bool, maxConns int) *http.Transport {
	if maxConns <= 0 {
		maxConns = DefaultConcurrency
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(t.MaxIdleConns, maxConns)
	t.MaxIdleConnsPerHost = maxConns
	if insecureSkipVerify {
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{}
		}
		t.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // asked for with --insecure
	}
	return t
}
