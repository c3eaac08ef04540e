package docs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/policy"
)

// yamlBlock is one fenced ```yaml block of a document, with the line it starts on and the
// HTML comment that follows it, if any.
type yamlBlock struct {
	file    string
	line    int
	text    string
	comment string
}

// yamlBlocks extracts the ```yaml blocks of a Markdown file.
func yamlBlocks(t *testing.T, file string) []yamlBlock {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var out []yamlBlock
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```yaml" {
			continue
		}
		b := yamlBlock{file: file, line: i + 1}
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("%s:%d: yaml block never closed", file, b.line)
		}
		b.text = strings.Join(body, "\n") + "\n"
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "<!--") {
			b.comment = lines[i+1]
		}
		out = append(out, b)
	}
	return out
}

// TestDocsPoliciesParse parses every ```yaml block of every document in this folder with the
// policy parser: an example a newcomer copies must be a policy regtidy reads.
func TestDocsPoliciesParse(t *testing.T) {
	files, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, f := range files {
		for _, b := range yamlBlocks(t, f) {
			total++
			if _, err := policy.Parse(fmt.Sprintf("%s:%d", b.file, b.line), []byte(b.text)); err != nil {
				t.Errorf("%s:%d: the example does not parse:\n%v", b.file, b.line, err)
			}
		}
	}
	if total < 15 {
		t.Errorf("the docs hold %d yaml examples; the reference and cookbook alone have more", total)
	}
}

// TestPolicyReferenceCoversEveryCondition fails when the policy reference leaves out a condition
// or a field the parser accepts: each must have a heading or a table row in backquotes.
func TestPolicyReferenceCoversEveryCondition(t *testing.T) {
	doc, err := os.ReadFile("policy-reference.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	// The keys policy/decode.go accepts, by where they appear.
	keys := map[string][]string{
		"top level":  {"version", "scheme", "rules"},
		"scheme":     {"kind", "fields", "match"},
		"rule":       {"keep"},
		"conditions": {"commits", "runs", "newest", "age", "match", "list", "base", "all", "any", "not"},
		"commits":    {"repo", "branch", "last", "allow_fewer", "field"},
		"runs":       {"url", "status", "live", "terminal", "run", "join", "commit", "since", "field", "allow_empty"},
		"newest":     {"count", "per", "by"},
		"age":        {"newer_than", "older_than"},
		"base":       {"from", "match", "allow_empty"},
		"kinds":      {"unknown", "untagged", "referrer", "child", "attestation"},
	}
	for where, ks := range keys {
		for _, k := range ks {
			if !strings.Contains(text, "`"+k+"`") {
				t.Errorf("policy-reference.md does not document %s key `%s`", where, k)
			}
		}
	}
}

// cookbookNow is the present of the cookbook's repository.
var cookbookNow = time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)

// cookbookRepo is the small repository the cookbook's recipes are run against (its table is in
// cookbook.md). names maps each tag, and aliases such as @orphan-old, to its digest.
func cookbookRepo() (*inventory.Inventory, map[string]string) {
	inv := &inventory.Inventory{Repository: "registry.example.com/team/app", ListedAt: cookbookNow, Manifests: map[string]*inventory.Manifest{}}
	names := map[string]string{}
	image := func(label string, age time.Duration) string {
		sum := sha256.Sum256([]byte(label))
		d := "sha256:" + hex.EncodeToString(sum[:])
		cfg := sha256.Sum256([]byte("config " + label))
		layer := sha256.Sum256([]byte("layer " + label))
		inv.Manifests[d] = &inventory.Manifest{Digest: d, MediaType: inventory.MediaTypeOCIManifest, Size: 500,
			Created: cookbookNow.Add(-age),
			Config:  &inventory.Blob{MediaType: "application/vnd.oci.image.config.v1+json", Digest: "sha256:" + hex.EncodeToString(cfg[:]), Size: 1000},
			Layers:  []inventory.Layer{{Digest: "sha256:" + hex.EncodeToString(layer[:]), Size: 1_000_000}}}
		return d
	}
	tag := func(name string, age time.Duration) {
		d := image(name, age)
		inv.Tags = append(inv.Tags, inventory.Tag{Name: name, Digest: d})
		names[name] = d
	}
	h, day := time.Hour, 24*time.Hour
	tag("latest", 20*h)
	for n := 1; n <= 12; n++ {
		tag(fmt.Sprintf("main-%d", n), time.Duration(13-n)*day-2*h)
	}
	tag("pr-41-1", 40*day)
	tag("pr-41-2", 39*day)
	tag("pr-57-1", 3*day)
	tag("pr-57-2", 2*day)
	for name, age := range map[string]time.Duration{"v1.0.0": 300 * day, "v1.1.0": 200 * day, "v1.2.0": 100 * day,
		"v1.2.1": 50 * day, "v1.3.0": 45 * day, "v1.4.0": 30 * day, "v1.0.1": 9 * day,
		"v2.0.0-rc.1": 60 * day, "v2.0.0-rc.2": 20 * day, "v2.0.0": 10 * day} {
		tag(name, age)
	}
	for n := 1; n <= 4; n++ {
		tag(fmt.Sprintf("cache-main-%d", n), time.Duration(5-n)*day)
	}
	tag("cache-feature-1", 30*day)
	signature := func(alias, subject, suffix string, age time.Duration) {
		d := image(alias, age)
		inv.Tags = append(inv.Tags, inventory.Tag{Name: "sha256-" + strings.TrimPrefix(subject, "sha256:") + "." + suffix, Digest: d})
		names[alias] = d
	}
	signature("@sig-main-1", names["main-1"], "sig", 12*day-2*h)
	signature("@sig-main-12", names["main-12"], "sig", 22*h)
	gone := sha256.Sum256([]byte("an image deleted long ago"))
	signature("@sig-orphan", "sha256:"+hex.EncodeToString(gone[:]), "sig", 30*day)
	signature("@att-orphan", "sha256:"+hex.EncodeToString(gone[:]), "att", 30*day)
	names["@orphan-old"] = image("@orphan-old", 30*day)
	names["@orphan-new"] = image("@orphan-new", 2*day)
	sort.Slice(inv.Tags, func(i, j int) bool { return inv.Tags[i].Name < inv.Tags[j].Name })
	return inv, names
}

var planComment = regexp.MustCompile(`^<!-- plan: keep ([^;]+); delete ([^;]+) -->$`)

// TestCookbookRecipes evaluates every recipe of cookbook.md against the cookbook's repository
// and checks the decisions the comment under it names.
func TestCookbookRecipes(t *testing.T) {
	blocks := yamlBlocks(t, "cookbook.md")
	if len(blocks) < 6 || len(blocks) > 10 {
		t.Fatalf("the cookbook has %d recipes, want 6 to 10", len(blocks))
	}
	for _, b := range blocks {
		m := planComment.FindStringSubmatch(b.comment)
		if m == nil {
			t.Errorf("cookbook.md:%d: the recipe has no <!-- plan: keep ...; delete ... --> comment under it", b.line)
			continue
		}
		pol, err := policy.Parse(fmt.Sprintf("cookbook.md:%d", b.line), []byte(b.text))
		if err != nil {
			t.Errorf("cookbook.md:%d: %v", b.line, err)
			continue
		}
		inv, names := cookbookRepo()
		p, err := policy.Evaluate(inv, pol, &policy.KeepSets{}, cookbookNow)
		if err != nil {
			t.Errorf("cookbook.md:%d: %v", b.line, err)
			continue
		}
		for i, action := range []plan.Action{plan.Keep, plan.Delete} {
			for _, name := range strings.Fields(m[i+1]) {
				d, ok := names[name]
				if !ok {
					t.Errorf("cookbook.md:%d: the comment names %s, which the repository does not have", b.line, name)
					continue
				}
				dec, ok := p.Find(d)
				if !ok {
					t.Errorf("cookbook.md:%d: no decision for %s", b.line, name)
					continue
				}
				if dec.Action != action {
					t.Errorf("cookbook.md:%d: %s is %s (%s: %s), the cookbook says %s", b.line, name, dec.Action, dec.Reasons[0].Rule, dec.Reasons[0].Detail, action)
				}
			}
		}
	}
}

// markdownLink is a Markdown link's target: ](target) or ](target "title").
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// TestDocsLinksResolve fails when a relative link in these documents or in the README names a
// file that does not exist (anchors and web addresses are not checked).
func TestDocsLinksResolve(t *testing.T) {
	files, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join("..", "README.md"))
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for n, line := range strings.Split(string(data), "\n") {
			for _, m := range markdownLink.FindAllStringSubmatch(line, -1) {
				target, _, _ := strings.Cut(m[1], "#")
				if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				checked++
				if _, err := os.Stat(filepath.Join(filepath.Dir(f), filepath.FromSlash(target))); err != nil {
					t.Errorf("%s:%d: link to %s: no such file", f, n+1, m[1])
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("checked %d relative links; the README's docs list alone has more", checked)
	}
}

// walkthroughLoader answers the walkthrough policy's keep sources: a branch of 40 commits and
// one live run, of commit 31.
type walkthroughLoader struct{ shas []string }

func (l walkthroughLoader) LastCommits(_ context.Context, spec policy.CommitsSpec) ([]policy.Commit, error) {
	var out []policy.Commit
	for i, sha := range l.shas[:min(spec.Last, len(l.shas))] {
		out = append(out, policy.Commit{SHA: sha, Time: cookbookNow.Add(-time.Duration(i) * 24 * time.Hour)})
	}
	return out, nil
}

func (l walkthroughLoader) LiveCommits(_ context.Context, spec policy.RunsSpec, _ time.Time) (policy.RunsRead, error) {
	return policy.RunsRead{Runs: []policy.RunRef{{Commit: l.shas[31], Run: "eval-runs/swebench/x", Status: "running", File: "metadata/2026-06-29.jsonl", Line: 1}},
		Matched: 1, Files: 1, Lines: 3, Newest: cookbookNow.Add(-24 * time.Hour)}, nil
}

func (l walkthroughLoader) BaseDigests(context.Context, policy.BaseSpec) ([]policy.BaseRef, error) {
	return nil, errors.New("the walkthrough's image policy has no base rule")
}

// TestWalkthroughPolicy evaluates the walkthrough's policy on a repository in the case's shape:
// the images of the last 30 commits and of a commit a live run uses are kept, older ones go, and
// the newest 3 build caches of each instance and target stay.
func TestWalkthroughPolicy(t *testing.T) {
	blocks := yamlBlocks(t, "walkthrough.md")
	if len(blocks) == 0 {
		t.Fatal("the walkthrough has no policy")
	}
	pol, err := policy.Parse("walkthrough.md", []byte(blocks[0].text))
	if err != nil {
		t.Fatal(err)
	}
	var shas []string
	for i := range 41 {
		sum := sha256.Sum256([]byte(fmt.Sprintf("sdk commit %d", i)))
		shas = append(shas, hex.EncodeToString(sum[:20]))
	}
	inv := &inventory.Inventory{Repository: "registry.example.com/team/images", ListedAt: cookbookNow, Manifests: map[string]*inventory.Manifest{}}
	tag := func(name string, age time.Duration) {
		sum := sha256.Sum256([]byte(name))
		d := "sha256:" + hex.EncodeToString(sum[:])
		inv.Manifests[d] = &inventory.Manifest{Digest: d, MediaType: inventory.MediaTypeOCIManifest, Size: 500, Created: cookbookNow.Add(-age)}
		inv.Tags = append(inv.Tags, inventory.Tag{Name: name, Digest: d})
	}
	image := func(i int) string {
		return shas[i][:7] + "-9f8e7d6-sweb.eval.x86_64.django_1776_django-11099-source-minimal"
	}
	day := 24 * time.Hour
	for _, i := range []int{0, 29, 30, 31, 40} {
		tag(image(i), time.Duration(i)*day)
	}
	cache := "buildcache-source-minimal-sweb.eval.x86_64.django_1776_django-1109_tag_latest-06043de4faf0"
	for i, branch := range []string{"", "-main", "-fix-login", "-old"} {
		tag(cache+branch, time.Duration(i+1)*day)
	}
	tag("buildcache-binary-sweb.eval.x86_64.django_1776_django-1109_tag_latest-06043de4faf0-old", 90*day)
	sort.Slice(inv.Tags, func(i, j int) bool { return inv.Tags[i].Name < inv.Tags[j].Name })

	keep, err := policy.Resolve(context.Background(), pol, walkthroughLoader{shas: shas}, cookbookNow)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Evaluate(inv, pol, keep, cookbookNow)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]plan.Action{
		image(0): plan.Keep, image(29): plan.Keep, image(31): plan.Keep, image(30): plan.Delete, image(40): plan.Delete,
		cache: plan.Keep, cache + "-main": plan.Keep, cache + "-fix-login": plan.Keep, cache + "-old": plan.Delete,
		"buildcache-binary-sweb.eval.x86_64.django_1776_django-1109_tag_latest-06043de4faf0-old": plan.Keep,
	}
	for name, action := range want {
		d, ok := p.Find(name)
		if !ok {
			t.Errorf("%s: no decision", name)
			continue
		}
		if d.Action != action {
			t.Errorf("%s: %s (%s), the walkthrough's policy should %s it", name, d.Action, d.Reasons[0].Detail, action)
		}
	}
}
