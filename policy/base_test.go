package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
)

// Repositories of the base tests: composed images, and the bases they are built on.
const (
	imageRepo = "ghcr.io/openhands/eval-agent-server"
	baseRepo  = "ghcr.io/openhands/eval-base"
)

// basePolicy keeps base images that an image of imageRepo is built on, and any base younger
// than a day.
const basePolicy = `version: 1
scheme:
  - kind: base
    match: '(?P<df>[0-9a-f]{7})-sweb\.eval\.x86_64\.(?P<repo>.+)'
rules:
  base:
    keep:
      - base: {from: ` + imageRepo + `}
      - age: {newer_than: 1d}
`

// evaluateBases resolves and evaluates a policy with a loader answering bases.
func evaluateBases(t *testing.T, yaml string, bases map[string][]BaseRef, inv *inventory.Inventory) *plan.Plan {
	t.Helper()
	pol, err := Parse("b.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := Resolve(context.Background(), pol, &fakeLoader{bases: bases}, t0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Evaluate(inv, pol, ks, t0)
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, inv, p)
	return p
}

// firstDetail returns the detail of a digest's first reason.
func firstDetail(t *testing.T, p *plan.Plan, digest string) string {
	t.Helper()
	d, ok := p.Find(digest)
	if !ok || len(d.Reasons) == 0 {
		t.Fatalf("%s: no decision with reasons", digest)
	}
	return d.Reasons[0].Detail
}

func TestBaseConditionKeepsBasesOfImagesInAnotherRepository(t *testing.T) {
	b := newBuilder(baseRepo)
	old := hoursAgo(900)
	named, namedImg, namedAtt := b.pushed("aaaaaaa-sweb.eval.x86_64.named", old, "ubuntu", "named")
	viaImage, viaImageImg, _ := b.pushed("bbbbbbb-sweb.eval.x86_64.via-image", old, "ubuntu", "via")
	single := b.image("single", old, "ubuntu", "single")
	b.tag("ccccccc-sweb.eval.x86_64.single", single)
	unused, unusedImg, unusedAtt := b.pushed("ddddddd-sweb.eval.x86_64.unused", old, "ubuntu", "unused")
	fresh, _, _ := b.pushed("eeeeeee-sweb.eval.x86_64.fresh", hoursAgo(2), "ubuntu", "fresh")
	inv := b.done()

	img1 := imageRepo + ":1a2b3c4-aaaaaaa-sweb.eval.x86_64.named-source-minimal"
	img2 := imageRepo + ":9f8e7d6-aaaaaaa-sweb.eval.x86_64.named-source-minimal"
	bases := map[string][]BaseRef{imageRepo: {
		// A composed index names the base's index, its platform image the base's image.
		{Digest: named, Name: baseRepo + ":aaaaaaa-sweb.eval.x86_64.named", Image: img1},
		{Digest: namedImg, Name: baseRepo + ":aaaaaaa-sweb.eval.x86_64.named", Image: img1},
		{Digest: named, Image: img2},
		// An image built on one platform of an index: its index is kept whole.
		{Digest: viaImageImg, Image: imageRepo + ":1a2b3c4-via-source-minimal"},
		{Digest: single, Image: imageRepo + ":1a2b3c4-single-source-minimal"},
		// A base in another repository changes nothing here.
		{Digest: digestOf("elsewhere"), Image: imageRepo + ":1a2b3c4-elsewhere-source-minimal"},
	}}
	p := evaluateBases(t, basePolicy, bases, inv)

	got := verdicts(t, p, map[string]string{
		"named": named, "named image": namedImg, "named attestation": namedAtt,
		"via image": viaImage, "via image's image": viaImageImg, "single": single,
		"unused": unused, "unused image": unusedImg, "unused attestation": unusedAtt, "fresh": fresh,
	})
	want := map[string]verdictOf{
		"named":              keep("base", "base"),
		"named image":        keep("child", "child-of-kept"),
		"named attestation":  keep("attestation", "child-of-kept"),
		"via image":          keep("base", "base"),
		"via image's image":  keep("child", "child-of-kept"),
		"single":             keep("base", "base"),
		"unused":             del("base", "no-keep-rule-matched"),
		"unused image":       del("child", "child-of-deleted"),
		"unused attestation": del("attestation", "child-of-deleted"),
		"fresh":              keep("base", "age"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		digest, want string
	}{
		{named, "base of " + img1 + " and 1 more image of " + imageRepo},
		{viaImage, "its linux/amd64 image " + shortDigest(viaImageImg) + " is the base of " + imageRepo + ":1a2b3c4-via-source-minimal"},
		{single, "base of " + imageRepo + ":1a2b3c4-single-source-minimal"},
		{unused, "no image tagged in " + imageRepo + " names " + shortDigest(unused) + " or its images as its base and created 2025-10-14T00:00:00Z, 37d12h ago: not newer than 1d"},
	} {
		if got := firstDetail(t, p, tc.digest); got != tc.want {
			t.Errorf("%s: detail\n got %q\nwant %q", tc.digest, got, tc.want)
		}
	}
}

func TestBaseConditionSourcesAndMatch(t *testing.T) {
	yaml := strings.Replace(basePolicy, "- base: {from: "+imageRepo+"}",
		"- base: {from: ["+imageRepo+", 'localhost:5000/other'], match: '.*-source-minimal'}", 1)
	pol, err := Parse("b.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	want := []BaseSpec{
		{Repository: imageRepo, Match: ".*-source-minimal"},
		{Repository: "localhost:5000/other", Match: ".*-source-minimal"},
	}
	if diff := cmp.Diff(want, pol.BaseSources()); diff != "" {
		t.Errorf("BaseSources (-want +got):\n%s", diff)
	}

	b := newBuilder(baseRepo)
	byMatch, _, _ := b.pushed("aaaaaaa-sweb.eval.x86_64.one", hoursAgo(900), "one")
	byOther, _, _ := b.pushed("bbbbbbb-sweb.eval.x86_64.two", hoursAgo(900), "two")
	byBinary, _, _ := b.pushed("ccccccc-sweb.eval.x86_64.three", hoursAgo(900), "three")
	p := evaluateBases(t, yaml, map[string][]BaseRef{
		imageRepo: {
			{Digest: byMatch, Image: imageRepo + ":1a2b3c4-one-source-minimal"},
			{Digest: byBinary, Image: imageRepo + ":1a2b3c4-three-binary"},
		},
		"localhost:5000/other": {{Digest: byOther, Image: "localhost:5000/other:x-source-minimal"}},
	}, b.done())
	got := verdicts(t, p, map[string]string{"match": byMatch, "other": byOther, "binary": byBinary})
	want2 := map[string]verdictOf{
		"match":  keep("base", "base"),
		"other":  keep("base", "base"),
		"binary": del("base", "no-keep-rule-matched"),
	}
	if diff := cmp.Diff(want2, got); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	if d := firstDetail(t, p, byBinary); !strings.HasPrefix(d, "no image tagged in "+imageRepo+" (tags .*-source-minimal) or localhost:5000/other (tags .*-source-minimal) names ") {
		t.Errorf("binary: detail %q", d)
	}
}

func TestBaseSourcesFailClosed(t *testing.T) {
	pol, err := Parse("b.yaml", []byte(basePolicy))
	if err != nil {
		t.Fatal(err)
	}
	good := BaseRef{Digest: digestOf("base"), Image: imageRepo + ":t"}
	for _, tc := range []struct {
		name   string
		loader *fakeLoader
		want   string
	}{
		{"loader error", &fakeLoader{basesErr: errors.New("registry unreachable")}, "registry unreachable"},
		{"no image names a base", &fakeLoader{bases: map[string][]BaseRef{imageRepo: nil}}, "no image names a base"},
		{"a base digest that is not a digest", &fakeLoader{bases: map[string][]BaseRef{imageRepo: {good, {Digest: "latest", Image: imageRepo + ":bad"}}}},
			`image ` + imageRepo + `:bad names base digest "latest"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := Resolve(context.Background(), pol, tc.loader, t0)
			if !errors.Is(err, ErrKeepSource) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Resolve: %v, want ErrKeepSource saying %q", err, tc.want)
			}
			if ks != nil {
				t.Errorf("Resolve returned keep sets with its error")
			}
		})
	}

	// allow_empty accepts images that name no base: the condition then never holds.
	empty := strings.Replace(basePolicy, "{from: "+imageRepo+"}", "{from: "+imageRepo+", allow_empty: true}", 1)
	b := newBuilder(baseRepo)
	old, _, _ := b.pushed("aaaaaaa-sweb.eval.x86_64.one", hoursAgo(900), "one")
	p := evaluateBases(t, empty, map[string][]BaseRef{imageRepo: nil}, b.done())
	if d, _ := p.Find(old); d.Action != plan.Delete {
		t.Errorf("with no bases named, an old base is %s, want delete", d.Action)
	}

	// Evaluate refuses keep sets without the bases, or with bad ones made by hand.
	inv := newBuilder(baseRepo).done()
	if _, err := Evaluate(inv, pol, &KeepSets{}, t0); !errors.Is(err, ErrUnresolved) {
		t.Errorf("Evaluate without bases: %v, want ErrUnresolved", err)
	}
	bad := &KeepSets{Bases: []BaseSet{{Spec: BaseSpec{Repository: imageRepo}, Bases: []BaseRef{{Digest: "sha256:xyz", Image: "i"}}}}}
	if _, err := Evaluate(inv, pol, bad, t0); !errors.Is(err, ErrKeepSource) {
		t.Errorf("Evaluate with a bad base digest: %v, want ErrKeepSource", err)
	}
}

func TestBaseConditionParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, cond, want string
	}{
		{"from missing", "{match: 'x'}", "p.yaml:8:15: rules.image.keep[0].base.from: missing"},
		{"a URL", "{from: 'https://ghcr.io/openhands/x'}", `p.yaml:8:22: rules.image.keep[0].base.from: "https://ghcr.io/openhands/x" is not a repository reference such as ghcr.io/openhands/eval-agent-server (no scheme, tag or digest)`},
		{"a tag", "{from: 'ghcr.io/openhands/x:latest'}", `p.yaml:8:22: rules.image.keep[0].base.from: "ghcr.io/openhands/x:latest" is not a repository reference such as ghcr.io/openhands/eval-agent-server (no scheme, tag or digest)`},
		{"no host", "{from: openhands/x}", `p.yaml:8:22: rules.image.keep[0].base.from: "openhands/x" names no registry host; write it whole, e.g. ghcr.io/openhands/x`},
		{"listed twice", "{from: [ghcr.io/a/b, ghcr.io/a/b]}", "p.yaml:8:36: rules.image.keep[0].base.from[1]: repository ghcr.io/a/b is listed twice"},
		{"empty list", "{from: []}", "p.yaml:8:22: rules.image.keep[0].base.from: must name at least one repository"},
		{"bad match", "{from: ghcr.io/a/b, match: '('}", "p.yaml:8:42: rules.image.keep[0].base.match: invalid regular expression: error parsing regexp: missing closing ): `(`"},
		{"unknown key", "{from: ghcr.io/a/b, kind: x}", "p.yaml:8:35: rules.image.keep[0].base.kind: unknown key (known keys: from, match, allow_empty)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(minimalScheme+"      - base: "+tc.cond+"\n"))
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("Parse: %v, want ErrInvalidPolicy", err)
			}
			if diff := cmp.Diff([]string{tc.want}, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// composed adds an image composed on base (an index and its linux/amd64 image, both annotated
// as compose writes them) and tags it.
func (b *builder) composed(tag, baseIndex, baseImage string) (idx, img string) {
	at := hoursAgo(900)
	img = b.image(tag, at, "ubuntu", tag)
	b.inv.Manifests[img].Extra = &inventory.ManifestExtra{Annotations: map[string]string{inventory.AnnotationBaseDigest: baseImage, inventory.AnnotationBaseName: "base"}}
	idx = b.index(tag, at, platform(img, "linux/amd64"))
	b.inv.Manifests[idx].Extra = &inventory.ManifestExtra{Annotations: map[string]string{inventory.AnnotationBaseDigest: baseIndex, inventory.AnnotationBaseName: "base"}}
	b.tag(tag, idx)
	return idx, img
}

func TestBasesOfKeptImagesInTheSameRepositoryAreKept(t *testing.T) {
	b := newBuilder("r")
	// A tagged base whose own rule would delete it, and two images on it: one kept, one not.
	base, baseImg, _ := b.pushed("cache-base-01", hoursAgo(900), "ubuntu")
	keptIdx, keptImg := b.composed(img(0, 1), base, baseImg)
	gone, goneImg := b.composed(img(7, 1), base, baseImg)
	// A base of a deleted image only: its own rule decides.
	lone, _, _ := b.pushed("cache-base-02", hoursAgo(900), "debian")
	b.composed(img(8, 1), lone, digestOf("absent"))
	// An untagged base (pushed by digest) of a kept image, and one of no kept image: orphans,
	// which the untagged rule would delete.
	untagged := b.image("untagged base", hoursAgo(900), "alpine")
	b.composed(img(1, 2), untagged, untagged)
	orphan := b.image("orphan base", hoursAgo(900), "busybox")
	b.composed(img(9, 2), orphan, orphan)
	// Many kept images on one base: reasons name three and count the rest.
	popular, _, _ := b.pushed("cache-popular-01", hoursAgo(900), "fedora")
	for n := 1; n <= 5; n++ {
		b.composed(img(2, 10+n), popular, digestOf("absent"))
	}
	inv := b.done()
	p := run(t, imgRule+`  cache:
    keep:
      - age: {newer_than: 1d}
  untagged:
    keep:
      - age: {newer_than: 1d}
`, inv)
	got := verdicts(t, p, map[string]string{
		"base": base, "base image": baseImg, "kept image": keptIdx, "kept image's image": keptImg,
		"deleted image": gone, "deleted image's image": goneImg, "lone base": lone,
		"untagged base": untagged, "orphan base": orphan, "popular": popular,
	})
	want := map[string]verdictOf{
		"base":                  keep("cache", "base-of-kept"),
		"base image":            keep("child", "child-of-kept", "base-of-kept"),
		"kept image":            keep("img", "commits"),
		"kept image's image":    keep("child", "child-of-kept"),
		"deleted image":         del("img", "no-keep-rule-matched"),
		"deleted image's image": del("child", "child-of-deleted"),
		"lone base":             del("cache", "no-keep-rule-matched"),
		"untagged base":         keep("untagged", "base-of-kept", "base-of-kept"),
		"orphan base":           del("untagged", "no-keep-rule-matched"),
		"popular":               keep("cache", "base-of-kept", "base-of-kept", "base-of-kept", "base-of-kept"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	d, _ := p.Find(base)
	if want := "base image of kept " + shortDigest(keptIdx) + " (tag " + img(0, 1) + ")"; d.Reasons[0].Detail != want {
		t.Errorf("base: detail %q, want %q", d.Reasons[0].Detail, want)
	}
	d, _ = p.Find(popular)
	if got, want := d.Reasons[3].Detail, "and 2 more kept images built on it"; got != want {
		t.Errorf("popular: last detail %q, want %q", got, want)
	}
}

// TestExampleBaseRule uncomments the base rule examples/openhands.yaml suggests for the base
// repository, and checks that it parses to the source it describes.
func TestExampleBaseRule(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "examples", "openhands.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "  # base:\n  #   keep:\n")
	if start < 0 {
		t.Fatal("examples/openhands.yaml has no commented base rule")
	}
	var rule []string
	for _, line := range strings.Split(text[start:], "\n") {
		if !strings.HasPrefix(line, "  # ") {
			break
		}
		rule = append(rule, "  "+strings.TrimPrefix(line, "  # "))
	}
	pol, err := Parse("examples/openhands.yaml", []byte(text[:start]+strings.Join(rule, "\n")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []BaseSpec{{Repository: imageRepo}}
	if diff := cmp.Diff(want, pol.BaseSources()); diff != "" {
		t.Errorf("BaseSources (-want +got):\n%s", diff)
	}
	if r := pol.Rule("base"); r == nil || len(r.Keep) != 2 || r.Keep[0].Name() != "base" || r.Keep[1].Name() != "age" {
		t.Errorf("rule for base: %+v, want base then age", r)
	}
}
