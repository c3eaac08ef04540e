package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/policy"
)

// checkPolicy is the policy `policy check` is tested with: releases ranked by semantic version,
// and images kept by a runs source that does not exist or by age.
const checkPolicy = `version: 1
scheme:
  - kind: release
    match: 'v(?P<major>[0-9]+)\.[0-9]+\.[0-9]+(?:-.+)?'
  - kind: image
    match: '(?P<sdk>[0-9a-f]{7})-(?P<bench>[a-z]+)'
rules:
  release:
    keep:
      - newest: {count: 2, per: [major], by: semver}
      - match: 'v[0-9]+\.0\.0'
  image:
    keep:
      - runs: {url: 'file:///nonexistent-regtidy-runs/*.jsonl', live: [running], commit: sdk, field: sdk}
      - age: {newer_than: 2d}
`

// pushCheckRepo fills a repository of the in-process registry: releases, images of three
// commits at known ages, and a tag of no kind. It returns the repository.
func pushCheckRepo(t *testing.T, now time.Time) string {
	t.Helper()
	reg, err := regtest.Start(context.Background(), regtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	repo := reg.Host + "/team/app"
	day := 24 * time.Hour
	for tag, age := range map[string]time.Duration{
		"v1.0.0": 90 * day, "v1.9.0": 40 * day, "v1.10.0": 50 * day, "v1.9.1": 5 * day,
		"v2.0.0-rc.1": 20 * day, "v2.0.0": 10 * day,
		"1a2b3c4-gaia": 1 * day, "2b3c4d5-gaia": 3 * day, "3c4d5e6-swebench": 4 * day,
		"latest": 1 * day,
	} {
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.CreatedAt(img, v1.Time{Time: now.Add(-age)}); err != nil {
			t.Fatal(err)
		}
		ref, err := name.NewTag(repo + ":" + tag)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
	}
	return repo
}

func TestPolicyCheckCountsWithoutSources(t *testing.T) {
	now := time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)
	repo := pushCheckRepo(t, now)
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(file, []byte(checkPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"policy", "check", file, "--repo", repo, "--now", now.Format(time.RFC3339), "--cache-dir", filepath.Join(dir, "cache")}

	out, stderr, err := runCLI(t, append(args, "-o", "json")...)
	if err != nil {
		t.Fatalf("policy check: %v\n%s", err, stderr)
	}
	var got policyCheck
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Repository == nil {
		t.Fatalf("no counts of the repository:\n%s", out)
	}
	want := &policy.Counts{Tags: 10, Untagged: 0,
		Kinds: []policy.KindCount{{Kind: "release", Count: 6}, {Kind: "image", Count: 3}, {Kind: "unknown", Count: 1}},
		Rules: []policy.RuleCount{
			// The newest 2 of major 1 by version are 1.10.0 and 1.9.1, of major 2 both; the match
			// holds for v1.0.0 and v2.0.0.
			{Kind: "image", Count: 3, Kept: 1, Partial: true, Conditions: []policy.ConditionCount{
				{Path: "rules.image.keep[0]", Condition: "runs sdk is used by a live run in file:///nonexistent-regtidy-runs/*.jsonl", Sources: []string{"runs"}},
				{Path: "rules.image.keep[1]", Condition: "age newer than 2d", Evaluated: true, Holds: 1}}},
			{Kind: "release", Count: 6, Kept: 5, Conditions: []policy.ConditionCount{
				{Path: "rules.release.keep[0]", Condition: "newest 2 per [major] by semver", Evaluated: true, Holds: 4},
				{Path: "rules.release.keep[1]", Condition: `match v[0-9]+\.0\.0`, Evaluated: true, Holds: 2}}},
		}}
	if diff := cmp.Diff(want, got.Repository.Counts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if len(got.Rules) != 2 || got.Rules[0].Kind != "image" || len(got.Patterns) != 2 {
		t.Errorf("rules and patterns: %+v %+v", got.Rules, got.Patterns)
	}

	text, stderr, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("policy check: %v\n%s", err, stderr)
	}
	// Columns are padded: compare with runs of spaces as one.
	flat := strings.Join(strings.Fields(text), " ")
	for _, line := range []string{
		"In " + repo + ": 10 tags, 0 untagged manifests nothing points at",
		"image keep[0] runs sdk is used by a live run in file:///nonexistent-regtidy-runs/*.jsonl not evaluated: reads runs",
		"keep[0] newest 2 per [major] by semver 4 of 6",
		"any condition (kept by the rule) at least 1 of 3",
		"any condition (kept by the rule) 5 of 6",
	} {
		if !strings.Contains(flat, line) {
			t.Errorf("the text output lacks %q:\n%s", line, text)
		}
	}

	// --sources loads the runs source, which does not exist: the check fails as plan would.
	_, _, err = runCLI(t, append(args, "--sources")...)
	if err == nil || !errors.Is(err, policy.ErrKeepSource) || errors.Is(err, errUsage) {
		t.Errorf("policy check --sources with a missing runs source: %v, want a keep-source error (exit 1)", err)
	}
}

func TestPolicyCheckInvalidPolicy(t *testing.T) {
	file := filepath.Join(t.TempDir(), "broken.yaml")
	broken := strings.Replace(checkPolicy, "by: semver", "by: version", 1)
	if err := os.WriteFile(file, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	// No registry: an invalid policy is reported before anything is listed.
	_, _, err := runCLI(t, "policy", "check", file, "--repo", "127.0.0.1:1/none")
	if err == nil {
		t.Fatal("an invalid policy passed the check")
	}
	want := file + `:10:46: rules.release.keep[0].newest.by: kind release has no field "version" (its fields: major)`
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
	if exitCode(err) != exitError {
		t.Errorf("exit status %d, want %d, as plan gives for the same policy", exitCode(err), exitError)
	}

	out, _, err := runCLI(t, "policy", "check", filepath.Join("..", "..", "examples", "openhands.yaml"))
	if err != nil {
		t.Fatalf("policy check of the example policy: %v", err)
	}
	for _, line := range []string{"Policy ../../examples/openhands.yaml: valid (version 1,", "[reads commits]", "untagged    keep[0]  age newer than 7d"} {
		if !strings.Contains(out, line) {
			t.Errorf("the listing lacks %q:\n%s", line, out)
		}
	}
}
