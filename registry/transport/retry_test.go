package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// step is one scripted answer of the next hop: a status with headers, or an error.
type step struct {
	status int
	header []string
	err    error
}

// script answers requests with the steps in order and records the bodies it received.
type script struct {
	mu     sync.Mutex
	steps  []step
	bodies []string
}

func (s *script) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	body := ""
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		req.Body.Close()
		body = string(b)
	}
	s.bodies = append(s.bodies, body)
	st := s.steps[0]
	if len(s.steps) > 1 {
		s.steps = s.steps[1:]
	}
	if st.err != nil {
		return nil, st.err
	}
	return response(req, st.status, "", st.header...), nil
}

func fastRetry() RetryOptions {
	return RetryOptions{BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}
}

func TestRetryStatuses(t *testing.T) {
	tlsErr := tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}
	tests := []struct {
		name       string
		steps      []step
		wantStatus int
		wantErr    bool
		wantTries  int
	}{
		{"ok", []step{{status: 200}}, 200, false, 1},
		{"500 then ok", []step{{status: 500}, {status: 200}}, 200, false, 2},
		{"each transient status", []step{{status: 429}, {status: 502}, {status: 503}, {status: 504}, {status: 200}}, 200, false, 5},
		{"gives up after 5 attempts", []step{{status: 503}}, 503, false, 5},
		{"404 not retried", []step{{status: 404}}, 404, false, 1},
		{"401 not retried", []step{{status: 401}}, 401, false, 1},
		{"plain 403 not retried", []step{{status: 403}}, 403, false, 1},
		{"rate-limited 403 retried", []step{{status: 403, header: []string{"X-RateLimit-Remaining", "0"}}, {status: 200}}, 200, false, 2},
		{"connection reset retried", []step{{err: syscall.ECONNRESET}, {err: io.ErrUnexpectedEOF}, {status: 200}}, 200, false, 3},
		{"TLS error not retried", []step{{err: tlsErr}}, 0, true, 1},
		{"cancellation not retried", []step{{err: context.Canceled}}, 0, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{steps: tt.steps}
			req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/v2/", nil)
			resp, err := Retry(s, fastRetry()).RoundTrip(req)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != tt.wantStatus {
					t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
				}
			}
			if len(s.bodies) != tt.wantTries {
				t.Errorf("attempts = %d, want %d", len(s.bodies), tt.wantTries)
			}
		})
	}
}

func TestRetryReplaysBody(t *testing.T) {
	s := &script{steps: []step{{status: 500}, {status: 502}, {status: 201}}}
	req, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1/v2/a/manifests/t", bytes.NewReader([]byte("manifest")))
	resp, err := Retry(s, fastRetry()).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if diff := cmp.Diff([]string{"manifest", "manifest", "manifest"}, s.bodies); diff != "" {
		t.Errorf("bodies received (-want +got):\n%s", diff)
	}
}

func TestRetryNotReplayableBodyIsSentOnce(t *testing.T) {
	s := &script{steps: []step{{status: 500}, {status: 201}}}
	req, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1/upload", io.NopCloser(strings.NewReader("layer")))
	resp, err := Retry(s, fastRetry()).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 || len(s.bodies) != 1 {
		t.Errorf("status %d after %d attempts, want 500 after 1", resp.StatusCode, len(s.bodies))
	}
}

func TestRetryWaitEndsWithContext(t *testing.T) {
	s := &script{steps: []step{{status: 503, header: []string{"Retry-After", "60"}}}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1/v2/", nil)
	start := time.Now()
	_, err := Retry(s, RetryOptions{}).RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %v, want soon after the context ended", d)
	}
}

func TestRetryWaitBeyondMaxWaitReturnsResponse(t *testing.T) {
	s := &script{steps: []step{{status: 429, header: []string{"Retry-After", "3600"}}, {status: 200}}}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/v2/", nil)
	resp, err := Retry(s, RetryOptions{MaxWait: time.Minute}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || len(s.bodies) != 1 {
		t.Errorf("status %d after %d attempts, want 429 after 1", resp.StatusCode, len(s.bodies))
	}
}

func TestServerWait(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header []string
		want   time.Duration
		wantOK bool
	}{
		{"seconds", []string{"Retry-After", "7"}, 7 * time.Second, true},
		{"http date", []string{"Retry-After", now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second, true},
		{"date in the past", []string{"Retry-After", now.Add(-time.Hour).Format(http.TimeFormat)}, 0, true},
		{"rate limit reset", []string{"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1748779230"}, 30 * time.Second, true},
		{"rate limit left", []string{"X-RateLimit-Remaining", "5", "X-RateLimit-Reset", "1748779230"}, 0, false},
		{"garbage", []string{"Retry-After", "soon"}, 0, false},
		{"none", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := serverWait(response(nil, 429, "", tt.header...), now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("serverWait = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestBackoffGrowsWithinBounds(t *testing.T) {
	r := Retry(nil, RetryOptions{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}).(*retry)
	for n, full := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 5: time.Second, 30: time.Second} {
		for range 50 {
			if d := r.backoff(n); d < full/2 || d > full {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, full/2, full)
			}
		}
	}
}
