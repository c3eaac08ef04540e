package redact

import (
	"strings"
	"testing"
	"unicode"
)

// FuzzRedact places a password in text the way credentials reach error messages (URL user info
// with and without a scheme, query parameters, Authorization headers) and checks Text removes
// it and keeps a pinned reference "name:tag@sha256:..." whole. (Text is not idempotent: an
// Authorization value takes up to two words, so "[redacted] x" loses x on a second pass; the
// seed authorization-value-of-two-words shows it. Nothing relies on idempotence.)
func FuzzRedact(f *testing.F) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct{ prefix, password, suffix string }{
		{"listing tags of ci:", "hunter2x", "@127.0.0.1:5000/acme/agent: 401"},
		{"--repo: registries must be valid RFC 3986 URI authorities: ci:", "pw", "@127.0.0.1:45709"},
		{"list tags http://ci:", "s3cret", "@127.0.0.1:45709/acme/agent: bad: /ci:s3cret@127.0.0.1:45709/acme"},
		{"GET https://x/token?access_token=", "tok", "&b=1"},
		{"Authorization: Bearer ", "abcdefgh12345678", ""},
		{"git http://u:", "p@ss", "@example.test/sdk.git"},
	} {
		f.Add(tc.prefix, tc.password, tc.suffix)
	}
	f.Fuzz(func(t *testing.T, prefix, password, suffix string) {
		// Passwords as they appear in user info: no separator or white space inside (a form feed
		// too: seed 977d88b7f7a1b327), long enough to mean something.
		if len(password) < 6 || strings.ContainsAny(password, "@/:?#&=\"'`<>()[]{}\\%") || strings.IndexFunc(password, unicode.IsSpace) >= 0 {
			return
		}
		for _, text := range []string{
			prefix + "ci:" + password + "@registry.test:5000/acme/agent" + suffix,
			prefix + " https://ci:" + password + "@registry.test/v2/" + suffix,
			prefix + " ci:" + password + "@[::1]:5000/acme/agent" + suffix,
		} {
			got := Text(text)
			if strings.Contains(got, "ci:"+password+"@") {
				t.Fatalf("Text(%q) = %q: the credentials stay", text, got)
			}
		}
		// A pinned reference is not user info, whatever text surrounds it; but a word after
		// "Bearer", "Basic" or "Authorization" is a credential whatever it looks like (seed
		// f481d44c8afd2c28), so such text is left out.
		around := strings.ToLower(prefix + suffix)
		if !strings.ContainsAny(prefix+suffix, "@:=") && !strings.Contains(around, "bearer") &&
			!strings.Contains(around, "basic") && !strings.Contains(around, "authorization") {
			pinned := "registry.test:5000/acme/agent:v1@" + digest
			if got := Text(prefix + " " + pinned + " " + suffix); !strings.Contains(got, pinned) {
				t.Fatalf("Text hid a pinned reference: %q", got)
			}
		}
	})
}
