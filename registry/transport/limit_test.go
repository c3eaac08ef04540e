package transport

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLimitBoundsRequestsInFlight(t *testing.T) {
	var inFlight, peak atomic.Int64
	next := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
		inFlight.Add(-1)
		return response(req, 200, "ok"), nil
	})
	rt := Limit(next, 3)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
	}
	wg.Wait()
	if got := peak.Load(); got != 3 {
		t.Errorf("peak in flight = %d, want 3", got)
	}
}

func TestLimitHoldsSlotUntilBodyClosed(t *testing.T) {
	next := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return response(req, 200, "blob bytes"), nil
	})
	rt := Limit(next, 1)
	first, err := rt.RoundTrip(mustRequest(t, context.Background()))
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := rt.RoundTrip(mustRequest(t, ctx)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second request while the first body is open: err = %v, want deadline exceeded", err)
	}

	first.Body.Close()
	third, err := rt.RoundTrip(mustRequest(t, context.Background()))
	if err != nil {
		t.Fatalf("request after the body was closed: %v", err)
	}
	// Reading to the end gives the slot back too, even before Close.
	io.Copy(io.Discard, third.Body)
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	fourth, err := rt.RoundTrip(mustRequest(t, ctx2))
	if err != nil {
		t.Fatalf("request after the body was read to its end: %v", err)
	}
	fourth.Body.Close()
	third.Body.Close()
}

func TestLimitReleasesOnError(t *testing.T) {
	next := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("refused") })
	rt := Limit(next, 1)
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := rt.RoundTrip(mustRequest(t, ctx))
		cancel()
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the next hop's error", err)
		}
	}
}

func mustRequest(t *testing.T, ctx context.Context) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1/v2/", nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
