package main

import (
	"errors"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDemo runs `regtidy demo` at a small scale, on the in-memory registry it ships with, and
// checks the story a user reads: the registry named for what it is, a plan that deletes, an
// apply in tag mode followed by what this registry does instead of garbage collection, fewer
// tags after, a clean verify and composed images.
func TestDemo(t *testing.T) {
	out, stderr, err := runCLI(t, "demo", "--scale", "0.005", "--no-progress")
	if err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
	}
	for _, want := range []string{
		"served by go-containerregistry's in-memory registry",
		"== regtidy report ",
		"== regtidy plan ",
		"== regtidy explain plan.json ",
		"in tag mode: deleted ",
		"on this registry: go-containerregistry's in-memory registry has no garbage collection",
		"go run ./cmd/regtidy-demo oci",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the story:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`tags: (\d+) before, (\d+) after`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no tag counts after apply:\n%s", out)
	}
	before, _ := strconv.Atoi(m[1])
	after, _ := strconv.Atoi(m[2])
	if after == 0 || after >= before {
		t.Errorf("tags: %d before, %d after: want fewer after apply, and some kept", before, after)
	}
	if !regexp.MustCompile(`checked \d+ kept tags, \d+ manifests, \d+ blobs: 0 broken`).MatchString(out) {
		t.Errorf("verify after apply is not clean:\n%s", out)
	}
	if !regexp.MustCompile(`\d+ images: (\d+) composed, 0 unchanged, 0 planned, 0 failed`).MatchString(out) {
		t.Errorf("compose did not compose every image:\n%s", out)
	}
}

// TestDemoGHCRMoved: `regtidy demo --ghcr` is a usage error that says where the GHCR demo went.
func TestDemoGHCRMoved(t *testing.T) {
	_, _, err := runCLI(t, "demo", "--ghcr")
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "go run ./cmd/regtidy-demo ghcr") {
		t.Errorf("demo --ghcr: %v; want a usage error naming go run ./cmd/regtidy-demo ghcr", err)
	}
}

// TestBinaryLinksNoTestRegistry: the regtidy binary links no test registry or emulator, and none
// of the modules they bring (distribution, redis, prometheus).
func TestBinaryLinksNoTestRegistry(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{
			"github.com/distribution/distribution",
			"github.com/redis/",
			"github.com/prometheus/",
			"github.com/regtidy/regtidy/internal/regtest",
			"github.com/regtidy/regtidy/internal/ghcremu",
		} {
			if strings.HasPrefix(pkg, banned) {
				t.Errorf("regtidy links %s", pkg)
			}
		}
	}
}
