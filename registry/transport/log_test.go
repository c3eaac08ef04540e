package transport

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestLogRedactsSecrets(t *testing.T) {
	const bearer = "eyJhbGciOiJSUzI1NiJ9.secret-bearer-token"
	basic := base64.StdEncoding.EncodeToString([]byte("alice:s3cret-password"))
	tests := []struct {
		name    string
		url     string
		header  []string
		fail    bool
		secrets []string
	}{
		{"bearer header", "http://127.0.0.1/v2/a/tags/list", []string{"Authorization", "Bearer " + bearer}, false, []string{bearer}},
		{"basic header", "http://127.0.0.1/v2/", []string{"Authorization", "Basic " + basic}, false, []string{basic, "s3cret-password"}},
		{"cookies", "http://127.0.0.1/v2/", []string{"Cookie", "session=cookie-secret"}, false, []string{"cookie-secret"}},
		{"token query", "http://127.0.0.1/token?scope=repository:a:pull&access_token=" + bearer, nil, false, []string{bearer}},
		{"signed redirect", "http://127.0.0.1/blob?X-Amz-Signature=abcdef0123&X-Amz-Credential=AKIDSECRET", nil, false, []string{"abcdef0123", "AKIDSECRET"}},
		{"user info", "http://alice:s3cret-password@127.0.0.1/v2/", nil, false, []string{"s3cret-password"}},
		{"failed request", "http://127.0.0.1/token?token=" + bearer, []string{"Authorization", "Bearer " + bearer}, true, []string{bearer}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
			next := roundTripFunc(func(req *http.Request) (*http.Response, error) {
				if tt.fail {
					return nil, &url.Error{Op: "Get", URL: req.URL.String(), Err: errors.New("connection refused")}
				}
				return response(req, 200, "", "Set-Cookie", "session=cookie-secret", "Docker-Content-Digest", "sha256:abc"), nil
			})
			req, _ := http.NewRequest(http.MethodGet, tt.url, nil)
			for i := 0; i+1 < len(tt.header); i += 2 {
				req.Header.Set(tt.header[i], tt.header[i+1])
			}
			resp, err := Log(next, logger).RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			got := out.String()
			for _, s := range tt.secrets {
				if strings.Contains(got, s) {
					t.Errorf("log contains secret %q:\n%s", s, got)
				}
			}
			if !strings.Contains(got, "method=GET") || !strings.Contains(got, Redacted) {
				t.Errorf("log lacks the method or a redaction mark:\n%s", got)
			}
			if !tt.fail && !strings.Contains(got, "status=200") {
				t.Errorf("log lacks the status:\n%s", got)
			}
		})
	}
}

func TestLogDisabledIsSilent(t *testing.T) {
	var out bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	next := roundTripFunc(func(req *http.Request) (*http.Response, error) { return response(req, 200, ""), nil })
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/v2/", nil)
	resp, err := Log(next, logger).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if out.Len() != 0 {
		t.Errorf("Info-level logger got request logs:\n%s", out.String())
	}
}

func TestRedactURLKeepsOrdinaryQueries(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1/v2/a/tags/list?n=100&last=v1")
	if got := RedactURL(u); got != u.String() {
		t.Errorf("RedactURL = %q, want %q unchanged", got, u.String())
	}
}

func TestLogRedactsSignedRedirects(t *testing.T) {
	h := http.Header{}
	h.Set("Location", "https://storage.example/blob?X-Amz-Signature=abc123secret&X-Amz-Security-Token=tok456secret&part=1")
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).LogAttrs(context.Background(), slog.LevelInfo, "x", headerAttr("response", h))
	out := buf.String()
	if strings.Contains(out, "abc123secret") || strings.Contains(out, "tok456secret") {
		t.Errorf("signed redirect logged in clear: %s", out)
	}
	if !strings.Contains(out, "part=1") {
		t.Errorf("harmless query parameters should stay: %s", out)
	}
}
