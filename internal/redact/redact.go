// Package redact removes credentials from text before it is printed, logged or written to a
// journal: one list of secret shapes for the journal and error texts (Text), the request logs of
// registry/transport (URL) and git URLs in messages and cache keys (Password). Tokens never
// appear in output, logs, plans or journals.
package redact

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Marker replaces a credential in text (Text).
const Marker = "[redacted]"

// URLMarker replaces a credential in a URL (URL): user info and secret query parameter values.
// It has no characters a URL would escape, so logged URLs stay readable.
const URLMarker = "REDACTED"

// SecretParams are query parameter names whose values are credentials, compared without case:
// tokens, passwords and the signatures of signed blob storage URLs.
var SecretParams = []string{
	"token", "access_token", "refresh_token", "id_token", "password", "secret", "sig", "signature",
	"x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature",
	"x-goog-credential", "x-ms-signature",
}

// secretPatterns match credentials that could hide in error text: HTTP auth schemes with their
// value, secret query parameters, GitHub token shapes and URL user info.
var secretPatterns = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?i)\b(authorization|proxy-authorization)\s*[:=]\s*[^\s,;"]+(\s+[^\s,;"]+)?`), "$1: " + Marker},
	{regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}`), "$1 " + Marker},
	{regexp.MustCompile(`(?i)\b(` + paramAlternatives() + `)=[^&\s"]+`), "$1=" + Marker},
	{regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})`), Marker},
	{regexp.MustCompile(`://[^/\s:@]+:[^/\s@]+@`), "://" + Marker + "@"},
}

// paramAlternatives is SecretParams as a regular expression alternation, longest names first so
// that "x-amz-signature" is not read as "signature".
func paramAlternatives() string {
	names := slices.Clone(SecretParams)
	slices.SortStableFunc(names, func(a, b string) int { return len(b) - len(a) })
	for i, n := range names {
		names[i] = regexp.QuoteMeta(n)
	}
	return strings.Join(names, "|")
}

// Text replaces credentials in s with Marker: HTTP Authorization values, bearer and basic
// tokens, secret query parameters (SecretParams), GitHub token shapes and URL user info, with or
// without a scheme ("user:password@host/repo", as a repository reference written by mistake
// reaches an error message). Journals, results and error messages printed for a user get it.
func Text(s string) string {
	if s == "" {
		return s
	}
	for _, p := range secretPatterns {
		s = p.re.ReplaceAllString(s, p.with)
	}
	return userInfoText(s)
}

// userInfo matches "user:password@" where no "://" precedes it: the password runs to the "@"
// and holds no slash, space or quote. Whether it is user info depends on what follows the "@"
// (see userInfoText).
var userInfo = regexp.MustCompile(`([^\s/:@"'\x60<>()\[\]{}]+):([^\s/@"'\x60]+)@`)

// digestAfterAt matches a digest ("sha256:<hex>"), which follows the "@" of "name:tag@digest":
// a tag pinned to a digest, not credentials.
var digestAfterAt = regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}`)

// userInfoText replaces scheme-less user info ("user:password@host") by Marker + "@", leaving
// "name:tag@sha256:..." references alone.
func userInfoText(s string) string {
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
		b.WriteString(Marker + "@")
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// URL renders u with its user info and the values of secret query parameters (SecretParams)
// replaced by URLMarker. Blob storage redirects carry signatures; token endpoints can carry
// credentials.
func URL(u *url.URL) string {
	if u == nil {
		return ""
	}
	r := *u
	if r.User != nil {
		r.User = url.User(URLMarker)
	}
	if r.RawQuery != "" {
		q := r.Query()
		changed := false
		for k := range q {
			if slices.Contains(SecretParams, strings.ToLower(k)) {
				q[k] = []string{URLMarker}
				changed = true
			}
		}
		if changed {
			r.RawQuery = q.Encode()
		}
	}
	return r.String()
}

// URLIn replaces any clear rendering of u in s (net/http errors quote the URL) by URL(u).
func URLIn(s string, u *url.URL) string {
	if u == nil {
		return s
	}
	if clear := u.String(); clear != "" {
		s = strings.ReplaceAll(s, clear, URL(u))
	}
	return s
}

// Password removes the password from the user info of a URL with a scheme, keeping the user
// name (git remotes in messages, logs and cache keys: "https://bot@host/x"). Text without "://"
// is returned as is; an unparsable URL becomes "<unparsable URL>".
func Password(raw string) string {
	if !strings.Contains(raw, "://") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable URL>"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.User(u.User.Username())
		}
	}
	return u.String()
}
