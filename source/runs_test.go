package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Commits of the case's runs: 40-hex SDK commits as params.json holds them.
var (
	sdkA = strings.Repeat("a1", 20)
	sdkB = strings.Repeat("b2", 20)
	sdkC = strings.Repeat("c3", 20)
	sdkD = strings.Repeat("d4", 20)
)

// caseStatuses are the case's statuses.
var (
	caseLive     = []string{"init", "inferring", "evaluating", "pending"}
	caseTerminal = []string{"completed", "error", "cancel", "cancelled"}
)

// caseNow is when the case's runs are read.
var caseNow = time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)

// caseRunFiles is the case's bucket: metadata/YYYY-MM-DD.jsonl, one run per line, and each run's
// params.json under its path. run-18 is finished and its params.json is gone, which must not
// matter; runs.jsonl has no date and a status outside both lists.
func caseRunFiles() map[string]string {
	return map[string]string{
		"metadata/2026-11-20.jsonl": `{"path":"evals/2026-11-20/run-17","status":"evaluating","benchmark":"swebench"}
{"path":"evals/2026-11-20/run-18","status":"completed","benchmark":"gaia"}

{"path":"evals/2026-11-20/run-19","status":"init","benchmark":"commit0"}
`,
		"metadata/2026-11-01.jsonl": `{"path":"evals/2026-11-01/run-3","status":"pending"}
{"path":"evals/2026-11-01/run-4","status":"cancelled"}`,
		"metadata/runs.jsonl":                          `{"path":"evals/misc/run-1","status":"paused"}` + "\n",
		"metadata/README.txt":                          "not a metadata file\n",
		"metadata/archive/2026-10-01.jsonl":            `{"path":"evals/old/run-0","status":"evaluating"}` + "\n",
		"evals/2026-11-20/run-17/metadata/params.json": `{"sdk_commit":"` + sdkA + `","benchmark":"swebench"}`,
		"evals/2026-11-20/run-19/metadata/params.json": `{"sdk_commit":"` + strings.ToUpper(sdkB) + `"}`,
		"evals/2026-11-01/run-3/metadata/params.json":  `{"sdk_commit":"` + sdkC + `"}`,
		"evals/misc/run-1/metadata/params.json":        `{"sdk_commit":"` + sdkD + `"}`,
		"evals/old/run-0/metadata/params.json":         `{"sdk_commit":"` + sdkA + `"}`,
	}
}

// writeFiles writes files (key -> content) under root.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for key, content := range files {
		p := filepath.Join(root, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLiveCommitsFile(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, caseRunFiles())
	metaURL := "file://" + root + "/metadata/*.jsonl"
	file := func(name string) string { return "file://" + root + "/metadata/" + name }
	join := "file://" + root + "/{path}/metadata/params.json"

	run17 := RunRef{Commit: sdkA, Run: "evals/2026-11-20/run-17", Status: "evaluating", File: file("2026-11-20.jsonl"), Line: 1}
	run19 := RunRef{Commit: sdkB, Run: "evals/2026-11-20/run-19", Status: "init", File: file("2026-11-20.jsonl"), Line: 4}
	run3 := RunRef{Commit: sdkC, Run: "evals/2026-11-01/run-3", Status: "pending", File: file("2026-11-01.jsonl"), Line: 1}
	run1 := RunRef{Commit: sdkD, Run: "evals/misc/run-1", Status: "paused", File: file("runs.jsonl"), Line: 1}

	tests := []struct {
		name    string
		spec    RunsSpec
		want    []RunRef
		wantErr error
		errHas  []string
	}{
		{
			name: "terminal listed: every other status is live",
			spec: RunsSpec{Terminal: caseTerminal, Join: join},
			want: []RunRef{run17, run19, run3, run1},
		},
		{
			name: "live listed: every other status is finished",
			spec: RunsSpec{Live: caseLive, Join: join},
			want: []RunRef{run17, run19, run3},
		},
		{
			name:    "both listed: an unknown status stops the read",
			spec:    RunsSpec{Live: caseLive, Terminal: caseTerminal, Join: join},
			wantErr: ErrUnknownStatus,
			errHas:  []string{file("runs.jsonl") + ":1", `"paused"`},
		},
		{
			name: "since skips old dated files, never undated ones",
			spec: RunsSpec{Terminal: caseTerminal, Join: join, Since: 7 * 24 * time.Hour},
			want: []RunRef{run17, run19, run1},
		},
		{
			name: "since counts whole days",
			spec: RunsSpec{Terminal: caseTerminal, Join: join, Since: 21*24*time.Hour - 5*time.Hour},
			want: []RunRef{run17, run19, run3, run1},
		},
		{
			name: "glob in the file name only",
			spec: RunsSpec{URL: "file://" + root + "/metadata/2026-11-2*.jsonl", Terminal: caseTerminal, Join: join},
			want: []RunRef{run17, run19},
		},
		{
			name: "one file without a glob",
			spec: RunsSpec{URL: "file://" + root + "/metadata/2026-11-01.jsonl", Terminal: caseTerminal, Join: join},
			want: []RunRef{run3},
		},
		{
			name: "glob across directories",
			spec: RunsSpec{URL: "file://" + root + "/*/arch*/*.jsonl", Terminal: caseTerminal, Join: join},
			want: []RunRef{{Commit: sdkA, Run: "evals/old/run-0", Status: "evaluating", File: "file://" + root + "/metadata/archive/2026-10-01.jsonl", Line: 1}},
		},
		{
			name:    "no file matches",
			spec:    RunsSpec{URL: "file://" + root + "/metadata/*.json", Terminal: caseTerminal, Join: join},
			wantErr: ErrNoRunFiles,
			errHas:  []string{"metadata/*.json"},
		},
		{
			name:    "bucket directory missing",
			spec:    RunsSpec{URL: "file://" + root + "/nowhere/*.jsonl", Terminal: caseTerminal, Join: join},
			wantErr: ErrBucket,
			errHas:  []string{"nowhere"},
		},
		{
			name:    "no statuses",
			spec:    RunsSpec{Join: join},
			wantErr: ErrInvalidSpec,
		},
		{
			name:    "status both live and terminal",
			spec:    RunsSpec{Live: []string{"init"}, Terminal: []string{"init"}, Join: join},
			wantErr: ErrInvalidSpec,
			errHas:  []string{`"init"`},
		},
		{
			name:    "no commit source",
			spec:    RunsSpec{Terminal: caseTerminal},
			wantErr: ErrInvalidSpec,
		},
		{
			name:    "two commit sources",
			spec:    RunsSpec{Terminal: caseTerminal, Join: join, CommitField: "sdk_commit"},
			wantErr: ErrInvalidSpec,
		},
		{
			name:    "join template without a field",
			spec:    RunsSpec{Terminal: caseTerminal, Join: "params.json"},
			wantErr: ErrInvalidSpec,
		},
		{
			name:    "join template unclosed",
			spec:    RunsSpec{Terminal: caseTerminal, Join: "{path/params.json"},
			wantErr: ErrInvalidSpec,
		},
		{
			name:    "URL without a path",
			spec:    RunsSpec{URL: "gs://bucket", Terminal: caseTerminal, Join: join},
			wantErr: ErrInvalidSpec,
		},
		{
			name:    "URL with a bad glob",
			spec:    RunsSpec{URL: "file://" + root + "/metadata/[.jsonl", Terminal: caseTerminal, Join: join},
			wantErr: ErrInvalidSpec,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.spec.URL == "" {
				tt.spec.URL = metaURL
			}
			got, err := LiveCommits(context.Background(), tt.spec, caseNow)
			checkErr(t, err, tt.wantErr, tt.errHas...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LiveCommits (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLiveCommitsFileFailsClosed(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		spec    RunsSpec
		wantErr error
		errHas  []string
	}{
		{
			name: "malformed line",
			files: map[string]string{"metadata/2026-11-20.jsonl": `{"path":"evals/r1","status":"completed"}
{"path":"evals/r2","status":"evaluating"}
{"path":"evals/r3","status":
{"path":"evals/r4","status":"completed"}
`},
			wantErr: ErrMalformedRun,
			errHas:  []string{"/metadata/2026-11-20.jsonl:3", "not a JSON object"},
		},
		{
			name:    "a line that is not an object",
			files:   map[string]string{"metadata/2026-11-20.jsonl": "[1,2]\n"},
			wantErr: ErrMalformedRun,
			errHas:  []string{"2026-11-20.jsonl:1"},
		},
		{
			name:    "a null line",
			files:   map[string]string{"metadata/2026-11-20.jsonl": "null\n"},
			wantErr: ErrMalformedRun,
			errHas:  []string{"2026-11-20.jsonl:1"},
		},
		{
			name:    "a line without a status, even if finished runs surround it",
			files:   map[string]string{"metadata/2026-11-20.jsonl": `{"path":"evals/r1","status":"completed"}` + "\n" + `{"path":"evals/r2"}` + "\n"},
			wantErr: ErrMalformedRun,
			errHas:  []string{"2026-11-20.jsonl:2", `no field "status"`},
		},
		{
			name:    "a status that is not a string",
			files:   map[string]string{"metadata/2026-11-20.jsonl": `{"path":"evals/r1","status":3}` + "\n"},
			wantErr: ErrMalformedRun,
			errHas:  []string{"2026-11-20.jsonl:1", `"status" is not a string`},
		},
		{
			name:    "a live line without the join field",
			files:   map[string]string{"metadata/2026-11-20.jsonl": "\n" + `{"run":"evals/r1","status":"evaluating"}` + "\n"},
			spec:    RunsSpec{PathField: "run", Join: "{path}/params.json"},
			wantErr: ErrMalformedRun,
			errHas:  []string{"2026-11-20.jsonl:2", `no field "path"`},
		},
		{
			name: "a live run whose params.json is missing",
			files: map[string]string{
				"metadata/2026-11-20.jsonl": `{"path":"evals/r1","status":"completed"}` + "\n" + `{"path":"evals/r2","status":"inferring"}` + "\n",
			},
			wantErr: ErrRunDocMissing,
			errHas:  []string{"2026-11-20.jsonl:2", `"evals/r2"`, "evals/r2/metadata/params.json", "fail closed"},
		},
		{
			name: "params.json without sdk_commit",
			files: map[string]string{
				"metadata/2026-11-20.jsonl":     `{"path":"evals/r1","status":"init"}` + "\n",
				"evals/r1/metadata/params.json": `{"commit":"` + sdkA + `"}`,
			},
			wantErr: ErrMalformedRun,
			errHas:  []string{"2026-11-20.jsonl:1", "params.json", `no field "sdk_commit"`},
		},
		{
			name: "params.json that is not JSON",
			files: map[string]string{
				"metadata/2026-11-20.jsonl":     `{"path":"evals/r1","status":"init"}` + "\n",
				"evals/r1/metadata/params.json": `sdk_commit=` + sdkA,
			},
			wantErr: ErrMalformedRun,
			errHas:  []string{"2026-11-20.jsonl:1", "params.json", "not a JSON object"},
		},
		{
			name: "a commit that is not hex",
			files: map[string]string{
				"metadata/2026-11-20.jsonl":     `{"path":"evals/r1","status":"init"}` + "\n",
				"evals/r1/metadata/params.json": `{"sdk_commit":"main"}`,
			},
			wantErr: ErrMalformedRun,
			errHas:  []string{"2026-11-20.jsonl:1", `"main" is not 7-40 hex digits`},
		},
		{
			name:    "a commit field that is too long",
			files:   map[string]string{"metadata/2026-11-20.jsonl": `{"path":"evals/r1","status":"init","sdk":"` + sdkA + `0"}` + "\n"},
			spec:    RunsSpec{CommitField: "sdk"},
			wantErr: ErrMalformedRun,
			errHas:  []string{"2026-11-20.jsonl:1", "not 7-40 hex digits"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, tt.files)
			spec := tt.spec
			spec.URL = "file://" + root + "/metadata/*.jsonl"
			spec.Terminal = caseTerminal
			if spec.CommitField == "" {
				spec.Join = "file://" + root + "/" + defaultString(spec.Join, "{path}/metadata/params.json")
			}
			got, err := LiveCommits(context.Background(), spec, caseNow)
			checkErr(t, err, tt.wantErr, tt.errHas...)
			if got != nil {
				t.Errorf("got runs %v with an error", got)
			}
		})
	}
}

func TestLiveCommitsCommitFieldAndCustomFields(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"runs/2026-11-20.jsonl": strings.Join([]string{
		`{"dir":"r2","state":"RUNNING","sdk":"` + sdkB + `"}`,
		`{"dir":"r1","state":"DONE"}`,
		`{"dir":"r3","state":"QUEUED","sdk":"ABCDEF0"}`,
		`{"dir":"r0","state":"RUNNING","sdk":"` + sdkB + `"}`,
	}, "\n")})
	got, err := LiveCommits(context.Background(), RunsSpec{
		URL: "file://" + root + "/runs/", Terminal: []string{"DONE"}, StatusField: "state", PathField: "dir", CommitField: "sdk",
	}, caseNow)
	if err != nil {
		t.Fatal(err)
	}
	file := "file://" + root + "/runs/2026-11-20.jsonl"
	want := []RunRef{
		{Commit: "abcdef0", Run: "r3", Status: "QUEUED", File: file, Line: 3},
		{Commit: sdkB, Run: "r0", Status: "RUNNING", File: file, Line: 4},
		{Commit: sdkB, Run: "r2", Status: "RUNNING", File: file, Line: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LiveCommits (-want +got):\n%s", diff)
	}
}

func TestLiveCommitsStreamsManyLines(t *testing.T) {
	root := t.TempDir()
	var b strings.Builder
	const lines = 50000
	for i := range lines {
		status := "completed"
		if i%10000 == 0 {
			status = "evaluating"
		}
		fmt.Fprintf(&b, `{"path":"evals/r%d","status":%q,"sdk":"%040x","note":"%s"}`+"\n", i, status, i, strings.Repeat("x", 100))
	}
	// One long (1 MiB) line, longer than bufio.Scanner's default limit.
	fmt.Fprintf(&b, `{"path":"evals/big","status":"init","sdk":"%s","log":"%s"}`+"\n", sdkD, strings.Repeat("y", 1<<20))
	writeFiles(t, root, map[string]string{"metadata/2026-11-21.jsonl": b.String()})
	got, err := LiveCommits(context.Background(), RunsSpec{
		URL: "file://" + root + "/metadata/*.jsonl", Live: caseLive, CommitField: "sdk",
	}, caseNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != lines/10000+1 {
		t.Fatalf("got %d live runs, want %d: %v", len(got), lines/10000+1, got)
	}
	if last := got[len(got)-1]; last.Run != "evals/big" || last.Line != lines+1 {
		t.Errorf("long line read as %+v", last)
	}
}

func TestLiveCommitsCancelled(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, caseRunFiles())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := LiveCommits(ctx, RunsSpec{
		URL: "file://" + root + "/metadata/*.jsonl", Terminal: caseTerminal, Join: "file://" + root + "/{path}/metadata/params.json",
	}, caseNow)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

func TestParseRunsURL(t *testing.T) {
	tests := []struct {
		url  string
		want runsLocation
	}{
		{"gs://runs/metadata/*.jsonl", runsLocation{bucketURL: "gs://runs", base: "gs://runs/", segments: []string{"metadata", "*.jsonl"}}},
		{"s3://b/pre/fix/*.jsonl?region=us-east-1", runsLocation{bucketURL: "s3://b?region=us-east-1", base: "s3://b/", segments: []string{"pre", "fix", "*.jsonl"}}},
		{"gs://runs/metadata/", runsLocation{bucketURL: "gs://runs", base: "gs://runs/", segments: []string{"metadata", "*"}}},
		{"file:///tmp/x/metadata/*.jsonl", runsLocation{bucketURL: "file:///tmp/x/metadata", base: "file:///tmp/x/metadata/", segments: []string{"*.jsonl"}, fileScheme: true}},
		{"file:///tmp/x/*/m/*.jsonl", runsLocation{bucketURL: "file:///tmp/x", base: "file:///tmp/x/", segments: []string{"*", "m", "*.jsonl"}, fileScheme: true}},
		{"file:///tmp/x/2026-11-20.jsonl", runsLocation{bucketURL: "file:///tmp/x", base: "file:///tmp/x/", segments: []string{"2026-11-20.jsonl"}, fileScheme: true}},
	}
	for _, tt := range tests {
		got, err := parseRunsURL(tt.url)
		if err != nil {
			t.Errorf("parseRunsURL(%q): %v", tt.url, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(runsLocation{})); diff != "" {
			t.Errorf("parseRunsURL(%q) (-want +got):\n%s", tt.url, diff)
		}
	}
}

func TestLiveCommitsFileUnreadable(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, caseRunFiles())
	// A listed file that cannot be read (here a link to nothing; elsewhere a permission or an I/O
	// error) fails the read: the runs it may hold are unknown.
	bad := filepath.Join(root, "metadata", "2026-11-21.jsonl")
	if err := os.Symlink(filepath.Join(root, "lost"), bad); err != nil {
		t.Skipf("cannot make a symbolic link: %v", err)
	}
	got, err := LiveCommits(context.Background(), RunsSpec{
		URL: "file://" + root + "/metadata/*.jsonl", Terminal: caseTerminal, Join: "file://" + root + "/{path}/metadata/params.json",
	}, caseNow)
	checkErr(t, err, ErrBucket, "metadata/2026-11-21.jsonl")
	if got != nil {
		t.Errorf("got runs %v with an error", got)
	}
}

// TestReadRunsCounts: ReadRuns says how much metadata it read, so that an empty answer can be told
// from files never read: the files matched and read under since, the runs they hold, the newest
// date in a file name.
func TestReadRunsCounts(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, caseRunFiles())
	join := "file://" + root + "/{path}/metadata/params.json"
	for _, tc := range []struct {
		name                  string
		since                 time.Duration
		now                   time.Time
		matched, files, lines int
		live                  int
	}{
		{"everything", 0, caseNow, 3, 3, 6, 4},
		{"a week", 7 * 24 * time.Hour, caseNow, 3, 2, 4, 3},
		// The writer stopped: 40 days later only the undated file is inside the window.
		{"forty days on", 30 * 24 * time.Hour, caseNow.Add(40 * 24 * time.Hour), 3, 1, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read, err := ReadRuns(context.Background(), RunsSpec{
				URL: "file://" + root + "/metadata/*.jsonl", Terminal: caseTerminal, Join: join, Since: tc.since,
			}, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			got := []int{read.Matched, read.Files, read.Lines, len(read.Runs)}
			if want := []int{tc.matched, tc.files, tc.lines, tc.live}; !cmp.Equal(want, got) {
				t.Errorf("matched, files, lines, live runs = %v, want %v", got, want)
			}
			if want := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC); !read.Newest.Equal(want) {
				t.Errorf("newest date %v, want %v", read.Newest, want)
			}
		})
	}
}

// TestRelativeJoinOnFileIsRefused: a relative join key is read from the root of the metadata
// URL's bucket on gs:// and s3://; a file:// URL names a directory, which has no such root, so
// a relative join there is refused instead of being read from the metadata directory.
func TestRelativeJoinOnFileIsRefused(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, caseRunFiles())
	_, err := LiveCommits(context.Background(), RunsSpec{
		URL: "file://" + root + "/metadata/*.jsonl", Terminal: caseTerminal, Join: "{path}/metadata/params.json",
	}, caseNow)
	if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "file:///srv/runs/{path}/metadata/params.json") {
		t.Errorf("relative join on file://: %v, want ErrInvalidSpec showing the join as a URL", err)
	}
}
