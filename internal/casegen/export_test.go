package casegen

// Unexported helpers for the external tests of this package (case_test.go, which needs a
// distribution registry from package regtest, which imports this package).
var MatchesShape = matchesShape
