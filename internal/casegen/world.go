package casegen

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"gocloud.dev/blob/fileblob"
)

// World is the case's whole environment in one directory: a registry filled in the case's shape,
// the SDK's git repository whose main branch the images were built from, and a bucket folder of
// run metadata (file://). The demos and the end-to-end tests run regtidy against it. The registry
// is whatever serves Host: MakeWorld fills it but does not run it.
type World struct {
	// Dir holds everything the world made.
	Dir string
	// Host is the registry's host:port.
	Host string
	Case *Case
	// GitDir is the SDK repository; RunsDir is the root of the run-metadata bucket.
	GitDir  string
	RunsDir string
	Runs    []Run
	// Now is the time the world was made for: the newest push, the newest run.
	Now time.Time
}

// WorldSpec says what MakeWorld makes.
type WorldSpec struct {
	// Dir is where the world lives; it must exist and be empty.
	Dir string
	// Scale, Seed and Referrers are as in CaseSpec.
	Scale     float64
	Seed      int64
	Referrers int
	// Now is the world's present; zero means DefaultCaseNow.
	Now time.Time
	// BaseRepository, if set, also gets the eval-base images (see CaseSpec.BaseRepository).
	BaseRepository string
	// Progress reports pushes, as CaseSpec.Progress.
	Progress func(done, total int)
}

// MakeWorld makes the SDK history (max(40, 548*Scale) first-parent commits over the five months
// before Now), fills the registry at host with the case built from those commits, and writes
// the case's run metadata.
func MakeWorld(ctx context.Context, host string, spec WorldSpec) (*World, error) {
	now := spec.Now
	if now.IsZero() {
		now = DefaultCaseNow
	}
	now = now.UTC().Truncate(time.Second)
	w := &World{Dir: spec.Dir, Host: host, Now: now, GitDir: filepath.Join(spec.Dir, "software-agent-sdk"), RunsDir: filepath.Join(spec.Dir, "evaluation-results")}
	n := max(MinCaseCommits, int(float64(FullCommits)*spec.Scale+0.5))
	step := (CasePeriod / time.Duration(n)).Truncate(time.Second)
	commits, err := MakeGitHistory(w.GitDir, n, now.Add(-CasePeriod), step)
	if err != nil {
		return nil, err
	}
	w.Case, err = FillCase(ctx, host, CaseSpec{
		Scale: spec.Scale, Seed: spec.Seed, Referrers: spec.Referrers, Now: now,
		Commits: commits, Progress: spec.Progress, BaseRepository: spec.BaseRepository,
	})
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(w.RunsDir, 0o755); err != nil {
		return nil, err
	}
	bucket, err := fileblob.OpenBucket(w.RunsDir, nil)
	if err != nil {
		return nil, err
	}
	defer bucket.Close()
	w.Runs = CaseRuns(w.Case, now, spec.Seed)
	if err := WriteRuns(ctx, bucket, w.Runs); err != nil {
		return nil, err
	}
	return w, nil
}

// Repository is the case repository's full reference, "127.0.0.1:PORT/openhands/eval-agent-server".
func (w *World) Repository() string { return w.Host + "/" + w.Case.Repository }

// The keep sources examples/openhands.yaml names, which Policy points at the world instead.
const (
	exampleGitRepo  = "repo: https://github.com/OpenHands/software-agent-sdk"
	exampleRunsURL  = "url: gs://openhands-evaluation-results/metadata/*.jsonl"
	exampleRunsJoin = "join: '{path}/metadata/params.json'"
)

// Policy returns the example policy with its keep sources pointed at the world: the git
// repository at GitDir and the run metadata under RunsDir. It fails if the example no longer names
// the sources it expects, so a changed example cannot silently keep nothing.
func (w *World) Policy(example []byte) ([]byte, error) {
	out := example
	for _, r := range []struct{ old, new string }{
		{exampleGitRepo, "repo: " + w.GitDir},
		{exampleRunsURL, "url: file://" + filepath.ToSlash(w.RunsDir) + "/" + RunsPrefix + "*.jsonl"},
		{exampleRunsJoin, "join: 'file://" + filepath.ToSlash(w.RunsDir) + "/{path}/metadata/params.json'"},
	} {
		if !bytes.Contains(out, []byte(r.old)) {
			return nil, fmt.Errorf("casegen: the example policy no longer says %q", r.old)
		}
		out = bytes.ReplaceAll(out, []byte(r.old), []byte(r.new))
	}
	return out, nil
}
