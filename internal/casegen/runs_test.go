package casegen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
)

// planOnly plans a case without pushing it, for tests that need only its commits.
func planOnly(t *testing.T, scale float64, seed int64) *Case {
	t.Helper()
	p, err := planCase(CaseSpec{Scale: scale, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	p.finish()
	return p.c
}

func TestCaseRunsMix(t *testing.T) {
	c := planOnly(t, 0.01, 4)
	runs := CaseRuns(c, c.Now, 9)
	if diff := cmp.Diff(runs, CaseRuns(c, c.Now, 9)); diff != "" {
		t.Errorf("same seed, different runs (-first +second):\n%s", diff)
	}
	index := map[string]int{}
	for i, cm := range c.Commits {
		index[cm.SHA] = i
	}
	recent := len(c.Commits) - 30
	statuses := map[string]int{}
	days := map[string]bool{}
	var liveOld, liveRecent, liveUnknown, terminalOld int
	sha := regexp.MustCompile(`^[0-9a-f]{40}$`)
	for _, r := range runs {
		statuses[r.Status]++
		days[RunsFile(r.CreatedAt)] = true
		if !sha.MatchString(r.SDKCommit) || r.CreatedAt.After(c.Now) || r.UpdatedAt.Before(r.CreatedAt) {
			t.Errorf("run %s: sdk %q, created %s, updated %s", r.Path, r.SDKCommit, r.CreatedAt, r.UpdatedAt)
		}
		i, known := index[r.SDKCommit]
		switch {
		case r.Live() && !known:
			liveUnknown++
		case r.Live() && i < recent:
			liveOld++
		case r.Live():
			liveRecent++
		case i < recent:
			terminalOld++
		}
	}
	for _, s := range append(append([]string(nil), LiveRunStatuses...), TerminalRunStatuses...) {
		if statuses[s] == 0 {
			t.Errorf("no %s runs: %v", s, statuses)
		}
	}
	if len(days) != RunDays {
		t.Errorf("runs over %d days, want %d", len(days), RunDays)
	}
	if liveOld < RunsLiveOld || liveRecent < RunsLiveRecent || liveUnknown != 1 || terminalOld == 0 {
		t.Errorf("live runs: %d on old commits, %d on the newest 30, %d on unknown ones; %d terminal on old commits",
			liveOld, liveRecent, liveUnknown, terminalOld)
	}
}

// TestWriteRunsReadable writes the runs to a file:// bucket and reads them back as a keep source
// would: the daily JSONL files, then each run's params.json.
func TestWriteRunsReadable(t *testing.T) {
	ctx := context.Background()
	bucket, err := fileblob.OpenBucket(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bucket.Close()
	c := planOnly(t, 0.005, 2)
	runs := CaseRuns(c, c.Now, 1)
	if err := WriteRuns(ctx, bucket, runs); err != nil {
		t.Fatal(err)
	}

	var got []Run
	files := 0
	iter := bucket.List(&blob.ListOptions{Prefix: RunsPrefix, Delimiter: "/"})
	for {
		obj, err := iter.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^metadata/\d{4}-\d{2}-\d{2}\.jsonl$`).MatchString(obj.Key) {
			t.Errorf("unexpected key %s", obj.Key)
		}
		files++
		data, err := bucket.ReadAll(ctx, obj.Key)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			var line map[string]any
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("%s: %v", obj.Key, err)
			}
			for _, field := range []string{"path", "status", "created_at", "benchmark", "model"} {
				if _, ok := line[field]; !ok {
					t.Errorf("%s: line without %s: %s", obj.Key, field, sc.Bytes())
				}
			}
			if _, ok := line["sdk_commit"]; ok {
				t.Errorf("%s: the sdk commit belongs in params.json only", obj.Key)
			}
			var r Run
			json.Unmarshal(sc.Bytes(), &r)
			if RunsFile(r.CreatedAt) != obj.Key {
				t.Errorf("run created %s listed in %s", r.CreatedAt, obj.Key)
			}
			params, err := bucket.ReadAll(ctx, r.Path+"/metadata/params.json")
			if err != nil {
				t.Fatal(err)
			}
			var p struct {
				SDKCommit     string `json:"sdk_commit"`
				MaxIterations int    `json:"max_iterations"`
				NumWorkers    int    `json:"num_workers"`
			}
			if err := json.Unmarshal(params, &p); err != nil {
				t.Fatal(err)
			}
			r.SDKCommit, r.MaxIterations, r.NumWorkers = p.SDKCommit, p.MaxIterations, p.NumWorkers
			got = append(got, r)
		}
	}
	if files != RunDays {
		t.Errorf("%d daily files, want %d", files, RunDays)
	}
	byPath := func(rs []Run) func(i, j int) bool {
		return func(i, j int) bool { return rs[i].Path < rs[j].Path }
	}
	want := append([]Run(nil), runs...)
	sort.Slice(want, byPath(want))
	sort.Slice(got, byPath(got))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("runs read back (-written +read):\n%s", diff)
	}
}

func TestWriteRunsInvalid(t *testing.T) {
	bucket, err := fileblob.OpenBucket(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bucket.Close()
	for _, p := range []string{"", "/abs/run"} {
		err := WriteRuns(context.Background(), bucket, []Run{{Path: p, Status: RunInit, CreatedAt: DefaultCaseNow}})
		if !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("path %q: err = %v, want ErrInvalidSpec", p, err)
		}
	}
	if !strings.HasSuffix(RunParamsFile("eval-runs/x"), "eval-runs/x/metadata/params.json") {
		t.Errorf("RunParamsFile = %s", RunParamsFile("eval-runs/x"))
	}
}

// TestCaseRunsFollowDays checks that terminal runs evaluate the SDK of their time: a run never
// names a commit made after it.
func TestCaseRunsFollowDays(t *testing.T) {
	c := planOnly(t, 0.02, 8)
	at := map[string]time.Time{}
	for _, cm := range c.Commits {
		at[cm.SHA] = cm.Time
	}
	for _, r := range CaseRuns(c, c.Now, 3) {
		if ct, ok := at[r.SDKCommit]; ok && ct.After(r.CreatedAt) && !r.Live() {
			t.Errorf("run %s created %s evaluates %s, committed later (%s)", r.Path, r.CreatedAt, r.SDKCommit, ct)
		}
	}
}
