package plan

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/regtidy/regtidy/inventory"
)

// fuzzSamplePlan is a small plan of every part the file has: tags, kept and deleted decisions
// with fields, reasons, parents and version ids, a summary and a cost.
func fuzzSamplePlan() *Plan {
	at := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	idx, child := "sha256:"+hex64('a'), "sha256:"+hex64('b')
	return &Plan{
		Schema: Schema, Repository: "127.0.0.1:5000/acme/agent", CreatedAt: at, Now: at,
		Fingerprint: "sha256:" + hex64('f'),
		Policy:      PolicyRef{Path: "openhands.yaml", Digest: "sha256:" + hex64('e')},
		Tags:        []inventory.Tag{{Name: "1a2b3c4-gaia-binary", Digest: idx}, {Name: "v1.0.0", Digest: idx}},
		Decisions: []Decision{
			{Digest: idx, Action: Keep, Tags: []string{"1a2b3c4-gaia-binary", "v1.0.0"}, Kind: "image",
				Fields:    Fields{{"bench", "gaia"}, {"sdk", "1a2b3c4"}},
				MediaType: inventory.MediaTypeOCIIndex, Created: at.Add(-time.Hour), VersionID: 42,
				Reasons: []Reason{{Rule: "commits", Kind: "image", Detail: "commit 1a2b3c4 is #3 of the last 30 on main"}}},
			{Digest: child, Action: Delete, Kind: "child", Parent: idx, MediaType: inventory.MediaTypeOCIManifest,
				Reasons: []Reason{{Rule: "no-keep-rule-matched", Detail: "linux/amd64 image of deleted index", Of: idx}}},
		},
		Summary: Summary{Kinds: []KindSummary{{Kind: "image", KeptManifests: 1, DeletedManifests: 1}},
			KeptManifests: 1, DeletedManifests: 1, KeptTags: 2, BytesFreed: 1 << 20,
			TopReasons: []ReasonCount{{Action: Keep, Rule: "commits", Count: 1}}},
		Cost: Cost{Mode: "tag", Requested: "auto", Why: "the registry deletes tags", Requests: 2, Deletes: 1, Hours: 0.5},
	}
}

// hex64 is 64 times c: the hex part of a made-up sha256 digest.
func hex64(c byte) string { return string(bytes.Repeat([]byte{c}, 64)) }

// FuzzDecodePlan feeds plan files to the streaming reader. It never panics; what it accepts is
// JSON, writes back without error, and reads back to the same plan, whose text is then a fixed
// point of Write.
func FuzzDecodePlan(f *testing.F) {
	var sample bytes.Buffer
	if err := fuzzSamplePlan().Write(&sample); err != nil {
		f.Fatal(err)
	}
	f.Add(sample.Bytes())
	for _, s := range []string{
		`{}`, `{"tags":null,"decisions":null}`, `{"tags":[],"decisions":[]}`,
		`{"schema":"regtidy/plan/v1","tags":[{"name":"a","digest":"sha256:00"}],"decisions":[{"digest":"sha256:00","action":"keep","kind":"x","fields":{"a":"1","a":"2"},"reasons":null}]}`,
		`{"tags":{}}`, `{"tags":[1]}`, `{"decisions":[{"fields":{"a":1}}]}`, `{"tags":[]} {}`, `[]`, `null`,
		`{"created_at":"2026-11-20T12:00:00+05:30","now":"0000-01-01T00:00:00-01:00"}`,
		`{"Tags":[{"name":"a"}],"DECISIONS":[{"digest":"x"}]}`,
		`{"policy":{"path":"a"},"policy":{"digest":"b"}}`,
		`{"tags":[],"tags":[{"name":"b"}]}`,
		"{\"repository\":\"\xff\xfe\"}",
		`{"decisions":[{"fields":{},"tags":[],"reasons":[]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := decodePlan(bytes.NewReader(data))
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("decodePlan accepted text that is not JSON: %q", data)
		}
		var first bytes.Buffer
		if err := p.Write(&first); err != nil {
			t.Fatalf("an accepted plan does not write back: %v", err)
		}
		q, err := decodePlan(bytes.NewReader(first.Bytes()))
		if err != nil {
			t.Fatalf("a written plan does not read back: %v\n%s", err, first.Bytes())
		}
		if diff := cmp.Diff(p, q, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("plan changed through Write and decodePlan (-read +reread):\n%s", diff)
		}
		var second bytes.Buffer
		if err := q.Write(&second); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("Write is not a fixed point:\n%s\n---\n%s", first.Bytes(), second.Bytes())
		}
	})
}
