package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDemoGHCR runs `regtidy-demo ghcr` at a small scale and checks its story: the plan's cost
// in REST requests and hours, nightly runs that stop at their budget and continue, a repeat
// listing of a request or two, a clean verify, an undo through GitHub's restore, and the
// emulated time; all without a GitHub token in the environment.
func TestDemoGHCR(t *testing.T) {
	t.Setenv("GITHUB_TOKEN", "")
	t.Setenv("GH_TOKEN", "")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"ghcr", "--scale", "0.002"}, &stdout, &stderr)
	out := stdout.String()
	if err != nil {
		t.Fatalf("regtidy-demo ghcr: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	find := func(re string) []string {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no line matching %q in:\n%s", re, out)
		}
		return m
	}
	atoi := func(s string) int {
		t.Helper()
		n, err := strconv.Atoi(strings.ReplaceAll(s, ",", ""))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	versions := atoi(find(`([\d,]+) package versions, one per digest: [\d,]+ tagged, [\d,]+ untagged`)[1])
	first := find(`version ids through the REST API: (\d+) requests for ([\d,]+) versions`)
	if got, want := atoi(first[1]), (versions+99)/100; got < want || got > want+2 {
		t.Errorf("first listing: %d REST requests for %d versions, want %d and at most 2 more", got, versions, want)
	}
	cost := find(`Apply: (\d+) requests, (\d+) of them deletes, in version mode\.\nAt the token's hourly budget that is ([\d.]+) hours`)
	planned := atoi(cost[2])
	if planned == 0 || cost[3] == "0.0" {
		t.Errorf("plan cost %q: want deletes and hours of budget", cost[0])
	}

	nights := regexp.MustCompile(`== night (\d+), .*: regtidy apply plan.json --max-requests (\d+)`).FindAllStringSubmatch(out, -1)
	deleted := regexp.MustCompile(`deleted (\d+) of (\d+) planned package versions \((\d+) REST requests\)`).FindAllStringSubmatch(out, -1)
	stops := regexp.MustCompile(`exit status 3: delete: (\d+) of (\d+) versions done; the next run continues`).FindAllStringSubmatch(out, -1)
	if len(nights) < 2 || len(deleted) != len(nights) || len(stops) != len(nights)-1 {
		t.Fatalf("%d nights, %d apply results, %d budget stops: want several nights, each but the last stopped by its budget:\n%s", len(nights), len(deleted), len(stops), out)
	}
	sum := 0
	for i, d := range deleted {
		budget := atoi(nights[i][2])
		if n, requests := atoi(d[1]), atoi(d[3]); requests > budget || n > requests || atoi(d[2]) != planned {
			t.Errorf("night %d: %q over a budget of %d requests, or not of the %d planned", i+1, d[0], budget, planned)
		}
		sum += atoi(d[1])
		if i < len(stops) && (atoi(stops[i][1]) != sum || atoi(stops[i][2]) != planned) {
			t.Errorf("night %d stopped with %q, want %d of %d done", i+1, stops[i][0], sum, planned)
		}
	}
	if sum != planned {
		t.Errorf("the nights deleted %d versions, the plan %d", sum, planned)
	}
	find(`\(night \d+: [^)]+ of emulated time; the plan is done\)`)

	if repeat := atoi(find(`listing the versions cost (\d+) REST request`)[1]); repeat > 2 {
		t.Errorf("the repeat listing cost %d REST requests, want 1 or 2", repeat)
	}
	find(`package versions: [\d,]+ before, [\d,]+ after`)
	find(`checked \d+ kept tags, \d+ manifests, \d+ blobs: 0 broken`)
	find(`restored 3 package versions; 0 were not deleted`)
	find(`is back: sha256:[0-9a-f]{64}`)
	gh := find(`REST requests  [\d,]+: [\d,]+ listing pages, ([\d,]+) deletes, (\d+) restores, \d+ other; (\d+) answered over a rate limit`)
	if atoi(gh[1]) != planned || gh[2] != "3" || gh[3] != "0" {
		t.Errorf("GitHub's side %q: want %d deletes (nothing twice), 3 restores, no rate-limit answer", gh[0], planned)
	}
	if got := atoi(find(`emulated time: (\d+) nightly runs over \d+d`)[1]); got != len(nights) {
		t.Errorf("emulated time names %d nightly runs, the demo ran %d", got, len(nights))
	}
}

// TestDemoOCI runs `regtidy-demo oci` at a small scale on distribution v3 and checks the story:
// the registry it names, a plan that deletes, an apply in tag mode whose advice is
// distribution's own (no note about another registry), fewer tags after, and a clean verify.
func TestDemoOCI(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"oci", "--scale", "0.005"}, &stdout, &stderr); err != nil {
		t.Fatalf("regtidy-demo oci: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"served by distribution v3",
		"== regtidy plan ",
		"== regtidy explain plan.json ",
		"in tag mode: deleted ",
		"checked ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the story:\n%s", want, out)
		}
	}
	if strings.Contains(out, "on this registry:") {
		t.Errorf("the story on distribution carries a note about another registry:\n%s", out)
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
}

func TestUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"nope"}, &stdout, &stderr); err != errUsage || !strings.Contains(stderr.String(), "usage: regtidy-demo oci|ghcr") {
		t.Errorf("run(nope) = %v, stderr %q: want errUsage and the usage line", err, stderr.String())
	}
}
