package policy

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/inventory"
)

// TestEvaluateOwnedGivesTheSamePlan: EvaluateOwned, which drops the inventory's blob lists once
// it has counted the bytes freed, writes the golden plans byte for byte (bytes freed included),
// and leaves the inventory without its map of manifests, and them without configs and layers.
func TestEvaluateOwnedGivesTheSamePlan(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			pol := tc.policy(t)
			keep, err := Resolve(context.Background(), pol, tc.loader(), t0)
			if err != nil {
				t.Fatal(err)
			}
			inv := tc.inv()
			blobbed := 0
			var manifests []*inventory.Manifest
			for _, m := range inv.Manifests {
				manifests = append(manifests, m)
				if m.Config != nil || len(m.Layers) > 0 {
					blobbed++
				}
			}
			p, err := EvaluateOwned(inv, pol, keep, t0)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := p.Write(&got); err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(tc.path())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), got.String()); diff != "" {
				t.Errorf("EvaluateOwned's plan differs from %s (-want +got):\n%s", tc.path(), diff)
			}
			if blobbed == 0 || p.Summary.BytesFreed == 0 {
				t.Fatalf("%d manifests with blobs, %d bytes freed: the case proves nothing", blobbed, p.Summary.BytesFreed)
			}
			if inv.Manifests != nil {
				t.Errorf("the inventory still holds its map of %d manifests", len(inv.Manifests))
			}
			for _, m := range manifests {
				if m.Config != nil || m.Layers != nil {
					t.Errorf("%s still holds its config or layers", m.Digest)
					break
				}
			}
		})
	}
}
