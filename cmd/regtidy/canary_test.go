package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/regtidy/regtidy/examples"
	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/internal/redact"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
)

// Canary secrets, one for each way a credential reaches regtidy, so that a leak names its route.
// They are plain letters and digits: no redaction pattern for token shapes (ghp_..., Bearer,
// Basic) catches them by their looks, only by where they come from.
const (
	canaryEnvPassword    = "cnryEnvPassword4e1b7a"
	canaryStdinPassword  = "cnryStdinPassword9c2d0f"
	canaryWrongPassword  = "cnryWrongPassword3a8e61"
	canaryRefPassword    = "cnryRefPassword6e0a3b"
	canaryGitPassword    = "cnryGitPassword2f7d9c"
	canaryBucketPassword = "cnryBucketPassword8a1e5d"
	canaryGitHubToken    = "cnryGitHubToken7b5c2e"
	canaryWrongToken     = "cnryWrongToken1d4f98"
)

// How the failure paths must fail: regular expressions on what the command shows.
const (
	failUnauthorized = `(?i)401|unauthori[sz]ed|credentials`
	failBadToken     = `(?i)401|bad credentials|token`
	failRedactedRef  = `\[redacted\]@`
	failGit          = `127\.0\.0\.1:1\b`
	failBucket       = `no-such-dir|%zz|run metadata`
)

// canaryUsers are the user names the canaries travel with (basic auth sends "user:password").
var canaryUsers = []string{"ci", "stdin-user", registry.DefaultUsername, "x-access-token", ""}

// canaryForms returns every canary as it could be written: as is, and as HTTP basic auth encodes
// it with each user name.
func canaryForms() map[string]string {
	forms := map[string]string{}
	for _, c := range []string{canaryEnvPassword, canaryStdinPassword, canaryWrongPassword, canaryRefPassword,
		canaryGitPassword, canaryBucketPassword, canaryGitHubToken, canaryWrongToken} {
		forms[c] = c
		for _, u := range canaryUsers {
			cred := []byte(u + ":" + c)
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
				forms[enc.EncodeToString(cred)] = c + " (base64 of " + u + ":...)"
			}
		}
	}
	return forms
}

// canaryCheck looks for canaries in everything a run shows and everything it writes.
type canaryCheck struct {
	t     *testing.T
	forms map[string]string
	roots []string
	// inputs are files the test wrote itself with a canary in them on purpose (policies with
	// credentials in their URLs); the walk skips them.
	inputs map[string]bool
	runs   int
}

// leaks reports each canary form in text.
func (c *canaryCheck) leaks(where, text string) {
	c.t.Helper()
	for form, what := range c.forms {
		if i := strings.Index(text, form); i >= 0 {
			lo, hi := max(0, i-200), min(len(text), i+len(form)+100)
			c.t.Errorf("%s: canary %s leaks:\n...%s...", where, what, text[lo:hi])
		}
	}
}

// run runs regtidy at -vv with stdin and checks what it shows: stdout, stderr, and the error as
// main prints it. An empty fails means the command must succeed; otherwise it must fail, and what
// it shows must match fails, so that a failure path is really the one taken.
func (c *canaryCheck) run(name, fails, stdin string, args ...string) string {
	c.t.Helper()
	c.runs++
	var out, errb bytes.Buffer
	cmd := NewRootCmd(strings.NewReader(stdin), &out, &errb)
	cmd.SetArgs(append(args, "-vv", "--no-progress"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	err := cmd.ExecuteContext(ctx)
	shown := out.String() + errb.String()
	printed := ""
	if err != nil {
		// What main writes for an error.
		printed = "regtidy: " + redact.Text(err.Error())
		shown += printed + "\n"
	}
	c.t.Logf("%s (%v): %.300s", name, time.Since(start).Round(time.Millisecond), printed)
	switch {
	case fails == "" && err != nil:
		c.t.Errorf("%s: %s\n%.3000s", name, printed, errb.String())
	case fails != "" && err == nil:
		c.t.Errorf("%s succeeded; the failure path it stands for was not taken", name)
	case fails != "" && !regexp.MustCompile(fails).MatchString(shown):
		c.t.Errorf("%s failed otherwise than by %s: %s\n%.3000s", name, fails, printed, out.String())
	}
	c.leaks(name, shown)
	return out.String()
}

// walk checks the names and contents of every file under the test's directories.
func (c *canaryCheck) walk() int {
	c.t.Helper()
	files := 0
	for _, root := range c.roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			c.leaks("file name "+path, path)
			if !d.Type().IsRegular() || c.inputs[path] {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			c.leaks(path, string(data))
			return nil
		})
		if err != nil {
			c.t.Fatal(err)
		}
	}
	return files
}

// TestCanaryCredentialsNeverShow gives regtidy a distinct canary secret through every route a
// credential takes (registry password from the environment and from stdin, the GitHub token,
// credentials written by mistake into a repository reference, a git URL and a bucket URL), runs
// every command at -vv on success and failure paths, and checks that no canary appears in what
// regtidy prints or in any file it writes (plan, journal, GHCR state, caches).
func TestCanaryCredentialsNeverShow(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a registry world and a GHCR emulator")
	}
	ctx := context.Background()
	root := t.TempDir()
	c := &canaryCheck{t: t, forms: canaryForms(), roots: []string{root}, inputs: map[string]bool{}}
	dir := func(name string) string {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Everything regtidy could write by default lands under root, and no developer credential
	// gets in.
	t.Setenv("HOME", dir("home"))
	t.Setenv("XDG_CACHE_HOME", dir("xdg-cache"))
	t.Setenv("DOCKER_CONFIG", dir("docker-config"))
	t.Setenv("GH_TOKEN", "")

	// The case's world, filled without auth; then the same storage served behind htpasswd.
	storage := dir("storage")
	w, err := regtest.NewWorld(ctx, regtest.WorldSpec{Dir: dir("world"), Scale: 0.002, Seed: 5, Referrers: 4,
		Now: worldNow, Storage: storage, BaseRepository: "openhands/eval-base"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	reg, err := regtest.Start(ctx, regtest.Options{Dir: storage,
		Htpasswd: map[string]string{"ci": canaryEnvPassword, "stdin-user": canaryStdinPassword}})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	repo := reg.Host + "/" + w.Case.Repository
	polText, err := w.Policy(examples.OpenHands)
	if err != nil {
		t.Fatal(err)
	}
	work := dir("work")
	writePolicy := func(name, text string) string {
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		c.inputs[p] = true
		return p
	}
	pol := writePolicy("openhands.yaml", string(polText))
	now := worldNow.Format(time.RFC3339)
	cache := filepath.Join(work, "cache")
	planFile := filepath.Join(work, "plan.json")
	journal := filepath.Join(work, "plan.journal.jsonl")
	sdk := dir("sdk-tree")
	if err := os.WriteFile(filepath.Join(sdk, "agent.py"), []byte("print('agent')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	compose := func(repoRef string, extra ...string) []string {
		return append([]string{"compose", "--base-repo", reg.Host + "/openhands/eval-base",
			"--base-match", `(?P<df>[0-9a-f]{7})-(?P<custom>sweb\.eval\..+)`,
			"--repo", repoRef, "--tag", "{sdk}-{df}-{custom}-canary", "--field", "sdk=abc1234",
			"--layer-dir", sdk, "--at", "/agent-server", "--created", "1750000000", "-o", "json"}, extra...)
	}

	// 1. The registry password from REGTIDY_PASSWORD: every command, on the way that works.
	t.Setenv(registry.EnvUsername, "ci")
	t.Setenv(registry.EnvPassword, canaryEnvPassword)
	c.run("report", "", "", "report", repo, "--policy", pol, "--cache-dir", cache)
	c.run("plan", "", "", "plan", repo, "--policy", pol, "--now", now, "--out", planFile, "--cache-dir", cache)
	p, err := plan.Read(planFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Deletes()) == 0 || len(p.Tags) == 0 {
		t.Fatalf("the plan deletes %d of %d tags: apply and undo would prove nothing", len(p.Deletes()), len(p.Tags))
	}
	c.run("explain", "", "", "explain", planFile, p.Tags[0].Name)
	c.run("apply --dry-run", "", "", "apply", planFile, "--dry-run", "--cache-dir", cache)
	c.run("apply", "", "", "apply", planFile, "--cache-dir", cache)
	if _, err := os.Stat(journal); err != nil {
		t.Fatalf("apply wrote no journal: %v", err)
	}
	c.run("verify", "", "", "verify", repo, "--plan", planFile)
	c.run("undo --dry-run", "", "", "undo", journal, "--dry-run")
	c.run("undo", "", "", "undo", journal)
	c.run("prune", "", "", "prune", repo, "--policy", pol, "--now", now, "--cache-dir", cache)
	c.run("compose --dry-run", "", "", compose(reg.Host+"/openhands/eval-agent-server", "--dry-run")...)
	c.run("compose", "", "", compose(reg.Host+"/openhands/eval-agent-server")...)

	// 2. The password from stdin, for another user.
	t.Setenv(registry.EnvUsername, "")
	t.Setenv(registry.EnvPassword, "")
	stdin := canaryStdinPassword + "\n"
	login := []string{"-u", "stdin-user", "--password-stdin"}
	c.run("plan, password on stdin", "", stdin, append([]string{"plan", repo, "--policy", pol, "--now", now, "-o", filepath.Join(work, "plan-stdin.json"), "--no-cache"}, login...)...)
	c.run("apply --dry-run, password on stdin", "", stdin, append([]string{"apply", filepath.Join(work, "plan-stdin.json"), "--dry-run", "--no-cache"}, login...)...)
	c.run("compose, password on stdin", "", stdin, append(compose(reg.Host+"/openhands/eval-agent-server", "--dry-run"), login...)...)

	// 3. A wrong password: the registry answers 401 to every command.
	t.Setenv(registry.EnvUsername, "ci")
	t.Setenv(registry.EnvPassword, canaryWrongPassword)
	c.run("report, wrong password", failUnauthorized, "", "report", repo, "--no-cache")
	c.run("plan, wrong password", failUnauthorized, "", "plan", repo, "--policy", pol, "--now", now, "-o", filepath.Join(work, "plan-401.json"), "--no-cache")
	c.run("apply, wrong password", failUnauthorized, "", "apply", planFile, "--no-cache")
	c.run("prune --yes, wrong password", failUnauthorized, "", "prune", repo, "--policy", pol, "--now", now, "--yes", "--no-cache")
	c.run("verify, wrong password", failUnauthorized, "", "verify", repo, "--plan", planFile)
	c.run("undo, wrong password", failUnauthorized, "", "undo", journal)
	c.run("compose, wrong password", failUnauthorized, "", compose(reg.Host+"/openhands/eval-agent-server")...)
	c.run("report, wrong password on stdin", failUnauthorized, "x"+canaryWrongPassword+"\n", "report", repo, "-u", "stdin-user", "--password-stdin", "--no-cache")

	// 4. Credentials written into a repository reference by mistake.
	t.Setenv(registry.EnvPassword, canaryEnvPassword)
	refRepo := "ci:" + canaryRefPassword + "@" + repo
	c.run("report, credentials in the reference", failRedactedRef, "", "report", refRepo, "--no-cache")
	c.run("plan, credentials in the reference", failRedactedRef, "", "plan", refRepo, "--policy", pol, "--now", now, "-o", filepath.Join(work, "plan-ref.json"), "--no-cache")
	c.run("prune, credentials in the reference", failRedactedRef, "", "prune", refRepo, "--policy", pol, "--now", now, "--no-cache")
	c.run("verify, credentials in the reference", failRedactedRef, "", "verify", refRepo)
	c.run("compose, credentials in the reference", failRedactedRef, "", compose("ci:"+canaryRefPassword+"@"+reg.Host+"/openhands/eval-agent-server")...)
	c.run("report, credentials in a URL reference", failRedactedRef, "", "report", "http://"+refRepo, "--no-cache")

	// 5. A git URL with credentials in a commits rule, unreachable.
	gitPol := writePolicy("git-creds.yaml", strings.Replace(string(polText), "repo: "+w.GitDir,
		"repo: http://ci:"+canaryGitPassword+"@127.0.0.1:1/sdk.git", 1))
	c.run("plan, git URL with credentials", failGit, "", "plan", repo, "--policy", gitPol, "--now", now, "-o", filepath.Join(work, "plan-git.json"), "--no-cache")
	c.run("prune, git URL with credentials", failGit, "", "prune", repo, "--policy", gitPol, "--now", now, "--yes", "--no-cache")

	// 6. Bucket URLs with credentials in a runs rule, whose buckets fail.
	runsURL := "file://" + filepath.ToSlash(w.RunsDir)
	for i, bad := range []string{
		"file://ci:" + canaryBucketPassword + "@localhost" + filepath.ToSlash(w.RunsDir) + "/no-such-dir",
		"file://ci:" + canaryBucketPassword + "@" + filepath.ToSlash(w.RunsDir) + "/no-such-dir",
		"file://ci:" + canaryBucketPassword + "@127.0.0.1:1" + filepath.ToSlash(w.RunsDir) + "/%zz",
	} {
		text := strings.ReplaceAll(string(polText), runsURL, bad)
		if text == string(polText) {
			t.Fatalf("the policy has no %s to replace", runsURL)
		}
		bucketPol := writePolicy(fmt.Sprintf("bucket-creds-%d.yaml", i), text)
		c.run(fmt.Sprintf("plan, bucket URL %d with credentials", i), failBucket, "", "plan", repo, "--policy", bucketPol, "--now", now, "-o", filepath.Join(work, "plan-bucket.json"), "--no-cache")
		c.run(fmt.Sprintf("prune, bucket URL %d with credentials", i), failBucket, "", "prune", repo, "--policy", bucketPol, "--now", now, "--no-cache")
	}

	// 7. The GHCR flow: the GitHub token, right and wrong, over the emulator.
	canaryGHCR(t, c, dir("ghcr"))

	files := c.walk()
	t.Logf("%d runs of regtidy, %d files under the test's directories checked", c.runs, files)
	if files < 5 {
		t.Errorf("only %d files written: the walk checked nothing", files)
	}
}

// canaryGHCR runs plan, explain, apply (dry run and real), verify and undo against the GitHub
// Packages emulator with the canary token, then plan, apply and undo with a token it refuses.
func canaryGHCR(t *testing.T, c *canaryCheck, dir string) {
	t.Helper()
	ctx := context.Background()
	e, err := ghcremu.Start(ctx, ghcremu.Options{Tokens: map[string]int{canaryGitHubToken: 0}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cs, err := casegen.FillCase(ctx, e.Host, casegen.CaseSpec{Scale: 0.002, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GITHUB_TOKEN", canaryGitHubToken)
	repo := e.Host + "/" + cs.Repository
	// Delete the images of one or two old commits, a few versions: GitHub's pace is a delete a
	// second at first.
	perCommit := map[string]int{}
	for _, ct := range cs.Tags {
		if ct.Kind == casegen.KindImage {
			perCommit[ct.SDK]++
		}
	}
	var keep []string
	dropped := 0
	for _, cm := range cs.Commits {
		if n := perCommit[cm.SHA]; n > 0 && dropped+n <= 4 {
			dropped += n
			continue
		}
		keep = append(keep, cm.SHA[:7])
	}
	if dropped == 0 {
		t.Fatal("no commit small enough to delete: apply would prove nothing")
	}
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte(fmt.Sprintf(`version: 1
scheme:
  - kind: image
    match: '(?P<sdk>[0-9a-f]{7})-.+'
rules:
  image:
    keep:
      - match: '(?:%s)-.+'
`, strings.Join(keep, "|"))), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state.json")
	gh := []string{"--github-api", e.URL, "--state", state, "--cache-dir", filepath.Join(dir, "cache")}
	planFile := filepath.Join(dir, "plan.json")
	journal := filepath.Join(dir, "plan.journal.jsonl")
	c.run("GHCR plan", "", "", append([]string{"plan", repo, "--policy", pol, "--out", planFile}, gh...)...)
	p, err := plan.Read(planFile)
	if err != nil {
		t.Fatal(err)
	}
	c.run("GHCR explain", "", "", "explain", planFile, p.Tags[0].Name)
	c.run("GHCR apply --dry-run", "", "", append([]string{"apply", planFile, "--dry-run"}, gh...)...)
	c.run("GHCR apply", "", "", append([]string{"apply", planFile}, gh...)...)
	c.run("GHCR verify", "", "", append([]string{"verify", repo, "--plan", planFile}, gh...)...)
	c.run("GHCR undo --dry-run", "", "", append([]string{"undo", journal, "--dry-run"}, gh...)...)
	c.run("GHCR undo", "", "", append([]string{"undo", journal}, gh...)...)
	for _, f := range []string{state, journal} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("the GHCR flow wrote no %s: %v", filepath.Base(f), err)
		}
	}

	t.Setenv("GITHUB_TOKEN", canaryWrongToken)
	c.run("GHCR plan, wrong token", failBadToken, "", "plan", repo, "--policy", pol, "-o", filepath.Join(dir, "plan-401.json"), "--no-cache",
		"--state", filepath.Join(dir, "state-401.json"), "--github-api", e.URL)
	c.run("GHCR apply, wrong token", failBadToken, "", append([]string{"apply", planFile}, gh...)...)
	c.run("GHCR undo, wrong token", failBadToken, "", append([]string{"undo", journal}, gh...)...)
	c.run("GHCR prune --yes, wrong token", failBadToken, "", append([]string{"prune", repo, "--policy", pol, "--yes"}, gh...)...)
}
