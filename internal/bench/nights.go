package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/regtidy/regtidy"
	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry/ghcr"
)

// benchNights clears the case's backlog on an emulated GitHub Container Registry one nightly job
// at a time (a job limit of --job hours), for a personal token and for a workflow's GITHUB_TOKEN,
// and does the same job the way the cleanup Actions in use today do it: list every version again
// each night, read every tagged manifest, delete one version a second. Both run on a fake clock
// shared with the emulator; every REST request also advances it by --latency.
//
// The bound is what GitHub allows a night: DELETEs at one a second, and never more requests than
// the token's hourly budget, for the hours of the job. A tool at the bound spends every request of
// that on DELETEs, except the listing it cannot avoid.
func benchNights(ctx context.Context, args []string) error {
	fs := newFlags("ghcr-nights")
	versions := fs.Int("versions", 135000, "package versions (1 tagged index + 2 untagged children per image): the case's 1,350 version pages")
	commits := fs.Int("commits", 548, "SDK commits the images spread over")
	keep := fs.Int("keep", 30, "newest commits whose images the policy keeps")
	job := fs.Duration("job", 6*time.Hour, "the nightly job's time limit (--deadline)")
	latency := fs.Duration("latency", 300*time.Millisecond, "fake time each REST request takes")
	fs.Parse(args) //nolint:errcheck // ExitOnError
	if *versions < 3**commits || *keep >= *commits {
		return fmt.Errorf("ghcr-nights bench: want --versions >= 3 x --commits and --keep < --commits")
	}
	sh := newShape(*versions, *commits)
	p := func(format string, a ...any) { fmt.Printf(format+"\n", a...) }
	start := time.Now()
	p("### GitHub Container Registry: nightly jobs until the backlog is gone")
	p("")
	p("Machine: %s. Emulator: internal/ghcremu in this process with GitHub's documented limits, %s versions (%s images of 3 versions over %d commits; REST-only, no registry content); "+
		"the policy keeps the images of the newest %d commits. Each night is a job of at most %s (`--deadline`), on a fake clock; each REST request takes %s of it.",
		machine(), count(sh.versions()), count(len(sh.images)), *commits, *keep, *job, *latency)
	p("Command: `%s` (run on %s).", strings.TrimSpace("go run ./internal/bench ghcr-nights "+strings.Join(args, " ")), time.Now().UTC().Format("2006-01-02"))
	p("")
	for _, tok := range []struct {
		name   string
		hourly int
	}{{"personal token", ghcr.HourlyPersonalToken}, {"GITHUB_TOKEN", ghcr.HourlyActionsToken}} {
		bound := nightBound(*job, tok.hourly)
		for _, tool := range []string{"regtidy", "relist every night"} {
			nights, err := runNights(ctx, sh, *commits-*keep, tok.hourly, *job, *latency, tool == "regtidy")
			if err != nil {
				return fmt.Errorf("%s, %s: %w", tool, tok.name, err)
			}
			p("#### %s, %s (%s requests an hour; bound: %s requests a night, %s of them DELETEs at one a second)", tool, tok.name, count(tok.hourly), count(bound.requests), count(bound.deletes))
			p("")
			p("| night | deletes | of the bound | REST requests | DELETE share | listing pages | OCI requests | left |")
			p("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
			total := 0
			for i, n := range nights {
				if i == len(nights)-1 && n.deletes == 0 {
					p("| %d (quiet) | 0 | | %s | | %s | %s | 0 |", i+1, count(n.rest), count(n.pages), count(n.oci))
					continue
				}
				total += n.deletes
				p("| %d | %s | %.1f%% | %s | %.1f%% | %s | %s | %s |", i+1, count(n.deletes), 100*float64(n.deletes)/float64(bound.deletes),
					count(n.rest), 100*float64(n.deletes)/float64(max(n.rest, 1)), count(n.pages), count(n.oci), count(n.left))
			}
			p("")
			p("%d nights to clear %s deletes (then a quiet night); the bound clears them in %d nights.", len(nights)-1, count(total), ceilDiv(total, bound.deletes))
			p("")
		}
	}
	p("Wall time: %s.", sec(time.Since(start)))
	return nil
}

// bound is what GitHub allows one night.
type bound struct{ requests, deletes int }

// nightBound: requests are the token's hourly budget for each hour of the job; deletes one a
// second, and no more than the requests.
func nightBound(job time.Duration, hourly int) bound {
	hours := int(job / time.Hour)
	requests := hourly * hours
	return bound{requests: requests, deletes: min(requests, int(job/time.Second))}
}

func ceilDiv(a, b int) int { return (a + b - 1) / max(b, 1) }

// night is one nightly job's figures.
type night struct {
	deletes, rest, pages, oci, left int
}

// runNights runs nightly jobs until the plan's deletes are all done, and one quiet night more
// (at most 60 nights). With
// keepState the state is kept between nights (regtidy); without, every night lists every version
// again and reads every tagged manifest (the peer's approach, counted, not sent: registered
// versions have no registry content).
func runNights(ctx context.Context, sh *shape, cut, hourly int, job, latency time.Duration, keepState bool) ([]night, error) {
	epoch := time.Date(2025, 9, 1, 2, 0, 0, 0, time.UTC)
	clock := ghcremu.NewFakeClock(epoch)
	e, err := ghcremu.Start(ctx, ghcremu.Options{Clock: clock.Now, RegistryDelete: ghcremu.DeleteTags, RateLimit: hourly})
	if err != nil {
		return nil, err
	}
	defer e.Close()
	if err := sh.register(e, sh.images); err != nil {
		return nil, err
	}
	oci := &countingTags{versionTags: versionTags{e: e}}
	var st *ghcr.State
	var out []night
	for n := 0; n < 60; n++ {
		began := clock.Now()
		if !keepState || st == nil {
			st = ghcr.NewState("")
		}
		c, err := ghcr.New(regtidy.GHCRHost+"/"+ghcrRepo, ghcr.WithBaseURL(e.URL), ghcr.WithToken("night-token"),
			ghcr.WithClock(clock.Now, clock.Sleep), ghcr.WithConcurrency(1), ghcr.WithDeadline(began.Add(job)),
			ghcr.WithTransport(latencyTransport{clock: clock, latency: latency, next: http.DefaultTransport}))
		if err != nil {
			return nil, err
		}
		ociBefore := oci.requests.Load()
		sync, err := c.Sync(ctx, st)
		if err != nil {
			return nil, fmt.Errorf("night %d: listing: %w", n+1, err)
		}
		tagged := 0
		p := nightPlan(sh, st, cut, &tagged)
		nt := night{pages: sync.Pages}
		if !keepState {
			nt.oci = tagged // the peer reads every tagged manifest to find its children
		}
		res, err := ghcr.Apply(ctx, p, oci, c, st, ghcr.ApplyOptions{RecheckEvery: time.Hour, Journal: io.Discard})
		if err != nil && !ghcr.IsBudgetSpent(err) {
			return nil, fmt.Errorf("night %d: apply: %w", n+1, err)
		}
		nt.deletes, nt.rest, nt.left = len(res.Deleted), c.Stats().Requests, res.Remaining
		nt.oci += int(oci.requests.Load() - ociBefore)
		out = append(out, nt)
		if nt.deletes == 0 && res.Remaining == 0 {
			return out, nil // the quiet night after the backlog
		}
		clock.Advance(began.Add(24 * time.Hour).Sub(clock.Now()))
	}
	return out, fmt.Errorf("not done after 60 nights")
}

// nightPlan is the plan a commits policy makes of what st lists: the images of commits from cut
// on are kept, the others deleted with their children. tagged counts the tagged versions listed.
func nightPlan(sh *shape, st *ghcr.State, cut int, tagged *int) *plan.Plan {
	p := &plan.Plan{Schema: plan.Schema, Repository: regtidy.GHCRHost + "/" + ghcrRepo}
	for _, im := range sh.images {
		action := plan.Delete
		if im.commit >= cut {
			action = plan.Keep
		}
		if id, ok := st.ID(im.index); ok {
			*tagged++
			p.Tags = append(p.Tags, inventory.Tag{Name: im.tag, Digest: im.index})
			p.Decisions = append(p.Decisions, plan.Decision{Digest: im.index, Action: action, Tags: []string{im.tag}, Kind: "image", MediaType: inventory.MediaTypeOCIIndex, VersionID: id})
		}
		for _, d := range []string{im.amd64, im.attestation} {
			if id, ok := st.ID(d); ok {
				p.Decisions = append(p.Decisions, plan.Decision{Digest: d, Action: action, Kind: "child", Parent: im.index, MediaType: inventory.MediaTypeOCIManifest, VersionID: id})
			}
		}
	}
	slices.SortFunc(p.Tags, func(a, b inventory.Tag) int { return strings.Compare(a.Name, b.Name) })
	p.Seal()
	return p
}

// countingTags counts the OCI requests Apply's checks make of versionTags.
type countingTags struct {
	versionTags
	requests atomic.Int64
}

// ListTags counts one request a listing.
func (c *countingTags) ListTags(ctx context.Context, repo string, fn func([]string) error) error {
	c.requests.Add(1)
	return c.versionTags.ListTags(ctx, repo, fn)
}

// Resolve counts one request a tag.
func (c *countingTags) Resolve(ctx context.Context, repo, ref string) (inventory.Descriptor, error) {
	c.requests.Add(1)
	return c.versionTags.Resolve(ctx, repo, ref)
}

// FetchManifest counts one request a manifest.
func (c *countingTags) FetchManifest(ctx context.Context, repo, ref string) ([]byte, inventory.Descriptor, error) {
	c.requests.Add(1)
	return c.versionTags.FetchManifest(ctx, repo, ref)
}

// latencyTransport advances the fake clock by latency for each request: the time GitHub takes to
// answer, which the job's time limit counts.
type latencyTransport struct {
	clock   *ghcremu.FakeClock
	latency time.Duration
	next    http.RoundTripper
}

// RoundTrip sends the request, then advances the clock.
func (t latencyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	t.clock.Advance(t.latency)
	return resp, err
}
