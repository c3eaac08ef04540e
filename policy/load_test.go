package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// minimalScheme is a scheme for error tests: line 2 to 5.
const minimalScheme = `version: 1
scheme:
  - kind: image
    match: '(?P<sdk>[0-9a-f]{7})-(?P<repo>.+)'
rules:
  image:
    keep:
`

// TestParseErrors checks that every problem names file:line:column and the field.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want []string // each error line, in order
	}{
		{
			name: "unknown key in a condition",
			yaml: minimalScheme + "      - commits: {repo: /r, lats: 30, field: sdk}\n",
			want: []string{
				"p.yaml:8:29: rules.image.keep[0].commits.lats: unknown key (known keys: repo, branch, last, allow_fewer, field)",
			},
		},
		{
			name: "last is not a positive integer",
			yaml: minimalScheme + "      - commits:\n          repo: /r\n          last: thirty\n          field: sdk\n",
			want: []string{`p.yaml:10:17: rules.image.keep[0].commits.last: must be a positive integer, got "thirty"`},
		},
		{
			name: "allow_empty of runs is not a boolean",
			yaml: minimalScheme + "      - runs: {url: 'gs://b/m/*.jsonl', live: [init], commit: sdk, field: sdk, allow_empty: maybe}\n",
			want: []string{`p.yaml:8:93: rules.image.keep[0].runs.allow_empty: must be true or false, got "maybe"`},
		},
		{
			name: "relative join with a file:// URL",
			yaml: minimalScheme + "      - runs: {url: 'file:///srv/m/*.jsonl', live: [init], join: '{path}/p.json', commit: sdk, field: sdk}\n",
			want: []string{`p.yaml:8:66: rules.image.keep[0].runs.join: a relative join key is read from the root of the metadata URL's bucket (gs://bucket/..., s3://bucket/...), and a file:// URL has no bucket root: write join as a URL, e.g. file:///srv/runs/{path}/p.json`},
		},
		{
			name: "last is zero",
			yaml: minimalScheme + "      - commits: {repo: /r, last: 0, field: sdk}\n",
			want: []string{"p.yaml:8:35: rules.image.keep[0].commits.last: must be a positive integer, got 0"},
		},
		{
			name: "last is a float",
			yaml: minimalScheme + "      - commits: {repo: /r, last: 2.5, field: sdk}\n",
			want: []string{"p.yaml:8:35: rules.image.keep[0].commits.last: must be a positive integer, got the number 2.5"},
		},
		{
			name: "condition with nothing in it",
			yaml: minimalScheme + "      - commits:\n",
			want: []string{"p.yaml:8:9: rules.image.keep[0].commits: must be a mapping, got nothing"},
		},
		{
			name: "condition written as a bare word",
			yaml: minimalScheme + "      - commits\n",
			want: []string{`p.yaml:8:9: rules.image.keep[0]: must be a mapping, got "commits"`},
		},
		{
			name: "bad regex in the scheme, and no cascade into the rules",
			yaml: "version: 1\nscheme:\n  - kind: image\n    match: '(?P<sdk>[0-9a-f]{7}'\nrules:\n  image:\n    keep: [{newest: {count: 1, per: [sdk]}}]\n",
			want: []string{"p.yaml:4:12: scheme[0].match: invalid regular expression: error parsing regexp: missing closing ): `(?P<sdk>[0-9a-f]{7}`"},
		},
		{
			name: "bad duration",
			yaml: minimalScheme + "      - age: {newer_than: 7days}\n",
			want: []string{`p.yaml:8:27: rules.image.keep[0].age.newer_than: invalid duration: "7days": unknown unit "days" (units: s, m, h, d, w, mo, y)`},
		},
		{
			name: "duration without unit",
			yaml: minimalScheme + "      - age: {older_than: 30}\n",
			want: []string{`p.yaml:8:27: rules.image.keep[0].age.older_than: invalid duration: "30": missing unit after 30 (units: s, m, h, d, w, mo, y)`},
		},
		{
			name: "wrong type: list where a mapping goes",
			yaml: minimalScheme + "      - newest: [3]\n",
			want: []string{"p.yaml:8:17: rules.image.keep[0].newest: must be a mapping, got a list"},
		},
		{
			name: "wrong type: mapping where a list goes",
			yaml: "version: 1\nscheme:\n  kind: image\n",
			want: []string{"p.yaml:3:3: scheme: must be a list, got a mapping"},
		},
		{
			name: "field the kind does not have",
			yaml: minimalScheme + "      - newest: {count: 3, per: [bench]}\n",
			want: []string{`p.yaml:8:34: rules.image.keep[0].newest.per[0]: kind image has no field "bench" (its fields: repo, sdk)`},
		},
		{
			name: "two conditions in one entry",
			yaml: minimalScheme + "      - age: {newer_than: 1d}\n        match: 'x.*'\n",
			want: []string{"p.yaml:8:9: rules.image.keep[0]: must hold exactly one condition (commits, runs, newest, age, match, list, base, all, any, not), got 2; combine conditions with all or any"},
		},
		{
			name: "rule for an undeclared kind",
			yaml: minimalScheme + "      - age: {newer_than: 1d}\n  imgae:\n    keep: [{age: {newer_than: 1d}}]\n",
			want: []string{"p.yaml:9:3: rules.imgae: no such kind (kinds: image, unknown, untagged, referrer)"},
		},
		{
			name: "reserved kind in the scheme",
			yaml: "version: 1\nscheme:\n  - kind: unknown\n    match: 'x'\n",
			want: []string{`p.yaml:3:11: scheme[0].kind: kind "unknown" is reserved (regtidy's own kinds: unknown, untagged, referrer, child, attestation)`},
		},
		{
			name: "empty keep list",
			yaml: minimalScheme + "      []\n",
			want: []string{"p.yaml:8:7: rules.image.keep: must list at least one condition (a kind with no rule is kept whole)"},
		},
		{
			name: "unsupported version",
			yaml: "version: 2\n",
			want: []string{"p.yaml:1:10: version: unsupported version 2; this regtidy reads version 1"},
		},
		{
			name: "missing version",
			yaml: "scheme: []\n",
			want: []string{"p.yaml:1:1: version: missing; a policy starts with `version: 1`"},
		},
		{
			name: "unknown top-level key",
			yaml: "version: 1\nretention: {}\n",
			want: []string{"p.yaml:2:1: retention: unknown key (known keys: version, scheme, rules)"},
		},
		{
			name: "syntax error",
			yaml: "version: 1\nscheme: [\n",
			want: []string{"p.yaml:2:9: YAML syntax: sequence end token ']' not found"},
		},
		{
			name: "duplicate key",
			yaml: "version: 1\nversion: 1\n",
			want: []string{`p.yaml:2:1: YAML syntax: mapping key "version" already defined at [1:1]`},
		},
		{
			name: "empty file",
			yaml: "",
			want: []string{"p.yaml: version: the file is empty; a policy starts with `version: 1`"},
		},
		{
			name: "runs without statuses, with a broken join",
			yaml: minimalScheme + "      - runs: {url: 'gs://b/m/*.jsonl', join: '{path/params.json', commit: sdk_commit, field: sdk}\n",
			want: []string{
				"p.yaml:8:15: rules.image.keep[0].runs.live: runs needs live statuses, terminal statuses, or both",
				`p.yaml:8:47: rules.image.keep[0].runs.join: template "{path/params.json": { is not closed`,
			},
		},
		{
			name: "commits field not given by every pattern",
			yaml: "version: 1\nscheme:\n  - kind: image\n    match: '(?P<sdk>[0-9a-f]{7})-x'\n  - kind: image\n    match: 'y-(?P<repo>.+)'\nrules:\n  image:\n    keep:\n      - commits: {repo: /r, last: 3, field: sdk}\n",
			want: []string{`p.yaml:10:45: rules.image.keep[0].commits.field: not every pattern of kind image gives field "sdk", and a tag without it could never be kept by this condition`},
		},
		{
			name: "age bounds that nothing satisfies",
			yaml: minimalScheme + "      - age: {newer_than: 1d, older_than: 2d}\n",
			want: []string{"p.yaml:8:43: rules.image.keep[0].age.older_than: must be shorter than newer_than (1d), or nothing is both"},
		},
		{
			name: "bad digest in a list, nested in not and all",
			yaml: minimalScheme + "      - not: {all: [{list: [v1, 'sha256:abc']}]}\n",
			want: []string{`p.yaml:8:33: rules.image.keep[0].not.all[0].list[1]: digest "sha256:abc": expected sha256: and 64 lowercase hex digits`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("Parse succeeded; want an error")
			}
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("error %v does not wrap ErrInvalidPolicy", err)
			}
			got := strings.Split(err.Error(), "\n")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseReportsEveryProblem checks that one Parse reports all problems, in file order.
func TestParseReportsEveryProblem(t *testing.T) {
	yaml := minimalScheme + "      - age: {newer_than: 1x}\n      - newest: {count: -1}\n      - match: '('\n"
	_, err := Parse("p.yaml", []byte(yaml))
	var lines []string
	if err != nil {
		lines = strings.Split(err.Error(), "\n")
	}
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "p.yaml:8:") || !strings.HasPrefix(lines[1], "p.yaml:9:") || !strings.HasPrefix(lines[2], "p.yaml:10:") {
		t.Errorf("want three errors on lines 8, 9, 10; got %q", lines)
	}
	var pe *Error
	if !errors.As(err, &pe) || pe.Line != 8 || pe.Path != "rules.image.keep[0].age.newer_than" {
		t.Errorf("errors.As(*Error) = %+v; want the first problem, line 8", pe)
	}
}

// TestParseExample checks what examples/openhands.yaml parses to.
func TestParseExample(t *testing.T) {
	pol := examplePolicy(t)
	if got, want := pol.Scheme.Kinds(), []string{"base", "buildcache", "image", "legacy"}; !cmp.Equal(got, want) {
		t.Errorf("kinds = %v, want %v", got, want)
	}
	var kinds []string
	for _, r := range pol.Rules {
		kinds = append(kinds, r.Kind)
	}
	if want := []string{"buildcache", "image", "untagged"}; !cmp.Equal(kinds, want) {
		t.Errorf("rules for %v, want %v", kinds, want)
	}
	commits, runs := pol.Sources()
	wantCommits := []CommitsSpec{{Repo: sdkRepo, Branch: "main", Last: 30}}
	if diff := cmp.Diff(wantCommits, commits); diff != "" {
		t.Errorf("commit sources (-want +got):\n%s", diff)
	}
	wantRuns := []RunsSpec{{
		URL:         runsURL,
		Live:        []string{"init", "inferring", "evaluating", "pending"},
		Terminal:    []string{"completed", "error", "cancel", "cancelled"},
		StatusField: "status",
		PathField:   "path",
		Join:        "{path}/metadata/params.json",
		JoinField:   "sdk_commit",
		Since:       30 * Day,
	}}
	if diff := cmp.Diff(wantRuns, runs); diff != "" {
		t.Errorf("run sources (-want +got):\n%s", diff)
	}
	bc := pol.Rule("buildcache").Keep[0].Newest
	if diff := cmp.Diff(&NewestCondition{Count: 3, Per: []string{"bench", "repo", "base", "target"}, By: "created"}, bc); diff != "" {
		t.Errorf("buildcache newest (-want +got):\n%s", diff)
	}
	if got := pol.Rule("untagged").Keep[0].Age; got.NewerThan != 7*Day || got.OlderThan != 0 {
		t.Errorf("untagged age = %+v, want newer_than 7d", got)
	}
	if pol.Rule("legacy") != nil {
		t.Error("legacy has a rule; the example keeps legacy tags by having none")
	}
	if !strings.HasPrefix(pol.Digest, "sha256:") || len(pol.Digest) != 71 {
		t.Errorf("digest %q", pol.Digest)
	}
}

// TestParseConveniences checks anchors, flow and block styles, defaults and combinators.
func TestParseConveniences(t *testing.T) {
	yaml := `version: 1
scheme:
  - kind: cache
    match: 'cache-(?P<repo>[a-z]+)-(?P<n>[0-9]+)'
rules:
  cache:
    keep:
      - all:
          - newest: {count: 2, per: [repo], by: n}
          - &young {age: {newer_than: 1d12h}}
      - any: [*young, {match: 'cache-pinned-.*'}]
      - not: {list: ['cache-old-1', 'sha256:` + strings.Repeat("a", 64) + `']}
`
	pol, err := Parse("c.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	keep := pol.Rule("cache").Keep
	if got := keep[0].All[0].Newest.By; got != "n" {
		t.Errorf("by = %q, want n", got)
	}
	if got := keep[0].All[1].Age.NewerThan; got != 36*time.Hour {
		t.Errorf("anchored age = %v, want 36h", got)
	}
	if got := keep[1].Any[0].Age.NewerThan; got != 36*time.Hour {
		t.Errorf("aliased age = %v, want 36h", got)
	}
	if !keep[1].Any[1].Match.Pattern.MatchString("cache-pinned-x") || keep[1].Any[1].Match.Pattern.MatchString("xcache-pinned-x") {
		t.Error("match is not anchored to the whole tag")
	}
	if got := keep[2].Not.List; !cmp.Equal(got.Tags, []string{"cache-old-1"}) || len(got.Digests) != 1 {
		t.Errorf("list = %+v", got)
	}
	if got, want := keep[2].Path, "rules.cache.keep[2]"; got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
	names := []string{keep[0].Name(), keep[1].Name(), keep[2].Name()}
	if !cmp.Equal(names, []string{"all", "any", "not"}) {
		t.Errorf("names = %v", names)
	}
}

// TestLoadScheme reads a file holding only a scheme, for reports.
func TestLoadScheme(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scheme.yaml")
	if err := os.WriteFile(path, []byte("version: 1\nscheme:\n  - kind: release\n    match: 'v(?P<v>.+)'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadScheme(path)
	if err != nil {
		t.Fatal(err)
	}
	kind, fields := s.Classify("v1.2")
	if kind != "release" || fields["v"] != "1.2" {
		t.Errorf("Classify(v1.2) = %s %v", kind, fields)
	}
	if _, err := LoadScheme(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, ErrInvalidPolicy) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrInvalidPolicy and ErrNotExist", err)
	}
}
