package ghcremu

import (
	"maps"
	"time"
)

// Stats counts what the emulator answered, for tests and benchmarks.
type Stats struct {
	// REST holds the counters of each endpoint (EndpointList, EndpointDelete, ...).
	REST map[string]EndpointStats
	// OCI counts OCI API requests by method.
	OCI map[string]int
	// OCIDeleteRefused counts OCI DELETEs answered 405.
	OCIDeleteRefused int
	// OCIHeadsFromTable counts the HEADs by tag answered from the version table, not the registry.
	OCIHeadsFromTable int
	// PeakInFlight is the most REST requests that were in flight at once.
	PeakInFlight int
	// OCIUnauthorized counts OCI requests answered 401 (Options.OCIAuth); TokenGrants the registry
	// tokens the /token endpoint issued.
	OCIUnauthorized, TokenGrants int
}

// EndpointStats are the counters of one REST endpoint, over every token.
type EndpointStats struct {
	// Requests counts every request routed to the endpoint, whatever the answer.
	Requests int
	// Points sums the points of the requests the secondary limit let through.
	Points int
	// PeakPoints is the most points let through within any 60-second window.
	PeakPoints int
	// PeakAsked is the most points asked for (let through or refused) within any 60-second window:
	// a client that stays at or under the limit keeps this at or under it.
	PeakAsked int
	// Status counts the answers by HTTP status.
	Status map[int]int
	// PrimaryLimited, SecondaryLimited and Injected count answers over the primary limit, over the
	// secondary limit (points or concurrency), and injected 500s.
	PrimaryLimited, SecondaryLimited, Injected int
	// PeakInFlight is the most requests to the endpoint in flight at once.
	PeakInFlight int
	// MinGap is the shortest time, on the emulator's clock, between the arrivals of two
	// consecutive requests to the endpoint (0 until the second). GitHub asks clients making many
	// mutating requests to wait at least a second between them.
	MinGap time.Duration
}

// Total sums the requests of every REST endpoint.
func (s Stats) Total() int {
	n := 0
	for _, es := range s.REST {
		n += es.Requests
	}
	return n
}

// Stats returns a copy of the counters.
func (e *Emulator) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := Stats{REST: map[string]EndpointStats{}, OCI: maps.Clone(e.oci), OCIDeleteRefused: e.refused, OCIHeadsFromTable: e.heads, PeakInFlight: e.peak,
		OCIUnauthorized: e.ociUnauthorized, TokenGrants: e.tokenGrants}
	for name, es := range e.stats {
		c := es.EndpointStats
		c.Status = maps.Clone(es.Status)
		out.REST[name] = c
	}
	return out
}

// ResetStats zeroes the counters (not the rate limits).
func (e *Emulator) ResetStats() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stats = map[string]*endpointStats{}
	e.oci = map[string]int{}
	e.refused = 0
	e.heads = 0
	e.ociUnauthorized, e.tokenGrants = 0, 0
	e.peak = e.inflight
}

// endpointStats adds the sliding windows behind the peaks.
type endpointStats struct {
	EndpointStats
	accepted, asked window
	inflight        int
	lastArrival     time.Time
}

func (e *Emulator) statsLocked(endpoint string) *endpointStats {
	es := e.stats[endpoint]
	if es == nil {
		es = &endpointStats{EndpointStats: EndpointStats{Status: map[int]int{}}}
		e.stats[endpoint] = es
	}
	return es
}

// tokenState is one token's primary window and secondary windows.
type tokenState struct {
	userID int
	used   int
	limit  int
	reset  time.Time
	points map[string]*window
}

// rateHeaders are the x-ratelimit-* values of an answer.
type rateHeaders struct {
	limit, remaining, used int
	reset                  time.Time
}

// takePrimaryLocked counts one request against the token's primary limit, starting a new window
// when the last one is over. It reports false, without counting, when the limit is spent.
func (e *Emulator) takePrimaryLocked(ts *tokenState, token string, now time.Time) (rateHeaders, bool) {
	if ts.reset.IsZero() || !now.Before(ts.reset) {
		ts.used = 0
		ts.reset = now.Add(e.opts.RateWindow)
		ts.limit = e.opts.RateLimit
		if l := e.limits[token]; l > 0 {
			ts.limit = l
		}
	}
	if ts.used >= ts.limit {
		return rateHeaders{limit: ts.limit, remaining: 0, used: ts.used, reset: ts.reset}, false
	}
	ts.used++
	return rateHeaders{limit: ts.limit, remaining: ts.limit - ts.used, used: ts.used, reset: ts.reset}, true
}

// takeSecondaryLocked asks for points on the token's window of endpoint. When they do not fit, it
// reports false and how long until they would.
func (e *Emulator) takeSecondaryLocked(ts *tokenState, endpoint string, points int, now time.Time) (time.Duration, bool) {
	es := e.statsLocked(endpoint)
	es.asked.add(now, points)
	es.PeakAsked = max(es.PeakAsked, es.asked.sum)
	w := ts.points[endpoint]
	if w == nil {
		w = &window{}
		ts.points[endpoint] = w
	}
	w.prune(now)
	if limit := e.opts.SecondaryPoints; limit > 0 && w.sum+points > limit {
		return w.waitFor(now, points, limit), false
	}
	w.add(now, points)
	es.accepted.add(now, points)
	es.Points += points
	es.PeakPoints = max(es.PeakPoints, es.accepted.sum)
	return 0, true
}

// window is a sliding 60-second log of points.
type window struct {
	events []pointEvent
	sum    int
}

type pointEvent struct {
	at     time.Time
	points int
}

const windowSpan = time.Minute

// prune forgets the events older than a minute.
func (w *window) prune(now time.Time) {
	cut := now.Add(-windowSpan)
	i := 0
	for i < len(w.events) && !w.events[i].at.After(cut) {
		w.sum -= w.events[i].points
		i++
	}
	w.events = w.events[i:]
}

func (w *window) add(now time.Time, points int) {
	w.prune(now)
	w.events = append(w.events, pointEvent{at: now, points: points})
	w.sum += points
}

// waitFor returns how long until points more fit under limit, the window pruned at now.
func (w *window) waitFor(now time.Time, points, limit int) time.Duration {
	sum := w.sum
	for _, ev := range w.events {
		sum -= ev.points
		if sum+points <= limit {
			return ev.at.Add(windowSpan).Sub(now)
		}
	}
	return windowSpan
}
