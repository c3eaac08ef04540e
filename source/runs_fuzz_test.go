package source

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzLiveCommits writes a fuzzed metadata file into a file:// bucket and reads it with
// LiveCommits, commit on the line, with the case's live and terminal statuses. The result is
// checked against a model of the format read line by line: a blank line is skipped; every other
// line is a JSON object with a non-blank string status; a live run also has a non-blank string
// path and a commit of 7-40 hex digits. LiveCommits must return exactly the model's live runs
// (commit lowercased, file and line named, sorted), or fail at the model's first bad line with an
// error naming file:line and wrapping ErrMalformedRun or ErrUnknownStatus. It never panics.
func FuzzLiveCommits(f *testing.F) {
	for _, s := range []string{
		`{"path":"evals/2026-11-20/run-17","status":"evaluating","sdk_commit":"` + sdkA + `"}` + "\n" +
			`{"path":"evals/2026-11-20/run-18","status":"completed"}` + "\n\n" +
			`{"path":"evals/2026-11-20/run-19","status":"init","sdk_commit":"` + strings.ToUpper(sdkB) + `"}`,
		`{"path":"r","status":"pending","sdk_commit":"abcdef0"}` + "\r\n" + `{"path":"r","status":"cancel"}` + "\r\n",
		`{"path":"r","status":"paused","sdk_commit":"abcdef0"}`,
		`{"path":"r","status":"init","sdk_commit":"abcdef"}`,
		`{"path":"r","status":"init","sdk_commit":"` + sdkA + `0"}`,
		`{"path":"","status":"init","sdk_commit":"abcdef0"}`,
		`{"path":"r","status":7}`,
		`{"path":"r","status":"init","sdk_commit":"abcdef0","status":"completed"}`,
		`null`, `[]`, `"init"`, `{"path": "evals/x", "status": "evaluating"`,
		`{"path":"r","status":" init ","sdk_commit":"abcdef0"}`,
		"{\"path\":\"\xff\",\"status\":\"init\",\"sdk_commit\":\"abcdef0\"}",
		`{"path":"r","status":"init","sdk_commit":"abcdef\u0030"}`,
		" \t\n\v\f\n",
	} {
		f.Add([]byte(s))
	}
	// One parent for every input: t.TempDir's names hold the seed's "#n", a URL fragment.
	parent := f.TempDir()
	f.Fuzz(func(t *testing.T, content []byte) {
		root, err := os.MkdirTemp(parent, "bucket")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(root)
		if err := os.MkdirAll(filepath.Join(root, "metadata"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "metadata", "2026-11-20.jsonl"), content, 0o644); err != nil {
			t.Fatal(err)
		}
		file := "file://" + root + "/metadata/2026-11-20.jsonl"
		spec := RunsSpec{URL: "file://" + root + "/metadata/*.jsonl", Live: caseLive, Terminal: caseTerminal, CommitField: "sdk_commit"}
		got, err := LiveCommits(context.Background(), spec, caseNow)
		want, badLine := modelRuns(content, file)
		if badLine > 0 {
			if err == nil {
				t.Fatalf("line %d is malformed, but LiveCommits read %d runs", badLine, len(got))
			}
			if !errors.Is(err, ErrMalformedRun) && !errors.Is(err, ErrUnknownStatus) {
				t.Fatalf("error does not wrap ErrMalformedRun or ErrUnknownStatus: %v", err)
			}
			if prefix := fmt.Sprintf("%s:%d: ", file, badLine); !strings.HasPrefix(err.Error(), prefix) {
				t.Fatalf("error %q does not start with %q", err, prefix)
			}
			return
		}
		if err != nil {
			t.Fatalf("every line is well formed, but LiveCommits failed: %v", err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d live runs, want %d: %+v", len(got), len(want), got)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("run %d: %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}

// modelRuns reads a metadata file as the format says, returning its live runs sorted as
// LiveCommits sorts them, or the first malformed line (from 1; 0 when none).
func modelRuns(content []byte, file string) ([]RunRef, int) {
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(nil, maxLineBytes)
	var runs []RunRef
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(sc.Bytes(), &obj) != nil || obj == nil {
			return nil, n
		}
		str := func(k string) (string, bool) {
			var s string
			if json.Unmarshal(obj[k], &s) != nil || strings.TrimSpace(s) == "" {
				return "", false
			}
			return s, true
		}
		status, ok := str("status")
		switch {
		case !ok:
			return nil, n
		case slices.Contains(caseTerminal, status):
			continue
		case !slices.Contains(caseLive, status):
			return nil, n
		}
		path, okPath := str("path")
		commit, okCommit := str("sdk_commit")
		if !okPath || !okCommit || len(commit) < 7 || len(commit) > 40 || strings.Trim(strings.ToLower(commit), "0123456789abcdef") != "" {
			return nil, n
		}
		runs = append(runs, RunRef{Commit: strings.ToLower(commit), Run: path, Status: status, File: file, Line: n})
	}
	slices.SortFunc(runs, func(a, b RunRef) int {
		return cmpOrder(strings.Compare(a.Commit, b.Commit), strings.Compare(a.Run, b.Run), a.Line-b.Line)
	})
	return runs, 0
}

// cmpOrder returns the first non-zero comparison.
func cmpOrder(cs ...int) int {
	for _, c := range cs {
		if c != 0 {
			return c
		}
	}
	return 0
}
