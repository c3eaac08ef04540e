package plan

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFieldsJSON: fields are written exactly as encoding/json writes the same map, and read back.
func TestFieldsJSON(t *testing.T) {
	tests := []map[string]string{
		nil,
		{},
		{"sdk": "1a2b3c4"},
		{"sdk": "1a2b3c4", "bench": "swebench", "repo": "django_1776_django-11099"},
		{"odd": "quote \" backslash \\ <html> & ünïcode \x01"},
	}
	for _, m := range tests {
		f := FieldsOf(m)
		got, err := json.Marshal(struct {
			F Fields `json:"f,omitempty"`
		}{f})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(struct {
			F map[string]string `json:"f,omitempty"`
		}{m})
		if string(got) != string(want) {
			t.Errorf("%v: wrote %s, want %s", m, got, want)
		}
		var back struct {
			F Fields `json:"f"`
		}
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(f.Map(), back.F.Map()); diff != "" {
			t.Errorf("%v: read back (-want +got):\n%s", m, diff)
		}
	}
}

func TestFieldsLookup(t *testing.T) {
	f := FieldsOf(map[string]string{"b": "2", "a": "1", "empty": ""})
	if diff := cmp.Diff(Fields{{"a", "1"}, {"b", "2"}, {"empty", ""}}, f); diff != "" {
		t.Errorf("sorted (-want +got):\n%s", diff)
	}
	if v, ok := f.Lookup("empty"); !ok || v != "" {
		t.Errorf("Lookup(empty) = %q, %v", v, ok)
	}
	if v, ok := f.Lookup("c"); ok || v != "" || f.Get("b") != "2" {
		t.Errorf("Lookup(c) = %q, %v; Get(b) = %q", v, ok, f.Get("b"))
	}
}

// TestPlanFromAnEarlierVersionReadsAndWritesBack: a plan file written by an earlier regtidy of
// schema v1 (fields as an object, parents named in the reasons' text, no "of") is read, explained,
// and written back byte for byte.
func TestPlanFromAnEarlierVersionReadsAndWritesBack(t *testing.T) {
	const path = "testdata/v1-session1.json"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := p.Write(&out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, out.Bytes()) {
		t.Errorf("written back differently:\n%s", cmp.Diff(string(raw), out.String()))
	}
	fielded := 0
	for _, d := range p.Decisions {
		if d.Kind == "image" {
			fielded++
			if d.Fields.Get("sdk") == "" || d.Fields.Get("repo") == "" {
				t.Errorf("%s: image fields %v lack sdk or repo", d.Digest, d.Fields)
			}
		}
	}
	if fielded == 0 {
		t.Fatal("no image decision: the fixture proves nothing")
	}
	var explained bytes.Buffer
	if err := p.WriteDecision(&explained, p.Decisions[0]); err != nil || !strings.Contains(explained.String(), "because:") {
		t.Errorf("explain: %v\n%s", err, explained.String())
	}
}
