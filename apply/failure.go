package apply

import (
	"encoding/json"
	"fmt"

	"github.com/regtidy/regtidy/internal/redact"
)

// Failure is one failed delete, re-check or restore, on either backend: a tag or manifest of an
// OCI registry (Tag, Digest), or a GitHub package version (ID, Digest). Its text and JSON are
// redacted (package internal/redact); the error chain is kept for errors.Is and errors.As.
type Failure struct {
	// ID is the GitHub package version id; 0 on an OCI registry.
	ID     int64  `json:"id,omitempty"`
	Tag    string `json:"tag,omitempty"`
	Digest string `json:"digest,omitempty"`
	Err    error  `json:"-"`
}

// MarshalJSON writes the error as text, credentials redacted.
func (f Failure) MarshalJSON() ([]byte, error) {
	type plain Failure
	msg := ""
	if f.Err != nil {
		msg = redact.Text(f.Err.Error())
	}
	return json.Marshal(struct {
		plain
		Error string `json:"error"`
	}{plain(f), msg})
}

// Error renders "tag (digest): error", "digest: error" or, for a version, "version ID (digest):
// error", credentials redacted.
func (f Failure) Error() string {
	what := f.Digest
	switch {
	case f.ID != 0:
		what = fmt.Sprintf("version %d (%s)", f.ID, f.Digest)
	case f.Tag != "":
		what = f.Tag + " (" + short(f.Digest) + ")"
	}
	return redact.Text(fmt.Sprintf("%s: %v", what, f.Err))
}

// Unwrap returns the underlying error.
func (f Failure) Unwrap() error { return f.Err }
