package plan

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/inventory"
)

// TestWriteIsTheEncodersIndentedJSON: the streaming writer writes the bytes json.Encoder writes
// with a two-space indent, for empty, missing and filled tags and decisions; Read gives the plan back.
func TestWriteIsTheEncodersIndentedJSON(t *testing.T) {
	t0 := time.Date(2025, 11, 20, 12, 0, 0, 0, time.UTC)
	full := &Plan{
		Schema: Schema, Repository: "127.0.0.1:5000/a<b>&c", CreatedAt: t0, Now: t0, Fingerprint: "sha256:f",
		Tags: []inventory.Tag{{Name: "v1", Digest: "sha256:a"}, {Name: "x", Digest: "sha256:b"}},
		Decisions: []Decision{
			{Digest: "sha256:a", Action: Keep, Tags: []string{"v1"}, Kind: "legacy", Fields: Fields{{"version", "1"}},
				Reasons: []Reason{{Rule: "match", Kind: "legacy", Detail: "tag v1 matches ^v"}}},
			{Digest: "sha256:c", Action: Delete, Kind: "child", Parent: "sha256:b", Created: t0,
				Reasons: []Reason{{Rule: "child-of-deleted", Kind: "child", Detail: "linux/amd64 image, used by no kept index, of deleted index", Of: "sha256:b"}}},
		},
		Summary: Summary{KeptManifests: 1, DeletedManifests: 1},
		Cost:    Cost{Mode: string(ModeTag), Requests: 3},
	}
	for name, p := range map[string]*Plan{
		"full":  full,
		"nil":   {Schema: Schema, Repository: "r"},
		"empty": {Schema: Schema, Repository: "r", Tags: []inventory.Tag{}, Decisions: []Decision{}},
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(p); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := p.Write(&got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want.String(), got.String()); diff != "" {
			t.Errorf("%s (-encoder +Write):\n%s", name, diff)
		}
		path := filepath.Join(t.TempDir(), "plan.json")
		if err := p.WriteFile(path); err != nil {
			t.Fatal(err)
		}
		back, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p, back); diff != "" {
			t.Errorf("%s read back (-written +read):\n%s", name, diff)
		}
	}
}

// TestReadRefusesBadPlans: a broken decision, trailing data, another schema and a non-object
// are errors that name the file (and the field).
func TestReadRefusesBadPlans(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"bad decision":  {`{"schema":"regtidy/plan/v1","decisions":[{"digest":"sha256:a"},{"digest":7}]}`, `field "decisions": element 1`},
		"trailing data": {`{"schema":"regtidy/plan/v1"} {}`, "data after the plan object"},
		"schema":        {`{"schema":"regtidy/plan/v0","tags":[]}`, `plan schema "regtidy/plan/v0"`},
		"not an object": {`[1,2]`, "not a plan file"},
		"bad summary":   {`{"schema":"regtidy/plan/v1","summary":{"kept_manifests":"x"}}`, "not a plan file"},
	} {
		path := filepath.Join(t.TempDir(), "plan.json")
		if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Read(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: err %v, want one naming %s and saying %q", name, err, path, tc.want)
		}
	}
}
