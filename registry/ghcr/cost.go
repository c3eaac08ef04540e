package ghcr

// Hourly primary limits of the usual tokens.
const (
	HourlyPersonalToken = 5000
	HourlyActionsToken  = 1000
	HourlyEnterpriseApp = 15000
)
