package plan

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sync"
	"time"
)

// JournalSchema is the version string in every journal header. Readers refuse other versions.
const JournalSchema = "regtidy/journal/v1"

// ErrJournal is wrapped by errors reading or writing a journal.
var ErrJournal = errors.New("journal")

// Record types of a journal, one JSON object a line.
const (
	// RecordHeader starts each apply run: schema, repository, plan fingerprint, mode, started.
	RecordHeader = "header"
	// RecordManifest is written before a delete (the intent): the manifest's digest, media type,
	// exact raw bytes, the tags about to go, its parent, and how it is deleted ("tag" or "digest").
	RecordManifest = "manifest"
	// RecordOutcome follows a delete: the digest, the tag (tag mode) and the outcome.
	RecordOutcome = "outcome"
	// RecordEnd closes a run that was not killed: counts and whether work remains.
	RecordEnd = "end"
)

// Outcomes of a delete, as journaled and reported.
const (
	// OutcomePending marks the intent record, written before the delete call.
	OutcomePending = "pending"
	// OutcomeDeleted: the registry accepted the delete.
	OutcomeDeleted = "deleted"
	// OutcomeGone: the registry answered 404: something else deleted it first.
	OutcomeGone = "gone"
	// OutcomeFailed: the delete failed; Error says why.
	OutcomeFailed = "failed"
	// OutcomeUndeletable: the registry refuses to delete this version for good (GitHub: a public
	// version with over 5,000 downloads, a package's last tagged version); Reason says why.
	OutcomeUndeletable = "undeletable"
)

// ModeVersion is how apply deletes on GitHub Container Registry: one GitHub Packages REST call per
// package version (ghcr.io answers DELETE on /v2/.../manifests/ with 405). Journals of such runs
// carry VersionID on their manifest and outcome records; they are undone through GitHub's restore
// endpoint (package registry/ghcr), not by pushing manifests back.
const ModeVersion Mode = "version"

// JournalRecord is one line of a journal. Which fields are set depends on Type.
type JournalRecord struct {
	Type string `json:"type"`

	// Header fields.
	Schema      string    `json:"schema,omitempty"`
	Repository  string    `json:"repository,omitempty"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	Mode        Mode      `json:"mode,omitempty"`
	Started     time.Time `json:"started,omitzero"`
	DryRun      bool      `json:"dry_run,omitempty"`

	// Manifest and outcome fields.
	Digest    string   `json:"digest,omitempty"`
	MediaType string   `json:"mediaType,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	// Raw is the manifest's exact bytes (base64 in JSON).
	Raw    []byte `json:"raw,omitempty"`
	Parent string `json:"parent,omitempty"`
	// By is how the manifest is deleted: "tag" (its tags only), "digest" (the manifest) or
	// "version" (a GitHub package version, VersionID).
	By Mode `json:"by,omitempty"`
	// VersionID is the registry's version id (GitHub package version) in ModeVersion journals.
	VersionID int64 `json:"version_id,omitempty"`
	// Created is the version's creation time (ModeVersion), so undo can give a restored version
	// back its place in the incremental listing state.
	Created time.Time `json:"created,omitzero"`
	// Reason is why a version is undeletable (OutcomeUndeletable): "downloads", "last-tagged",
	// "forbidden".
	Reason  string    `json:"reason,omitempty"`
	Tag     string    `json:"tag,omitempty"`
	At      time.Time `json:"at,omitzero"`
	Outcome string    `json:"outcome,omitempty"`
	Error   string    `json:"error,omitempty"`

	// End fields.
	Deleted   int  `json:"deleted,omitempty"`
	Failed    int  `json:"failed,omitempty"`
	Remaining int  `json:"remaining,omitempty"`
	Complete  bool `json:"complete,omitempty"`
}

// journalWriter appends records to a journal, one Write call per record, serialised. A writer
// with a Flush method (bufio.Writer) is flushed after every record, so a killed run leaves every
// intent written before its delete.
type journalWriter struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

func newJournalWriter(w io.Writer) *journalWriter {
	if w == nil {
		return nil
	}
	return &journalWriter{w: w}
}

// write appends one record. After the first failure every write fails: apply stops deleting
// when it cannot record what it deletes.
func (j *journalWriter) write(r JournalRecord) error {
	if j == nil {
		return nil
	}
	r.Error = redact(r.Error)
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("%w: encode record: %w", ErrJournal, err)
	}
	line = append(line, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	if _, err := j.w.Write(line); err != nil {
		j.err = fmt.Errorf("%w: write: %w", ErrJournal, err)
		return j.err
	}
	if f, ok := j.w.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			j.err = fmt.Errorf("%w: flush: %w", ErrJournal, err)
			return j.err
		}
	}
	return nil
}

// ReadJournal reads every record of a journal. A last line cut short (a run killed while
// writing it) is ignored; any other malformed line is an error naming its line number.
func ReadJournal(r io.Reader) ([]JournalRecord, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	var out []JournalRecord
	var pendingErr error
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var rec JournalRecord
		err := json.Unmarshal(b, &rec)
		if pendingErr != nil && (err != nil || rec.Type != RecordHeader) {
			return nil, pendingErr
		}
		// A torn line is tolerated at the end, or where the next run's header follows it.
		pendingErr = nil
		if err != nil {
			pendingErr = fmt.Errorf("%w: line %d: %w", ErrJournal, line, err)
			continue
		}
		if rec.Type == RecordHeader && rec.Schema != JournalSchema {
			return nil, fmt.Errorf("%w: line %d: schema %q, this regtidy reads %q", ErrJournal, line, rec.Schema, JournalSchema)
		}
		if len(out) == 0 && rec.Type != RecordHeader {
			return nil, fmt.Errorf("%w: line %d: a journal starts with a header record", ErrJournal, line)
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrJournal, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrJournal)
	}
	return out, nil
}

// secretPatterns match credentials that could hide in error text: HTTP auth schemes with their
// value, token-like query parameters of signed URLs, GitHub token shapes and URL user info.
var secretPatterns = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?i)\b(authorization|proxy-authorization)\s*[:=]\s*[^\s,;"]+(\s+[^\s,;"]+)?`), "$1: [redacted]"},
	{regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}`), "$1 [redacted]"},
	{regexp.MustCompile(`(?i)\b(access_token|refresh_token|token|password|x-amz-signature|x-amz-security-token|x-goog-signature|sig|signature)=[^&\s"]+`), "$1=[redacted]"},
	{regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})`), "[redacted]"},
	{regexp.MustCompile(`://[^/\s:@]+:[^/\s@]+@`), "://[redacted]@"},
}

// redact replaces credentials in s with "[redacted]" (invariant 7: tokens never reach journals
// or reports).
func redact(s string) string {
	if s == "" {
		return s
	}
	for _, p := range secretPatterns {
		s = p.re.ReplaceAllString(s, p.with)
	}
	return redactUserInfo(s)
}

// OpenJournalFile opens a journal file for appending (created 0600). A file whose last line was
// torn (a killed process, a full disk) gets a newline first, so the next run's header starts a
// line of its own and ReadJournal can skip the torn record.
func OpenJournalFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrJournal, err)
	}
	st, err := f.Stat()
	if err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err = f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			_, err = f.Write([]byte{'\n'})
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %w", ErrJournal, path, err)
	}
	return f, nil
}
