package ghcr

import (
	"context"
	"errors"
	"fmt"

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
//   - with no complete listing behind it, it lists every page (page 1, then the rest concurrently);
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
		err = c.listRest(ctx, *first, func(p page) error {
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
