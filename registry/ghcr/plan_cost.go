package ghcr

import (
	"fmt"
	"math"

	"github.com/regtidy/regtidy/plan"
)

// repeatListingPages is what an incremental listing costs: page 1 and, when it holds new
// versions, the page that shows nothing more is new.
const repeatListingPages = 2

// PlanCost states what carrying out a plan on ghcr.io spends of the REST budget (mode "version"):
// the listing requests that bring st up to date (ceil(V/100) for V versions with no complete
// listing yet, the pages left of an interrupted one, about two on a repeat run), one request to
// find the package when st does not know its owner's kind, and one DELETE per planned version
// that st does not record as deleted or refused already; and how many hours of a token's budget
// (hourly requests: HourlyPersonalToken, HourlyActionsToken...) that is at the pace in force:
// the longer of the requests at the hourly budget and the deletes at the pace. Call it after
// BuildInventory, with the state it updated. st may be nil (nothing known: a first run).
func PlanCost(p *plan.Plan, st *State, r Rate) plan.Cost {
	hourly := r.Hourly
	perMinute := r.PerMinute
	if perMinute <= 0 {
		perMinute = serialRate
	}
	deletes, versions := 0, len(p.Decisions)
	for i := range p.Decisions {
		d := &p.Decisions[i]
		if d.Action != plan.Delete {
			continue
		}
		if st != nil && d.VersionID != 0 && st.Skip(d.VersionID) {
			continue
		}
		deletes++
	}
	pages, lookup := 0, 1
	switch {
	case st == nil:
		pages = ceilDiv(versions, DefaultPageSize)
	case st.Listing != nil:
		versions = max(versions, len(st.Versions))
		pages = max(ceilDiv(versions, DefaultPageSize)-st.Listing.Page, 0) + 1
	case st.HighWater == 0:
		versions = max(versions, len(st.Versions))
		pages = ceilDiv(versions, DefaultPageSize)
	default:
		versions = max(versions, len(st.Versions))
		pages = repeatListingPages
	}
	if st != nil && st.OwnerKind != OwnerUnknown {
		lookup = 0
	}
	requests := lookup + pages + deletes
	c := plan.Cost{
		Mode:     string(plan.ModeVersion),
		Requests: requests,
		Deletes:  deletes,
	}
	c.Why = fmt.Sprintf("ghcr.io answers DELETE on /v2/.../manifests/ with 405 UNSUPPORTED, so each of the %d versions goes "+
		"through the GitHub Packages REST API, one request each (5 secondary-limit points: at most %d a minute); "+
		"%d listing requests bring the version ids up to date (a first listing of %d versions costs %d, a repeat run 1-%d); "+
		"tags and manifests are read and re-checked through the OCI API, which the REST budget does not count",
		deletes, DefaultPointsPerMinute/PointsMutation, pages, versions, ceilDiv(versions, DefaultPageSize), repeatListingPages)
	if hourly > 0 {
		c.Hours = float64(requests) / float64(hourly)
		paced := float64(deletes) / (perMinute * 60)
		bound := fmt.Sprintf("at %d requests an hour", hourly)
		if paced > c.Hours {
			c.Hours = paced
			bound = fmt.Sprintf("at %.0f deletes a minute (the pace in force)", perMinute)
		}
		if runs := int(math.Ceil(c.Hours)); runs > 1 {
			c.Why += fmt.Sprintf("; %s that is %.1f hours: about %d hourly runs, each continuing where the last stopped", bound, c.Hours, runs)
		}
	}
	if deletes > 0 {
		c.AfterApply = "deleted versions can be restored for 30 days after their deletion (regtidy undo with the run's journal); " +
			"ghcr.io frees their storage itself, with no garbage collection to run; versions GitHub refuses to delete " +
			"(public ones with over 5,000 downloads, the package's last tagged version) are recorded in the state and skipped by later runs"
	}
	return c
}

// Rate is what bounds how fast a plan can be carried out: the REST requests an hour the token
// allows (its X-RateLimit-Limit, or a lower --hourly-budget) and the deletes a minute the pace
// allows (0: one a second, the default pace).
type Rate struct {
	Hourly    int
	PerMinute float64
}

// Rate returns the client's rate: its hourly budget as the last answer told it (hourly when no
// answer has yet) and its pace's ceiling.
func (c *Client) Rate(hourly int) Rate {
	c.pacer.mu.Lock()
	defer c.pacer.mu.Unlock()
	return Rate{Hourly: hourly, PerMinute: c.pacer.ceiling}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
