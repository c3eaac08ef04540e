package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regtidy/regtidy/compose"
	"github.com/regtidy/regtidy/internal/regtest"
)

// composeEnv is a registry with three SWE-bench-shaped bases (and one other tag) in eval-base, and
// an SDK tree on disk.
type composeEnv struct {
	reg     *regtest.Registry
	sdk     string
	targets []string
}

func newComposeEnv(t *testing.T) *composeEnv {
	t.Helper()
	t.Setenv("SOURCE_DATE_EPOCH", "")
	reg, err := regtest.Start(context.Background(), regtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	e := &composeEnv{reg: reg, sdk: t.TempDir()}
	for _, tag := range []string{
		"0fe1ebf-sweb.eval.x86_64.django_1776_django-11099",
		"1a2b3c4-sweb.eval.x86_64.astropy_1776_astropy-12907",
		"2b3c4d5-sweb.eval.x86_64.sympy_1776_sympy-20590",
		"latest",
	} {
		img, err := random.Image(512, 2)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := name.NewTag(reg.Host + "/eval-base:" + tag)
		if err := remote.Write(r, img); err != nil {
			t.Fatal(err)
		}
		if tag != "latest" {
			e.targets = append(e.targets, reg.Host+"/eval-agent-server:abc1234-"+tag+"-source-minimal")
		}
	}
	for p, body := range map[string]string{"bin/agent": "#!/bin/sh\n", "lib/core.py": "x = 1\n"} {
		full := filepath.Join(e.sdk, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// run runs compose with args and returns its standard output.
func (e *composeEnv) run(t *testing.T, output string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	o := &rootOptions{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, concurrency: 4, noCache: true}
	cmd := newComposeCmd(o)
	cmd.SetArgs(append([]string{"-o", output}, args...))
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// args are the flags every run shares: the bases by expression, the target, the layer.
func (e *composeEnv) args(extra ...string) []string {
	return append([]string{
		"--base-repo", e.reg.Host + "/eval-base",
		"--base-match", `(?P<df>[0-9a-f]{7})-(?P<custom>sweb\.eval\..+)`,
		"--repo", e.reg.Host + "/eval-agent-server",
		"--tag", "{sdk}-{df}-{custom}-source-minimal",
		"--field", "sdk=abc1234",
		"--layer-dir", e.sdk, "--at", "/agent-server",
		"--created", "1750000000",
		"--env", "AGENT=1",
		"--entrypoint", `["/agent-server/bin/agent","serve"]`,
	}, extra...)
}

func decodeReport(t *testing.T, out string) compose.Report {
	t.Helper()
	var rep compose.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not a compose report: %v\n%s", err, out)
	}
	return rep
}

func TestComposeCmdDryRunThenShardsThenRerun(t *testing.T) {
	e := newComposeEnv(t)

	out, err := e.run(t, "json", e.args("--dry-run")...)
	if err != nil {
		t.Fatal(err)
	}
	rep := decodeReport(t, out)
	var planned []string
	for _, r := range rep.Images {
		if r.Status != compose.StatusPlanned || len(r.Writes) == 0 {
			t.Errorf("%s: status %s with %d writes, want planned with writes", r.Target, r.Status, len(r.Writes))
		}
		planned = append(planned, r.Target)
		if _, err := remote.Head(mustParseTag(t, r.Target)); err == nil {
			t.Errorf("dry run pushed %s", r.Target)
		}
	}
	if diff := cmp.Diff(e.targets, planned); diff != "" {
		t.Errorf("planned targets (-want +got):\n%s", diff)
	}

	// Two shards compose every base exactly once between them.
	var composed []string
	for _, shard := range []string{"1/2", "2/2"} {
		out, err := e.run(t, "json", e.args("--shard", shard)...)
		if err != nil {
			t.Fatalf("shard %s: %v", shard, err)
		}
		for _, r := range decodeReport(t, out).Images {
			if r.Status != compose.StatusComposed {
				t.Errorf("shard %s: %s is %s (%s)", shard, r.Target, r.Status, r.Error)
			}
			composed = append(composed, r.Target)
		}
	}
	slices.Sort(composed)
	if diff := cmp.Diff(e.targets, composed); diff != "" {
		t.Errorf("targets composed over both shards (-want +got):\n%s", diff)
	}
	for _, target := range e.targets {
		img, err := remote.Image(mustParseTag(t, target))
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		if !slices.Equal(cf.Config.Entrypoint, []string{"/agent-server/bin/agent", "serve"}) || !slices.Contains(cf.Config.Env, "AGENT=1") ||
			cf.Created.Unix() != 1750000000 {
			t.Errorf("%s: entrypoint %q env %q created %v", target, cf.Config.Entrypoint, cf.Config.Env, cf.Created)
		}
	}

	// The same command again finds everything in place.
	out, err = e.run(t, "table", e.args()...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "3 images: 0 composed, 3 unchanged") || !strings.Contains(out, "uploaded 0 B") {
		t.Errorf("rerun output:\n%s", out)
	}
}

func TestComposeCmdLayerFromImageMatchesDir(t *testing.T) {
	e := newComposeEnv(t)
	// A builder image holding the SDK tree at /agent-server, among other files.
	built, err := compose.BuildLayer(context.Background(), compose.Dir(e.sdk), compose.LayerOptions{At: "/agent-server", TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer built.Close()
	noise, _ := random.Layer(300, types.DockerLayer)
	builder, err := mutate.AppendLayers(empty.Image, noise, built)
	if err != nil {
		t.Fatal(err)
	}
	builderRef, _ := name.NewTag(e.reg.Host + "/builder:latest")
	if err := remote.Write(builderRef, builder); err != nil {
		t.Fatal(err)
	}
	base := e.reg.Host + "/eval-base:0fe1ebf-sweb.eval.x86_64.django_1776_django-11099"

	var layers []string
	for _, source := range [][]string{
		{"--layer-dir", e.sdk, "--at", "/agent-server"},
		{"--layer-from", builderRef.String() + ":/agent-server"},
	} {
		args := []string{base, "--repo", e.reg.Host + "/from-image", "--tag", "{tag}-thin", "--dry-run"}
		out, err := e.run(t, "json", append(args, source...)...)
		if err != nil {
			t.Fatalf("%v: %v", source, err)
		}
		layers = append(layers, decodeReport(t, out).Summary.Layer)
	}
	if want, _ := built.Digest(); layers[0] != want.String() || layers[1] != want.String() {
		t.Errorf("layer digests from dir and from image: %v, want both %s", layers, want)
	}
}

func TestComposeCmdUsageErrors(t *testing.T) {
	e := newComposeEnv(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no layer", []string{e.reg.Host + "/eval-base:latest", "--repo", e.reg.Host + "/x", "--tag", "t"}},
		{"two layers", e.args("--layer-tar", "x.tar")},
		{"bad shard", e.args("--shard", "3/2")},
		{"no repo", []string{"--tag", "t"}},
		{"explicit base not matching", append(e.args(), e.reg.Host+"/eval-base:latest")},
		{"bad entrypoint", e.args("--entrypoint", "[oops")},
		{"unknown field", e.args("--tag", "{nope}")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.run(t, "table", tc.args...); !errors.Is(err, errUsage) {
				t.Fatalf("error = %v, want a usage error", err)
			}
		})
	}
}

func mustParseTag(t *testing.T, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}
