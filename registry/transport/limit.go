package transport

import (
	"io"
	"net/http"
	"sync"
)

// DefaultConcurrency is the default number of requests Limit lets through at once.
const DefaultConcurrency = 32

// Limit returns a RoundTripper that lets at most n requests be in flight at once; n <= 0 means
// DefaultConcurrency (32). A request holds its slot from the moment it is sent until its response
// body is read to the end or closed (or until it fails), so a streaming blob download counts as in
// flight. Waiting for a slot ends early, with the context's error, when the request's context is
// done.
//
// Callers must close response bodies, as net/http already requires; a body left open keeps its
// slot.
func Limit(next http.RoundTripper, n int) http.RoundTripper {
	if n <= 0 {
		n = DefaultConcurrency
	}
	return &limit{next: next, slots: make(chan struct{}, n)}
}

type limit struct {
	next  http.RoundTripper
	slots chan struct{}
}

func (l *limit) RoundTrip(req *http.Request) (*http.Response, error) {
	select {
	case l.slots <- struct{}{}:
	case <-req.Context().Done():
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, req.Context().Err()
	}
	release := sync.OnceFunc(func() { <-l.slots })
	resp, err := l.next.RoundTrip(req)
	if err != nil {
		release()
		return nil, err
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		release()
		return resp, nil
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// releasingBody gives back a Limit slot when the body reaches its end or is closed.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.release()
	}
	return n, err
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}
