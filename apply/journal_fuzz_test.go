package apply

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/regtidy/regtidy/plan"
)

// journalLineNo finds the line number an error of ReadJournal names.
var journalLineNo = regexp.MustCompile(`: line (\d+):`)

// FuzzReadJournal feeds journals to ReadJournal. It never panics; a refused journal's error
// wraps ErrJournal and names a line the text has; an accepted one starts with a header, every
// header is of this schema, its records written back one a line read back the same, and a
// record torn at the end (a killed run) changes nothing.
func FuzzReadJournal(f *testing.F) {
	at := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	var seed bytes.Buffer
	j := NewJournal(&seed)
	for _, r := range []JournalRecord{
		{Type: RecordHeader, Schema: JournalSchema, Repository: "127.0.0.1:5000/acme/agent", Fingerprint: "sha256:" + hex64('f'), Mode: plan.ModeVersion, Started: at},
		{Type: RecordManifest, Digest: "sha256:" + hex64('a'), MediaType: "application/vnd.oci.image.index.v1+json", Tags: []string{"v1.0.0"},
			Raw: []byte(`{"schemaVersion":2}`), By: plan.ModeVersion, VersionID: 7, Created: at.Add(-time.Hour), At: at},
		{Type: RecordOutcome, Digest: "sha256:" + hex64('a'), Tag: "v1.0.0", Outcome: OutcomeFailed, Error: "503 Service Unavailable", At: at},
		{Type: RecordOutcome, Digest: "sha256:" + hex64('b'), Outcome: OutcomeUndeletable, Reason: "downloads", VersionID: 8},
		{Type: RecordEnd, Deleted: 1, Failed: 1, Remaining: 3},
	} {
		if err := j.Write(r); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(seed.Bytes())
	header := `{"type":"header","schema":"` + JournalSchema + `","repository":"r/x"}`
	for _, s := range []string{
		"", "\n\n", header, header + "\n" + `{"type":"manif`,
		header + "\n" + `{"type":"manif` + "\n" + header + "\n",
		header + "\n{oops\n" + `{"type":"end"}` + "\n",
		`{"type":"outcome"}` + "\n",
		`{"type":"header","schema":"regtidy/journal/v0"}` + "\n",
		header + "\n" + `{"type":"manifest","raw":"not base64!"}` + "\n",
		header + "\r\n" + `{"type":"end","complete":true}` + "\r\n",
		`{"type":"header","schema":"` + JournalSchema + `","Type":"end"}`,
		header + "\n" + `{"type":"outcome","at":"2026-11-20T12:00:00+05:30","version_id":-1}`,
		header + "\n" + `{"type":"outcome","at":"2026-11-20T12:00:00Z","at":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := ReadJournal(bytes.NewReader(data))
		if err != nil {
			if recs != nil {
				t.Fatalf("records and an error: %v", err)
			}
			if !errors.Is(err, ErrJournal) {
				t.Fatalf("error does not wrap ErrJournal: %v", err)
			}
			if m := journalLineNo.FindStringSubmatch(err.Error()); m != nil {
				n, _ := strconv.Atoi(m[1])
				if lines := bytes.Count(data, []byte("\n")) + 1; n < 1 || n > lines {
					t.Fatalf("error names line %d of a %d-line journal: %v", n, lines, err)
				}
			}
			return
		}
		if len(recs) == 0 || recs[0].Type != RecordHeader {
			t.Fatalf("accepted a journal that does not start with a header: %+v", recs)
		}
		var text bytes.Buffer
		for i, r := range recs {
			if r.Type == RecordHeader && r.Schema != JournalSchema {
				t.Fatalf("record %d: header of schema %q accepted", i, r.Schema)
			}
			line, err := json.Marshal(r)
			if err != nil {
				t.Fatalf("record %d does not encode: %v", i, err)
			}
			text.Write(line)
			text.WriteByte('\n')
		}
		again, err := ReadJournal(bytes.NewReader(text.Bytes()))
		if err != nil {
			t.Fatalf("the records written back are refused: %v\n%s", err, text.Bytes())
		}
		if diff := cmp.Diff(recs, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("records changed through JSON (-read +reread):\n%s", diff)
		}
		torn := append(text.Bytes(), fmt.Sprintf(`{"type":"outcome","digest":"sha256:%s","outc`, hex64('c'))...)
		tornRecs, err := ReadJournal(bytes.NewReader(torn))
		if err != nil {
			t.Fatalf("a record torn at the end makes the journal unreadable: %v", err)
		}
		if diff := cmp.Diff(recs, tornRecs, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("a torn last record changed the records (-whole +torn):\n%s", diff)
		}
	})
}

func hex64(c byte) string { return string(bytes.Repeat([]byte{c}, 64)) }
