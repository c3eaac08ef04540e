package apply

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxJournalLine is the longest journal line a reader accepts (a manifest record holds the
// manifest's bytes, base64).
const maxJournalLine = 64 << 20

// journalScanner reads a journal one record at a time, with ReadJournal's rules: the first record
// is a header, every header has this regtidy's schema, and a line cut short is tolerated at the
// end or where the next run's header follows it; any other malformed line is an error naming its
// line number. Next returns each record with where its line is (offset and length from where the
// scanner started), so a reader that can seek reads it again later instead of keeping it.
type journalScanner struct {
	sc         *bufio.Scanner
	line       int   // number of the line last read
	consumed   int64 // bytes the scanner has split off so far
	lineStart  int64 // offset of the line last split off
	records    int   // records returned so far
	pendingErr error // a malformed line, forgiven if it is the last or a header follows it
	err        error

	rec    JournalRecord
	recOff int64
	recLen int
}

func newJournalScanner(r io.Reader) *journalScanner {
	s := &journalScanner{sc: bufio.NewScanner(r)}
	s.sc.Buffer(make([]byte, 0, 64<<10), maxJournalLine)
	s.sc.Split(s.split)
	return s
}

// split is bufio.ScanLines, counting where each line starts.
func (s *journalScanner) split(data []byte, atEOF bool) (int, []byte, error) {
	advance, token, err := bufio.ScanLines(data, atEOF)
	if advance > 0 {
		s.lineStart = s.consumed
		s.consumed += int64(advance)
	}
	return advance, token, err
}

// next reads the next record into s.rec (its line at s.recOff, s.recLen bytes long). It returns
// false at the end of the journal or on an error, which err returns.
func (s *journalScanner) next() bool {
	if s.err != nil {
		return false
	}
	for s.sc.Scan() {
		s.line++
		b := s.sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var rec JournalRecord
		err := json.Unmarshal(b, &rec)
		if s.pendingErr != nil && (err != nil || rec.Type != RecordHeader) {
			s.err = s.pendingErr
			return false
		}
		// A torn line is tolerated at the end, or where the next run's header follows it.
		s.pendingErr = nil
		if err != nil {
			s.pendingErr = fmt.Errorf("%w: line %d: %w", ErrJournal, s.line, err)
			continue
		}
		if rec.Type == RecordHeader && rec.Schema != JournalSchema {
			s.err = fmt.Errorf("%w: line %d: schema %q, this regtidy reads %q", ErrJournal, s.line, rec.Schema, JournalSchema)
			return false
		}
		if s.records == 0 && rec.Type != RecordHeader {
			s.err = fmt.Errorf("%w: line %d: a journal starts with a header record", ErrJournal, s.line)
			return false
		}
		s.records++
		s.rec, s.recOff, s.recLen = rec, s.lineStart, len(b)
		return true
	}
	if err := s.sc.Err(); err != nil {
		s.err = fmt.Errorf("%w: %w", ErrJournal, err)
		return false
	}
	if s.records == 0 {
		s.err = fmt.Errorf("%w: empty", ErrJournal)
	}
	return false
}

// ReadJournalHeader reads a journal's first header record and nothing past the lines it needs,
// as ReadJournal would check it, so a caller can tell what kind of journal a file holds (its
// mode: version-mode journals are GitHub's to undo) without holding every record. It reads ahead
// of the header: seek back before reading the journal again.
func ReadJournalHeader(r io.Reader) (JournalRecord, error) {
	s := newJournalScanner(r)
	if !s.next() {
		return JournalRecord{}, s.err
	}
	return s.rec, nil
}

// recordAt reads the journal record of length n at off in j, the line a journalScanner found
// there.
func recordAt(j io.ReaderAt, off int64, n int) (JournalRecord, error) {
	b := make([]byte, n)
	if got, err := j.ReadAt(b, off); got < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return JournalRecord{}, fmt.Errorf("%w: reading the record at byte %d again: %w", ErrJournal, off, err)
	}
	var rec JournalRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return JournalRecord{}, fmt.Errorf("%w: the record at byte %d changed since undo read it: %w", ErrJournal, off, err)
	}
	return rec, nil
}
