package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Retry defaults.
const (
	// DefaultAttempts is the default number of attempts per request, the first one included.
	DefaultAttempts = 5
	// DefaultBaseDelay is the default wait before the first retry; it doubles on each retry.
	DefaultBaseDelay = 250 * time.Millisecond
	// DefaultMaxDelay is the default cap on one backoff wait.
	DefaultMaxDelay = 30 * time.Second
	// DefaultMaxWait is the default cap on the time one request spends waiting between attempts.
	DefaultMaxWait = 2 * time.Minute
)

// RetryOptions configure Retry. The zero value means the defaults.
type RetryOptions struct {
	// Attempts is the most attempts per request, the first one included. The default value is 5;
	// 1 turns retries off.
	Attempts int
	// BaseDelay is the backoff before the first retry, doubled on each later retry and jittered
	// (a wait is drawn between half and all of it). The default value is 250 ms.
	BaseDelay time.Duration
	// MaxDelay caps one backoff wait. The default value is 30 s. It does not cap a wait the
	// server asked for with Retry-After; MaxWait does.
	MaxDelay time.Duration
	// MaxWait caps the total time one request spends waiting between its attempts. A retry whose
	// wait would go past it is not made, and the last response is returned as it is. The default
	// value is 2 minutes.
	MaxWait time.Duration
	// Logger receives one Info record per retry. The default discards.
	Logger *slog.Logger
}

func (o RetryOptions) withDefaults() RetryOptions {
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = DefaultBaseDelay
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = DefaultMaxDelay
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.Logger == nil {
		o.Logger = discard
	}
	return o
}

// Retry returns a RoundTripper that retries requests the server or the network failed
// transiently: status 429, 500, 502, 503 and 504, a 403 that carries Retry-After or
// X-RateLimit-Remaining: 0 (a rate limit, as GitHub sends it), and connection errors (refused,
// reset, unexpected EOF, timeouts; not TLS or certificate errors, nor the request's own
// cancellation).
//
// The wait before a retry is the server's Retry-After (seconds or an HTTP date), else
// X-RateLimit-Reset when X-RateLimit-Remaining is 0, else exponential backoff with jitter. Waits
// end early when the request's context is done. A request with a body is retried only when the
// body can be replayed through Request.GetBody (http.NewRequest sets it for *bytes.Reader,
// *bytes.Buffer and *strings.Reader bodies). When retries run out, the last response is returned
// unchanged, so the caller sees the server's own error.
func Retry(next http.RoundTripper, opts RetryOptions) http.RoundTripper {
	return &retry{next: next, opts: opts.withDefaults()}
}

type retry struct {
	next http.RoundTripper
	opts RetryOptions
}

func (r *retry) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var waited time.Duration
	attempt := req
	for n := 1; ; n++ {
		resp, err := r.next.RoundTrip(attempt)
		if n >= r.opts.Attempts || !retryable(ctx, resp, err) || !replayable(req) {
			return resp, err
		}
		wait := r.backoff(n)
		if resp != nil {
			if d, ok := serverWait(resp, time.Now()); ok {
				wait = d
			}
		}
		if waited+wait > r.opts.MaxWait {
			return resp, err
		}
		r.logRetry(req, resp, err, n, wait)
		if resp != nil {
			drain(resp)
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
		waited += wait
		next, err := rewind(req)
		if err != nil {
			return nil, err
		}
		attempt = next
	}
}

// backoff is the jittered exponential wait after the n-th failed attempt (n >= 1).
func (r *retry) backoff(n int) time.Duration {
	d := r.opts.BaseDelay
	for i := 1; i < n && d < r.opts.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, r.opts.MaxDelay)
	half := d / 2
	return half + rand.N(half+1)
}

func (r *retry) logRetry(req *http.Request, resp *http.Response, err error, n int, wait time.Duration) {
	attrs := []slog.Attr{
		slog.String("method", req.Method),
		slog.String("url", RedactURL(req.URL)),
		slog.Int("attempt", n),
		slog.Duration("wait", wait),
	}
	if resp != nil {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
	} else {
		attrs = append(attrs, slog.String("error", redactString(err.Error(), req.URL)))
	}
	r.opts.Logger.LogAttrs(req.Context(), slog.LevelInfo, "retrying request", attrs...)
}

// retryable reports whether an attempt that ended with resp or err is worth repeating.
func retryable(ctx context.Context, resp *http.Response, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		return transientError(err)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case http.StatusForbidden:
		return resp.Header.Get("Retry-After") != "" || resp.Header.Get("X-RateLimit-Remaining") == "0"
	}
	return false
}

// transientError reports whether a transport error is a network failure that may pass.
func transientError(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var (
		recordErr tls.RecordHeaderError
		certErr   *tls.CertificateVerificationError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		dnsErr    *net.DNSError
	)
	switch {
	case errors.As(err, &recordErr), errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr):
		return false
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return false
	case errors.As(err, &dnsErr):
		return !dnsErr.IsNotFound
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr)
}

// serverWait returns the wait the server asked for: Retry-After, or X-RateLimit-Reset (Unix
// seconds) when X-RateLimit-Remaining is 0.
func serverWait(resp *http.Response, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(resp.Header.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
			return time.Duration(secs) * time.Second, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		if secs, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			return max(time.Unix(secs, 0).Sub(now), 0), true
		}
	}
	return 0, false
}

// replayable reports whether req can be sent again: it has no body, or GetBody can remake it.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// rewind returns a copy of req with a fresh body for another attempt.
func rewind(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	next := req.Clone(req.Context())
	next.Body = body
	return next, nil
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drain reads a little of a discarded response so its connection can be reused, and closes it.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck // best effort
	resp.Body.Close()
}
