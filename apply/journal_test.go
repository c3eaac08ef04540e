package apply

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
)

func TestReadJournal(t *testing.T) {
	header := `{"type":"header","schema":"` + JournalSchema + `","repository":"r/x"}`
	rec := `{"type":"outcome","digest":"sha256:aa","tag":"a","outcome":"deleted"}`
	for _, tc := range []struct {
		name    string
		text    string
		records int
		wantErr bool
	}{
		{"whole", header + "\n" + rec + "\n", 2, false},
		{"last line cut by a kill", header + "\n" + rec + "\n" + `{"type":"manif`, 2, false},
		{"malformed line in the middle", header + "\n{oops\n" + rec + "\n", 0, true},
		{"no header", rec + "\n", 0, true},
		{"other schema", `{"type":"header","schema":"regtidy/journal/v0"}` + "\n", 0, true},
		{"empty", "", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := ReadJournal(strings.NewReader(tc.text))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrJournal) {
				t.Errorf("error %v does not wrap ErrJournal", err)
			}
			if len(recs) != tc.records {
				t.Errorf("%d records, want %d", len(recs), tc.records)
			}
		})
	}
}

func TestJournalRawIsExactBytes(t *testing.T) {
	raw := []byte("{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"x\" }\t")
	var buf bytes.Buffer
	j := NewJournal(&buf)
	if err := j.Write(JournalRecord{Type: RecordHeader, Schema: JournalSchema, Repository: "r/x"}); err != nil {
		t.Fatal(err)
	}
	if err := j.Write(JournalRecord{Type: RecordManifest, Digest: "sha256:x", Raw: raw}); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadJournal(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(recs[1].Raw, raw) {
		t.Errorf("raw bytes changed through the journal: %q", recs[1].Raw)
	}
}

// TestJournalAndReportsHoldNoSecrets runs apply against a registry with basic auth, whose
// errors echo the credentials back, and checks that neither the journal, the result (as JSON)
// nor the log holds them (invariant 7).
func TestJournalAndReportsHoldNoSecrets(t *testing.T) {
	const user, password = "ci-bot", "pa55-w0rd-never-print-me"
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	f := newFixture(t, regtest.Options{Htpasswd: map[string]string{user: password}},
		registry.WithAuth(&authn.Basic{Username: user, Password: password}))
	w := newWorldOn(t, f)
	f.setHook(func(rw http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/manifests/c1") {
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(http.StatusBadRequest)
			body, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"code": "UNKNOWN",
				"message": "rejected request with Authorization: " + r.Header.Get("Authorization") + " via https://" + user + ":" + password + "@proxy.internal/v2/"}}})
			rw.Write(body)
			return true
		}
		return false
	})
	var journal, logs bytes.Buffer
	res, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: plan.ModeTag, Journal: &journal,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if !errors.Is(err, ErrPartial) || len(res.Failed) != 1 {
		t.Fatalf("Apply: err %v, failed %v; want the c1 failure", err, res.Failed)
	}
	if !strings.Contains(journal.String(), `"outcome":"failed"`) {
		t.Fatalf("the failure is not journaled:\n%s", journal.String())
	}
	report, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"journal": journal.String(), "result": string(report), "log": logs.String()} {
		for _, secret := range []string{password, basic} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds a credential (%q):\n%s", name, secret, text)
			}
		}
	}
}

func TestJournalWriterStopsAfterAFailure(t *testing.T) {
	j := NewJournal(failingWriter{})
	if err := j.Write(JournalRecord{Type: RecordHeader}); !errors.Is(err, ErrJournal) {
		t.Fatalf("write: %v, want ErrJournal", err)
	}
	if err := j.Write(JournalRecord{Type: RecordEnd}); !errors.Is(err, ErrJournal) {
		t.Errorf("write after a failure: %v, want ErrJournal", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestApplyStopsWhenTheJournalFails(t *testing.T) {
	w := newWorld(t)
	res, err := Apply(t.Context(), w.plan, w.f.c, ApplyOptions{Mode: plan.ModeTag, Journal: failingWriter{}})
	if !errors.Is(err, ErrJournal) {
		t.Fatalf("Apply: err %v, want ErrJournal", err)
	}
	if res.Requests.Deletes != 0 {
		t.Errorf("deleted %d without a journal", res.Requests.Deletes)
	}
	if diff := cmp.Diff(w.plan.Tags, w.f.liveTags()); diff != "" {
		t.Errorf("tags changed (-plan +live):\n%s", diff)
	}
}
