package apply

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
)

// onlyReader hides every method of a reader but Read, as a pipe would.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// Undo reads the journal from a file (read again at each record when pushing), from memory, or
// from a pipe (bytes kept while it works): each way puts back the same bytes.
func TestUndoRestoresByteIdenticalFromEveryKindOfReader(t *testing.T) {
	for _, kind := range []string{"file", "pipe"} {
		t.Run(kind, func(t *testing.T) {
			w := newWorld(t)
			f := w.f
			before := f.snapshot(w.plan)
			path := filepath.Join(t.TempDir(), "plan.journal.jsonl")
			if _, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: plan.ModeDigest, JournalPath: path}); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			jf, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer jf.Close()
			var r io.Reader = jf
			if kind == "pipe" {
				r = onlyReader{jf}
			}
			res, err := Undo(t.Context(), r, f.c, UndoOptions{})
			if err != nil {
				t.Fatalf("Undo: %v", err)
			}
			if diff := cmp.Diff(before, f.snapshot(w.plan), cmp.AllowUnexported(snapshot{})); diff != "" {
				t.Errorf("repository after undo differs (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(digests(w.plan, plan.Delete), res.RestoredManifests); diff != "" {
				t.Errorf("restored manifests (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(deletedTags(w.plan), res.RestoredTags); diff != "" {
				t.Errorf("restored tags (-want +got):\n%s", diff)
			}
		})
	}
}

// A reader positioned past the start (a caller that read something first) is read from there:
// the records are found again where they are in the file, not at their offset in what Undo read.
func TestUndoReadsAJournalFromWhereTheReaderStands(t *testing.T) {
	w := newWorld(t)
	f := w.f
	before := f.snapshot(w.plan)
	var journal bytes.Buffer
	if _, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: plan.ModeTag, Journal: &journal}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	prefix := "some bytes before the journal\n"
	r := bytes.NewReader(append([]byte(prefix), journal.Bytes()...))
	if _, err := r.Seek(int64(len(prefix)), io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := Undo(t.Context(), r, f.c, UndoOptions{}); err != nil {
		t.Fatalf("Undo: %v", err)
	}
	if diff := cmp.Diff(before, f.snapshot(w.plan), cmp.AllowUnexported(snapshot{})); diff != "" {
		t.Errorf("repository after undo differs (-before +after):\n%s", diff)
	}
}

// A journal changed between Undo's reading and its pushes is not trusted: the manifest whose
// record no longer holds its bytes is reported, nothing else is pushed in its place.
func TestUndoRefusesARecordChangedUnderIt(t *testing.T) {
	w := newWorld(t)
	f := w.f
	var journal bytes.Buffer
	if _, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: plan.ModeTag, Journal: &journal}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	jr := &changingJournal{b: journal.Bytes()}
	res, err := Undo(t.Context(), jr, f.c, UndoOptions{})
	if !errors.Is(err, ErrPartial) {
		t.Fatalf("Undo: err %v, want ErrPartial", err)
	}
	if len(res.RestoredTags) != 0 || res.Requests.Pushes != 0 {
		t.Errorf("undo pushed from a changed journal: %d tags, %d pushes", len(res.RestoredTags), res.Requests.Pushes)
	}
	if n := len(deletedTags(w.plan)); len(res.Failed) != n {
		t.Fatalf("%d failures, want one per deleted tag (%d): %+v", len(res.Failed), n, res.Failed)
	}
	for _, fl := range res.Failed {
		if !errors.Is(fl.Err, ErrJournal) {
			t.Errorf("%s: %v, want a journal error", fl.Tag, fl.Err)
		}
	}
}

// changingJournal reads as its bytes, and reads again (ReadAt) as the same bytes with every
// manifest's base64 changed: a file rewritten under undo.
type changingJournal struct {
	b   []byte
	off int
}

func (c *changingJournal) Read(p []byte) (int, error) {
	if c.off >= len(c.b) {
		return 0, io.EOF
	}
	n := copy(p, c.b[c.off:])
	c.off += n
	return n, nil
}

func (c *changingJournal) Seek(offset int64, whence int) (int64, error) {
	if offset != 0 || whence != io.SeekCurrent {
		return 0, errors.New("changingJournal: only Seek(0, io.SeekCurrent)")
	}
	return int64(c.off), nil
}

func (c *changingJournal) ReadAt(p []byte, off int64) (int, error) {
	changed := bytes.ReplaceAll(c.b, []byte(`"raw":"ey`), []byte(`"raw":"IH`)) // '{' becomes ' '
	if off >= int64(len(changed)) {
		return 0, io.EOF
	}
	return copy(p, changed[off:]), nil
}

// Undo keeps what it needs per digest, not the journal: folding a journal whose manifests hold
// 32 MB leaves well under a tenth of that in use (the old fold kept every manifest's bytes).
func TestUndoFoldKeepsNoManifestBytes(t *testing.T) {
	const records, size = 2000, 16 << 10
	path := filepath.Join(t.TempDir(), "big.journal.jsonl")
	jf, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	jw := NewJournal(jf)
	if err := jw.Write(JournalRecord{Type: RecordHeader, Schema: JournalSchema, Repository: "r/x", Mode: plan.ModeTag}); err != nil {
		t.Fatal(err)
	}
	filler := make([]byte, size*3/4)
	for i := range records {
		rand.Read(filler)
		raw := fmt.Appendf(nil, `{"schemaVersion":2,"annotations":{"n":"%d","fill":"%s"}}`, i, base64.StdEncoding.EncodeToString(filler))
		d := inventory.DigestOf(raw)
		tag := fmt.Sprintf("tag-%05d", i)
		for _, r := range []JournalRecord{
			{Type: RecordManifest, Digest: d, MediaType: inventory.MediaTypeOCIIndex, Raw: raw, Tags: []string{tag}, By: plan.ModeTag, Outcome: OutcomePending},
			{Type: RecordOutcome, Digest: d, Tag: tag, Outcome: OutcomeDeleted},
		} {
			if err := jw.Write(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := jf.Close(); err != nil {
		t.Fatal(err)
	}

	jf, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer jf.Close()
	inUse := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base := inUse()
	entries, _, err := newUndoJournal(jf).fold()
	if err != nil {
		t.Fatal(err)
	}
	held := int64(inUse()) - int64(base)
	if len(entries) != records {
		t.Fatalf("%d entries, want %d", len(entries), records)
	}
	t.Logf("%d manifests of %d bytes: %d bytes held after folding", records, size, held)
	if total := int64(records * size); held > total/10 {
		t.Errorf("the folded journal holds %d bytes, over a tenth of its manifests' %d", held, total)
	}
	// And every manifest's bytes are there to be read again.
	j := newUndoJournal(jf)
	for _, e := range entries {
		raw, err := j.raw(e)
		if err != nil || inventory.DigestOf(raw) != e.digest {
			t.Fatalf("%s: read again: %v", e.digest, err)
		}
	}
	runtime.KeepAlive(entries)
}

// The streaming reader undo uses accepts and refuses what ReadJournal does, record for record.
func TestJournalScannerReadsAsReadJournal(t *testing.T) {
	header := `{"type":"header","schema":"` + JournalSchema + `","repository":"r"}`
	intent := `{"type":"manifest","digest":"sha256:aa","outcome":"pending"}`
	for _, tc := range []struct{ name, journal string }{
		{"whole", header + "\n" + intent + "\n"},
		{"windows line ends", header + "\r\n" + intent + "\r\n"},
		{"blank lines", "\n" + header + "\n\n" + intent + "\n"},
		{"torn last line", header + "\n" + intent + "\n" + `{"type":"outc`},
		{"torn line, then the next run", header + "\n" + `{"type":"outc` + "\n" + header + "\n" + intent + "\n"},
		{"torn line inside a run", header + "\n" + "{\"type\":\n" + intent + "\n"},
		{"two torn lines", header + "\n" + "{\"type\":\n" + "{\"type\":\n"},
		{"no header first", intent + "\n" + header + "\n"},
		{"other schema", strings.Replace(header, JournalSchema, "regtidy/journal/v0", 1) + "\n"},
		{"empty", ""},
		{"only blank lines", "\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, wantErr := ReadJournal(strings.NewReader(tc.journal))
			var got []JournalRecord
			s := newJournalScanner(strings.NewReader(tc.journal))
			for s.next() {
				got = append(got, s.rec)
				// The offset and length find the record's line again.
				if line := tc.journal[s.recOff : s.recOff+int64(s.recLen)]; !strings.HasPrefix(line, "{") || !strings.HasSuffix(line, "}") {
					t.Errorf("record %d at %d+%d: %q is not its line", len(got), s.recOff, s.recLen, line)
				}
			}
			if (wantErr == nil) != (s.err == nil) || (wantErr != nil && wantErr.Error() != s.err.Error()) {
				t.Fatalf("scanner err %v, ReadJournal err %v", s.err, wantErr)
			}
			if wantErr != nil {
				return
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("records (-ReadJournal +scanner):\n%s", diff)
			}
		})
	}
}

// ReadJournalHeader says what kind of journal a file holds from its first header alone.
func TestReadJournalHeader(t *testing.T) {
	header := `{"type":"header","schema":"` + JournalSchema + `","repository":"r","mode":"version"}`
	h, err := ReadJournalHeader(strings.NewReader(`{"type":"head` + "\n" + header + "\n" + `{"type":"manifest"}` + "\n"))
	if err != nil || h.Repository != "r" || h.Mode != plan.ModeVersion {
		t.Errorf("ReadJournalHeader = %+v, %v; want repository r, mode version", h, err)
	}
	for _, bad := range []string{"", `{"type":"manifest","digest":"sha256:aa"}` + "\n" + header} {
		if _, err := ReadJournalHeader(strings.NewReader(bad)); !errors.Is(err, ErrJournal) {
			t.Errorf("ReadJournalHeader(%q): err %v, want ErrJournal", bad, err)
		}
	}
}
