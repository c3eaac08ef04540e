package ghcr

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/regtidy/regtidy/plan"
)

// journal appends plan journal records (one JSON object a line, plan.JournalSchema) for
// version-mode runs. Each record is one Write call; a writer with a Flush method is flushed after
// every record, so a killed run leaves every intent written before its delete. After the first
// failure every write fails: Apply stops deleting when it cannot record what it deletes.
type journal struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

// openJournal returns the journal of w, or of the file at path (created 0600, appended to) when w
// is nil, and a func closing what it opened. Both empty: no journal (nil).
func openJournal(w io.Writer, path string) (*journal, func() error, error) {
	if w != nil {
		return &journal{w: w}, func() error { return nil }, nil
	}
	if path == "" {
		return nil, func() error { return nil }, nil
	}
	f, err := plan.OpenJournalFile(path)
	if err != nil {
		return nil, nil, err
	}
	return &journal{w: f}, f.Close, nil
}

// write appends one record; a nil journal writes nothing.
func (j *journal) write(r plan.JournalRecord) error {
	if j == nil {
		return nil
	}
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("%w: encode record: %w", plan.ErrJournal, err)
	}
	line = append(line, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	if _, err := j.w.Write(line); err != nil {
		j.err = fmt.Errorf("%w: write: %w", plan.ErrJournal, err)
		return j.err
	}
	if f, ok := j.w.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			j.err = fmt.Errorf("%w: flush: %w", plan.ErrJournal, err)
			return j.err
		}
	}
	return nil
}
