package ghcr

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/registry"
)

// smallPackage pushes two images (tags old-1 and new-1) and an old orphan, then, two hours on,
// a fresh orphan.
func smallPackage(t *testing.T) (e *ghcremu.Emulator, clock *ghcremu.FakeClock, old [3]string, orphan, fresh string) {
	t.Helper()
	e, clock = emulate(t, fastDeletes)
	old[0], old[1], old[2] = pushIndex(t, e, "old-1")
	pushIndex(t, e, "new-1")
	orphan = fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("orphan")))
	if _, err := e.Register(testRepo, orphan); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	fresh = fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("fresh")))
	if _, err := e.Register(testRepo, fresh); err != nil {
		t.Fatal(err)
	}
	return e, clock, old, orphan, fresh
}

func TestBuildInventoryVersions(t *testing.T) {
	e, clock, old, orphan, fresh := smallPackage(t)
	repo := e.Host + "/" + testRepo
	st := NewState("")
	inv, stats, err := BuildInventory(t.Context(), registry.New(), repo, client(t, e, clock), st, inventory.BuildOptions{IsNotFound: isNotFoundErr})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Versions != 8 || stats.Withheld != 1 || stats.Unlisted != 0 || !stats.Sync.Complete {
		t.Errorf("stats %+v: want 8 versions, the fresh orphan withheld, nothing unlisted", stats)
	}
	if v := inv.Versions[fresh]; v == nil || !v.Withheld {
		t.Errorf("the fresh orphan: %+v, want it in the inventory, withheld", v)
	}
	if v := inv.Versions[orphan]; v == nil || v.Withheld {
		t.Errorf("the old orphan: %+v, want it judged", v)
	}
	// With no grace, the fresh orphan is judged like any other.
	inv, stats, err = BuildInventory(t.Context(), registry.New(), repo, client(t, e, clock, WithPushGrace(0)), st, inventory.BuildOptions{IsNotFound: isNotFoundErr})
	if err != nil {
		t.Fatal(err)
	}
	if v := inv.Versions[fresh]; v == nil || v.Withheld || stats.Withheld != 0 {
		t.Errorf("with no push grace: fresh %+v, %d withheld; want it judged", v, stats.Withheld)
	}
	if v := inv.Versions[orphan]; v == nil || len(v.Tags) != 0 {
		t.Errorf("orphan: %+v", v)
	}
	for i, d := range old {
		v := inv.Versions[d]
		id, _ := st.ID(d)
		if v == nil || v.ID != id || (i == 0) != slices.Equal(v.Tags, []string{"old-1"}) {
			t.Errorf("version of %s: %+v", d, v)
		}
	}
	if _, _, err := BuildInventory(t.Context(), registry.New(), e.Host+"/acme/other", client(t, e, clock), st, inventory.BuildOptions{IsNotFound: isNotFoundErr}); err == nil {
		t.Error("built the inventory of another package")
	}
}

func TestApplyNeverDeletesADigestWithoutAnID(t *testing.T) {
	e, clock, old, orphan, _ := smallPackage(t)
	repo := e.Host + "/" + testRepo
	oci := registry.New()
	// A listing stopped by its budget: the inventory has manifests but no versions.
	st := NewState("")
	inv, stats, err := BuildInventory(t.Context(), oci, repo, client(t, e, clock, WithMaxRequests(1)), st, inventory.BuildOptions{IsNotFound: isNotFoundErr})
	if !IsBudgetSpent(err) || inv == nil || stats.Unlisted != 6 {
		t.Fatalf("err %v, stats %+v: want a spent budget and 6 manifests unlisted", err, stats)
	}
	pol, err := policy.Parse("p.yaml", []byte("version: 1\nscheme:\n  - kind: img\n    match: '(old|new)-.+'\nrules:\n  img:\n    keep:\n      - match: 'new-.+'\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Evaluate(inv, pol, nil, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, err := Apply(t.Context(), p, oci, client(t, e, clock), st, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{old[0], old[1], old[2]}
	slices.Sort(want)
	slices.Sort(res.Unlisted)
	if diff := cmp.Diff(want, res.Unlisted); diff != "" || len(res.Deleted) != 0 || !res.Partial() {
		t.Errorf("unlisted (-want +got):\n%s\ndeleted %d", diff, len(res.Deleted))
	}
	// Once a later run listed them, the same plan deletes them by the ids the state has.
	if _, err := client(t, e, clock).Sync(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	res, err = Apply(t.Context(), p, oci, client(t, e, clock), st, ApplyOptions{})
	if err != nil || len(res.Deleted) != 3 {
		t.Fatalf("second apply: %d deleted, err %v", len(res.Deleted), err)
	}
	if got := deletedDigests(e); !cmp.Equal(got, want) {
		t.Errorf("deleted %v, want %v (the orphan %s was not in the plan)", got, want, orphan)
	}
}

func TestApplyTellsAForbiddenTokenFromAForbiddenVersion(t *testing.T) {
	pol, err := policy.Parse("p.yaml", []byte("version: 1\nscheme:\n  - kind: img\n    match: '(old|new)-.+'\nrules:\n  img:\n    keep:\n      - match: 'new-.+'\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		forbidden int // of the 4 old images, how many answer 403
		wantErr   bool
		// wantRecorded is how many refusals the state records.
		wantRecorded int
	}{
		{"the token may not delete", 4, true, 0},
		{"one version is forbidden", 1, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, clock := emulate(t, fastDeletes)
			var olds []string
			for i := range 4 {
				idx, _, _ := pushIndex(t, e, fmt.Sprintf("old-%d", i))
				olds = append(olds, idx)
			}
			pushIndex(t, e, "new-1")
			for _, d := range olds[:tt.forbidden] {
				if err := e.Forbid(testRepo, d); err != nil {
					t.Fatal(err)
				}
			}
			oci, st := registry.New(), NewState("")
			inv, _, err := BuildInventory(t.Context(), oci, e.Host+"/"+testRepo, client(t, e, clock), st, inventory.BuildOptions{IsNotFound: isNotFoundErr})
			if err != nil {
				t.Fatal(err)
			}
			p, err := policy.Evaluate(inv, pol, nil, clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			res, err := Apply(t.Context(), p, oci, client(t, e, clock, WithConcurrency(1)), st, ApplyOptions{})
			if gotErr := errors.Is(err, registry.ErrUnauthorized); gotErr != tt.wantErr {
				t.Errorf("err %v, want ErrUnauthorized: %v", err, tt.wantErr)
			}
			if len(st.Undeletable) != tt.wantRecorded || len(res.Undeletable) < 1 {
				t.Errorf("state records %d refusals (want %d); the run reports %d", len(st.Undeletable), tt.wantRecorded, len(res.Undeletable))
			}
		})
	}
}
