package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCounterCountsByMethodAndStatus(t *testing.T) {
	statuses := map[string]int{"/a": 200, "/b": 404, "/c": 200}
	next := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.Body != nil {
			io.Copy(io.Discard, req.Body)
		}
		if req.URL.Path == "/down" {
			return nil, errors.New("connection refused")
		}
		return response(req, statuses[req.URL.Path], "0123456789"), nil
	})
	c := &Counter{}
	rt := c.Wrap(next)
	var wg sync.WaitGroup
	for _, call := range []struct{ method, path, body string }{
		{"GET", "/a", ""}, {"GET", "/a", ""}, {"HEAD", "/b", ""}, {"PUT", "/c", "manifest!"}, {"GET", "/down", ""},
	} {
		wg.Go(func() {
			var body io.Reader
			if call.body != "" {
				body = strings.NewReader(call.body)
			}
			req, _ := http.NewRequest(call.method, "http://127.0.0.1"+call.path, body)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				return
			}
			if call.method == "GET" {
				io.Copy(io.Discard, resp.Body)
			}
			resp.Body.Close()
		})
	}
	wg.Wait()

	want := Stats{
		Requests: []RequestCount{
			{Method: "GET", Status: 0, Count: 1},
			{Method: "GET", Status: 200, Count: 2},
			{Method: "HEAD", Status: 404, Count: 1},
			{Method: "PUT", Status: 200, Count: 1},
		},
		BytesSent:     9,
		BytesReceived: 20,
	}
	got := c.Snapshot()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Snapshot (-want +got):\n%s", diff)
	}
	if got.Total() != 5 || got.Count("GET", 200) != 2 || got.Count("DELETE", 202) != 0 {
		t.Errorf("Total = %d, Count(GET, 200) = %d, Count(DELETE, 202) = %d; want 5, 2, 0",
			got.Total(), got.Count("GET", 200), got.Count("DELETE", 202))
	}
}

func TestStatsWriteTable(t *testing.T) {
	s := Stats{
		Requests: []RequestCount{
			{Method: "GET", Status: 0, Count: 1},
			{Method: "GET", Status: 200, Count: 1200},
			{Method: "HEAD", Status: 404, Count: 3},
		},
		BytesReceived: 3 << 20,
		BytesSent:     512,
	}
	var b bytes.Buffer
	if err := s.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	want := `METHOD  STATUS  REQUESTS
GET     error   1
GET     200     1200
HEAD    404     3
total           1204
received 3.0 MiB, sent 512 B
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("WriteTable (-want +got):\n%s", diff)
	}
}

func TestStatsJSON(t *testing.T) {
	s := Stats{Requests: []RequestCount{{Method: "GET", Status: 200, Count: 2}}, BytesReceived: 10, BytesSent: 1}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"requests":[{"method":"GET","status":200,"count":2}],"bytes_sent":1,"bytes_received":10}`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}
