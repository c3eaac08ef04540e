package apply

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/regtidy/regtidy/internal/redact"
	"github.com/regtidy/regtidy/plan"
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

// JournalRecord is one line of a journal. Which fields are set depends on Type.
type JournalRecord struct {
	Type string `json:"type"`

	// Header fields.
	Schema      string    `json:"schema,omitempty"`
	Repository  string    `json:"repository,omitempty"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	Mode        plan.Mode `json:"mode,omitempty"`
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
	By plan.Mode `json:"by,omitempty"`
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

// Journal appends records to a journal, one Write call per record, serialised. A writer with a
// Flush method (bufio.Writer) is flushed after every record, so a killed run leaves every intent
// written before its delete. Error texts are redacted (package internal/redact) before they are
// written. After the first failure every write fails: a run stops deleting when it cannot record
// what it deletes. A nil *Journal writes nothing.
type Journal struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

// NewJournal returns a journal appending to w; nil when w is nil.
func NewJournal(w io.Writer) *Journal {
	if w == nil {
		return nil
	}
	return &Journal{w: w}
}

// OpenJournal returns the journal of w, or of the file at path (OpenJournalFile) when w is nil,
// and a func closing what it opened. Both empty: no journal (nil).
func OpenJournal(w io.Writer, path string) (*Journal, func() error, error) {
	if w != nil {
		return NewJournal(w), func() error { return nil }, nil
	}
	if path == "" {
		return nil, func() error { return nil }, nil
	}
	f, err := OpenJournalFile(path)
	if err != nil {
		return nil, nil, err
	}
	return NewJournal(f), f.Close, nil
}

// Write appends one record, its Error redacted.
func (j *Journal) Write(r JournalRecord) error {
	if j == nil {
		return nil
	}
	r.Error = redact.Text(r.Error)
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
