package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// report writes the same content as a table, as Markdown (with a plan: what it keeps and deletes),
// as a self-contained HTML page, and inside GitHub Actions into the job summary.
func TestReportMarkdownHTMLAndJobSummary(t *testing.T) {
	w, pol := newWorld(t, 0.01)
	repo := w.Repository()
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	planFile := filepath.Join(dir, "plan.json")
	now := worldNow.Format(time.RFC3339)
	if _, stderr, err := runCLI(t, "plan", repo, "--policy", pol, "--now", now, "--out", planFile, "--cache-dir", cache); err != nil {
		t.Fatalf("plan: %v\n%s", err, stderr)
	}

	md, stderr, err := runCLI(t, "report", repo, "--policy", pol, "--plan", planFile, "-o", "markdown", "--cache-dir", cache)
	if err != nil {
		t.Fatalf("report -o markdown: %v\n%s", err, stderr)
	}
	for _, want := range []string{"# regtidy report: " + repo, "| kind |", "delete"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%.2000s", want, md)
		}
	}
	if strings.Contains(md, "<script") {
		t.Error("markdown holds a script")
	}

	page := filepath.Join(dir, "report.html")
	summary := filepath.Join(dir, "summary.md")
	t.Setenv("GITHUB_ACTIONS", "true")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	table, stderr, err := runCLI(t, "report", repo, "--policy", pol, "--plan", planFile, "--html", page, "--cache-dir", cache)
	if err != nil {
		t.Fatalf("report --html: %v\n%s", err, stderr)
	}
	if strings.Contains(table, "| kind |") || table == "" {
		t.Errorf("the table output is not a table:\n%.500s", table)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(strings.TrimSpace(string(html)), "<!DOCTYPE html>") || !strings.Contains(string(html), repo) {
		t.Errorf("the page does not look like the report of %s: %.300s", repo, html)
	}
	if m := regexp.MustCompile(`(?i)(src|href)="https?://`).FindString(string(html)); m != "" {
		t.Errorf("the page makes an external request: %s", m)
	}
	got, err := os.ReadFile(summary)
	if err != nil {
		t.Fatalf("no job summary: %v", err)
	}
	for _, want := range []string{"# regtidy report: " + repo, "| kind |", "delete"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("job summary lacks %q:\n%.2000s", want, got)
		}
	}

	if _, _, err := runCLI(t, "report", repo, "-o", "yaml"); err == nil || !strings.Contains(err.Error(), "want table, json, markdown") {
		t.Errorf("report -o yaml: %v", err)
	}
}

// plan's -o is the result format as everywhere; --out names the plan file; the old -o FILE still
// writes the plan file, with a deprecation warning; both at once is a usage error.
func TestPlanOutAndOutputFlags(t *testing.T) {
	w, pol := newWorld(t, 0.01)
	repo := w.Repository()
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	now := worldNow.Format(time.RFC3339)
	base := []string{"plan", repo, "--policy", pol, "--now", now, "--cache-dir", cache}

	out, stderr, err := runCLI(t, append(base, "--out", filepath.Join(dir, "new.json"), "-o", "json")...)
	if err != nil || !strings.HasPrefix(strings.TrimSpace(out), "{") || strings.Contains(stderr, "deprecated") {
		t.Fatalf("plan --out FILE -o json: %v\nstdout %.200s\nstderr %s", err, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.json")); err != nil {
		t.Errorf("--out wrote no plan file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "json")); err == nil {
		t.Error("-o json wrote a plan file named json")
	}

	out, _, err = runCLI(t, append(base, "-o", "markdown")...)
	if err != nil || !strings.HasPrefix(out, "# regtidy plan: "+repo+"\n") || !strings.Contains(out, "## Plan") {
		t.Errorf("plan -o markdown: %v\n%.500s", err, out)
	}

	old := filepath.Join(dir, "old.json")
	_, stderr, err = runCLI(t, append(base, "-o", old)...)
	if err != nil || !strings.Contains(stderr, "plan -o FILE is deprecated: use --out "+old) {
		t.Fatalf("plan -o FILE: %v\nstderr %s", err, stderr)
	}
	if _, err := os.Stat(old); err != nil {
		t.Errorf("-o FILE wrote no plan file: %v", err)
	}

	_, _, err = runCLI(t, append(base, "-o", old, "--out", filepath.Join(dir, "x.json"))...)
	if code := exitCode(err); code != 2 {
		t.Errorf("plan -o FILE --out FILE: exit %d (%v), want 2", code, err)
	}
}
