package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/inventory"
)

// bigPlan is a sealed plan of n buildx pushes (index, image, attestation), a third of the
// indexes deleted with their children: a plan file of n*1.2 kB, in the case's shape.
func bigPlan(n int) *Plan {
	t0 := time.Date(2025, 11, 28, 18, 0, 0, 0, time.UTC)
	p := &Plan{Schema: Schema, Repository: "127.0.0.1:5000/openhands/eval-agent-server", Now: t0, CreatedAt: t0,
		Fingerprint: "sha256:f", Policy: PolicyRef{Path: "openhands.yaml", Digest: "sha256:p"}}
	for i := range n {
		sdk := fmt.Sprintf("%07x", i%37)
		tag := fmt.Sprintf("%s-sweb.eval.x86_64.repo_%d-source-minimal", sdk, i)
		idx, img, att := inventory.DigestOf(fmt.Appendf(nil, "i%d", i)), inventory.DigestOf(fmt.Appendf(nil, "m%d", i)), inventory.DigestOf(fmt.Appendf(nil, "a%d", i))
		action, rule, child, state := Keep, "commits", "child-of-kept", "kept"
		detail := "sdk " + sdk + " is #3 of the last 30 commits of main"
		if i%3 == 0 {
			action, rule, child, state = Delete, "no-keep-rule-matched", "child-of-deleted", "deleted"
			detail = "sdk " + sdk + " is not among the last 30 commits of main"
		}
		p.Tags = append(p.Tags, inventory.Tag{Name: tag, Digest: idx})
		p.Decisions = append(p.Decisions,
			Decision{Digest: idx, Action: action, Tags: []string{tag}, Kind: "image", MediaType: inventory.MediaTypeOCIIndex,
				Fields: Fields{{"repo", fmt.Sprintf("repo_%d", i)}, {"sdk", sdk}, {"target", "source-minimal"}}, Created: t0.Add(-time.Duration(i) * time.Minute),
				Reasons: []Reason{{Rule: rule, Kind: "image", Detail: detail}}},
			Decision{Digest: img, Action: action, Kind: "child", Parent: idx, MediaType: inventory.MediaTypeOCIManifest,
				Reasons: []Reason{{Rule: child, Kind: "child", Detail: "linux/amd64 image of " + state + " index", Of: idx}}},
			Decision{Digest: att, Action: action, Kind: "attestation", Parent: idx, MediaType: inventory.MediaTypeOCIManifest,
				Reasons: []Reason{{Rule: child, Kind: "attestation", Detail: "attestation manifest of " + state + " index", Of: idx}}})
	}
	slices.SortFunc(p.Tags, func(a, b inventory.Tag) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(p.Decisions, func(a, b Decision) int { return strings.Compare(a.Digest, b.Digest) })
	p.Summarize(nil)
	p.Cost = EstimateCost(p, ModeAuto)
	p.Seal()
	return p
}

// TestReadGivesWhatAWholeValueDecodeGives: Read, which sizes the decisions from a count of the
// file's "action" keys and shares each tag's name between the tags and its decision, gives the
// plan encoding/json gives decoding the file as one value (as regtidy once read plans), for the
// file Write makes and for the same plan as compact JSON (a file of more than one read buffer,
// so keys are cut between reads); the seal verifies and the plan validates.
func TestReadGivesWhatAWholeValueDecodeGives(t *testing.T) {
	p := bigPlan(2000)
	var indented bytes.Buffer
	if err := p.Write(&indented); err != nil {
		t.Fatal(err)
	}
	compact, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if indented.Len() < 2<<20 {
		t.Fatalf("plan file of %d bytes: want more than two read buffers", indented.Len())
	}
	for name, raw := range map[string][]byte{"written": indented.Bytes(), "compact": compact} {
		path := filepath.Join(t.TempDir(), "plan.json")
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := Read(path)
		if err != nil {
			t.Fatalf("%s: Read: %v", name, err)
		}
		var want Plan
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("%s: Read differs from a whole-value decode (-whole +Read):\n%s", name, diff)
		}
		if diff := cmp.Diff(p, got); diff != "" {
			t.Errorf("%s: Read differs from the plan written (-written +Read):\n%s", name, diff)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", name, err)
		}
		if extra := cap(got.Decisions) - len(got.Decisions); extra < 0 || extra > len(p.Summary.TopReasons) {
			t.Errorf("%s: decisions hold room for %d more: want the file's count, give or take the summary's %d top reasons", name, extra, len(p.Summary.TopReasons))
		}
		shared := 0
		for i := range got.Decisions {
			d := &got.Decisions[i]
			if len(d.Tags) == 0 {
				continue
			}
			for _, tg := range got.Tags {
				if tg.Name == d.Tags[0] && unsafe.StringData(tg.Name) == unsafe.StringData(d.Tags[0]) {
					shared++
					break
				}
			}
			if i > 300 {
				break
			}
		}
		if shared == 0 {
			t.Errorf("%s: no decision shares its tag's name with the plan's tags", name)
		}
	}
}

// TestCountDecisionsAcrossReads: the count of "action" keys is the same however the file is
// cut into reads, and is bounded by one for every 32 bytes.
func TestCountDecisionsAcrossReads(t *testing.T) {
	var b bytes.Buffer
	if err := bigPlan(50).Write(&b); err != nil {
		t.Fatal(err)
	}
	want := bytes.Count(b.Bytes(), actionKey)
	if want < 150 {
		t.Fatalf("%d action keys in a plan of 150 decisions", want)
	}
	for name, r := range map[string]func() (int, error){
		"whole":    func() (int, error) { return countDecisions(bytes.NewReader(b.Bytes())) },
		"one byte": func() (int, error) { return countDecisions(iotest.OneByteReader(bytes.NewReader(b.Bytes()))) },
		"half":     func() (int, error) { return countDecisions(iotest.HalfReader(bytes.NewReader(b.Bytes()))) },
	} {
		if got, err := r(); err != nil || got != want {
			t.Errorf("%s: %d, %v; want %d", name, got, err, want)
		}
	}
	keys := bytes.Repeat(actionKey, 100)
	if got, _ := countDecisions(bytes.NewReader(keys)); got != len(keys)/32 {
		t.Errorf("a file of nothing but keys: %d, want at most %d", got, len(keys)/32)
	}
}
