package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/inventory"
)

// A grown journal reads as a journal, names the given repository, and journals n distinct tags on
// manifests whose bytes match their digests.
func TestGrowJournal(t *testing.T) {
	dir := t.TempDir()
	raw := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`
	d := inventory.DigestOf([]byte(raw))
	src := filepath.Join(dir, "j.jsonl")
	lines := []string{
		`{"type":"header","schema":"` + apply.JournalSchema + `","repository":"127.0.0.1:1/r","mode":"tag"}`,
		`{"type":"manifest","digest":"` + d + `","mediaType":"application/vnd.oci.image.index.v1+json","tags":["a","b"],"raw":"` +
			b64(raw) + `","by":"tag","outcome":"pending"}`,
		`{"type":"outcome","digest":"` + d + `","tag":"a","outcome":"deleted"}`,
		`{"type":"outcome","digest":"` + d + `","tag":"b","outcome":"deleted"}`,
	}
	if err := os.WriteFile(src, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "grown.jsonl")
	n, err := growJournal(src, out, "127.0.0.1:2/r", 5)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	recs, err := apply.ReadJournal(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	tags, outcomes := map[string]bool{}, 0
	for _, r := range recs {
		switch r.Type {
		case apply.RecordHeader:
			if r.Repository != "127.0.0.1:2/r" {
				t.Errorf("repository %s", r.Repository)
			}
		case apply.RecordManifest:
			if inventory.DigestOf(r.Raw) != r.Digest || r.Digest == d {
				t.Errorf("record %s: bytes do not match, or not a new digest", r.Digest)
			}
			for _, tag := range r.Tags {
				tags[tag] = true
			}
		case apply.RecordOutcome:
			outcomes++
		}
	}
	if n != 6 || len(tags) != 6 || outcomes != 6 {
		t.Errorf("wrote %d tags, %d distinct, %d outcomes; want 6 of each (three copies of two tags)", n, len(tags), outcomes)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
