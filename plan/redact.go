package plan

import (
	"regexp"
	"strings"
)

// Redact replaces credentials in s with "[redacted]": HTTP Authorization values, bearer and
// basic tokens, token-like query parameters of signed URLs, GitHub token shapes and URL user
// info, with or without a scheme ("user:password@host/repo", as a repository reference written
// by mistake reaches an error message). It is the redaction journals and reports get (invariant
// 7: tokens never appear in output, logs, plans or journals); use it on any error text printed
// for a user.
func Redact(s string) string { return redact(s) }

// userInfo matches "user:password@" where no "://" precedes it: the password runs to the "@"
// and holds no slash, space or quote. Whether it is user info depends on what follows the "@"
// (see redactUserInfo).
var userInfo = regexp.MustCompile(`([^\s/:@"'\x60<>()\[\]{}]+):([^\s/@"'\x60]+)@`)

// digestAfterAt matches a digest ("sha256:<hex>"), which follows the "@" of "name:tag@digest":
// a tag pinned to a digest, not credentials.
var digestAfterAt = regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}`)

// redactUserInfo replaces scheme-less user info ("user:password@host") by "[redacted]@",
// leaving "name:tag@sha256:..." references alone.
func redactUserInfo(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	matches := userInfo.FindAllStringIndex(s, -1)
	if matches == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range matches {
		if digestAfterAt.MatchString(s[m[1]:]) {
			continue
		}
		b.WriteString(s[last:m[0]])
		b.WriteString("[redacted]@")
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}
