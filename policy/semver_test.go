package policy

import (
	"strings"
	"testing"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
)

func TestSemverOf(t *testing.T) {
	for tag, want := range map[string]string{
		"v1.2.3":        "v1.2.3",
		"1.2.3":         "v1.2.3",
		"v1.2.3-rc.1":   "v1.2.3-rc.1",
		"10.0.0-beta":   "v10.0.0-beta",
		"v1.2.3-alpine": "v1.2.3-alpine", // a pre-release by semver's rules
		"v1.2.3+build5": "v1.2.3+build5",
		"v1":            "", // a release line, not a release
		"v1.2":          "",
		"v01.2.3":       "", // leading zero
		"V1.2.3":        "",
		"latest":        "",
		"vv1.2.3":       "",
		"1.2.3.4":       "",
		"":              "",
	} {
		got, ok := semverOf(tag)
		if ok != (want != "") || got != want {
			t.Errorf("semverOf(%q) = %q, %v; want %q", tag, got, ok, want)
		}
	}
}

// semverInventory holds release tags whose creation order is not their version order (a
// backported 1.9.1 pushed after 2.0.0, 1.10.0 built before 1.9.0), tags with and without the
// "v", a release candidate, and two tags that are not versions. It returns each tag's digest.
func semverInventory() (*inventory.Inventory, map[string]string) {
	b := newBuilder("registry.example/team/app")
	digests := map[string]string{}
	for _, r := range []struct {
		tag   string
		hours int
	}{
		{"v1.0.0", 900}, {"1.1.0", 800}, {"v1.10.0", 700}, {"v1.9.0", 600},
		{"v2.0.0-rc.1", 300}, {"v2.0.0", 200}, {"v1.9.1", 100}, {"2.1.0", 150},
		{"latest", 1}, {"edge", 2},
	} {
		d := b.image("semver "+r.tag, hoursAgo(r.hours), r.tag)
		b.tag(r.tag, d)
		digests[r.tag] = d
	}
	return b.done(), digests
}

// semverScheme reads releases with their major version, and two moving tags without one.
const semverScheme = `version: 1
scheme:
  - kind: release
    match: 'v?(?P<major>[0-9]+)\.[0-9]+\.[0-9]+(?:-.+)?'
  - kind: release
    match: 'latest|edge'
`

func TestNewestBySemver(t *testing.T) {
	for _, tc := range []struct {
		name, keep string
		kept       []string
	}{
		// By version, 2.1.0 (no "v") is the greatest, then 2.0.0, its candidate, and 1.10.0
		// above 1.9.x although older; by creation time the newest 3 would be latest, edge, v1.9.1.
		{"newest 4 of all", "{count: 4, by: semver}", []string{"2.1.0", "v2.0.0", "v2.0.0-rc.1", "v1.10.0"}},
		// Tags that are not versions come after every version, newest first: latest before edge.
		{"the non-versions last, by creation time", "{count: 9, by: semver}",
			[]string{"2.1.0", "v2.0.0", "v2.0.0-rc.1", "v1.10.0", "v1.9.1", "v1.9.0", "1.1.0", "v1.0.0", "latest"}},
		// Per major line; the moving tags form their own group (no major), newest first.
		{"newest 2 of each major", "{count: 2, per: [major], by: semver}", []string{"2.1.0", "v2.0.0", "v1.10.0", "v1.9.1", "latest", "edge"}},
		{"newest 1 of each major", "{count: 1, per: [major], by: semver}", []string{"2.1.0", "v1.10.0", "latest"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol, err := Parse("semver.yaml", []byte(semverScheme+"rules:\n  release:\n    keep:\n      - newest: "+tc.keep+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			inv, digests := semverInventory()
			p, err := Evaluate(inv, pol, &KeepSets{}, t0)
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, inv, p)
			want := map[string]bool{}
			for _, tag := range tc.kept {
				want[tag] = true
			}
			for tag, d := range digests {
				dec, ok := p.Find(d)
				if !ok {
					t.Fatalf("%s: no decision", tag)
				}
				if got := dec.Action == plan.Keep; got != want[tag] {
					t.Errorf("%s: %s (%s), want kept=%v", tag, dec.Action, dec.Reasons[0].Detail, want[tag])
				}
			}
		})
	}
}

func TestNewestBySemverReason(t *testing.T) {
	pol, err := Parse("semver.yaml", []byte(semverScheme+"rules:\n  release:\n    keep:\n      - newest: {count: 2, by: semver}\n"))
	if err != nil {
		t.Fatal(err)
	}
	inv, digests := semverInventory()
	p, err := Evaluate(inv, pol, &KeepSets{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	dec, _ := p.Find(digests["v1.10.0"])
	if want := "#4 newest of 10 in all release tags (by semver); only the newest 2 are kept"; dec.Reasons[0].Detail != want {
		t.Errorf("v1.10.0: reason %q, want %q", dec.Reasons[0].Detail, want)
	}
}

func TestParseNewestBy(t *testing.T) {
	// semver needs no field of that name; another name still has to be a field of the kind.
	if _, err := Parse("p.yaml", []byte(semverScheme+"rules:\n  release:\n    keep:\n      - newest: {count: 5, by: semver}\n")); err != nil {
		t.Errorf("by: semver: %v", err)
	}
	_, err := Parse("p.yaml", []byte(semverScheme+"rules:\n  release:\n    keep:\n      - newest: {count: 5, by: version}\n"))
	if err == nil || !strings.Contains(err.Error(), `p.yaml:10:32: rules.release.keep[0].newest.by`) || !strings.Contains(err.Error(), `no field "version"`) {
		t.Errorf("by: version (no such field): got %v, want an error at p.yaml:10:32 naming the field", err)
	}
}

// semverGoldenPolicy keeps the two greatest releases of each major version: the golden case
// "semver" (testdata/semver.golden.json) records its whole plan, reasons included.
func semverGoldenPolicy(t testing.TB) *Policy {
	t.Helper()
	pol, err := Parse("semver.yaml", []byte(semverScheme+"rules:\n  release:\n    keep:\n      - newest: {count: 2, per: [major], by: semver}\n"))
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// semverGoldenInventory is semverInventory without the digests.
func semverGoldenInventory() *inventory.Inventory {
	inv, _ := semverInventory()
	return inv
}
