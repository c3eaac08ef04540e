package redact

import (
	"net/url"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Authorization: Bearer abc.def.ghi-jkl", "Authorization: [redacted]"},
		{"sent Bearer eyJhbGciOiJIUzI1NiJ9.e30.x to host", "sent Bearer [redacted] to host"},
		{"GET https://x/token?scope=a&access_token=s3cret&b=1", "GET https://x/token?scope=a&access_token=[redacted]&b=1"},
		{"redirect to https://s3/blob?X-Amz-Signature=deadbeef", "redirect to https://s3/blob?X-Amz-Signature=[redacted]"},
		{"token ghp_abcdefghijklmnopqrstuvwxyz0123 refused", "token [redacted] refused"},
		{"https://user:pa55@registry/v2/", "https://[redacted]@registry/v2/"},
		{"delete manifest r/x:a1: 500 internal server error", "delete manifest r/x:a1: 500 internal server error"},
	} {
		if got := Text(tc.in); got != tc.want {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestOneSecretList checks that a secret query parameter the request logs redact in a URL is
// redacted in text too (an error message quoting that URL): the two share SecretParams.
func TestOneSecretList(t *testing.T) {
	for _, p := range SecretParams {
		raw := "https://blob.test/x?" + p + "=s3cr3t-value&a=1"
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := URL(u); got == raw || !strings.Contains(got, URLMarker) {
			t.Errorf("URL(%s) = %s: the parameter is not redacted", raw, got)
		}
		if got := Text("GET " + raw + ": 403"); strings.Contains(got, "s3cr3t-value") {
			t.Errorf("Text(%s) = %s: the parameter is not redacted", raw, got)
		}
	}
}

func TestPasswordKeepsTheUserName(t *testing.T) {
	if got, want := Password("http://bot:pw@host.test/x"), "http://bot@host.test/x"; got != want {
		t.Errorf("Password = %q, want %q", got, want)
	}
	if got := Password("bot:pw@host.test:x"); got != "bot:pw@host.test:x" {
		t.Errorf("Password changed text without a scheme: %q", got)
	}
}
