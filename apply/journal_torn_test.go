package apply

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A run killed mid-record leaves a torn last line; the next run appends after it. The journal
// must stay readable: the torn record is skipped, every whole record is kept.
func TestJournalSurvivesATornRecordBetweenRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	header := `{"type":"header","schema":"` + JournalSchema + `","repository":"r"}`
	intent := `{"type":"manifest","digest":"sha256:aa","outcome":"pending"}`
	if err := os.WriteFile(path, []byte(header+"\n"+intent+"\n"+`{"type":"outc`), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := OpenJournalFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(header + "\n" + intent + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	b, _ := os.ReadFile(path)
	recs, err := ReadJournal(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("ReadJournal: %v\n%s", err, b)
	}
	if len(recs) != 4 {
		t.Errorf("%d records, want 4 (two runs of header + intent)", len(recs))
	}
	// A torn line in the middle of a run (not followed by a header) is still an error.
	if _, err := ReadJournal(strings.NewReader(header + "\n{\"type\":\n" + intent + "\n")); err == nil {
		t.Error("a torn record inside a run was accepted")
	}
}
