package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	ggcrtransport "github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// origin is where a registry answers and how it wants to be authenticated.
type origin struct {
	base      string // "https://host[:port]"
	challenge *ggcrtransport.Challenge
}

// schemes returns the URL schemes to try for host, in order: plain HTTP only for loopback
// addresses (localhost, 127.0.0.0/8, [::1]); HTTPS then HTTP when insecure; HTTPS otherwise.
func schemes(host string, insecure bool) []string {
	switch {
	case isLoopback(host):
		return []string{"http"}
	case insecure:
		return []string{"https", "http"}
	}
	return []string{"https"}
}

// isLoopback reports whether host ("name[:port]") is localhost or a loopback address.
func isLoopback(host string) bool {
	h := host
	if name, _, err := net.SplitHostPort(host); err == nil {
		h = name
	}
	h = strings.Trim(h, "[]")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// ping asks GET /v2/ of host, trying each scheme in turn, and returns the first origin that
// answers with 200 or a 401 challenge.
func (c *Client) ping(ctx context.Context, host string) (*origin, error) {
	client := &http.Client{Transport: c.stack}
	var errs []error
	for _, scheme := range schemes(host, c.cfg.insecure) {
		base := scheme + "://" + host
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v2/", nil)
		if err != nil {
			return nil, fmt.Errorf("ping %s: %w", host, err)
		}
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("ping %s: %w", host, ctx.Err())
			}
			errs = append(errs, err)
			continue
		}
		ch := &ggcrtransport.Challenge{Insecure: scheme == "http"}
		switch resp.StatusCode {
		case http.StatusOK:
			io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody)) //nolint:errcheck // reuse the connection
			resp.Body.Close()
		case http.StatusUnauthorized:
			ch.Scheme, ch.Parameters = pickChallenge(resp.Header.Values("WWW-Authenticate"))
			io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody)) //nolint:errcheck // reuse the connection
			resp.Body.Close()
		default:
			return nil, responseError("ping", host, "", resp)
		}
		return &origin{base: base, challenge: ch}, nil
	}
	return nil, fmt.Errorf("ping %s: %w", host, errors.Join(errs...))
}

// pickChallenge returns the scheme and parameters of the first Bearer or Basic challenge among
// WWW-Authenticate header values, else of the first challenge.
func pickChallenge(values []string) (string, map[string]string) {
	var first string
	var firstParams map[string]string
	for i, v := range values {
		scheme, params := parseChallenge(v)
		if i == 0 {
			first, firstParams = scheme, params
		}
		if s := strings.ToLower(scheme); s == "bearer" || s == "basic" {
			return scheme, params
		}
	}
	return first, firstParams
}

// parseChallenge parses one challenge: `Bearer realm="https://x/token",service="x",scope="a"`.
func parseChallenge(v string) (string, map[string]string) {
	v = strings.TrimSpace(v)
	scheme, rest, _ := strings.Cut(v, " ")
	params := map[string]string{}
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimLeft(strings.TrimSpace(rest), ",") {
		rest = strings.TrimSpace(rest)
		key, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		key = strings.ToLower(strings.TrimSpace(key))
		var val string
		if strings.HasPrefix(after, `"`) {
			val, rest = readQuoted(after[1:])
		} else {
			val, rest, _ = strings.Cut(after, ",")
			val = strings.TrimSpace(val)
		}
		params[key] = val
	}
	return scheme, params
}

// readQuoted reads a quoted string whose opening quote is already consumed, with backslash
// escapes, and returns it and the text after the closing quote.
func readQuoted(s string) (string, string) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), ""
}
