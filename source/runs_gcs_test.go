package source

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/google/go-cmp/cmp"
	"gocloud.dev/blob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/gcp"
	"google.golang.org/api/option"
)

// startFakeGCS serves files (bucket "runs", key -> content) from fake-gcs-server on 127.0.0.1 and
// returns it with a URL mux whose gs:// opener talks to it over the loopback network.
func startFakeGCS(t *testing.T, files map[string]string) (*fakestorage.Server, *blob.URLMux) {
	t.Helper()
	objects := make([]fakestorage.Object, 0, len(files))
	for key, content := range files {
		objects = append(objects, fakestorage.Object{
			ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "runs", Name: key},
			Content:     []byte(content),
		})
	}
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme: "http", Host: "127.0.0.1", InitialObjects: objects,
		// Object reads use the XML API on the "public host"; here that is the server itself.
		PublicHost: "127.0.0.1",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	mux := new(blob.URLMux)
	mux.RegisterBucket(gcsblob.Scheme, &gcsblob.URLOpener{
		Client: &gcp.HTTPClient{Client: http.Client{Timeout: 10 * time.Second}},
		Options: gcsblob.Options{ClientOptions: []option.ClientOption{
			option.WithEndpoint(srv.URL() + "/storage/v1/"),
		}},
	})
	return srv, mux
}

func TestLiveCommitsGCS(t *testing.T) {
	_, mux := startFakeGCS(t, caseRunFiles())
	file := func(name string) string { return "gs://runs/metadata/" + name }
	run17 := RunRef{Commit: sdkA, Run: "evals/2026-11-20/run-17", Status: "evaluating", File: file("2026-11-20.jsonl"), Line: 1}
	run19 := RunRef{Commit: sdkB, Run: "evals/2026-11-20/run-19", Status: "init", File: file("2026-11-20.jsonl"), Line: 4}
	run3 := RunRef{Commit: sdkC, Run: "evals/2026-11-01/run-3", Status: "pending", File: file("2026-11-01.jsonl"), Line: 1}
	run1 := RunRef{Commit: sdkD, Run: "evals/misc/run-1", Status: "paused", File: file("runs.jsonl"), Line: 1}
	run0 := RunRef{Commit: sdkA, Run: "evals/old/run-0", Status: "evaluating", File: file("archive/2026-10-01.jsonl"), Line: 1}

	tests := []struct {
		name    string
		spec    RunsSpec
		want    []RunRef
		wantErr error
		errHas  []string
	}{
		{
			name: "the case: terminal statuses, params.json joined",
			spec: RunsSpec{URL: "gs://runs/metadata/*.jsonl", Terminal: caseTerminal},
			want: []RunRef{run17, run19, run3, run1},
		},
		{
			name: "live statuses",
			spec: RunsSpec{URL: "gs://runs/metadata/*.jsonl", Live: caseLive},
			want: []RunRef{run17, run19, run3},
		},
		{
			name: "since",
			spec: RunsSpec{URL: "gs://runs/metadata/*.jsonl", Terminal: caseTerminal, Since: 48 * time.Hour},
			want: []RunRef{run17, run19, run1},
		},
		{
			name: "globs in two segments",
			spec: RunsSpec{URL: "gs://runs/meta*/*/2026-*.jsonl", Live: caseLive},
			want: []RunRef{run0},
		},
		{
			name:    "unknown status with both lists",
			spec:    RunsSpec{URL: "gs://runs/metadata/*.jsonl", Live: caseLive, Terminal: caseTerminal},
			wantErr: ErrUnknownStatus,
			errHas:  []string{"gs://runs/metadata/runs.jsonl:1"},
		},
		{
			name:    "nothing matches",
			spec:    RunsSpec{URL: "gs://runs/metadata/*.csv", Live: caseLive},
			wantErr: ErrNoRunFiles,
		},
		{
			name:    "bucket does not exist",
			spec:    RunsSpec{URL: "gs://no-such-bucket/metadata/*.jsonl", Live: caseLive},
			wantErr: ErrBucket,
			errHas:  []string{"gs://no-such-bucket/metadata/"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Mux = mux
			tt.spec.Join = "{path}/metadata/params.json"
			got, err := LiveCommits(context.Background(), tt.spec, caseNow)
			checkErr(t, err, tt.wantErr, tt.errHas...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LiveCommits (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLiveCommitsGCSFailsClosed(t *testing.T) {
	files := map[string]string{
		"metadata/2026-11-20.jsonl": `{"path":"evals/r1","status":"completed"}
{"path":"evals/r2","status":"evaluating"`,
		"metadata/2026-11-21.jsonl":     `{"path":"evals/r3","status":"pending"}` + "\n",
		"evals/r2/metadata/params.json": `{"sdk_commit":"` + sdkA + `"}`,
	}
	_, mux := startFakeGCS(t, files)
	spec := RunsSpec{Terminal: caseTerminal, Join: "{path}/metadata/params.json", Mux: mux}

	spec.URL = "gs://runs/metadata/2026-11-20.jsonl"
	_, err := LiveCommits(context.Background(), spec, caseNow)
	checkErr(t, err, ErrMalformedRun, "gs://runs/metadata/2026-11-20.jsonl:2")

	spec.URL = "gs://runs/metadata/2026-11-21.jsonl"
	_, err = LiveCommits(context.Background(), spec, caseNow)
	checkErr(t, err, ErrRunDocMissing, "gs://runs/metadata/2026-11-21.jsonl:1", `"evals/r3"`, "gs://runs/evals/r3/metadata/params.json")
}

func TestLiveCommitsGCSStoppedServer(t *testing.T) {
	srv, mux := startFakeGCS(t, caseRunFiles())
	srv.Stop()
	// The storage client retries refused connections; the deadline is what ends a read of a
	// bucket that is down, and it must end in an error, never in an empty answer.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	got, err := LiveCommits(ctx, RunsSpec{
		URL: "gs://runs/metadata/*.jsonl", Terminal: caseTerminal, Join: "{path}/metadata/params.json", Mux: mux,
	}, caseNow)
	if err == nil || got != nil {
		t.Fatalf("LiveCommits on a stopped bucket = %v, %v; want an error", got, err)
	}
	t.Logf("error: %v", err)
	if !errors.Is(err, ErrBucket) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want a bucket error that ran out of time", err)
	}
	if !strings.Contains(err.Error(), "gs://runs/") {
		t.Errorf("error %q does not name the bucket", err)
	}
}
