package policy

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
)

var update = flag.Bool("update", false, "rewrite policy/testdata/*.golden.json")

// df is the Dockerfile hash of the fixtures' SWE-bench base image.
var df = hexOf("dockerfile django", 7)

// swe returns a current-naming SWE-bench image tag for SDK commit i.
func swe(i int, inst string) string {
	return sdk7(i) + "-" + df + "-sweb.eval.x86_64." + inst + "-source-minimal"
}

// caseInventory is ghcr.io/openhands/eval-agent-server in miniature, on a plain OCI registry:
// every tag shape of the case, buildx pushes (index + amd64 + attestation), a digest shared by a
// kept and an unkept tag, a child shared by a kept and a deleted index, nested indexes, referrer
// tags and subject referrers (of kept, deleted and absent subjects), build caches, legacy
// releases and unknown tags. With caseLoader, commits 0-29 are the last 30 and commit 35 is
// used by a live run.
func caseInventory() *inventory.Inventory {
	b := newBuilder("ghcr.io/openhands/eval-agent-server")
	base := []string{"ubuntu", "python"}
	// SWE-bench images, current naming, of kept (0, 5, 29), live (35) and old (30, 39) commits.
	kept0, img0, _ := b.pushed(swe(0, instance), hoursAgo(1), append(base, "sdk0")...)
	b.pushed(swe(5, instance), hoursAgo(5*24), append(base, "sdk5")...)
	b.pushed(swe(29, instance), hoursAgo(29*24), append(base, "sdk29")...)
	b.pushed(swe(30, instance), hoursAgo(30*24), append(base, "sdk30")...)
	b.pushed(swe(35, instance), hoursAgo(35*24), append(base, "sdk35")...)
	old39, _, _ := b.pushed(swe(39, instance), hoursAgo(39*24), append(base, "sdk39")...)
	// Older naming, with and without the base image's tag hash.
	b.pushed(sdk7(2)+"-sweb.eval.x86_64."+instance+"-source-minimal", hoursAgo(60*24), append(base, "old2")...)
	b.pushed(sdk7(38)+"-sweb.eval.x86_64.django_1776_django-1109_tag_latest-06043de4faf0-source-minimal", hoursAgo(80*24), append(base, "old38")...)
	// commit0, gaia and an arbitrary base image, one kept and one deleted each.
	b.pushed(sdk7(1)+"-"+df+"-commit0-tinydb-source-minimal", hoursAgo(24), "c0", "sdk1")
	b.pushed(sdk7(31)+"-"+df+"-commit0-tinydb-source-minimal", hoursAgo(31*24), "c0", "sdk31")
	b.pushed(sdk7(2)+"-gaia-binary", hoursAgo(2*24), "gaia", "sdk2")
	b.pushed(sdk7(33)+"-gaia-binary", hoursAgo(33*24), "gaia", "sdk33")
	b.pushed(sdk7(3)+"-nikolaik_s_python-nodejs_tag_python3.12-nodejs22", hoursAgo(3*24), "node", "sdk3")
	b.pushed(sdk7(34)+"-nikolaik_s_python-nodejs_tag_python3.12-nodejs22", hoursAgo(34*24), "node", "sdk34")
	// A rebuild that produced the same index under a kept and an unkept commit.
	shared, _, _ := b.pushed(swe(32, "astropy_1776_astropy-12907"), hoursAgo(32*24), "astropy", "same")
	b.tag(swe(4, "astropy_1776_astropy-12907"), shared)
	// One amd64 image listed by a kept index (commit 6) and a deleted one (commit 36).
	sharedImg := b.image("shared amd64", hoursAgo(36*24), "requests", "same-bits")
	att6, att36 := b.attestation("att 6"), b.attestation("att 36")
	b.tag(swe(6, "psf_1776_requests-2317"), b.index("requests 6", hoursAgo(6*24), platform(sharedImg, "linux/amd64"), attests(att6, sharedImg)))
	b.tag(swe(36, "psf_1776_requests-2317"), b.index("requests 36", hoursAgo(36*24), platform(sharedImg, "linux/amd64"), attests(att36, sharedImg)))
	// Nested indexes: an index listing a multi-platform index, kept (commit 7) and deleted (37).
	for _, i := range []int{7, 37} {
		tag := swe(i, "sympy_1776_sympy-20590")
		amd := b.image(tag+" amd64", hoursAgo(i*24), "sympy", tag+"amd")
		arm := b.image(tag+" arm64", hoursAgo(i*24), "sympy", tag+"arm")
		att := b.attestation(tag)
		inner := b.index(tag+" inner", hoursAgo(i*24), platform(amd, "linux/amd64"), platform(arm, "linux/arm64"), attests(att, amd))
		b.tag(tag, b.index(tag+" outer", hoursAgo(i*24), inventory.Descriptor{MediaType: inventory.MediaTypeOCIIndex, Digest: inner, Size: 900}))
	}
	// Referrers: cosign tags of a kept and a deleted index and of a digest not in the
	// repository; OCI subject referrers of a kept image and a deleted index.
	b.signature(kept0, "sig")
	b.signature(old39, "att")
	b.signature(digestOf("long gone"), "sig")
	b.subjectReferrer("bundle of kept", img0)
	b.subjectReferrer("bundle of deleted", old39)
	// Build caches: five for one instance (with branch suffixes, two created at the same time),
	// two for another.
	cacheTag := "buildcache-source-minimal-sweb.eval.x86_64.django_1776_django-1109_tag_latest-06043de4faf0"
	for i, suffix := range []string{"", "-main", "-fix-login", "-release-1.2", "-old"} {
		h := []int{10, 2, 2, 50, 90}[i]
		b.tag(cacheTag+suffix, b.image("cache "+suffix, hoursAgo(h), "cache"+suffix))
	}
	cacheAstropy := "buildcache-source-minimal-sweb.eval.x86_64.astropy_1776_astropy-1290_tag_latest-aa11bb22cc33"
	b.tag(cacheAstropy, b.image("cache astropy", hoursAgo(400), "cache astropy"))
	b.tag(cacheAstropy+"-main", b.image("cache astropy main", hoursAgo(300), "cache astropy main"))
	// Legacy releases; v1.0.1 shares its digest with a deleted image, which it keeps.
	b.pushed("v1.0.0", hoursAgo(4000), "legacy")
	b.pushed("v1.0.0-rc1", hoursAgo(4100), "legacy rc")
	legacyShared, _, _ := b.pushed(swe(37, "flask_1776_flask-4992"), hoursAgo(37*24), "flask")
	b.tag("v1.0.1", legacyShared)
	// Tags of no kind: kept, and what they point at with them.
	b.tag("latest", kept0)
	b.pushed("nightly-experiment", hoursAgo(500), "nightly")
	return b.done()
}

// goldenCase is an inventory and policy whose plan is kept in testdata/<name>.golden.json.
type goldenCase struct {
	name   string
	inv    func() *inventory.Inventory
	policy func(t testing.TB) *Policy
	loader func() *fakeLoader
}

// goldenCases are the plans kept in testdata.
var goldenCases = []goldenCase{
	{"openhands", caseInventory, examplePolicy, caseLoader},
	{"ghcr", ghcrInventory, ghcrPolicy, ghcrLoader},
	{"semver", semverGoldenInventory, semverGoldenPolicy, func() *fakeLoader { return &fakeLoader{} }},
}

// path is the golden file's path.
func (tc goldenCase) path() string { return filepath.Join("testdata", tc.name+".golden.json") }

// evaluate makes the case's plan and returns it with its JSON.
func (tc goldenCase) evaluate(t *testing.T) (*plan.Plan, []byte) {
	t.Helper()
	pol := tc.policy(t)
	keep, err := Resolve(context.Background(), pol, tc.loader(), t0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Evaluate(tc.inv(), pol, keep, t0)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := p.Write(&got); err != nil {
		t.Fatal(err)
	}
	return p, got.Bytes()
}

// TestGolden evaluates policies on inventories built in code and compares the plans with the
// files in testdata (go test ./policy -update rewrites them).
func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			p, got := tc.evaluate(t)
			if *update {
				if err := os.WriteFile(tc.path(), got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(tc.path())
			if err != nil {
				t.Fatalf("%v (run go test ./policy -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("plan differs from %s (-want +got):\n%s", tc.path(), diff)
			}
			checkInvariants(t, tc.inv(), p)
		})
	}
}

// examplePolicy loads examples/openhands.yaml, named as in error messages and plans.
func examplePolicy(t testing.TB) *Policy {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "examples", "openhands.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := Parse("examples/openhands.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// checkInvariants asserts safety invariants on any plan: everything reachable from a kept
// manifest is kept, every tagged digest has a decision, every decision has reasons, and
// decisions are sorted and unique.
func checkInvariants(t *testing.T, inv *inventory.Inventory, p *plan.Plan) {
	t.Helper()
	action := map[string]plan.Action{}
	for i, d := range p.Decisions {
		if i > 0 && p.Decisions[i-1].Digest >= d.Digest {
			t.Errorf("decisions not sorted by digest at %d: %s after %s", i, d.Digest, p.Decisions[i-1].Digest)
		}
		if len(d.Reasons) == 0 {
			t.Errorf("%s (%s): no reasons", d.Digest, d.Action)
		}
		action[d.Digest] = d.Action
	}
	var kept []string
	for d, a := range action {
		if a == plan.Keep {
			kept = append(kept, d)
		}
	}
	for _, d := range inv.Closure(inv.Referrers(), kept...) {
		if a, ok := action[d]; ok && a != plan.Keep {
			t.Errorf("%s is reachable from a kept manifest but planned %s", d, a)
		}
	}
	for _, tg := range inv.Tags {
		if _, ok := action[tg.Digest]; !ok {
			t.Errorf("tag %s: digest %s has no decision", tg.Name, tg.Digest)
		}
	}
}
