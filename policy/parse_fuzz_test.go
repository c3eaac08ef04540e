package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzParse feeds policy files to Parse. Parse never panics. When it refuses a file, every
// problem is an *Error naming the file and a line and column inside it (only an empty file has
// no position) and wraps ErrInvalidPolicy. When it accepts one, the policy keeps the invariants
// the evaluator relies on: digest of the bytes, rules sorted by kind, one per kind, each for a
// declared or rule-only kind with at least one condition, each condition of exactly one kind,
// patterns anchored, no reserved kind in the scheme.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile(filepath.Join("..", "examples", "openhands.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	for _, s := range []string{
		"",
		"version: 1\n",
		"version: 1\nscheme: []\n",
		minimalScheme + "      - commits: {repo: /r, last: 30, field: sdk}\n",
		minimalScheme + "      - runs: {url: 'file:///srv/runs/*.jsonl', live: [init], commit_field: sdk_commit, field: sdk}\n",
		minimalScheme + "      - newest: {count: 3, per: [repo]}\n      - age: {newer_than: 1d12h}\n",
		minimalScheme + "      - any: [{match: 'a.*'}, {not: {list: [x]}}]\n",
		"version: 1\nscheme: [\n",
		"version: 1\nversion: 1\n",
		"version: 1\n---\nversion: 1\n",
		"a: &x {b: *x}\n",
		"version: &v 1\nscheme: *v\n",
		"version: 1\nscheme:\n  - <<: {kind: image}\n    match: x\n",
		"version: !!str 1\n",
		"? [a]\n: b\n",
		"\t\n",
		"version: 1\r\nscheme: 3\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.yaml"
		pol, err := Parse(name, data)
		if err != nil {
			if pol != nil {
				t.Fatalf("Parse returned a policy and an error: %v", err)
			}
			checkParseError(t, name, data, err)
			return
		}
		checkPolicy(t, data, pol)
	})
}

// checkParseError checks every problem of a refused file names where it is.
func checkParseError(t *testing.T, name string, data []byte, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("error does not wrap ErrInvalidPolicy: %v", err)
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	lines := bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) + 1
	for _, e := range errs {
		var pe *Error
		if !errors.As(e, &pe) {
			if !strings.Contains(e.Error(), "more problems not shown") {
				t.Fatalf("problem %q is not an *Error", e)
			}
			continue
		}
		if pe.File != name {
			t.Fatalf("problem %q names file %q, want %q", pe, pe.File, name)
		}
		empty := len(bytes.TrimSpace(data)) == 0 || strings.HasPrefix(pe.Msg, "the file is empty")
		if (pe.Line < 1 || pe.Column < 1) && !empty {
			t.Fatalf("problem %q has no line and column (line %d, column %d)", pe, pe.Line, pe.Column)
		}
		if pe.Line > lines {
			t.Fatalf("problem %q is at line %d of a %d-line file", pe, pe.Line, lines)
		}
	}
}

// checkPolicy checks the invariants of an accepted policy.
func checkPolicy(t *testing.T, data []byte, pol *Policy) {
	t.Helper()
	sum := sha256.Sum256(data)
	if pol.Digest != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Fatalf("digest %s is not the sha256 of the bytes", pol.Digest)
	}
	if pol.Scheme == nil {
		t.Fatal("accepted policy has a nil scheme")
	}
	kinds := pol.Scheme.Kinds()
	for _, k := range kinds {
		if slices.Contains(reservedKinds, k) {
			t.Fatalf("scheme declares reserved kind %q", k)
		}
	}
	for _, p := range pol.Scheme.Patterns {
		if p.Match == nil || p.Match.String() != "^(?:"+p.Source+")$" {
			t.Fatalf("pattern %q of kind %s is not anchored as written: %v", p.Source, p.Kind, p.Match)
		}
	}
	for i, r := range pol.Rules {
		if i > 0 && pol.Rules[i-1].Kind >= r.Kind {
			t.Fatalf("rules not sorted by kind, one per kind: %s before %s", pol.Rules[i-1].Kind, r.Kind)
		}
		if !slices.Contains(kinds, r.Kind) && !slices.Contains(ruleOnlyKinds, r.Kind) {
			t.Fatalf("rule for kind %q, which the scheme does not declare", r.Kind)
		}
		if pol.Rule(r.Kind) != r {
			t.Fatalf("Rule(%q) does not find its rule", r.Kind)
		}
		if len(r.Keep) == 0 {
			t.Fatalf("rule for %s has no condition", r.Kind)
		}
		for _, c := range r.Keep {
			walkConditions(c, func(c *Condition) {
				if c.Name() == "" {
					t.Fatalf("rule for %s holds a condition of no kind", r.Kind)
				}
				_ = c.String()
			})
		}
	}
	pol.Sources()
	pol.BaseSources()
	for _, tag := range []string{"", "latest", "v1.0.0", "1a2b3c4-gaia-binary", "sha256-" + strings.Repeat("0", 64)} {
		kind, _ := pol.Scheme.Classify(tag)
		if kind == "" {
			t.Fatalf("Classify(%q) gave no kind", tag)
		}
	}
}
