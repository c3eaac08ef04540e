package apply

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
)

func TestVerifyFindsBrokenKeptTags(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(w *world)
		want   func(w *world) []BrokenTag
	}{
		{"whole", func(*world) {}, func(*world) []BrokenTag { return nil }},
		{"layer blob removed", func(w *world) { w.f.deleteBlob(w.bi.layer) }, func(w *world) []BrokenTag {
			m := []Missing{{Kind: MissingLayer, Digest: w.bi.layer, In: w.bi.desc.Digest}}
			return []BrokenTag{{Tag: "b-latest", Digest: w.ib.desc.Digest, Missing: m}, {Tag: "b1", Digest: w.ib.desc.Digest, Missing: m}}
		}},
		{"shared child of a kept index removed", func(w *world) {
			if err := w.f.c.DeleteManifest(w.f.t.Context(), w.f.repo, w.ai.desc.Digest); err != nil {
				w.f.t.Fatal(err)
			}
		}, func(w *world) []BrokenTag {
			return []BrokenTag{{Tag: "e1", Digest: w.ie.desc.Digest, Missing: []Missing{{Kind: MissingManifest, Digest: w.ai.desc.Digest, In: w.ie.desc.Digest}}}}
		}},
		{"attestation layer removed", func(w *world) { w.f.deleteBlob(w.st.layer) }, func(w *world) []BrokenTag {
			m := []Missing{{Kind: MissingLayer, Digest: w.st.layer, In: w.st.desc.Digest}}
			return []BrokenTag{{Tag: "drop-s", Digest: w.is.desc.Digest, Missing: m}, {Tag: "keep-s", Digest: w.is.desc.Digest, Missing: m}}
		}},
		{"kept tag deleted", func(w *world) {
			if err := w.f.c.DeleteManifest(w.f.t.Context(), w.f.repo, "keep-s"); err != nil {
				w.f.t.Fatal(err)
			}
		}, func(w *world) []BrokenTag {
			return []BrokenTag{{Tag: "keep-s", Digest: w.is.desc.Digest, Missing: []Missing{{Kind: MissingTag, Digest: w.is.desc.Digest}}}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			tc.break_(w)
			res, err := VerifyPlan(t.Context(), w.f.c, w.plan, VerifyOptions{Concurrency: 4})
			if err != nil {
				t.Fatalf("VerifyPlan: %v", err)
			}
			want := tc.want(w)
			if diff := cmp.Diff(want, res.Broken, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("broken (-want +got):\n%s", diff)
			}
			if res.OK() != (len(want) == 0) || len(res.Unchecked) != 0 {
				t.Errorf("OK %v, unchecked %v", res.OK(), res.Unchecked)
			}
			if res.Tags != len(KeptTags(w.plan)) {
				t.Errorf("checked %d tags, want the %d kept", res.Tags, len(KeptTags(w.plan)))
			}
		})
	}
}

func TestVerifyEveryLiveTagAndMoves(t *testing.T) {
	w := newWorld(t)
	res, err := Verify(t.Context(), w.f.c, w.f.repo, nil, VerifyOptions{})
	if err != nil || !res.OK() {
		t.Fatalf("Verify: err %v, result %+v", err, res)
	}
	if res.Tags != len(w.plan.Tags) {
		t.Errorf("checked %d tags, want every live tag (%d)", res.Tags, len(w.plan.Tags))
	}
	// Each manifest and blob is checked once, however many tags share it.
	if res.Requests.Fetches != res.Manifests || res.Requests.BlobHeads != res.Blobs {
		t.Errorf("requests %+v for %d manifests and %d blobs: want one each", res.Requests, res.Manifests, res.Blobs)
	}

	moved, err := Verify(t.Context(), w.f.c, w.f.repo, []inventory.Tag{{Name: "b1", Digest: w.ia.desc.Digest}}, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []plan.TagMove{{Tag: "b1", Planned: w.ia.desc.Digest, Live: w.ib.desc.Digest}}
	if diff := cmp.Diff(want, moved.Moved); diff != "" {
		t.Errorf("moved (-want +got):\n%s", diff)
	}
}
