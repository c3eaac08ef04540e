package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// backend answers every request with a fixed body and counts what reached it.
type backend struct{ hits atomic.Int64 }

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.hits.Add(1)
	if strings.HasSuffix(r.URL.Path, "/tags/list") {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"name":"a/b","tags":["one","two"],"n":%q}`, r.URL.Query().Get("n"))
		return
	}
	io.WriteString(w, strings.Repeat("manifest bytes ", 100)) //nolint:errcheck // test server
}

// get sends one request with a client that gives up after timeout, and returns the status and
// the body read, or the error of the request or of reading the body.
func get(t *testing.T, url string, timeout time.Duration) (int, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// TestEachKind checks what a client sees of each fault, and whether the request reached the
// registry behind.
func TestEachKind(t *testing.T) {
	tests := []struct {
		kind    Kind
		path    string
		reached int64
		check   func(code int, body string, err error) error
	}{
		{Status500, "/v2/a/b/manifests/x", 0, func(code int, _ string, err error) error {
			if code != 500 || err != nil {
				return fmt.Errorf("want 500, got %d %v", code, err)
			}
			return nil
		}},
		{Reset, "/v2/a/b/manifests/x", 0, wantErr},
		{ResetAfter, "/v2/a/b/manifests/x", 1, wantErr},
		{Stall, "/v2/a/b/manifests/x", 0, func(_ int, _ string, err error) error {
			if !errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("want the client's timeout, got %v", err)
			}
			return nil
		}},
		{Truncate, "/v2/a/b/manifests/x", 1, func(code int, body string, err error) error {
			if code != 200 || !errors.Is(err, io.ErrUnexpectedEOF) || len(body) != 750 {
				return fmt.Errorf("want 200 and half the body cut short, got %d, %d bytes, %v", code, len(body), err)
			}
			return nil
		}},
		{Status503RetryAfter, "/v2/a/b/manifests/x", 0, func(code int, _ string, err error) error {
			if code != 503 || err != nil {
				return fmt.Errorf("want 503, got %d %v", code, err)
			}
			return nil
		}},
		{Slow, "/v2/a/b/manifests/x", 1, func(code int, body string, err error) error {
			if code != 200 || err != nil || len(body) != 1500 {
				return fmt.Errorf("want the whole answer, got %d, %d bytes, %v", code, len(body), err)
			}
			return nil
		}},
		{EmptyTags, "/v2/a/b/tags/list", 0, func(code int, body string, err error) error {
			if code != 200 || err != nil || !strings.Contains(body, `"tags":[]`) {
				return fmt.Errorf("want 200 and no tags, got %d %q %v", code, body, err)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			b := &backend{}
			p := New(b, Options{Rate: 1, Kinds: []Kind{tt.kind}, Max: 1, StallMax: 5 * time.Second})
			srv := httptest.NewServer(p)
			defer srv.Close()
			timeout := 10 * time.Second // generous: only a stall should outlast it
			if tt.kind == Stall {
				timeout = 500 * time.Millisecond
			}
			code, body, err := get(t, srv.URL+tt.path, timeout)
			if cerr := tt.check(code, body, err); cerr != nil {
				t.Error(cerr)
			}
			if got := b.hits.Load(); got != tt.reached {
				t.Errorf("the registry saw %d requests, want %d", got, tt.reached)
			}
			// Max is 1: the next request passes.
			if code, _, err := get(t, srv.URL+tt.path, 5*time.Second); code != 200 || err != nil {
				t.Errorf("after the one fault allowed: %d %v", code, err)
			}
			if c := p.Counts(); c[tt.kind] != 1 || len(c) != 1 {
				t.Errorf("counts %v, want one %s", c, tt.kind)
			}
		})
	}
}

func wantErr(_ int, _ string, err error) error {
	if err == nil {
		return errors.New("want a connection error, got an answer")
	}
	return nil
}

// TestDeterministicAndBounded checks that a seed gives the same faults to the same sequence of
// requests, that bursts repeat their status, and that Max and MaxPerKind hold.
func TestDeterministicAndBounded(t *testing.T) {
	run := func(seed uint64) ([]string, map[Kind]int) {
		b := &backend{}
		p := New(b, Options{Seed: seed, Rate: 0.3, Max: 25, MaxPerKind: map[Kind]int{Reset: 2},
			Kinds: []Kind{Reset, Status500, Status429RetryAfter, Slow}, SlowDelay: time.Millisecond})
		srv := httptest.NewServer(p)
		defer srv.Close()
		var seen []string
		for range 200 {
			code, _, err := get(t, srv.URL+"/v2/a/b/manifests/x", 5*time.Second)
			seen = append(seen, fmt.Sprint(code, err != nil))
		}
		if n, reqs := p.Total(); n != 25 || reqs != 200 {
			t.Errorf("seed %d: %d faults in %d requests, want the 25 allowed in 200", seed, n, reqs)
		}
		return seen, p.Counts()
	}
	a, ca := run(7)
	b, cb := run(7)
	if !slices.Equal(a, b) {
		t.Error("the same seed gave different faults")
	}
	if ca[Reset] > 2 {
		t.Errorf("%d resets, over MaxPerKind 2", ca[Reset])
	}
	if fmt.Sprint(ca) != fmt.Sprint(cb) {
		t.Errorf("counts differ: %v, %v", ca, cb)
	}
	if c, _ := run(8); slices.Equal(a, c) {
		t.Error("two seeds gave the same faults")
	}
}

// TestBursts checks that a status fault answers three requests in a row.
func TestBursts(t *testing.T) {
	p := New(&backend{}, Options{Seed: 3, Rate: 0.2, Max: 1000, Kinds: []Kind{Status502}})
	srv := httptest.NewServer(p)
	defer srv.Close()
	run := 0
	for i := range 300 {
		code, _, err := get(t, srv.URL+"/v2/a/b/manifests/x", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if code == 502 {
			run++
			continue
		}
		if run%3 != 0 {
			t.Fatalf("request %d ends a run of %d 502s; bursts are of 3", i, run)
		}
		run = 0
	}
	if c := p.Counts()[Status502]; c < 30 {
		t.Errorf("%d 502s in 300 requests at a rate of 0.2 with bursts of 3", c)
	}
}

// TestPageTags checks that a tag listing without n is passed on with n, and one with n as is.
func TestPageTags(t *testing.T) {
	p := New(&backend{}, Options{PageTags: 2})
	srv := httptest.NewServer(p)
	defer srv.Close()
	if _, body, _ := get(t, srv.URL+"/v2/a/b/tags/list", 5*time.Second); !strings.Contains(body, `"n":"2"`) {
		t.Errorf("unpaged listing passed on as %s", body)
	}
	if _, body, _ := get(t, srv.URL+"/v2/a/b/tags/list?n=7", 5*time.Second); !strings.Contains(body, `"n":"7"`) {
		t.Errorf("paged listing passed on as %s", body)
	}
}
