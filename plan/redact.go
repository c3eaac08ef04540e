package plan

// Redact replaces credentials in s with "[redacted]": HTTP Authorization values, bearer and
// basic tokens, token-like query parameters of signed URLs, GitHub token shapes and URL user
// info. It is the redaction journals and reports get (invariant 7: tokens never appear in
// output, logs, plans or journals); use it on any error text printed for a user.
func Redact(s string) string { return redact(s) }
