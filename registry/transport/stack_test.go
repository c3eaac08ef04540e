package transport

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestStackCountsEveryAttemptOnce(t *testing.T) {
	var agents []string
	attempts := 0
	base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		agents = append(agents, req.Header.Get("User-Agent"))
		attempts++
		if attempts == 1 {
			return response(req, 503, "busy"), nil
		}
		return response(req, 200, "tags"), nil
	})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rt, counter := Stack(StackOptions{
		Base:      base,
		UserAgent: "regtidy/test",
		Logger:    logger,
		Retry:     RetryOptions{BaseDelay: time.Millisecond},
	})
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/v2/a/tags/list", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "tags" {
		t.Errorf("body = %q, want the retried response", body)
	}

	want := []RequestCount{{Method: "GET", Status: 200, Count: 1}, {Method: "GET", Status: 503, Count: 1}}
	if diff := cmp.Diff(want, counter.Snapshot().Requests); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"regtidy/test", "regtidy/test"}, agents); diff != "" {
		t.Errorf("User-Agent per attempt (-want +got):\n%s", diff)
	}
	if req.Header.Get("User-Agent") != "" {
		t.Errorf("the caller's request was modified: User-Agent %q", req.Header.Get("User-Agent"))
	}
	if got := strings.Count(logs.String(), "msg=\"http request\""); got != 2 {
		t.Errorf("logged %d requests, want 2 (one per attempt):\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), "msg=\"retrying request\"") {
		t.Errorf("retry not logged:\n%s", logs.String())
	}
}

func TestStackSharesCounter(t *testing.T) {
	shared := &Counter{}
	base := roundTripFunc(func(req *http.Request) (*http.Response, error) { return response(req, 200, ""), nil })
	for range 2 {
		rt, c := Stack(StackOptions{Base: base, Counter: shared})
		if c != shared {
			t.Fatal("Stack did not use the given counter")
		}
		req, _ := http.NewRequest(http.MethodHead, "http://127.0.0.1/v2/", nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if got := shared.Snapshot().Count(http.MethodHead, 200); got != 2 {
		t.Errorf("shared counter HEAD 200 = %d, want 2", got)
	}
}

func TestNewBase(t *testing.T) {
	b := NewBase(true, 64)
	if b.MaxIdleConnsPerHost != 64 || b.TLSClientConfig == nil || !b.TLSClientConfig.InsecureSkipVerify {
		t.Errorf("NewBase(true, 64): idle per host %d, TLS %+v", b.MaxIdleConnsPerHost, b.TLSClientConfig)
	}
	if b := NewBase(false, 0); b.MaxIdleConnsPerHost != DefaultConcurrency ||
		(b.TLSClientConfig != nil && b.TLSClientConfig.InsecureSkipVerify) {
		t.Errorf("NewBase(false, 0): idle per host %d, skip verify set", b.MaxIdleConnsPerHost)
	}
}
