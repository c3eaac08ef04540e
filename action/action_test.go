// Package action_test runs the GitHub Action's own entry point (action/install.sh, then
// action/entrypoint.sh, as action.yml's steps run them) the way the example nightly workflow
// does, with the environment GitHub Actions gives a step (GITHUB_ACTIONS, GITHUB_OUTPUT,
// GITHUB_STEP_SUMMARY, GITHUB_PATH, GITHUB_WORKSPACE, the token), against the GitHub Packages
// emulator, over two packages matched by a glob, three nights in a row.
package action_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/registry"
)

const token = "ghs_nightlyworkflowtoken"

// policy keeps the two newest builds of each package and deletes the older ones.
const policy = `version: 1
scheme:
  - kind: build
    match: 'build-(?P<n>[0-9]+)'
rules:
  build:
    keep:
      - newest: {count: 2, by: n}
`

// nightly is one environment of the example workflow's job, kept between nights as the Actions
// cache keeps the state directory.
type nightly struct {
	t         *testing.T
	root, bin string
	e         *ghcremu.Emulator
	work      string
}

func TestNightlyWorkflowThroughTheActionEntryPoint(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the action's entry point is a bash script")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	n := &nightly{t: t, root: root, work: t.TempDir()}
	n.bin = filepath.Join(t.TempDir(), "regtidy")
	build := exec.Command("go", "build", "-o", n.bin, "./cmd/regtidy")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if n.e, err = ghcremu.Start(t.Context(), ghcremu.Options{OCIAuth: true, Private: true, Tokens: map[string]int{token: 1000}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.e.Close() })
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv(registry.EnvGitHubToken, token)
	if err := os.WriteFile(filepath.Join(n.work, "regtidy.yaml"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"acme/app-a", "acme/app-b", "acme/website"} {
		for i := 1; i <= 4; i++ {
			n.push(pkg, i)
		}
	}

	// A report first, with the token alone (no Docker config): the job summary is the report.
	_, summary, _ := n.night(map[string]string{"INPUT_MODE": "report"})
	for _, want := range []string{"# regtidy report: " + n.e.Host + "/acme/app-a", "# regtidy report: " + n.e.Host + "/acme/app-b"} {
		if !strings.Contains(summary, want) {
			t.Errorf("report: the job summary lacks %q:\n%.3000s", want, summary)
		}
	}

	// Night 1: the glob finds the two app packages; builds 1 and 2 of each go.
	outs, summary, log := n.night(nil)
	n.expect(outs, "deleted", "4")
	n.expect(outs, "failed", "0")
	n.expect(outs, "remaining", "0")
	for _, want := range []string{"## regtidy prune", n.e.Host + "/acme/app-a", n.e.Host + "/acme/app-b", "| done |"} {
		if !strings.Contains(summary, want) {
			t.Errorf("night 1: the job summary lacks %q:\n%s", want, summary)
		}
	}
	if !strings.Contains(log, "::group::regtidy "+n.e.Host+"/acme/app-a") {
		t.Errorf("night 1: no log group per repository:\n%s", log)
	}
	plans, _ := filepath.Glob(filepath.Join(n.work, "regtidy-plans", "*.json"))
	if len(plans) != 2 {
		t.Errorf("night 1: plan files %v, want one per package", plans)
	}
	n.tags("acme/app-a", "build-3", "build-4")
	n.tags("acme/app-b", "build-3", "build-4")
	n.tags("acme/website", "build-1", "build-2", "build-3", "build-4")

	// Night 2: one new build a package. The state makes the listing one page a package.
	n.push("acme/app-a", 5)
	n.push("acme/app-b", 5)
	n.e.ResetStats()
	outs, _, _ = n.night(nil)
	n.expect(outs, "deleted", "2")
	if got := n.e.Stats().REST[ghcremu.EndpointList].Requests; got != 2 {
		t.Errorf("night 2: %d version listing requests, want 2 (one page a package: only what is new)", got)
	}
	n.tags("acme/app-a", "build-4", "build-5")
	n.tags("acme/app-b", "build-4", "build-5")

	// Night 3: two builds to delete in app-a and a budget of 2 requests shared by the two
	// packages: app-a's apply may send one DELETE. regtidy exits 3 (work left); the action says
	// the next night continues and keeps the job green.
	n.push("acme/app-a", 6)
	n.push("acme/app-a", 7)
	outs, summary, log = n.night(map[string]string{"INPUT_MAX_REQUESTS": "2"})
	n.expect(outs, "deleted", "1")
	n.expect(outs, "remaining", "1")
	if !strings.Contains(log, "::notice title=regtidy::work is left") || !strings.Contains(summary, "continues next run") {
		t.Errorf("night 3: no 'continues' notice or summary line:\n%s\n%s", log, summary)
	}
	n.tags("acme/app-a", "build-5", "build-6", "build-7")
}

// push pushes build i of pkg through the emulator, with the token.
func (n *nightly) push(pkg string, i int) {
	n.t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		n.t.Fatal(err)
	}
	ref, err := name.NewTag(fmt.Sprintf("%s/%s:build-%d", n.e.Host, pkg, i), name.Insecure)
	if err != nil {
		n.t.Fatal(err)
	}
	kc := registry.Keychain(registry.Credentials{GitHubHosts: []string{n.e.Host}})
	if err := remote.Write(ref, img, remote.WithAuthFromKeychain(kc)); err != nil {
		n.t.Fatalf("push %s: %v", ref, err)
	}
}

// night runs the workflow's regtidy steps once: install, then the entry point, with extra
// inputs. It returns the step outputs, the job summary and the step's log.
func (n *nightly) night(extra map[string]string) (map[string]string, string, string) {
	n.t.Helper()
	dir := n.t.TempDir()
	output, summary, path := filepath.Join(dir, "output"), filepath.Join(dir, "summary"), filepath.Join(dir, "path")
	env := append(os.Environ(),
		"GITHUB_ACTIONS=true", "GITHUB_OUTPUT="+output, "GITHUB_STEP_SUMMARY="+summary, "GITHUB_PATH="+path,
		"GITHUB_WORKSPACE="+n.work, "RUNNER_TEMP="+dir, "REGTIDY_BIN="+n.bin,
		"INPUT_REPOSITORIES="+n.e.Host+"/acme/app-*",
		"INPUT_POLICY="+filepath.Join(n.work, "regtidy.yaml"),
		"INPUT_MODE=prune", "INPUT_DRY_RUN=false",
		"INPUT_STATE="+filepath.Join(n.work, "regtidy-state"),
		"INPUT_PLANS="+filepath.Join(n.work, "regtidy-plans"),
		"INPUT_ARGS=--github-api "+n.e.URL+" --cache-dir "+filepath.Join(n.work, "cache"),
	)
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	var log bytes.Buffer
	for _, script := range []string{"install.sh", "entrypoint.sh"} {
		ctx, cancel := context.WithTimeout(n.t.Context(), 5*time.Minute)
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(n.root, "action", script))
		cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = n.work, env, &log, &log
		err := cmd.Run()
		cancel()
		if err != nil {
			n.t.Fatalf("%s: %v\n%s", script, err, log.String())
		}
	}
	raw, _ := os.ReadFile(output)
	outs := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.Contains(k, "<<") {
			outs[k] = v
		}
	}
	sum, _ := os.ReadFile(summary)
	if p, _ := os.ReadFile(path); !strings.Contains(string(p), "regtidy-bin") {
		n.t.Errorf("install.sh added no directory to GITHUB_PATH: %q", p)
	}
	return outs, string(sum), log.String()
}

func (n *nightly) expect(outs map[string]string, key, want string) {
	n.t.Helper()
	if outs[key] != want {
		n.t.Errorf("output %s = %q, want %q (all: %v)", key, outs[key], want, outs)
	}
}

// tags checks the active tags of pkg in the emulator.
func (n *nightly) tags(pkg string, want ...string) {
	n.t.Helper()
	var got []string
	for _, v := range n.e.Versions(pkg) {
		if v.DeletedAt.IsZero() {
			got = append(got, v.Tags...)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		n.t.Errorf("%s holds %v, want %v", pkg, got, want)
	}
}
