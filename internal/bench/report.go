package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/registry"
	"github.com/regtidy/regtidy/registry/transport"
)

// filledCase is what the bench records next to a filled registry, so later runs reuse it.
type filledCase struct {
	Scale      float64        `json:"scale"`
	Repository string         `json:"repository"`
	Totals     casegen.Totals `json:"totals"`
	FillTime   time.Duration  `json:"fill_ns"`
}

// startFilled starts the registry and fills it at scale. With dir empty the storage is in memory
// and filled every run; with dir set it is on disk and a fill recorded there is reused.
func startFilled(ctx context.Context, dir string, scale float64) (*regtest.Registry, *filledCase, error) {
	storage, marker := "", ""
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, nil, err
		}
		storage, marker = filepath.Join(dir, "storage"), filepath.Join(dir, "case.json")
	}
	reg, err := regtest.Start(ctx, regtest.Options{Dir: storage})
	if err != nil {
		return nil, nil, err
	}
	var fc filledCase
	if marker != "" {
		if b, err := os.ReadFile(marker); err == nil && json.Unmarshal(b, &fc) == nil && fc.Scale == scale {
			return reg, &fc, nil
		}
	}
	where := "memory"
	if dir != "" {
		where = dir
	}
	fmt.Fprintf(os.Stderr, "filling the case at scale %g into %s ...\n", scale, where)
	start := time.Now()
	c, err := casegen.FillCase(ctx, reg.Host, casegen.CaseSpec{Scale: scale, Seed: 1, Concurrency: 32})
	if err != nil {
		reg.Close()
		return nil, nil, err
	}
	fc = filledCase{Scale: scale, Repository: c.Repository, Totals: c.Totals, FillTime: time.Since(start)}
	if marker != "" {
		b, _ := json.Marshal(fc)
		if err := os.WriteFile(marker, b, 0o644); err != nil {
			reg.Close()
			return nil, nil, err
		}
	}
	return reg, &fc, nil
}

// buildRegtidy builds the regtidy binary of this checkout into dir.
func buildRegtidy(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "regtidy")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/regtidy")
	cmd.Stderr = os.Stderr
	return bin, cmd.Run()
}

// run is one measured subprocess run. Peak memory is not taken from rusage: a child started by
// vfork and exec inherits its parent's high-water mark there; regtidy reports its own.
type run struct {
	wall time.Duration
	out  []byte
}

func runMeasured(ctx context.Context, bin string, args ...string) (run, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := run{wall: time.Since(start), out: out.Bytes()}
	if err != nil {
		return r, fmt.Errorf("%s %v: %w\n%s", bin, args, err, errb.String())
	}
	return r, nil
}

// reportOut is the part of `regtidy report -o json` the bench reads.
type reportOut struct {
	Tags  int `json:"tags"`
	Build struct {
		ManifestGets int   `json:"manifest_gets"`
		ConfigGets   int   `json:"config_gets"`
		Heads        int   `json:"heads"`
		CacheHits    int   `json:"cache_hits"`
		Manifests    int   `json:"manifests"`
		ListingNS    int64 `json:"listing_ns"`
		ResolveNS    int64 `json:"resolve_ns"`
		TotalNS      int64 `json:"total_ns"`
	} `json:"build"`
	Requests transport.Stats `json:"requests"`
	PeakRSS  int64           `json:"peak_rss_bytes"`
}

func benchReport(ctx context.Context, args []string) error {
	fs := newFlags("report")
	scale := fs.Float64("scale", 1, "fraction of the case (1 = 133,425 tags)")
	dir := fs.String("dir", "", "registry storage on disk, reused between runs (default: in memory, filled each run)")
	conc := fs.Int("concurrency", 32, "concurrency of regtidy and of the plain HEAD loop")
	fs.Parse(args) //nolint:errcheck // ExitOnError

	reg, fc, err := startFilled(ctx, *dir, *scale)
	if err != nil {
		return err
	}
	defer reg.Close()
	repo := reg.Host + "/" + fc.Repository
	tmp, err := os.MkdirTemp("", "regtidy-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin, err := buildRegtidy(ctx, tmp)
	if err != nil {
		return err
	}

	// 1. crane ls: go-containerregistry's tag listing, pages of 1000 as crane asks by default.
	var craneCount transport.Counter
	start := time.Now()
	craneTags, err := crane.ListTags(repo, crane.Insecure, crane.WithContext(ctx), crane.WithTransport(craneCount.Wrap(http.DefaultTransport)))
	if err != nil {
		return fmt.Errorf("crane ls: %w", err)
	}
	craneTime := time.Since(start)

	// 2. regtidy's listing alone: one unpaged request first.
	cl := registry.New()
	start = time.Now()
	var tags []string
	if err := cl.ListTags(ctx, repo, func(p []string) error { tags = append(tags, p...); return nil }); err != nil {
		return err
	}
	listTime := time.Since(start)
	listReqs := cl.Counter().Snapshot().Total()

	// 3. A plain concurrent HEAD loop over every tag: the floor for "every tag with its digest".
	headTime, headErrs := headLoop(ctx, reg.URL, fc.Repository, tags, *conc)

	// 4. regtidy report, cold cache then warm.
	cacheDir := filepath.Join(tmp, "cache")
	common := []string{"report", repo, "--policy", "examples/openhands.yaml", "-o", "json", "--no-progress",
		"--cache-dir", cacheDir, "--concurrency", fmt.Sprint(*conc)}
	cold, err := runMeasured(ctx, bin, common...)
	if err != nil {
		return err
	}
	warm, err := runMeasured(ctx, bin, common...)
	if err != nil {
		return err
	}
	var co, wo reportOut
	if err := json.Unmarshal(cold.out, &co); err != nil {
		return fmt.Errorf("cold report output: %w", err)
	}
	if err := json.Unmarshal(warm.out, &wo); err != nil {
		return fmt.Errorf("warm report output: %w", err)
	}

	p := func(format string, a ...any) { fmt.Printf(format+"\n", a...) }
	p("### report on the case at scale %g (%d tags, %d manifests)", *scale, fc.Totals.Tags, fc.Totals.Manifests)
	p("")
	storage := "in-memory storage"
	if *dir != "" {
		storage = "filesystem storage"
	}
	p("Machine: %s. Registry: distribution v3 in this process (%s), sharing the cores with the client; regtidy runs as a subprocess.", machine(), storage)
	p("Command: `go run ./internal/bench report %s` (run on %s).", strings.Join(args, " "), time.Now().UTC().Format("2006-01-02"))
	p("")
	p("| what | wall time | requests | peak RSS | notes |")
	p("| --- | ---: | ---: | ---: | --- |")
	p("| `crane ls` (tags only, pages of 1000) | %s | %d | - | %d tags |", sec(craneTime), craneCount.Snapshot().Total(), len(craneTags))
	p("| regtidy tag listing (unpaged first) | %s | %d | - | %.1fx faster than crane ls |", sec(listTime), listReqs, ratio(craneTime, listTime))
	p("| plain HEAD loop, %d workers | %s | %d | - | %.0f tags/s, %d errors |", *conc, sec(headTime), len(tags), float64(len(tags))/headTime.Seconds(), headErrs)
	coldResolve, warmResolve := time.Duration(co.Build.ResolveNS), time.Duration(wo.Build.ResolveNS)
	p("| regtidy report, cold cache | %s | %d | %s | listing + resolution %s (%.2fx the HEAD loop); %d manifest GETs, %d config GETs in all |",
		sec(cold.wall), co.Requests.Total(), mib(co.PeakRSS), sec(coldResolve), ratio(coldResolve, headTime), co.Build.ManifestGets, co.Build.ConfigGets)
	p("| regtidy report, warm cache | %s | %d | %s | listing + resolution %s (%.2fx the HEAD loop); %d HEADs, %d manifest GETs |",
		sec(warm.wall), wo.Requests.Total(), mib(wo.PeakRSS), sec(warmResolve), ratio(warmResolve, headTime), wo.Build.Heads, wo.Build.ManifestGets)
	p("")
	p("Wall times are whole processes (start, cache load, listing, resolution, fetching, report). A cold run resolves each tag with the GET that also fetches its index, then fetches the children and one config per image (distribution allocates a 4 MiB buffer for every blob it serves, which the shared cores pay for); a warm run HEADs each tag and reads everything else from the cache.")
	p("Fill (once): %s.", sec(fc.FillTime))
	return nil
}

func headLoop(ctx context.Context, base, repo string, tags []string, workers int) (time.Duration, int64) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}}
	ch := make(chan string)
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range ch {
				req, _ := http.NewRequestWithContext(ctx, http.MethodHead, base+"/v2/"+repo+"/manifests/"+t, nil)
				for _, a := range registry.AcceptManifest {
					req.Header.Add("Accept", a)
				}
				resp, err := client.Do(req)
				if err != nil || resp.StatusCode != http.StatusOK {
					errs.Add(1)
				}
				if err == nil {
					resp.Body.Close()
				}
			}
		}()
	}
	for _, t := range tags {
		ch <- t
	}
	close(ch)
	wg.Wait()
	return time.Since(start), errs.Load()
}

func sec(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return a.Seconds() / b.Seconds()
}
