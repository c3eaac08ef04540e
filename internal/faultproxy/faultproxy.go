// Package faultproxy injects faults between regtidy and a registry in tests: an http.Handler
// that wraps the registry's handler (internal/regtest.Options.Wrap) or the GHCR emulator, and
// answers some requests with a fault instead of, or on top of, the real answer: connection
// resets before or after the request reached the registry, stalls past the client's timeout,
// truncated bodies, bursts of 500/502/503/429 with and without Retry-After, slow answers, and an
// empty 200 tag page without a Link header.
//
// Faults are drawn from a generator seeded by Options.Seed, so a run injects the same sequence
// of faults into the same sequence of requests; and bounded: Options.Max caps the faults
// injected in all, and Options.MaxPerKind each kind, after which every request passes. Stalls
// end when the client gives up, or after Options.StallMax at most.
//
// The package is for tests only; regtidy's binary does not import it.
package faultproxy

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kind is a kind of fault.
type Kind string

// The faults a Proxy injects.
const (
	// Reset closes the connection without an answer, before the request reaches the registry.
	Reset Kind = "reset"
	// ResetAfter lets the registry carry the request out, then closes the connection without
	// its answer: a DELETE that happened, whose answer was lost.
	ResetAfter Kind = "reset-after"
	// Stall holds the request without an answer until the client gives up (its timeout), or
	// Options.StallMax at most, then closes the connection; the registry never sees it.
	Stall Kind = "stall"
	// Truncate sends the registry's status and headers (Content-Length included) and half of its
	// body, then breaks the connection. Requests whose answer has no body pass.
	Truncate Kind = "truncate"
	// Status500, Status502, Status503 and Status429 answer with that status and no Retry-After;
	// Status503RetryAfter and Status429RetryAfter with Retry-After (Options.RetryAfter). Each
	// starts a burst: the next Options.Burst-1 requests the proxy may fault get the same answer.
	Status500           Kind = "500"
	Status502           Kind = "502"
	Status503           Kind = "503"
	Status429           Kind = "429"
	Status503RetryAfter Kind = "503+retry-after"
	Status429RetryAfter Kind = "429+retry-after"
	// Status500After lets the registry carry the request out, then answers 500 in place of its
	// answer: a DELETE that took effect though the server said it failed. Not in
	// NetworkAndServer (a 500 that lies is rarer than a lost answer); name it in Options.Kinds.
	Status500After Kind = "500-after"
	// Slow waits Options.SlowDelay, then passes the request on.
	Slow Kind = "slow"
	// EmptyTags answers a tag listing (GET .../tags/list) with 200, {"tags": []} and no Link
	// header, as if the repository (or the rest of it) had no tags. Other requests pass.
	EmptyTags Kind = "empty-tags"
)

// NetworkAndServer are the kinds a registry or network may inflict on any request: every kind
// but EmptyTags, which says something false rather than failing.
var NetworkAndServer = []Kind{Reset, ResetAfter, Stall, Truncate, Status500, Status502, Status503,
	Status429, Status503RetryAfter, Status429RetryAfter, Slow}

// Options configure a Proxy. The zero value injects nothing.
type Options struct {
	// Seed seeds the generator that decides which requests are faulted and how.
	Seed uint64
	// Rate is the share of requests, in [0, 1], that start a fault.
	Rate float64
	// Kinds are the faults drawn from, evenly. The default value is NetworkAndServer.
	Kinds []Kind
	// Max caps the faults injected in all (a burst counts each request). The default value is 50.
	Max int
	// MaxPerKind caps the faults of each kind; a kind at its cap is not drawn. The default is Max.
	MaxPerKind map[Kind]int
	// Burst is how many requests in a row a status fault answers. The default value is 3.
	Burst int
	// RetryAfter is the Retry-After header value of the *RetryAfter kinds. The default is "0".
	RetryAfter string
	// StallMax bounds a stall. The default value is 10 s.
	StallMax time.Duration
	// SlowDelay is how long a Slow fault waits. The default value is 20 ms.
	SlowDelay time.Duration
	// Only, if set, says which requests may be faulted; the rest always pass.
	Only func(*http.Request) bool
	// PageTags, when positive, makes tag listings page: a GET of tags/list without n is passed on
	// with n=PageTags, so the registry answers the first page with a Link to the next, as
	// registries that always page do.
	PageTags int
	// Log, if set, receives one line per fault injected.
	Log func(format string, args ...any)
}

// Proxy is an http.Handler that injects faults in front of another. It is safe for concurrent
// use.
type Proxy struct {
	next http.Handler
	opt  Options

	mu        sync.Mutex
	rng       *rand.Rand
	enabled   bool
	total     int
	counts    map[Kind]int
	requests  int
	burstKind Kind
	burstLeft int
}

// New returns a Proxy in front of next. It starts enabled.
func New(next http.Handler, opt Options) *Proxy {
	if len(opt.Kinds) == 0 {
		opt.Kinds = NetworkAndServer
	}
	if opt.Max <= 0 {
		opt.Max = 50
	}
	if opt.Burst <= 0 {
		opt.Burst = 3
	}
	if opt.RetryAfter == "" {
		opt.RetryAfter = "0"
	}
	if opt.StallMax <= 0 {
		opt.StallMax = 10 * time.Second
	}
	if opt.SlowDelay <= 0 {
		opt.SlowDelay = 20 * time.Millisecond
	}
	return &Proxy{next: next, opt: opt, rng: rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x2545f4914f6cdd1d)),
		enabled: true, counts: map[Kind]int{}}
}

// Wrap returns a function for regtest.Options.Wrap that puts a Proxy made with opt in front of
// the registry and stores it in *p.
func Wrap(p **Proxy, opt Options) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		*p = New(h, opt)
		return *p
	}
}

// SetEnabled turns fault injection on or off (tag paging stays as configured).
func (p *Proxy) SetEnabled(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.enabled = on
	p.burstLeft = 0
}

// Counts returns the faults injected so far, by kind.
func (p *Proxy) Counts() map[Kind]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Kind]int, len(p.counts))
	for k, n := range p.counts {
		out[k] = n
	}
	return out
}

// Total returns the faults injected so far, and the requests seen.
func (p *Proxy) Total() (faults, requests int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total, p.requests
}

// String lists the faults injected by kind, e.g. "reset=2 500=3".
func (p *Proxy) String() string {
	c := p.Counts()
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Itoa(c[Kind(k)])
	}
	return strings.Join(parts, " ")
}

// ServeHTTP answers r with a fault or passes it on.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.opt.PageTags > 0 && isTagList(r) && r.URL.Query().Get("n") == "" {
		q := r.URL.Query()
		q.Set("n", strconv.Itoa(p.opt.PageTags))
		r = r.Clone(r.Context())
		r.URL.RawQuery = q.Encode()
		r.RequestURI = r.URL.RequestURI()
	}
	kind, ok := p.draw(r)
	if !ok {
		p.next.ServeHTTP(w, r)
		return
	}
	if p.opt.Log != nil {
		p.opt.Log("faultproxy: %s on %s %s", kind, r.Method, r.URL.RequestURI())
	}
	switch kind {
	case Reset:
		hangUp(w)
	case ResetAfter:
		p.next.ServeHTTP(httptest.NewRecorder(), r)
		hangUp(w)
	case Status500After:
		p.next.ServeHTTP(httptest.NewRecorder(), r)
		http.Error(w, `{"message":"Server Error (injected after the request took effect)"}`, http.StatusInternalServerError)
	case Stall:
		t := time.NewTimer(p.opt.StallMax)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-t.C:
		}
		hangUp(w)
	case Truncate:
		rec := httptest.NewRecorder()
		p.next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		w.Write(body[:len(body)/2]) //nolint:errcheck // the connection is broken next anyway
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler) // net/http closes the connection without ending the body
	case Slow:
		t := time.NewTimer(p.opt.SlowDelay)
		select {
		case <-r.Context().Done():
		case <-t.C:
		}
		t.Stop()
		p.next.ServeHTTP(w, r)
	case EmptyTags:
		w.Header().Set("Content-Type", "application/json")
		name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v2/"), "/tags/list")
		json.NewEncoder(w).Encode(map[string]any{"name": name, "tags": []string{}}) //nolint:errcheck // test answer
	default:
		code, _ := strconv.Atoi(string(kind)[:3])
		if strings.HasSuffix(string(kind), "+retry-after") {
			w.Header().Set("Retry-After", p.opt.RetryAfter)
		}
		http.Error(w, `{"errors":[{"code":"UNAVAILABLE","message":"injected fault"}]}`, code)
	}
}

// draw decides whether r gets a fault, and which.
func (p *Proxy) draw(r *http.Request) (Kind, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	if !p.enabled || p.total >= p.opt.Max || (p.opt.Only != nil && !p.opt.Only(r)) {
		return "", false
	}
	if p.burstLeft > 0 {
		p.burstLeft--
		return p.count(p.burstKind), true
	}
	if p.rng.Float64() >= p.opt.Rate {
		return "", false
	}
	var open []Kind
	for _, k := range p.opt.Kinds {
		if p.applies(k, r) && (p.opt.MaxPerKind == nil || p.counts[k] < p.maxOf(k)) {
			open = append(open, k)
		}
	}
	if len(open) == 0 {
		return "", false
	}
	k := open[p.rng.IntN(len(open))]
	if isStatus(k) {
		p.burstKind, p.burstLeft = k, p.opt.Burst-1
	}
	return p.count(k), true
}

func (p *Proxy) maxOf(k Kind) int {
	if n, ok := p.opt.MaxPerKind[k]; ok {
		return n
	}
	return p.opt.Max
}

// count records one fault of kind k.
func (p *Proxy) count(k Kind) Kind {
	p.total++
	p.counts[k]++
	return k
}

// applies reports whether a fault of kind k can be made of r.
func (p *Proxy) applies(k Kind, r *http.Request) bool {
	switch k {
	case EmptyTags:
		return isTagList(r)
	case Truncate:
		return r.Method == http.MethodGet
	}
	return true
}

// isStatus reports whether k answers with an error status.
func isStatus(k Kind) bool {
	switch k {
	case Status500, Status502, Status503, Status429, Status503RetryAfter, Status429RetryAfter:
		return true
	}
	return false
}

// isTagList reports whether r lists tags.
func isTagList(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/tags/list")
}

// hangUp closes the client's connection without an answer.
func hangUp(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}
