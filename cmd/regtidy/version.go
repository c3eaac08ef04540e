package main

import (
	"fmt"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
)

// Set by release builds (scripts/release) with -ldflags "-X main.version=... -X main.commit=...
// -X main.date=...". Empty in other builds: the build info the Go toolchain records fills them.
var (
	version string
	commit  string
	date    string
)

// buildVersion is what `regtidy version` and `--version` print: the module version, the commit
// and the commit's date. A release build's -ldflags win; otherwise they come from the build info,
// which `go install module@version` stamps with the version and `go build` in a git checkout
// with vcs.revision, vcs.time and vcs.modified.
type buildVersion struct {
	Version string
	Commit  string
	Date    string
}

// readBuildVersion reads the version from the link-time variables, then the build info.
func readBuildVersion(info *debug.BuildInfo, ok bool) buildVersion {
	v := buildVersion{Version: version, Commit: commit, Date: date}
	modified := false
	if ok {
		if v.Version == "" && info.Main.Version != "" {
			v.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.time":
				if v.Date == "" {
					v.Date = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	if len(v.Commit) > 12 {
		v.Commit = v.Commit[:12]
	}
	if v.Commit != "" && modified && commit == "" {
		v.Commit += "-dirty"
	}
	if t, err := time.Parse(time.RFC3339, v.Date); err == nil {
		v.Date = t.UTC().Format(time.RFC3339)
	}
	return v
}

// String renders "v1.2.3 (commit 0123456789ab, 2026-12-07T10:00:00Z)", leaving out what is unknown.
func (v buildVersion) String() string {
	s := v.Version
	switch {
	case v.Commit != "" && v.Date != "":
		s += fmt.Sprintf(" (commit %s, %s)", v.Commit, v.Date)
	case v.Commit != "":
		s += fmt.Sprintf(" (commit %s)", v.Commit)
	case v.Date != "":
		s += fmt.Sprintf(" (%s)", v.Date)
	}
	return s
}

// currentVersion is this binary's version.
func currentVersion() buildVersion { return readBuildVersion(debug.ReadBuildInfo()) }

func newVersionCmd(o *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print regtidy's version, commit and build date",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(o.stdout, "regtidy", currentVersion())
			return err
		},
	}
}
