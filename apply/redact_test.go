package apply

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/regtidy/regtidy/internal/redact"
)

// TestRedactMatchesTheJournalRedaction: the error a journal record carries is redacted the way
// every printed error is (redact.Text), whichever backend writes it.
func TestRedactMatchesTheJournalRedaction(t *testing.T) {
	for _, in := range []string{
		"Authorization: Bearer abc.def.ghi-jkl",
		"GET https://x/token?scope=a&access_token=s3cret&b=1",
		"token ghp_abcdefghijklmnopqrstuvwxyz0123 refused",
		"https://user:pa55@registry/v2/",
		"delete manifest r/x:a1: 500 internal server error",
		"",
	} {
		var buf bytes.Buffer
		if err := NewJournal(&buf).Write(JournalRecord{Type: RecordOutcome, Outcome: OutcomeFailed, Error: in}); err != nil {
			t.Fatal(err)
		}
		var rec JournalRecord
		if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if got, want := rec.Error, redact.Text(in); got != want {
			t.Errorf("journaled %q as %q, want %q", in, got, want)
		}
	}
}

// TestFailureTextIsRedacted checks the text of apply's and undo's failures, as errors print them
// (Error, and the joined error Apply and Undo return), holds no credential.
func TestFailureTextIsRedacted(t *testing.T) {
	const password = "pa55-w0rd-never-print-me"
	cause := fmt.Errorf("delete manifest: 401 via https://ci-bot:%s@proxy.internal/v2/ (Authorization: Basic Y2ktYm90OnBhNTUtdzByZA==): %w",
		password, errors.New("access_token="+password))
	digest := "sha256:" + strings.Repeat("ab", 32)
	for name, err := range map[string]error{
		"apply failure":        Failure{Tag: "c1", Digest: digest, Err: cause},
		"version failure":      Failure{ID: 7, Digest: digest, Err: cause},
		"apply failure joined": fmt.Errorf("%w: 1 failed: %w", ErrPartial, errors.Join(Failure{Digest: digest, Err: cause})),
		"undo failure":         UndoFailure{Digest: digest, Tag: "c1", Err: cause, MissingBlobs: []string{digest}},
	} {
		text := err.Error()
		for _, secret := range []string{password, "Y2ktYm90OnBhNTUtdzByZA=="} {
			if strings.Contains(text, secret) {
				t.Errorf("%s: text holds a credential: %s", name, text)
			}
		}
		if !strings.Contains(text, "[redacted]") || !strings.Contains(text, "proxy.internal") {
			t.Errorf("%s: want the credentials replaced and the rest kept: %s", name, text)
		}
	}
	var f Failure
	if !errors.As(fmt.Errorf("wrapped: %w", Failure{Digest: digest, Err: cause}), &f) || !errors.Is(f, cause) {
		t.Errorf("redaction must not hide the error chain")
	}
}

// TestVersionFailureJSONIsRedacted: a GHCR version's failure, as the result's JSON writes it,
// names the version and holds no credential (GHCR failures were not redacted before they shared
// Failure).
func TestVersionFailureJSONIsRedacted(t *testing.T) {
	const password = "pa55-w0rd-never-print-me"
	f := Failure{ID: 42, Digest: "sha256:" + strings.Repeat("cd", 32), Err: fmt.Errorf("DELETE https://ci:%s@api.test/x: 500", password)}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), password) || !strings.Contains(string(b), `"id":42`) || !strings.Contains(f.Error(), "version 42") {
		t.Errorf("JSON %s, text %q: want the version named and the password gone", b, f.Error())
	}
}
