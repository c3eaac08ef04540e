package ghcr

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/regtidy/regtidy/inventory"
)

// SyncStats describes what Sync did.
type SyncStats struct {
	// Full is true for a listing of every page (no complete listing before), false for an
	// incremental one; Resumed is true when it continued an interrupted listing.
	Full, Resumed bool
	// Pages counts the pages fetched; New counts the versions new to the state.
	Pages, New int
	// Requests counts the REST requests Sync sent.
	Requests int
	// Complete is true when the listing reached its end; the state then needs no listing cursor.
	Complete bool
}

// Sync brings st up to date with the package's versions at the least cost in requests:
//
//   - with no complete listing behind it, it lists every page (page 1, then the rest concurrently,
//     never more pages in flight than the budget left pays for, so that a spent budget leaves
//     the pages fetched consecutive and the cursor covers them all);
//   - after one, it lists from page 1 until a page holds only versions no newer than st.HighWater
//     (usually one or two requests);
//   - after an interrupted listing, it resumes at the page where that one stopped, stepping back
//     while versions deleted since have shifted unread ones onto earlier pages, then goes on.
//
// st is updated as pages arrive, so when the budget is spent (a *BudgetError wrapping
// ErrBudgetSpent) or another error stops it, saving st keeps the work for the next run. Versions
// deleted by someone else while a listing is unfinished may be missed until the next full listing
// (a new State).
func (c *Client) Sync(ctx context.Context, st *State) (stats SyncStats, err error) {
	repo := c.Repository()
	switch {
	case st.Repository == "":
		st.Repository = repo
	case st.Repository != repo:
		return stats, fmt.Errorf("ghcr: state is for %s, not %s", st.Repository, repo)
	}
	if c.OwnerKind() == OwnerUnknown && st.OwnerKind != OwnerUnknown {
		c.kindMu.Lock()
		c.kind = st.OwnerKind
		c.kindMu.Unlock()
	}
	before := c.Stats().Requests
	defer func() {
		stats.Requests = c.Stats().Requests - before
		if k := c.OwnerKind(); k != OwnerUnknown {
			st.OwnerKind = k
		}
	}()
	if st.Listing == nil {
		st.Listing = &Listing{Floor: st.HighWater, StartedAt: c.now().UTC()}
	}
	l := st.Listing
	stats.Full = l.Floor == 0
	stats.Resumed = l.Page > 0

	var first *page
	if l.Page > 0 {
		p, fetched, err := c.rejoin(ctx, l)
		stats.Pages += fetched
		if err != nil {
			return stats, listBudgetError(err, 0, l.Page)
		}
		first = &p
	}
	if first != nil {
		l.Page = first.number - 1 // pages from the rejoined one on are read again
	}
	cur := cursor{l: l, done: map[int]pageSpan{}}
	observe := func(p page) {
		for _, v := range p.versions {
			if st.Observe(v) {
				stats.New++
			}
		}
		cur.finish(p)
	}

	var last int
	if stats.Full {
		if first == nil {
			var p page
			if p, err = c.fetchPage(ctx, 1); err != nil {
				return stats, listBudgetError(err, 0, 0)
			}
			first = &p
			stats.Pages++
		}
		last = first.last
		err = c.listInOrder(ctx, *first, c.fetchPage, func(p page) error {
			if p.number != first.number {
				stats.Pages++
			}
			last = max(last, p.last)
			observe(p)
			return nil
		})
	} else {
		start := 1
		if first != nil {
			start = first.number
		}
		floor := l.Floor
		err = c.listNewFrom(ctx, first, start, func(id int64) bool { return id <= floor }, func(p page, _ []inventory.Version) error {
			if first == nil || p.number != first.number {
				stats.Pages++
			}
			last = max(last, p.last)
			observe(p)
			return nil
		})
	}
	if err != nil {
		return stats, listBudgetError(err, stats.Pages, max(last, l.Page))
	}
	st.HighWater = max(st.HighWater, l.Newest)
	st.Listing = nil
	stats.Complete = true
	return stats, nil
}

// listInOrder fetches, with fetch, the pages after first up to the last, concurrently
// (WithConcurrency), then, if versions were pushed meanwhile, any pages past the last while they
// come back full, as listRest does; onPage is called one page at a time, not in page order.
//
// Unlike listRest, it never has more pages in flight than the budgets it knows of (the primary
// limit as last seen, WithMaxRequests) can still pay for, and once they are spent it sends one
// page at a time. So when a budget runs out, the pages fetched are pages first.number+1 to some
// n, with no gap: a page whose goroutine started late is never left without budget by later
// pages that overtook it, and the listing cursor records every page fetched. Without that, one
// straggling page holds the cursor back and the next run reads again every page fetched after it.
// A spent budget stops the launching of new pages; the pages in flight finish.
func (c *Client) listInOrder(ctx context.Context, first page, fetch func(context.Context, int) (page, error), onPage func(page) error) error {
	var mu sync.Mutex
	seen := map[int64]bool{}
	shifted := false // a version on two pages: versions were pushed during the listing
	deliver := func(p page) error {
		mu.Lock()
		defer mu.Unlock()
		for _, v := range p.versions {
			shifted = shifted || seen[v.ID]
			seen[v.ID] = true
		}
		return onPage(p)
	}
	if err := deliver(first); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.concurrency)
	// finished receives one value per page fetch that returned; inflight counts the fetches
	// launched and not yet received from it (at most c.concurrency, the channel's capacity).
	finished := make(chan struct{}, c.concurrency)
	inflight := 0
	var stopped atomic.Bool
	var budgetErr error
	var lastFull atomic.Bool
	lastFull.Store(first.full && first.number == first.last)
	for n := first.number + 1; n <= first.last && !stopped.Load() && gctx.Err() == nil; n++ {
		// The headroom already excludes requests sent and not yet answered, so this errs on the
		// side of fewer pages in flight, and only when the budget is nearly spent.
		for inflight > 0 && inflight >= min(c.concurrency, c.headroom()) {
			<-finished
			inflight--
		}
		if stopped.Load() || gctx.Err() != nil {
			break
		}
		inflight++
		g.Go(func() error {
			defer func() { finished <- struct{}{} }()
			p, err := fetch(gctx, n)
			if errors.Is(err, ErrBudgetSpent) {
				mu.Lock()
				if budgetErr == nil {
					budgetErr = err
				}
				mu.Unlock()
				stopped.Store(true)
				return nil
			}
			if err != nil {
				return err
			}
			if n == first.last {
				lastFull.Store(p.full)
			}
			return deliver(p)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if budgetErr != nil {
		return budgetErr
	}
	// Pushes during the listing move the oldest versions past the last page announced: read on
	// while the last page comes back full, once pages showed such a shift.
	for n := first.last + 1; shifted && lastFull.Load() && n <= first.last+maxTailPages; n++ {
		p, err := fetch(ctx, n)
		if err != nil {
			return err
		}
		if err := deliver(p); err != nil {
			return err
		}
		lastFull.Store(p.full)
	}
	return nil
}

// rejoin finds where an interrupted listing can continue: page l.Page, or an earlier page when
// versions deleted since moved unread versions up. A page continues the listing when its newest
// version is no older than the oldest version read (ids grow with creation time).
// It returns the page and how many pages it fetched.
func (c *Client) rejoin(ctx context.Context, l *Listing) (page, int, error) {
	fetched := 0
	for n := l.Page; ; n-- {
		p, err := c.fetchPage(ctx, n)
		if err != nil {
			return page{}, fetched, err
		}
		fetched++
		if n <= 1 || (len(p.versions) > 0 && p.versions[0].ID >= l.Oldest) {
			return p, fetched, nil
		}
	}
}

// cursor advances a Listing over pages that finish out of order: Page is the last page up to
// which every page finished, Oldest the oldest version on them.
type cursor struct {
	l    *Listing
	done map[int]pageSpan
}

type pageSpan struct {
	oldest, newest int64
	empty          bool
}

func (c *cursor) finish(p page) {
	span := pageSpan{empty: len(p.versions) == 0}
	for _, v := range p.versions {
		if span.oldest == 0 || v.ID < span.oldest {
			span.oldest = v.ID
		}
		span.newest = max(span.newest, v.ID)
	}
	c.done[p.number] = span
	for {
		next := c.l.Page + 1
		s, ok := c.done[next]
		if !ok {
			return
		}
		delete(c.done, next)
		c.l.Page = next
		if !s.empty {
			if c.l.Oldest == 0 || s.oldest < c.l.Oldest {
				c.l.Oldest = s.oldest
			}
			c.l.Newest = max(c.l.Newest, s.newest)
		}
	}
}

// IsBudgetSpent reports whether err says a budget was spent (the run should stop cleanly, save its
// state, and leave the rest to the next run).
func IsBudgetSpent(err error) bool { return errors.Is(err, ErrBudgetSpent) }
