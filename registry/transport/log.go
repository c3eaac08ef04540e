package transport

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/regtidy/regtidy/internal/redact"
)

// Redacted replaces secrets in logged URLs and headers.
const Redacted = redact.URLMarker

// discard is the logger used when none is given.
var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// Log returns a RoundTripper that logs every request at Debug level: method, URL, status,
// duration, and the request and response headers. Secrets are redacted: the Authorization,
// Proxy-Authorization, Cookie and Set-Cookie headers, user info in URLs, and query parameters
// that carry tokens or signatures (see RedactURL). Bodies are never logged. A nil logger, or one
// with Debug disabled, makes Log a pass-through.
func Log(next http.RoundTripper, logger *slog.Logger) http.RoundTripper {
	if logger == nil {
		logger = discard
	}
	return &logging{next: next, logger: logger}
}

type logging struct {
	next   http.RoundTripper
	logger *slog.Logger
}

func (l *logging) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if !l.logger.Enabled(ctx, slog.LevelDebug) {
		return l.next.RoundTrip(req)
	}
	start := time.Now()
	resp, err := l.next.RoundTrip(req)
	attrs := []slog.Attr{
		slog.String("method", req.Method),
		slog.String("url", RedactURL(req.URL)),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", redactString(err.Error(), req.URL)))
	} else {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
	}
	attrs = append(attrs, slog.Duration("duration", time.Since(start)), headerAttr("request", req.Header))
	if resp != nil {
		attrs = append(attrs, headerAttr("response", resp.Header))
	}
	l.logger.LogAttrs(context.WithoutCancel(ctx), slog.LevelDebug, "http request", attrs...)
	return resp, err
}

// secretHeaders are never logged in clear.
var secretHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie"}

// headerAttr renders h as a group with secret headers redacted.
func headerAttr(name string, h http.Header) slog.Attr {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	attrs := make([]any, 0, len(keys))
	for _, k := range keys {
		v := strings.Join(h.Values(k), ", ")
		switch ck := http.CanonicalHeaderKey(k); {
		case slices.Contains(secretHeaders, ck):
			v = Redacted
		case ck == "Location" || ck == "Content-Location":
			// Blob redirects point at storage with signed query parameters.
			if u, err := url.Parse(v); err == nil {
				v = RedactURL(u)
			}
		}
		attrs = append(attrs, slog.String(k, v))
	}
	return slog.Group(name, attrs...)
}

// RedactURL renders u with its user info and the values of token and signature query parameters
// (redact.SecretParams: token, access_token, password, sig, X-Amz-Signature, ...) replaced by
// Redacted. Blob storage redirects carry such signatures; token endpoints can carry credentials.
func RedactURL(u *url.URL) string { return redact.URL(u) }

// redactString replaces any clear rendering of u in s (net/http errors quote the URL) by its
// redacted form.
func redactString(s string, u *url.URL) string { return redact.URLIn(s, u) }
