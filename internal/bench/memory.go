package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/regtidy/regtidy/examples"
	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/registry"
)

// worldCase is what `bench memory` records next to the world it filled, so later runs reuse it.
type worldCase struct {
	Scale      float64        `json:"scale"`
	Seed       int64          `json:"seed"`
	Repository string         `json:"repository"`
	Totals     casegen.Totals `json:"totals"`
	Now        time.Time      `json:"now"`
	GitDir     string         `json:"git_dir"`
	RunsDir    string         `json:"runs_dir"`
	FillTime   time.Duration  `json:"fill_ns"`
}

// startWorld starts the case's world at scale with its registry storage under dir: the registry,
// the SDK's git history and the run metadata the example policy reads. A world recorded in dir
// (world.json) is reused; otherwise what an unfinished fill left is removed and the world is made.
// Its Now is casegen.DefaultCaseNow, so plans made on any day decide the same.
func startWorld(ctx context.Context, dir string, scale float64) (*regtest.World, *worldCase, error) {
	if dir == "" {
		return nil, nil, errors.New("--dir is required: the full case's world takes gigabytes of disk")
	}
	storage, worldDir, marker := filepath.Join(dir, "storage"), filepath.Join(dir, "world"), filepath.Join(dir, "world.json")
	var wc worldCase
	if b, err := os.ReadFile(marker); err == nil && json.Unmarshal(b, &wc) == nil && wc.Scale == scale {
		reg, err := regtest.Start(ctx, regtest.Options{Dir: storage})
		if err != nil {
			return nil, nil, err
		}
		w := &regtest.World{World: &casegen.World{Dir: worldDir, Host: reg.Host, GitDir: wc.GitDir, RunsDir: wc.RunsDir, Now: wc.Now}, Registry: reg}
		return w, &wc, nil
	}
	for _, d := range []string{storage, worldDir} {
		if err := os.RemoveAll(d); err != nil {
			return nil, nil, err
		}
	}
	if err := os.MkdirAll(worldDir, 0o755); err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(os.Stderr, "making the case's world at scale %g in %s ...\n", scale, dir)
	start := time.Now()
	next := 0
	w, err := regtest.NewWorld(ctx, regtest.WorldSpec{
		Dir: worldDir, Scale: scale, Seed: 1, Storage: storage,
		Progress: func(done, total int) {
			if total > 0 && done*10 >= next*total {
				fmt.Fprintf(os.Stderr, "  pushed %d of %d (%s)\n", done, total, time.Since(start).Round(time.Second))
				next = done*10/total + 1
			}
		},
	})
	if err != nil {
		return nil, nil, err
	}
	wc = worldCase{Scale: scale, Seed: 1, Repository: w.Case.Repository, Totals: w.Case.Totals, Now: w.Now,
		GitDir: w.GitDir, RunsDir: w.RunsDir, FillTime: time.Since(start)}
	b, _ := json.Marshal(wc)
	if err := os.WriteFile(marker, b, 0o644); err != nil {
		w.Close()
		return nil, nil, err
	}
	return w, &wc, nil
}

// step is one measured regtidy command of the sequence.
type step struct {
	name  string
	args  []string
	bin   string // the regtidy binary, if not the run's
	again bool   // apply once more (for another undo): its journal starts afresh
	peak  int64  // bytes, the process's maximum resident set size
	wall  time.Duration
	out   string
}

// benchMemory runs report, plan, apply and undo of the full case one after the other, each as its
// own process, and prints each one's peak resident memory. apply deletes what the plan deletes
// (tag mode, the case's default) and undo puts it back from apply's journal, so the registry is
// the same after a run as before it; the tag count is checked at the end.
func benchMemory(ctx context.Context, args []string) error {
	fs := newFlags("memory")
	scale := fs.Float64("scale", 1, "fraction of the case (1 = 133,428 tags)")
	dir := fs.String("dir", "", "where the world (registry storage, git history, run metadata) lives, reused between runs (required)")
	keep := fs.Bool("keep", false, "keep the run's files (cache, plan, journal) under --dir")
	workDir := fs.String("work", "", "the run's files here, kept (default: a new directory under --dir); a kept run's plan serves --steps apply,undo")
	prebuilt := fs.String("regtidy", "", "run this regtidy binary (default: build this checkout's)")
	compare := fs.String("compare-undo", "", "comma-separated regtidy binaries: after the steps, apply again and undo with each (same registry, same plan)")
	grow := fs.Int("grow-journal", 0, "after the steps: undo --dry-run, with the run's regtidy and each --compare-undo instead of their apply and undo, of a journal of this many deleted tags grown from apply's (see growJournal)")
	only := fs.String("steps", "report,plan,apply,undo", "the commands to run, in this order (apply needs the plan in --work, undo apply's journal; undo-dry-run is undo --dry-run)")
	fs.Parse(args) //nolint:errcheck // ExitOnError
	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		want[strings.TrimSpace(s)] = true
	}
	if want["apply"] && !want["undo"] {
		// The world is filled once and reused: a run must leave it as it found it.
		return errors.New("--steps: apply deletes from the world, which later runs reuse: undo must follow it")
	}

	w, wc, err := startWorld(ctx, *dir, *scale)
	if err != nil {
		return err
	}
	defer w.Close()
	repo := w.Registry.Host + "/" + wc.Repository
	work := *workDir
	if work == "" {
		if work, err = os.MkdirTemp(*dir, "run-"); err != nil {
			return err
		}
		if !*keep {
			defer os.RemoveAll(work)
		}
	}
	bin := *prebuilt
	if bin == "" {
		if bin, err = buildRegtidy(ctx, work); err != nil {
			return err
		}
	}
	pol, err := w.Policy(examples.OpenHands)
	if err != nil {
		return err
	}
	polPath := filepath.Join(work, "openhands.yaml")
	if err := os.WriteFile(polPath, pol, 0o644); err != nil {
		return err
	}
	before, err := countTags(ctx, repo)
	if err != nil {
		return err
	}

	planPath, journal := filepath.Join(work, "plan.json"), filepath.Join(work, "plan.journal.jsonl")
	common := []string{"--no-progress", "--cache-dir", filepath.Join(work, "cache")}
	var steps []*step
	for _, s := range []*step{
		{name: "report", args: []string{"report", repo, "--policy", polPath}},
		{name: "plan", args: []string{"plan", repo, "--policy", polPath, "--now", wc.Now.Format(time.RFC3339), "-o", planPath}},
		{name: "apply", args: []string{"apply", planPath, "--journal", journal}},
		{name: "undo", args: []string{"undo", journal}},
		{name: "undo-dry-run", args: []string{"undo", journal, "--dry-run"}},
	} {
		if want[s.name] {
			steps = append(steps, s)
		}
	}
	if want["apply"] {
		// A journal is appended to: start this run's afresh.
		if err := os.Remove(journal); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	for _, other := range strings.Split(*compare, ",") {
		if other = strings.TrimSpace(other); other == "" || *grow > 0 {
			continue
		}
		steps = append(steps,
			&step{name: "apply", args: []string{"apply", planPath, "--journal", journal}, again: true},
			&step{name: "undo", args: []string{"undo", journal}, bin: other})
	}
	run := func(steps []*step) error {
		for _, s := range steps {
			if s.again {
				if err := os.Remove(journal); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
			b := bin
			if s.bin != "" {
				b = s.bin
			}
			fmt.Fprintf(os.Stderr, "regtidy %s (%s) ...\n", s.name, b)
			s.args = append(s.args, common...)
			if err := runPeak(ctx, b, s); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "  %s, peak RSS %s\n", sec(s.wall), mb(s.peak))
		}
		return nil
	}
	if err := run(steps); err != nil {
		return err
	}
	if *grow > 0 {
		grown := filepath.Join(work, "grown.journal.jsonl")
		n, err := growJournal(journal, grown, repo, *grow)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "grew %s to %d tags in %s\n", journal, n, grown)
		var dry []*step
		for _, b := range append([]string{bin}, strings.Split(*compare, ",")...) {
			if b = strings.TrimSpace(b); b != "" {
				dry = append(dry, &step{name: "undo-dry-run", args: []string{"undo", grown, "--dry-run"}, bin: b})
			}
		}
		if err := run(dry); err != nil {
			return err
		}
		steps = append(steps, dry...)
		journal = grown
	}
	after, err := countTags(ctx, repo)
	if err != nil {
		return err
	}
	size := func(path string) string {
		st, err := os.Stat(path)
		if err != nil {
			return "-"
		}
		return fmt.Sprintf("%.1f MB", float64(st.Size())/1e6)
	}

	p := func(format string, a ...any) { fmt.Printf(format+"\n", a...) }
	p("### Peak memory at scale %g (%d tags, %d manifests)", *scale, wc.Totals.Tags, wc.Totals.Manifests)
	p("")
	p("Machine: %s. Registry: distribution v3 in the bench's process (filesystem storage), sharing the cores; each regtidy command runs as its own process, under its default 400 MiB soft memory limit.", machine())
	p("Command: `go run ./internal/bench memory %s` (run on %s).", strings.Join(args, " "), time.Now().UTC().Format("2006-01-02"))
	p("")
	p("| command | wall time | peak RSS | what it did |")
	p("| --- | ---: | ---: | --- |")
	for _, s := range steps {
		name := strings.Join(append([]string{"regtidy", s.args[0]}, flagsOf(s.args)...), " ")
		note := ""
		if s.bin != "" {
			note = " (" + filepath.Base(s.bin) + ")"
		}
		if s.again {
			note = " (again)"
		}
		p("| `%s`%s | %s | %s (%s) | %s |", name, note, sec(s.wall), mb(s.peak), mib(s.peak), s.out)
	}
	p("")
	p("Plan file %s, journal %s. Tags before apply: %d; after undo: %d.", size(planPath), size(journal), before, after)
	if wc.FillTime > 0 {
		p("World made (once): %s.", sec(wc.FillTime))
	}
	if after != before {
		return fmt.Errorf("undo left %d tags, the repository had %d before apply", after, before)
	}
	return nil
}

// flagsOf returns the flags of a command line that say how it ran (--dry-run).
func flagsOf(args []string) []string {
	var out []string
	for _, a := range args {
		if a == "--dry-run" {
			out = append(out, a)
		}
	}
	return out
}

// countTags lists repo's tags and counts them.
func countTags(ctx context.Context, repo string) (int, error) {
	n := 0
	err := registry.New().ListTags(ctx, repo, func(p []string) error { n += len(p); return nil })
	return n, err
}

// peakMarker starts the line on which `bench peak` reports its child's peak memory.
const peakMarker = "bench-peak-rss-kb "

// runPeak runs regtidy through `bench peak` and records its wall time, peak memory and the first
// line of its output. The peak is the child's rusage ru_maxrss taken by a small intermediate
// process: a child this process started directly would inherit the high-water mark of this
// process (the registry's) at exec, because Go starts children with vfork.
func runPeak(ctx context.Context, bin string, s *step) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, self, append([]string{"peak", bin}, s.args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err = cmd.Run()
	s.wall = time.Since(start)
	stderr := errb.String()
	if i := strings.LastIndex(stderr, peakMarker); i >= 0 {
		line, _, _ := strings.Cut(stderr[i+len(peakMarker):], "\n")
		kb, perr := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
		if perr == nil {
			s.peak = kb << 10
		}
		stderr = stderr[:i]
	}
	if err != nil {
		return fmt.Errorf("regtidy %s: %w\n%s", strings.Join(s.args, " "), err, stderr)
	}
	if s.peak == 0 {
		return fmt.Errorf("regtidy %s: no peak memory reported", s.name)
	}
	s.out = summaryLine(s.name, out.String())
	return nil
}

// summaryLine picks the line of a command's table output that says what it did, without the
// repository (its registry port changes from run to run).
func summaryLine(name, out string) string {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		switch {
		case name == "report" && len(f) == 2 && f[0] == "Tags":
			return f[1] + " tags listed, resolved and fetched"
		case name == "plan" && len(f) >= 5 && f[0] == "total":
			return fmt.Sprintf("keeps %s tags, deletes %s tags; keeps %s manifests, deletes %s", f[1], f[2], f[3], f[4])
		case (name == "apply" || name == "undo" || name == "undo-dry-run") && len(f) > 1 && strings.HasPrefix(f[0], "127.0.0.1:"):
			return strings.TrimPrefix(strings.Join(f[1:], " "), ": ")
		}
	}
	return "-"
}

// benchPeak is `bench peak BIN ARGS...`: it runs BIN with ARGS, passing its output through, and
// prints the child's peak resident set size in kB on stderr's last line. Started by runPeak only.
func benchPeak(ctx context.Context, args []string) error {
	if len(args) < 1 {
		return errors.New("peak: no command")
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err := cmd.Run()
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			fmt.Fprintf(os.Stderr, "%s%d\n", peakMarker, ru.Maxrss)
		}
	}
	return err
}

func mb(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/1e6) }

// serveWorld serves the world of `bench memory` until interrupted, with the example policy
// pointed at its sources written to dir/openhands.yaml.
func serveWorld(ctx context.Context, dir string, scale float64) error {
	w, wc, err := startWorld(ctx, dir, scale)
	if err != nil {
		return err
	}
	defer w.Close()
	pol, err := w.Policy(examples.OpenHands)
	if err != nil {
		return err
	}
	polPath := filepath.Join(dir, "openhands.yaml")
	if err := os.WriteFile(polPath, pol, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "serving %s/%s (%d tags, %d manifests), policy %s, --now %s; interrupt to stop\n",
		w.Registry.Host, wc.Repository, wc.Totals.Tags, wc.Totals.Manifests, polPath, wc.Now.Format(time.RFC3339))
	<-ctx.Done()
	return nil
}
