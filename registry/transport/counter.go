package transport

import (
	"cmp"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"

	"github.com/regtidy/regtidy/internal/units"
)

// Counter counts the requests that pass through it by method and status code, and the body bytes
// sent and received. Every attempt counts: placed below Retry (as Stack does), a request retried
// twice counts three times. A request that failed without a response counts under status 0.
// The zero value is ready to use and a Counter is safe for concurrent use.
type Counter struct {
	mu       sync.Mutex
	requests map[methodStatus]int64
	sent     atomic.Int64
	received atomic.Int64
}

type methodStatus struct {
	method string
	status int
}

// Wrap returns a RoundTripper that counts through c and sends on to next.
func (c *Counter) Wrap(next http.RoundTripper) http.RoundTripper {
	return &counting{next: next, c: c}
}

// Snapshot returns the counts so far, sorted by method then status.
func (c *Counter) Snapshot() Stats {
	c.mu.Lock()
	reqs := make([]RequestCount, 0, len(c.requests))
	for k, n := range c.requests {
		reqs = append(reqs, RequestCount{Method: k.method, Status: k.status, Count: n})
	}
	c.mu.Unlock()
	slices.SortFunc(reqs, func(a, b RequestCount) int {
		return cmp.Or(cmp.Compare(a.Method, b.Method), cmp.Compare(a.Status, b.Status))
	})
	return Stats{Requests: reqs, BytesSent: c.sent.Load(), BytesReceived: c.received.Load()}
}

func (c *Counter) add(method string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.requests == nil {
		c.requests = map[methodStatus]int64{}
	}
	c.requests[methodStatus{method, status}]++
}

// Stats is a snapshot of a Counter, ready to be printed or included in JSON output.
type Stats struct {
	// Requests holds one entry per method and status seen, sorted by method then status.
	Requests []RequestCount `json:"requests"`
	// BytesSent counts request body bytes read by the transport.
	BytesSent int64 `json:"bytes_sent"`
	// BytesReceived counts response body bytes read by the caller.
	BytesReceived int64 `json:"bytes_received"`
}

// RequestCount is the number of requests made with one method that ended with one status.
type RequestCount struct {
	Method string `json:"method"`
	// Status is the HTTP status code, or 0 for requests that got no response.
	Status int   `json:"status"`
	Count  int64 `json:"count"`
}

// Total returns the number of requests counted.
func (s Stats) Total() int64 {
	var n int64
	for _, r := range s.Requests {
		n += r.Count
	}
	return n
}

// Count returns the number of requests made with method that ended with status (0: no response).
func (s Stats) Count(method string, status int) int64 {
	for _, r := range s.Requests {
		if r.Method == method && r.Status == status {
			return r.Count
		}
	}
	return 0
}

// WriteTable writes the counts as a small aligned table, one row per method and status, then the
// total and the bytes moved.
func (s Stats) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "METHOD\tSTATUS\tREQUESTS")
	for _, r := range s.Requests {
		status := strconv.Itoa(r.Status)
		if r.Status == 0 {
			status = "error"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\n", r.Method, status, r.Count)
	}
	fmt.Fprintf(tw, "total\t\t%d\n", s.Total())
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "received %s, sent %s\n", units.Bytes(s.BytesReceived), units.Bytes(s.BytesSent))
	return err
}

type counting struct {
	next http.RoundTripper
	c    *Counter
}

func (t *counting) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req
	if req.Body != nil && req.Body != http.NoBody {
		out = new(http.Request)
		*out = *req
		out.Body = &countingBody{ReadCloser: req.Body, n: &t.c.sent}
	}
	resp, err := t.next.RoundTrip(out)
	if err != nil {
		t.c.add(req.Method, 0)
		return nil, err
	}
	t.c.add(req.Method, resp.StatusCode)
	if resp.Body != nil && resp.Body != http.NoBody {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &t.c.received}
	}
	return resp, nil
}

// countingBody adds the bytes read through it to n.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
