package source

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	"golang.org/x/sync/errgroup"
)

const (
	// maxLineBytes bounds one metadata line; a longer line is malformed.
	maxLineBytes = 64 << 20
	// fileConcurrency bounds how many metadata files are read at once.
	fileConcurrency = 4
	// docConcurrency bounds how many joined documents are fetched at once.
	docConcurrency = 16
)

// RunsSpec says where run metadata lives and how to read a run's status and commit from it.
type RunsSpec struct {
	// URL names the metadata files: a bucket URL whose path may hold a glob, e.g.
	// "gs://bucket/metadata/*.jsonl", "s3://bucket/metadata/*.jsonl?region=us-east-1",
	// "file:///srv/runs/metadata/*.jsonl". A path ending in "/" means every object directly
	// under it. For file:// the bucket is the directory before the first glob segment.
	URL string
	// Live lists the statuses of runs still in flight ("init", "inferring", ...). With only Live
	// set, every other status is finished.
	Live []string
	// Terminal lists the statuses of finished runs ("completed", "error", ...). With only
	// Terminal set, every other status is live: the safe default, since an unforeseen status
	// keeps its commit. With both set, a status in neither list is ErrUnknownStatus.
	Terminal []string
	// StatusField is the line's status field. The default value is "status".
	StatusField string
	// PathField is the line's run path field, reported as RunRef.Run. The default value is "path".
	PathField string
	// CommitField is the line's commit field, when the commit is on the line itself. Exactly one
	// of CommitField and Join is set.
	CommitField string
	// Join is the key of a document holding the run's commit, a template of the line's fields in
	// braces, e.g. "{path}/metadata/params.json". A relative key is read from the root of URL's
	// bucket, whatever directory the metadata files are in (gs://bucket/{path}/metadata/params.json
	// for the URL gs://bucket/metadata/*.jsonl); a key with a scheme
	// ("gs://other/{path}/params.json", "file:///srv/runs/{path}/params.json") names its own
	// bucket. A file:// URL names a directory, not a bucket, so with one Join must have a scheme
	// (ErrInvalidSpec otherwise).
	Join string
	// JoinField is the joined document's commit field. The default value is "sdk_commit".
	JoinField string
	// Since, when positive, reads only files whose name holds a YYYY-MM-DD date whose day ends
	// after now-Since (dates are UTC). Files without a date in their name are always read.
	Since time.Duration
	// Mux opens bucket URLs. Nil means blob.DefaultURLMux(), with the drivers this package
	// registers.
	Mux *blob.URLMux
	// Logger receives debug records (files read, runs found). Nil discards them.
	Logger *slog.Logger
}

// RunRef is a live run and the commit it uses.
type RunRef struct {
	// Commit is the run's commit, 7-40 lowercase hex digits.
	Commit string `json:"commit"`
	// Run is the run's path field.
	Run string `json:"run"`
	// Status is the run's live status.
	Status string `json:"status"`
	// File is the metadata file the run was read from, as a URL.
	File string `json:"file"`
	// Line is the run's line number in File, from 1.
	Line int `json:"line"`
}

// LiveCommits reads the run metadata spec names and returns every live run with its commit, sorted
// by commit, run, file and line. See the package documentation for what it reads and how it fails.
func LiveCommits(ctx context.Context, spec RunsSpec, now time.Time) ([]RunRef, error) {
	read, err := ReadRuns(ctx, spec, now)
	if err != nil {
		return nil, err
	}
	return read.Runs, nil
}

// RunsRead is what one read of run metadata found: the live runs, and how much metadata they
// came from, so that a plan can say what it read ("30 files, 138 runs, 18 live commits") and a
// caller can tell an empty answer from files that were never read.
type RunsRead struct {
	// Runs are the live runs with their commits, sorted by commit, run, file and line.
	Runs []RunRef
	// Matched is how many files the URL matched; Files is how many of them were read (Since
	// leaves out those dated before its window).
	Matched int
	Files   int
	// Lines is how many runs (non-blank lines) the files read held, live or not.
	Lines int
	// Newest is the newest date a matched file's name holds (zero when none holds one): when
	// Since left every file out, it says how old the metadata is.
	Newest time.Time
}

// ReadRuns is LiveCommits with the counts of what it read. It fails as LiveCommits does; an
// answer with no live runs, or with no file inside Since, is not an error here: whether that is
// expected is the caller's to judge (policy.Resolve fails it unless the policy allows it).
func ReadRuns(ctx context.Context, spec RunsSpec, now time.Time) (*RunsRead, error) {
	r, err := newRunsReader(spec)
	if err != nil {
		return nil, err
	}
	defer r.close()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	matched, err := r.matchFiles(ctx)
	if err != nil {
		return nil, err
	}
	keys := r.recent(matched, now)
	read := &RunsRead{Matched: len(matched), Files: len(keys), Newest: newestDate(matched)}
	r.log.DebugContext(ctx, "run metadata: files", "url", r.loc.display(""), "matched", len(matched), "read", len(keys))

	perFile := make([][]liveRun, len(keys))
	lines := make([]int, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fileConcurrency)
	for i, key := range keys {
		g.Go(func() error {
			runs, n, err := r.readFile(gctx, key)
			perFile[i], lines[i] = runs, n
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var runs []liveRun
	for i, fr := range perFile {
		runs = append(runs, fr...)
		read.Lines += lines[i]
	}
	if r.join != nil {
		if err := r.joinCommits(ctx, runs); err != nil {
			return nil, err
		}
	}
	out := make([]RunRef, len(runs))
	for i, lr := range runs {
		out[i] = lr.RunRef
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Commit != b.Commit {
			return a.Commit < b.Commit
		}
		if a.Run != b.Run {
			return a.Run < b.Run
		}
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	read.Runs = out
	r.log.DebugContext(ctx, "run metadata: live runs", "url", r.loc.display(""), "runs", read.Lines, "live", len(out))
	return read, nil
}

// liveRun is a live run being read: its RunRef, and the key of its joined document in Join mode.
type liveRun struct {
	RunRef
	docURL string
}

// runsReader is one LiveCommits call: the validated spec and the open buckets.
type runsReader struct {
	spec       RunsSpec
	log        *slog.Logger
	mux        *blob.URLMux
	loc        runsLocation
	bucket     *blob.Bucket
	join       *template
	live       map[string]bool
	terminal   map[string]bool
	statusKey  string
	pathKey    string
	joinKey    string
	bucketsMu  sync.Mutex
	docBuckets map[string]*blob.Bucket // bucket URL -> bucket, for joined keys with a scheme
}

func newRunsReader(spec RunsSpec) (*runsReader, error) {
	r := &runsReader{
		spec:       spec,
		log:        spec.Logger,
		mux:        spec.Mux,
		statusKey:  defaultString(spec.StatusField, "status"),
		pathKey:    defaultString(spec.PathField, "path"),
		joinKey:    defaultString(spec.JoinField, "sdk_commit"),
		live:       setOf(spec.Live),
		terminal:   setOf(spec.Terminal),
		docBuckets: map[string]*blob.Bucket{},
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.mux == nil {
		r.mux = blob.DefaultURLMux()
	}
	if len(r.live) == 0 && len(r.terminal) == 0 {
		return nil, fmt.Errorf("%w: run metadata %s: list the live statuses or the terminal ones", ErrInvalidSpec, spec.URL)
	}
	for s := range r.live {
		if r.terminal[s] {
			return nil, fmt.Errorf("%w: run metadata %s: status %q is both live and terminal", ErrInvalidSpec, spec.URL, s)
		}
	}
	switch {
	case spec.CommitField == "" && spec.Join == "":
		return nil, fmt.Errorf("%w: run metadata %s: name the commit field of a line or a document to join", ErrInvalidSpec, spec.URL)
	case spec.CommitField != "" && spec.Join != "":
		return nil, fmt.Errorf("%w: run metadata %s: a commit field and a join are both set; choose one", ErrInvalidSpec, spec.URL)
	case spec.Join != "":
		t, err := parseTemplate(spec.Join)
		if err != nil {
			return nil, fmt.Errorf("%w: run metadata %s: %w", ErrInvalidSpec, spec.URL, err)
		}
		r.join = t
	}
	loc, err := parseRunsURL(spec.URL)
	if err != nil {
		return nil, err
	}
	if r.join != nil && loc.fileScheme && !strings.Contains(spec.Join, "://") {
		return nil, fmt.Errorf("%w: run metadata %s: join %q is relative, and a file:// URL has no bucket root to read it from: "+
			"write join as a URL, e.g. file:///srv/runs/%s", ErrInvalidSpec, spec.URL, spec.Join, strings.TrimPrefix(spec.Join, "/"))
	}
	r.loc = loc
	return r, nil
}

// close closes every bucket the reader opened.
func (r *runsReader) close() {
	if r.bucket != nil {
		_ = r.bucket.Close()
	}
	for _, b := range r.docBuckets {
		_ = b.Close()
	}
}

// liveStatus reports whether a status is live, by the rules of RunsSpec.Live and Terminal.
func (r *runsReader) liveStatus(status string) (bool, error) {
	switch {
	case r.live[status]:
		return true, nil
	case r.terminal[status]:
		return false, nil
	case len(r.live) > 0 && len(r.terminal) > 0:
		return false, fmt.Errorf("%w: %q is neither live (%s) nor terminal (%s)", ErrUnknownStatus, status,
			strings.Join(r.spec.Live, ", "), strings.Join(r.spec.Terminal, ", "))
	default:
		// Only one list is given: a status outside it is the other kind.
		return len(r.terminal) > 0, nil
	}
}

// readFile streams one metadata file and returns its live runs and how many runs (non-blank
// lines) it holds.
func (r *runsReader) readFile(ctx context.Context, key string) ([]liveRun, int, error) {
	file := r.loc.display(key)
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	rd, err := r.bucket.NewReader(ctx, key, nil)
	if err != nil {
		return nil, 0, bucketErr(ctx, "open "+file, err)
	}
	defer rd.Close()
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	var runs []liveRun
	line, count := 0, 0
	for sc.Scan() {
		line++
		if line%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, 0, err
			}
		}
		text := sc.Bytes()
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		count++
		run, live, err := r.parseLine(text)
		if err != nil {
			return nil, 0, fmt.Errorf("%s:%d: %w", file, line, err)
		}
		if !live {
			continue
		}
		run.File, run.Line = file, line
		runs = append(runs, run)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, 0, fmt.Errorf("%s:%d: %w: line longer than %d MiB", file, line+1, ErrMalformedRun, maxLineBytes>>20)
		}
		return nil, 0, bucketErr(ctx, fmt.Sprintf("read %s after line %d", file, line), err)
	}
	r.log.DebugContext(ctx, "run metadata: file read", "file", file, "lines", line, "runs", count, "live", len(runs))
	return runs, count, nil
}

// parseLine reads one metadata line. A terminal run returns live false and no error.
func (r *runsReader) parseLine(text []byte) (liveRun, bool, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(text, &fields); err != nil {
		return liveRun{}, false, fmt.Errorf("%w: not a JSON object: %v", ErrMalformedRun, err)
	}
	if fields == nil {
		return liveRun{}, false, fmt.Errorf("%w: not a JSON object: null", ErrMalformedRun)
	}
	status, err := stringField(fields, r.statusKey)
	if err != nil {
		return liveRun{}, false, err
	}
	live, err := r.liveStatus(status)
	if err != nil || !live {
		return liveRun{}, false, err
	}
	run, err := stringField(fields, r.pathKey)
	if err != nil {
		return liveRun{}, false, err
	}
	lr := liveRun{RunRef: RunRef{Run: run, Status: status}}
	if r.join != nil {
		key, err := r.join.expand(fields)
		if err != nil {
			return liveRun{}, false, err
		}
		lr.docURL = key
		return lr, true, nil
	}
	commit, err := stringField(fields, r.spec.CommitField)
	if err != nil {
		return liveRun{}, false, err
	}
	if lr.Commit, err = validCommit(commit); err != nil {
		return liveRun{}, false, fmt.Errorf("%w: field %q: %w", ErrMalformedRun, r.spec.CommitField, err)
	}
	return lr, true, nil
}

// stringField returns a field that must be a non-empty JSON string.
func stringField(fields map[string]json.RawMessage, name string) (string, error) {
	raw, ok := fields[name]
	if !ok {
		return "", fmt.Errorf("%w: no field %q", ErrMalformedRun, name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%w: field %q is not a string: %s", ErrMalformedRun, name, abbreviate(string(raw)))
	}
	if strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("%w: field %q is empty", ErrMalformedRun, name)
	}
	return s, nil
}

// validCommit checks a commit is 7-40 hex digits and returns it in lowercase.
func validCommit(c string) (string, error) {
	if len(c) < 7 || len(c) > 40 {
		return "", fmt.Errorf("commit %q is not 7-40 hex digits", abbreviate(c))
	}
	for _, ch := range c {
		if !strings.ContainsRune("0123456789abcdefABCDEF", ch) {
			return "", fmt.Errorf("commit %q is not 7-40 hex digits", abbreviate(c))
		}
	}
	return strings.ToLower(c), nil
}

// abbreviate shortens a value quoted in an error message.
func abbreviate(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

func defaultString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func setOf(list []string) map[string]bool {
	set := make(map[string]bool, len(list))
	for _, s := range list {
		set[s] = true
	}
	return set
}
