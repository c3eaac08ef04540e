package ghcr

import "github.com/regtidy/regtidy/plan"

// Hourly primary limits of the usual tokens.
const (
	HourlyPersonalToken = 5000
	HourlyActionsToken  = 1000
	HourlyEnterpriseApp = 15000
)

// EstimateCost states what applying a plan on ghcr.io spends in REST requests: the listing pages
// for listVersions versions not yet in the state (at 100 a page), one request to find the package,
// and one DELETE per version; and how many hours of the token's budget (hourly requests) that is.
// OCI reads (tag re-checks) are not counted: they do not touch the REST budget.
func EstimateCost(listVersions, deletes, hourly int) plan.Cost {
	pages := (listVersions + DefaultPageSize - 1) / DefaultPageSize
	requests := 1 + pages + deletes
	c := plan.Cost{
		Mode:     "version",
		Why:      "ghcr.io refuses manifest DELETE on the OCI API (405); versions are deleted through the GitHub Packages REST API",
		Requests: requests,
		Deletes:  deletes,
	}
	if hourly > 0 {
		c.Hours = float64(requests) / float64(hourly)
	}
	return c
}
