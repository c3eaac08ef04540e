package ghcr

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// RateLimit is the token's primary limit as the last answer told it (x-ratelimit-* headers),
// lowered to the client's hourly budget (WithHourlyBudget) when that is lower.
type RateLimit struct {
	// Known is false until an answer carried the headers, and again after a reset was waited for.
	Known bool
	// Limit is the requests a window allows this client: the token's limit (X-RateLimit-Limit),
	// or the hourly budget when lower; TokenLimit is the token's own.
	Limit      int
	TokenLimit int
	// Remaining is what is left of Limit in this window: the token's remaining requests, and at
	// most the hourly budget less the token's requests used so far.
	Remaining int
	Used      int
	Reset     time.Time
	Resource  string
}

// RateLimit returns the primary limit as last seen.
func (c *Client) RateLimit() RateLimit {
	c.limits.mu.Lock()
	defer c.limits.mu.Unlock()
	return c.limits.rl
}

// rateState tracks the primary limit from the answers' headers, counting requests in flight
// against it so that concurrent callers stop at zero together.
type rateState struct {
	mu sync.Mutex
	rl RateLimit
	// cap is the hourly budget (WithHourlyBudget); 0 means the token's limit.
	cap int
}

// update reads the headers of an answer. Within one window the lowest remaining wins (answers
// arrive out of order); a new reset time starts a new window.
func (s *rateState) update(h http.Header) {
	limit, err1 := strconv.Atoi(h.Get("X-RateLimit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	reset, err3 := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return
	}
	used, _ := strconv.Atoi(h.Get("X-RateLimit-Used"))
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := time.Unix(reset, 0)
	if s.rl.Known && rt.Equal(s.rl.Reset) {
		remaining = min(remaining, s.rl.Remaining)
		used = max(used, s.rl.Used)
	} else if s.rl.Known && rt.Before(s.rl.Reset) {
		return // an answer from the previous window, arriving late
	}
	tokenLimit := limit
	if s.cap > 0 && s.cap < limit {
		// A budget lower than the token's: the token's requests used so far in the window count
		// against it, whoever made them, so the job never takes more than its share.
		limit = s.cap
		remaining = max(0, min(remaining, s.cap-used))
	}
	s.rl = RateLimit{Known: true, Limit: limit, TokenLimit: tokenLimit, Remaining: remaining, Used: used, Reset: rt, Resource: h.Get("X-RateLimit-Resource")}
}

// consume counts a request about to be sent.
func (s *rateState) consume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rl.Known && s.rl.Remaining > 0 {
		s.rl.Remaining--
		s.rl.Used++
	}
}

// exhaust records a primary-limit answer.
func (s *rateState) exhaust(h http.Header) {
	s.update(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rl.Known {
		s.rl.Remaining = 0
	}
}

// spent reports whether the budget is spent at now, and when it resets. x-ratelimit-reset is in
// whole seconds, cut short, so the window may end up to a second after it: until then the budget
// counts as spent.
func (s *rateState) spent(now time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rl.Reset, s.rl.Known && s.rl.Remaining <= 0 && now.Before(s.rl.Reset.Add(time.Second))
}

// forget drops what is known once the reset has passed: the next answer tells the new window.
func (s *rateState) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rl.Known = false
}

// headroom returns how many more requests the client can send before a budget it knows of is
// spent: the stated request budget (WithMaxRequests) and the primary limit as last seen (while its
// window lasts), less the requests sent since; math.MaxInt when it knows of neither.
func (c *Client) headroom() int {
	n := math.MaxInt
	c.budget.mu.Lock()
	if c.budget.max > 0 {
		n = max(c.budget.max-c.budget.sent, 0)
	}
	c.budget.mu.Unlock()
	now := c.now()
	c.limits.mu.Lock()
	if rl := c.limits.rl; rl.Known && now.Before(rl.Reset.Add(time.Second)) {
		n = min(n, max(rl.Remaining, 0))
	}
	c.limits.mu.Unlock()
	return n
}

// budget is the stated request and time budget of a run.
type budget struct {
	mu       sync.Mutex
	max      int
	sent     int
	deadline time.Time
}

func (b *budget) check(now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.checkLocked(now)
}

func (b *budget) checkLocked(now time.Time) error {
	if b.max > 0 && b.sent >= b.max {
		return fmt.Errorf("%w: %d of %d requests sent", ErrBudgetSpent, b.sent, b.max)
	}
	if !b.deadline.IsZero() && !now.Before(b.deadline) {
		return fmt.Errorf("%w %s reached", ErrDeadline, b.deadline.Format(time.RFC3339))
	}
	return nil
}

// spend counts one request, or returns ErrBudgetSpent.
func (b *budget) spend(now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.checkLocked(now); err != nil {
		return err
	}
	b.sent++
	return nil
}

// clientWindow is the span of the client's secondary-limit window: a second longer than GitHub's
// minute, a margin for requests that arrive later than they were sent.
const clientWindow = 61 * time.Second

// pointsLimiter keeps each endpoint under the secondary limit: a sliding window of the points
// sent, and a pause after a secondary-limit answer. A request's points count from when it is sent
// and, once answered, from the answer's time: never earlier than GitHub counted them. A
// secondary-limit answer lowers the endpoint's ceiling; quiet windows raise it back (see recover).
type pointsLimiter struct {
	ceiling int
	mu      sync.Mutex
	byName  map[string]*endpointWindow
}

type endpointWindow struct {
	// waitMu is held while a caller waits, so that waiters go one at a time; mu guards the fields.
	waitMu       sync.Mutex
	mu           sync.Mutex
	events       []*pointEvent
	sum          int
	ceiling      int
	blockedUntil time.Time
	// max is the configured ceiling, which recovery never passes. calmFrom is when the quiet
	// stretch that earns the next raise began (the end of the last pause, or the last raise);
	// raised says the ceiling rose since it last dropped; strikes counts drops that followed a
	// raise, each doubling the quiet stretch a raise needs.
	max      int
	calmFrom time.Time
	raised   bool
	strikes  int
}

// Recovery of an endpoint's ceiling after secondary-limit answers.
const (
	// recoverySteps is how many raises bring the lowest ceiling back to the configured one: each
	// adds this fraction of it.
	recoverySteps = 8
	// maxStrikes caps the doublings of the quiet stretch a raise needs: 2^4 windows, 16 minutes.
	maxStrikes = 4
)

// pointEvent is one request's points and the time they count from.
type pointEvent struct {
	at     time.Time
	points int
}

func (l *pointsLimiter) get(endpoint string) *endpointWindow {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byName == nil {
		l.byName = map[string]*endpointWindow{}
	}
	w := l.byName[endpoint]
	if w == nil {
		w = &endpointWindow{ceiling: l.ceiling, max: l.ceiling}
		l.byName[endpoint] = w
	}
	return w
}

// acquire waits until points more fit in the endpoint's window and the endpoint is not paused,
// then counts them; settle the returned event when the answer comes.
func (l *pointsLimiter) acquire(ctx context.Context, c *Client, endpoint string, points int) (*pointEvent, error) {
	w := l.get(endpoint)
	w.waitMu.Lock()
	defer w.waitMu.Unlock()
	for range 4 {
		now := c.now()
		at := w.readyAt(now, points)
		if !at.After(now) {
			break
		}
		if err := c.wait(ctx, at.Sub(now), "secondary rate limit"); err != nil {
			return nil, err
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := c.now()
	w.prune(now)
	ev := &pointEvent{at: now, points: points}
	w.events = append(w.events, ev)
	w.sum += points
	return ev, nil
}

// settle moves a request's points to the time of its answer.
func (l *pointsLimiter) settle(endpoint string, ev *pointEvent, now time.Time) {
	w := l.get(endpoint)
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.After(ev.at) {
		ev.at = now
	}
}

// block pauses the endpoint until t after a secondary-limit answer at now. The limit is tighter
// than assumed (or shared with another client of the token), so unless the endpoint was paused
// already (answers to requests of the same burst), its ceiling drops to three quarters of the
// lower of itself and the points sent within the window. The quiet stretch that raises it back
// starts again at the end of the pause.
func (l *pointsLimiter) block(endpoint string, now, t time.Time) {
	w := l.get(endpoint)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.recover(now)
	if !w.blockedUntil.After(now) {
		w.prune(now)
		if w.raised {
			w.strikes = min(w.strikes+1, maxStrikes)
		}
		w.raised = false
		w.ceiling = max(min(w.ceiling, w.sum)*3/4, PointsMutation)
	}
	if t.After(w.blockedUntil) {
		w.blockedUntil = t
	}
	w.calmFrom = w.blockedUntil
}

// recover raises a lowered ceiling for the quiet stretches passed by now: by an eighth of the
// configured ceiling (never past it) for each, a stretch being one window (clientWindow) without
// a secondary-limit answer, or twice as long for each drop that followed a raise (the raised
// ceiling proved too high: probe less often), up to 16 windows. A limit met while few points were
// sent (another client of the token, a passing burst) so slows the endpoint for minutes, not for
// the rest of the run. Back at the configured ceiling, a stretch is one window again.
func (w *endpointWindow) recover(now time.Time) {
	if w.calmFrom.IsZero() {
		return
	}
	quiet := clientWindow << w.strikes
	step := max(w.max/recoverySteps, 1)
	for w.ceiling < w.max && !now.Before(w.calmFrom.Add(quiet)) {
		w.ceiling = min(w.ceiling+step, w.max)
		w.calmFrom = w.calmFrom.Add(quiet)
		w.raised = true
	}
	if w.ceiling >= w.max {
		w.strikes = 0
	}
}

// readyAt returns when points more may be sent: after any pause, once they fit under the ceiling.
func (w *endpointWindow) readyAt(now time.Time, points int) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.recover(now)
	w.prune(now)
	at := now
	if w.blockedUntil.After(at) {
		at = w.blockedUntil
	}
	if w.sum+points <= w.ceiling {
		return at
	}
	events := make([]pointEvent, 0, len(w.events))
	for _, ev := range w.events {
		events = append(events, *ev)
	}
	slices.SortFunc(events, func(a, b pointEvent) int { return a.at.Compare(b.at) })
	sum := w.sum
	for _, ev := range events {
		sum -= ev.points
		if sum+points <= w.ceiling {
			return maxTime(at, ev.at.Add(clientWindow))
		}
	}
	return maxTime(at, now.Add(clientWindow))
}

// prune forgets the points older than the window.
func (w *endpointWindow) prune(now time.Time) {
	cut := now.Add(-clientWindow)
	keep := w.events[:0]
	for _, ev := range w.events {
		if ev.at.After(cut) {
			keep = append(keep, ev)
		} else {
			w.sum -= ev.points
		}
	}
	clear(w.events[len(keep):])
	w.events = keep
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Pacing of mutating requests (deletes, restores).
const (
	// serialRate is GitHub's advice for many mutating requests: one at a time, at least a second
	// apart. It is the default pace and the ceiling of a serial run.
	serialRate = 60.0
	// rateStep is the increase per success, per minute, after a back-off.
	rateStep = 2.0
	// floorRate is the slowest pace after back-offs, per minute.
	floorRate = 6.0
	// maxFastInflight is GitHub's documented ceiling on concurrent requests.
	maxFastInflight = 100
)

// pacer spaces mutating requests and bounds how many are in flight. By default (serial) one is in
// flight at a time and each starts at least a second after the one before, as GitHub's REST best
// practices ask of a client making many POST, PATCH, PUT or DELETE requests. A fast pacer
// (WithFastPace) lets up to the client's concurrency run at once, starting at the secondary
// limit's ceiling (points per minute / 5: 180 DELETEs a minute); either halves its rate on a
// secondary-limit answer and creeps back up with each success. --pace lowers the ceiling.
type pacer struct {
	// slots holds one token per mutating request in flight.
	slots chan struct{}
	// waitMu is held while a caller waits for its start: starts go one at a time.
	waitMu  sync.Mutex
	mu      sync.Mutex
	fast    bool
	rate    float64
	ceiling float64
	next    time.Time
}

func (p *pacer) init(pace, secondaryCeiling float64, fast bool, concurrency int) {
	p.fast = fast
	p.ceiling = secondaryCeiling
	inflight := 1
	if fast {
		inflight = min(max(concurrency, 1), maxFastInflight)
	} else {
		p.ceiling = min(p.ceiling, serialRate)
	}
	if pace > 0 && pace < p.ceiling {
		p.ceiling = pace
	}
	p.rate = p.ceiling
	p.slots = make(chan struct{}, inflight)
}

// inflight is how many mutating requests may be in flight at once: 1 unless the pace is fast.
func (p *pacer) inflight() int { return cap(p.slots) }

// start blocks until the next mutating request may be sent: a slot is free and its start time
// has come. Call the returned function when the answer came (or the request failed).
func (p *pacer) start(ctx context.Context, c *Client) (func(), error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	release := func() { <-p.slots }
	p.waitMu.Lock()
	defer p.waitMu.Unlock()
	now := c.now()
	p.mu.Lock()
	at := p.next
	p.mu.Unlock()
	if at.After(now) {
		if err := c.wait(ctx, at.Sub(now), "delete pacing"); err != nil {
			release()
			return nil, err
		}
	}
	interval := time.Duration(float64(time.Minute) / max(c.paceAt(c.now()), floorRate))
	p.mu.Lock()
	p.next = c.now().Add(interval)
	p.mu.Unlock()
	return release, nil
}

// succeeded speeds up after a mutating request went through.
func (p *pacer) succeeded() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate = min(p.rate+rateStep, p.ceiling)
}

// limited slows down after a secondary-limit answer.
func (p *pacer) limited() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate = max(p.rate/2, floorRate)
}

// Pace returns the current pace of deletes and restores, per minute: the pacer's rate, within
// the secondary limit as learned for DELETE. The primary budget is not spread over its window: a
// run deletes at its pace until the budget is spent, then waits for the reset (within its
// deadline), so that no request of a window is left unspent when the run ends.
func (c *Client) Pace() float64 { return c.paceAt(c.now()) }

func (c *Client) paceAt(now time.Time) float64 {
	c.pacer.mu.Lock()
	rate := min(c.pacer.rate, c.pacer.ceiling)
	c.pacer.mu.Unlock()
	return min(rate, float64(c.points.ceilingOf(EndpointDelete, now))/PointsMutation)
}

// ceilingOf returns the points per window the endpoint is kept under at now.
func (l *pointsLimiter) ceilingOf(endpoint string, now time.Time) int {
	w := l.get(endpoint)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.recover(now)
	return w.ceiling
}
