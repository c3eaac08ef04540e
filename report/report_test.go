package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/regtidy/regtidy/inventory"
)

// prefixClassifier: "<sdk>-<bench>-..." tags are images; "buildcache-*" buildcache; rest unknown.
type prefixClassifier struct{}

func (prefixClassifier) Classify(tag string) (string, map[string]string) {
	if strings.HasPrefix(tag, "buildcache-") {
		return "buildcache", map[string]string{"bench": "swebench"}
	}
	parts := strings.Split(tag, "-")
	if len(parts) >= 3 {
		return "image", map[string]string{"sdk": parts[0], "bench": parts[1]}
	}
	return "unknown", nil
}

func digest(i int) string { return fmt.Sprintf("sha256:%064x", i) }

// caseInventory: sdk a has 3 images, b has 1; each image is an index with an amd64 child and an
// attestation; all images share one base layer.
func caseInventory() *inventory.Inventory {
	inv := &inventory.Inventory{Repository: "r", Manifests: map[string]*inventory.Manifest{}}
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	add := func(i int, tag string, layer int64) {
		idx, img, att := digest(i*10), digest(i*10+1), digest(i*10+2)
		inv.Tags = append(inv.Tags, inventory.Tag{Name: tag, Digest: idx})
		inv.Manifests[idx] = &inventory.Manifest{Digest: idx, MediaType: inventory.MediaTypeOCIIndex, Created: t0.Add(time.Duration(i) * time.Hour), Manifests: []inventory.Descriptor{
			{Digest: img, Platform: "linux/amd64"},
			{Digest: att, Platform: "unknown/unknown", ReferenceType: "attestation-manifest"},
		}}
		inv.Manifests[img] = &inventory.Manifest{Digest: img, MediaType: inventory.MediaTypeOCIManifest,
			Config: &inventory.Blob{Digest: digest(1000 + i), Size: 1},
			Layers: []inventory.Layer{{Digest: digest(999), Size: 100}, {Digest: digest(2000 + i), Size: layer}}}
		inv.Manifests[att] = &inventory.Manifest{Digest: att, MediaType: inventory.MediaTypeOCIManifest}
	}
	add(1, "a-swebench-x", 10)
	add(2, "a-swebench-y", 20)
	add(3, "a-gaia-z", 30)
	add(4, "b-swebench-x", 40)
	add(5, "buildcache-x", 50)
	add(6, "v1.0.0", 60)
	return inv
}

func TestCompute(t *testing.T) {
	r := Compute(caseInventory(), prefixClassifier{}, Options{Heavy: 3})
	if r.Tags != 6 {
		t.Errorf("Tags = %d, want 6", r.Tags)
	}
	kinds := map[string]int{}
	for _, k := range r.Kinds {
		kinds[k.Kind] = k.Tags
	}
	if kinds["image"] != 4 || kinds["buildcache"] != 1 || kinds["unknown"] != 1 {
		t.Errorf("kinds = %v", kinds)
	}
	if r.Group == nil || r.Group.Distinct != 2 || r.Group.Heavy != 1 || r.Group.Top[0].Value != "a" || r.Group.Top[0].Tags != 3 {
		t.Errorf("group = %+v", r.Group)
	}
	if r.Split == nil || r.Split.Distinct != 2 || r.Split.Top[0].Value != "swebench" || r.Split.Top[0].Tags != 4 {
		t.Errorf("split = %+v", r.Split)
	}
	m := r.Manifests
	if m.Total != 18 || m.Tagged != 6 || m.Children != 6 || m.Attestations != 6 {
		t.Errorf("manifests = %+v", m)
	}
	// Per image: config 1 + shared layer 100 + own layer.
	if len(r.Sizes) != 1 || r.Sizes[0].Platform != "linux/amd64" || r.Sizes[0].Images != 6 || r.Sizes[0].Max != 161 {
		t.Errorf("sizes = %+v", r.Sizes)
	}
	if r.NaiveBytes != 6*101+210 || r.UniqueBytes != 6+100+210 {
		t.Errorf("naive %d unique %d", r.NaiveBytes, r.UniqueBytes)
	}
	if r.Oldest.Tag != "a-swebench-x" || r.Newest.Tag != "v1.0.0" {
		t.Errorf("oldest %+v newest %+v", r.Oldest, r.Newest)
	}
}

func TestRender(t *testing.T) {
	r := Compute(caseInventory(), prefixClassifier{}, Options{})
	var tbl bytes.Buffer
	if err := r.WriteTable(&tbl); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Tags", "image", "Distinct sdk values", "linux/amd64", "Unique bytes"} {
		if !strings.Contains(tbl.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tbl.String())
		}
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Tags != 6 {
		t.Errorf("JSON round trip: %v, tags %d", err, back.Tags)
	}
}

func TestComputeDatesCommits(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := &History{Branch: "main", Commits: []Commit{
		{SHA: "b" + strings.Repeat("0", 39), Time: t0.Add(48 * time.Hour)},
		{SHA: "c" + strings.Repeat("1", 39), Time: t0.Add(24 * time.Hour)},
		{SHA: "a" + strings.Repeat("2", 39), Time: t0},
	}}
	inv := caseInventory()
	// Make "a" and "b" 7-hex commit prefixes; "zzz" stays off the branch.
	for i, tg := range inv.Tags {
		switch {
		case strings.HasPrefix(tg.Name, "a-"):
			inv.Tags[i].Name = "a222222" + tg.Name[1:]
		case strings.HasPrefix(tg.Name, "b-"):
			inv.Tags[i].Name = "b000000" + tg.Name[1:]
		}
	}
	r := Compute(inv, prefixClassifier{}, Options{History: h})
	oc := r.Group.OldestCommit
	if oc == nil || oc.SHA != h.Commits[2].SHA || oc.Behind != 2 || oc.Tags != 3 {
		t.Fatalf("oldest commit = %+v", oc)
	}
	if r.Group.NotOnBranch != 0 {
		t.Errorf("not on branch = %d, want 0", r.Group.NotOnBranch)
	}
	h.Commits = h.Commits[:2]
	r = Compute(inv, prefixClassifier{}, Options{History: h})
	if r.Group.NotOnBranch != 1 || r.Group.OldestCommit.Behind != 0 {
		t.Errorf("with a222222 off the branch: %+v", r.Group)
	}
}
