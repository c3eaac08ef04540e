package main

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"
)

func TestReadBuildVersion(t *testing.T) {
	info := func(version string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/regtidy/regtidy", Version: version}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	for _, tc := range []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{"no build info", nil, false, "(devel)"},
		{"go install module@version", info("v1.4.0"), true, "v1.4.0"},
		{"go build in a checkout", info("(devel)", "vcs.revision", "0123456789abcdef0123", "vcs.time", "2026-12-07T10:00:00Z", "vcs.modified", "false"), true,
			"(devel) (commit 0123456789ab, 2026-12-07T10:00:00Z)"},
		{"uncommitted changes", info("(devel)", "vcs.revision", "0123456789abcdef0123", "vcs.time", "2026-12-07T10:00:00+01:00", "vcs.modified", "true"), true,
			"(devel) (commit 0123456789ab-dirty, 2026-12-07T09:00:00Z)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := readBuildVersion(tc.info, tc.ok).String(); got != tc.want {
				t.Errorf("version %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReleaseLdflagsWin(t *testing.T) {
	version, commit, date = "v2.0.0", "abcdef", "2026-12-01T00:00:00Z"
	t.Cleanup(func() { version, commit, date = "", "", "" })
	got := readBuildVersion(&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.modified", Value: "true"}}}, true)
	if want := "v2.0.0 (commit abcdef, 2026-12-01T00:00:00Z)"; got.String() != want {
		t.Errorf("version %q, want %q", got, want)
	}
}

func TestVersionFlagAndCommandAgree(t *testing.T) {
	var flag, cmd bytes.Buffer
	root := NewRootCmd(strings.NewReader(""), &flag, &flag)
	root.SetArgs([]string{"--version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	root = NewRootCmd(strings.NewReader(""), &cmd, &cmd)
	root.SetArgs([]string{"version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(flag.String(), "regtidy ") || flag.String() != cmd.String() {
		t.Errorf("--version printed %q, version printed %q: want the same line starting with regtidy", flag.String(), cmd.String())
	}
}
