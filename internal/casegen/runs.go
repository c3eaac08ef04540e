package casegen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"gocloud.dev/blob"
	"golang.org/x/sync/errgroup"
)

// Evaluation run metadata as the case's evaluation service keeps it in a bucket: one JSONL file a
// day, "metadata/YYYY-MM-DD.jsonl", a run per line; each run's parameters, with the SDK commit it
// evaluated, in "{path}/metadata/params.json". A retention policy keeps the images of commits that
// runs with a live status still use.

// Run statuses. The first four are live: the run still needs its images.
const (
	RunInit       = "init"
	RunInferring  = "inferring"
	RunEvaluating = "evaluating"
	RunPending    = "pending"
	RunCompleted  = "completed"
	RunError      = "error"
	RunCancel     = "cancel"
	RunCancelled  = "cancelled"
)

// LiveRunStatuses and TerminalRunStatuses partition the statuses.
var (
	LiveRunStatuses     = []string{RunInit, RunInferring, RunEvaluating, RunPending}
	TerminalRunStatuses = []string{RunCompleted, RunError, RunCancel, RunCancelled}
)

// RunsPrefix is where the daily JSONL files live in the bucket.
const RunsPrefix = "metadata/"

// Run is one evaluation run.
type Run struct {
	// Path is the run's directory in the bucket; its parameters are in Path/metadata/params.json.
	Path        string    `json:"path"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Benchmark   string    `json:"benchmark"`
	Dataset     string    `json:"dataset"`
	Model       string    `json:"model"`
	EvalLimit   int       `json:"eval_limit"`
	TriggeredBy string    `json:"triggered_by"`
	// SDKCommit is the full 40-hex SDK commit the run evaluates. It is written only to params.json,
	// as the real service does, never to the JSONL line.
	SDKCommit string `json:"-"`
	// MaxIterations and NumWorkers go to params.json too.
	MaxIterations int `json:"-"`
	NumWorkers    int `json:"-"`
}

// Live reports whether the run's status is live.
func (r Run) Live() bool {
	for _, s := range LiveRunStatuses {
		if r.Status == s {
			return true
		}
	}
	return false
}

// RunsFile returns the key of the JSONL file that lists a run created at t.
func RunsFile(t time.Time) string {
	return RunsPrefix + t.UTC().Format(time.DateOnly) + ".jsonl"
}

// RunParamsFile returns the key of a run's params.json.
func RunParamsFile(runPath string) string {
	return path.Join(runPath, "metadata", "params.json")
}

// runParams is the content of params.json.
type runParams struct {
	SDKCommit     string         `json:"sdk_commit"`
	SDKShort      string         `json:"sdk_short"`
	Benchmark     string         `json:"benchmark"`
	Dataset       string         `json:"dataset"`
	Split         string         `json:"split"`
	LLM           map[string]any `json:"llm"`
	MaxIterations int            `json:"max_iterations"`
	NumWorkers    int            `json:"num_workers"`
	EvalLimit     int            `json:"eval_limit"`
}

// WriteRuns writes the runs into bucket: the daily JSONL files (runs sorted by creation time within
// a day) and each run's params.json. Files already there are overwritten.
func WriteRuns(ctx context.Context, bucket *blob.Bucket, runs []Run) error {
	days := map[string][]Run{}
	for _, r := range runs {
		if r.Path == "" || strings.HasPrefix(r.Path, "/") {
			return fmt.Errorf("run path %q must be a relative key: %w", r.Path, ErrInvalidSpec)
		}
		days[RunsFile(r.CreatedAt)] = append(days[RunsFile(r.CreatedAt)], r)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for key, day := range days {
		sort.SliceStable(day, func(i, j int) bool { return day[i].CreatedAt.Before(day[j].CreatedAt) })
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for _, r := range day {
			if err := enc.Encode(r); err != nil {
				return fmt.Errorf("runs: encode %s: %w", r.Path, err)
			}
		}
		g.Go(func() error { return writeKey(gctx, bucket, key, buf.Bytes(), "application/x-ndjson") })
	}
	for _, r := range runs {
		short := r.SDKCommit
		if len(short) > 7 {
			short = short[:7]
		}
		params := mustJSON(runParams{SDKCommit: r.SDKCommit, SDKShort: short, Benchmark: r.Benchmark, Dataset: r.Dataset,
			Split: "test", LLM: map[string]any{"model": r.Model, "temperature": 0}, MaxIterations: r.MaxIterations,
			NumWorkers: r.NumWorkers, EvalLimit: r.EvalLimit})
		g.Go(func() error { return writeKey(gctx, bucket, RunParamsFile(r.Path), params, "application/json") })
	}
	return g.Wait()
}

func writeKey(ctx context.Context, bucket *blob.Bucket, key string, data []byte, contentType string) error {
	if err := bucket.WriteAll(ctx, key, data, &blob.WriterOptions{ContentType: contentType}); err != nil {
		return fmt.Errorf("runs: write %s: %w", key, err)
	}
	return nil
}

// Run mix of the case.
const (
	// RunDays is how many daily files CaseRuns spreads runs over, ending on now's day.
	RunDays = 40
	// RunsLiveOld is how many live runs CaseRuns points at commits older than the newest 30.
	RunsLiveOld = 3
	// RunsLiveRecent is how many extra live runs CaseRuns points at the newest 30 commits.
	RunsLiveRecent = 3
)

var runBenchmarks = []struct{ bench, dataset string }{
	{BenchSWEBench, "princeton-nlp/SWE-bench_Verified"},
	{BenchSWEBench, "princeton-nlp/SWE-bench_Lite"},
	{BenchCommit0, "wentingzhao/commit0_combined"},
	{BenchGAIA, "gaia-benchmark/GAIA"},
}

var runModels = []string{
	"claude-sonnet-4-5-20250929", "gpt-5-2025-08-07", "qwen3-coder-480b-a35b-instruct",
	"deepseek-v3.1", "gemini-2.5-pro", "kimi-k2-instruct",
}

// CaseRuns returns a realistic mix of runs for the case, seeded: a few runs a day over the 40 days
// up to now, mostly terminal (completed, error, cancel, cancelled) and evaluating the SDK of their
// day (so old runs name old commits); recent runs partly live; and live runs (init, inferring,
// evaluating, pending, some stuck for weeks) on commits both inside and outside the newest 30, so
// a "live runs keep their images" rule keeps images the commit rule would delete. One live run
// names a commit the case does not have (a fork's build), which keeps nothing.
func CaseRuns(c *Case, now time.Time, seed int64) []Run {
	now = now.UTC()
	r := newRand(seed, "runs")
	commits := c.Commits
	var runs []Run
	add := func(created time.Time, status, sdk string) {
		b := runBenchmarks[r.IntN(len(runBenchmarks))]
		model := runModels[r.IntN(len(runModels))]
		run := Run{Status: status, CreatedAt: created.Truncate(time.Second), Benchmark: b.bench, Dataset: b.dataset,
			Model: model, EvalLimit: []int{50, 100, 300, 500}[r.IntN(4)], TriggeredBy: []string{"schedule", "manual", "pull_request"}[r.IntN(3)],
			SDKCommit: sdk, MaxIterations: 100, NumWorkers: []int{16, 32, 64}[r.IntN(3)]}
		run.UpdatedAt = run.CreatedAt.Add(time.Duration(10+r.IntN(600)) * time.Minute)
		if run.Live() || run.UpdatedAt.After(now) {
			run.UpdatedAt = now.Add(-time.Duration(1+r.IntN(30)) * time.Minute).Truncate(time.Second)
			if run.UpdatedAt.Before(run.CreatedAt) {
				run.UpdatedAt = run.CreatedAt
			}
		}
		run.Path = fmt.Sprintf("eval-runs/%s/%s/%s-%s", b.bench, model, run.CreatedAt.Format("20060102-150405"), seededHex(seed, 6, "run", len(runs)))
		runs = append(runs, run)
	}
	if len(commits) == 0 {
		return nil
	}
	firstDay := now.Truncate(24*time.Hour).AddDate(0, 0, -(RunDays - 1))
	for d := range RunDays {
		day := firstDay.AddDate(0, 0, d)
		for range 2 + r.IntN(5) {
			created := day.Add(time.Duration(r.Int64N(int64(24 * time.Hour))))
			if created.After(now) {
				created = now.Add(-time.Duration(1+r.IntN(120)) * time.Minute)
			}
			status := TerminalRunStatuses[weighted(r.IntN(100), 75, 12, 5, 8)]
			if now.Sub(created) < 36*time.Hour && r.IntN(2) == 0 {
				status = LiveRunStatuses[r.IntN(len(LiveRunStatuses))]
			}
			add(created, status, sdkAt(commits, created, r).SHA)
		}
	}
	recent := max(0, len(commits)-30)
	for k := range min(RunsLiveOld, recent) {
		// Old SDKs evaluated for comparison; the first one has been pending for weeks.
		i := r.IntN(recent)
		ago := time.Duration(1+r.IntN(5*24)) * time.Hour
		if k == 0 {
			ago = 25 * 24 * time.Hour
		}
		add(now.Add(-ago), []string{RunPending, RunEvaluating, RunInferring}[k%3], commits[i].SHA)
	}
	for k := range RunsLiveRecent {
		i := recent + r.IntN(len(commits)-recent)
		add(now.Add(-time.Duration(1+r.IntN(48))*time.Hour), []string{RunInit, RunInferring, RunEvaluating}[k%3], commits[i].SHA)
	}
	add(now.Add(-3*time.Hour), RunInit, seededHex(seed, 40, "fork commit"))
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].CreatedAt.Before(runs[j].CreatedAt) })
	return runs
}

// sdkAt returns the SDK commit a run created at t evaluates: usually the newest commit by then,
// sometimes an older one.
func sdkAt(commits []Commit, t time.Time, r randSource) Commit {
	n := sort.Search(len(commits), func(i int) bool { return commits[i].Time.After(t) })
	if n == 0 {
		return commits[r.IntN(len(commits))]
	}
	if r.IntN(5) == 0 {
		return commits[r.IntN(n)]
	}
	return commits[n-1-min(n-1, r.IntN(3))]
}

// weighted maps a roll in [0, 100) to the index of the weight band it falls in.
func weighted(roll int, weights ...int) int {
	for i, w := range weights {
		if roll < w {
			return i
		}
		roll -= w
	}
	return len(weights) - 1
}
