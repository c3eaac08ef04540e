package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/regtidy/regtidy/internal/ghactions"
	"github.com/spf13/cobra"
)

// rootOptions are the flags every subcommand shares, and the streams it writes to. Tests build a
// root command with their own streams, so nothing here is global.
type rootOptions struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	// Registry access.
	insecure      bool
	username      string
	passwordStdin bool
	password      string // read from stdin once, when passwordStdin
	concurrency   int
	cacheDir      string
	noCache       bool

	// Output.
	output     string // table | json
	stats      bool
	verbose    int
	quiet      bool
	logFormat  string // text | json
	noProgress bool

	// GitHub Container Registry.
	gh   ghcrOptions
	root *cobra.Command

	// Profiling (hidden flags).
	cpuProfile string
	memProfile string
}

// NewRootCmd returns the regtidy command tree writing to the given streams.
func NewRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	// stderr is shared by the logger, the progress lines' ticker and the commands' messages.
	stderr = &lockedWriter{w: stderr}
	o := &rootOptions{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "regtidy",
		Short: "Keep container registries down to the images that still matter",
		Long: `regtidy measures a repository (report), turns a retention policy into a reviewable plan
(plan, explain), carries plans out safely and resumably (apply, prune, undo, verify), and builds
thin images in the registry (compose).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       currentVersion().String(),
	}
	root.SetVersionTemplate("regtidy {{.Version}}\n")
	o.root = root
	o.gh.add(o)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	f := root.PersistentFlags()
	f.BoolVar(&o.insecure, "insecure", false, "use plain HTTP and skip TLS verification (always plain HTTP for localhost)")
	f.StringVarP(&o.username, "username", "u", "", "registry user name (password from --password-stdin or REGTIDY_PASSWORD)")
	f.BoolVar(&o.passwordStdin, "password-stdin", false, "read the registry password or token from standard input")
	f.IntVar(&o.concurrency, "concurrency", 32, "requests in flight at once")
	f.StringVar(&o.cacheDir, "cache-dir", "", "manifest cache directory (default: the user cache dir's regtidy folder)")
	f.BoolVar(&o.noCache, "no-cache", false, "do not read or write the manifest cache")
	f.BoolVar(&o.stats, "stats", false, "print request counts by method and status on stderr")
	f.CountVarP(&o.verbose, "verbose", "v", "log more (-v info, -vv debug with requests, Authorization redacted)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "log errors only and show no progress; results are still printed")
	f.StringVar(&o.logFormat, "log-format", "text", "log format on stderr: text or json (one JSON object a line)")
	f.BoolVar(&o.noProgress, "no-progress", false, "no progress: no bars on a terminal, no progress lines elsewhere (CI logs)")

	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile to this file")
	f.StringVar(&o.memProfile, "memprofile", "", "write a heap profile to this file when the command ends, and to FILE.listed once the repository is listed")
	f.MarkHidden("cpuprofile") //nolint:errcheck // the flag exists
	f.MarkHidden("memprofile") //nolint:errcheck // the flag exists
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if o.concurrency < 1 {
			return usageError(fmt.Errorf("--concurrency %d: want 1 or more", o.concurrency))
		}
		if o.logFormat != "text" && o.logFormat != "json" {
			return usageError(fmt.Errorf("--log-format %q: want text or json", o.logFormat))
		}
		if o.quiet && o.verbose > 0 {
			return usageError(errors.New("--quiet and --verbose: give one of them"))
		}
		if o.quiet {
			o.noProgress = true
		}
		if err := o.gh.validate(); err != nil {
			return err
		}
		return o.startProfiles()
	}
	root.PersistentPostRunE = func(*cobra.Command, []string) error { return o.stopProfiles() }

	root.AddCommand(
		newVersionCmd(o),
		newReportCmd(o),
		newDemoCmd(o),
		newPlanCmd(o),
		newExplainCmd(o),
		newPolicyCmd(o),
		newApplyCmd(o),
		newPruneCmd(o),
		newUndoCmd(o),
		newVerifyCmd(o),
		newComposeCmd(o),
	)
	return root
}

// logger returns the slog logger the flags ask for, writing to stderr.
func (o *rootOptions) logger() *slog.Logger {
	level := slog.LevelWarn
	switch {
	case o.verbose >= 2:
		level = slog.LevelDebug
	case o.verbose == 1:
		level = slog.LevelInfo
	}
	if o.quiet {
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(o.stderr, opts)
	if o.logFormat == "json" {
		h = slog.NewJSONHandler(o.stderr, opts)
	}
	// Inside GitHub Actions, warnings and errors become annotations on the run.
	if level <= slog.LevelWarn {
		h = ghactions.Detect(os.Getenv, o.stderr).LogHandler(h)
	}
	return slog.New(h)
}

// lockedWriter serialises writes to a writer shared by goroutines (a bytes.Buffer in tests).
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// unlocked returns the writer under a lockedWriter: the terminal, for the progress bars, which
// draw on it by themselves.
func unlocked(w io.Writer) io.Writer {
	if l, ok := w.(*lockedWriter); ok {
		return l.w
	}
	return w
}

// isTerminal reports whether w is a terminal (progress bars go only there).
func isTerminal(w io.Writer) bool {
	f, ok := unlocked(w).(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// addFormatFlag adds the result format flag to cmd: -o/--output, or --format for commands whose
// -o names an output file.
func (o *rootOptions) addFormatFlag(cmd *cobra.Command, name, short string, more ...string) {
	formats := strings.Join(append([]string{"table", "json"}, more...), ", ")
	cmd.Flags().StringVarP(&o.output, name, short, "table", "result format: "+formats)
}

// checkFormat rejects an unknown result format.
func (o *rootOptions) checkFormat(more ...string) error {
	formats := append([]string{"table", "json"}, more...)
	if slices.Contains(formats, o.output) {
		return nil
	}
	return usageError(fmt.Errorf("format %q: want %s", o.output, strings.Join(formats, ", ")))
}

// summarize appends Markdown to the GitHub Actions job summary when regtidy runs in a workflow
// step ($GITHUB_STEP_SUMMARY); elsewhere it does nothing.
func (o *rootOptions) summarize(write func(io.Writer) error) error {
	r := ghactions.Detect(os.Getenv, o.stderr)
	if r == nil {
		return nil
	}
	var b strings.Builder
	if err := write(&b); err != nil {
		return err
	}
	return r.AppendSummary(b.String())
}

// writeJSON writes v to stdout as indented JSON: every command's -o json result.
// writeResult writes a command's result, v as JSON with -o json, else through text; a write error
// becomes the command's error unless it already has one.
func (o *rootOptions) writeResult(err error, v any, text func(io.Writer) error) error {
	var werr error
	if o.output == "json" {
		werr = o.writeJSON(v)
	} else {
		werr = text(o.stdout)
	}
	if err == nil {
		return werr
	}
	return err
}

func (o *rootOptions) writeJSON(v any) error {
	enc := json.NewEncoder(o.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
