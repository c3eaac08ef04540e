package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
	"github.com/regtidy/regtidy/registry/ghcr"
)

// ghcrRepo is the emulated package.
const ghcrRepo = "openhands/eval-agent-server"

// benchGHCR measures what regtidy spends of GitHub's REST budgets on an emulated ghcr.io holding
// the case's versions (REST-only: registered versions with no registry content):
//
//  1. the listing race, in real time with the emulated latency and GitHub's limits: regtidy's
//     listing (page 1, then the rest concurrently within 900 points a minute) against a strictly
//     sequential loop following Link rel="next", as a widely used cleanup action pages, on its own
//     token and at the same time; the loop is stopped when regtidy is done and its time extrapolated
//     linearly (it never reaches the secondary limit, so its time is linear in pages), unless
//     --full-sequential;
//  2. a first run and repeat runs on a fake clock (rate-limit windows pass without waiting):
//     the full listing, then Apply of a plan deleting the images of all but the newest --keep
//     commits, under a personal token's 5,000 requests an hour: REST requests, deletes per hour
//     against the budget, peak points per minute; then the repeat listings.
func benchGHCR(ctx context.Context, args []string) error {
	fs := newFlags("ghcr")
	versions := fs.Int("versions", 412000, "package versions (1 tagged index + 2 untagged children per image)")
	latency := fs.Duration("latency", 300*time.Millisecond, "emulated latency of every REST request in the listing race")
	commits := fs.Int("commits", 548, "SDK commits the images spread over")
	keep := fs.Int("keep", 30, "newest commits whose images the plan keeps")
	fullSeq := fs.Bool("full-sequential", false, "run the sequential listing to the end (about 20 minutes at 412k versions and 300 ms)")
	fs.Parse(args) //nolint:errcheck // ExitOnError
	if *versions < 3**commits || *keep >= *commits {
		return fmt.Errorf("ghcr bench: want --versions >= 3 x --commits and --keep < --commits")
	}
	sh := newShape(*versions, *commits)
	p := func(format string, a ...any) { fmt.Printf(format+"\n", a...) }

	race, err := listingRace(ctx, sh, *latency, *fullSeq)
	if err != nil {
		return err
	}
	runs, err := budgetRuns(ctx, sh, *keep)
	if err != nil {
		return err
	}

	pages := (sh.versions() + ghcr.DefaultPageSize - 1) / ghcr.DefaultPageSize
	p("### GitHub Container Registry: REST cost on %s emulated versions", count(sh.versions()))
	p("")
	p("Machine: %s. Emulator: internal/ghcremu in this process (GitHub's documented limits: 5,000 requests an hour per token, 900 points a minute per endpoint, GET 1 point, DELETE 5), with %s images of 3 versions each (a tagged index, its linux/amd64 image and its attestation) over %d commits; REST-only versions, no registry content.", machine(), count(len(sh.images)), *commits)
	p("Command: `%s` (run on %s).", strings.TrimSpace("go run ./internal/bench ghcr "+strings.Join(args, " ")), time.Now().UTC().Format("2006-01-02"))
	p("")
	p("| what | REST requests | time | notes |")
	p("| --- | ---: | ---: | --- |")
	p("| first run: list every version | %s | %s | ceil(V/100) = %s pages, +%d (package lookup, retries); 900 points a minute at most |",
		count(runs.firstList), hours(runs.firstListFake), count(pages), runs.firstList-pages)
	p("| first run: delete the images of %d of %d commits | %s | %s | %s versions deleted (plan estimate %s requests); %d secondary-limit answers, %d primary |",
		*commits-*keep, *commits, count(runs.firstDelete), hours(runs.applyFake), count(runs.deleted), count(runs.estimate), runs.secondaryLimited, runs.primaryLimited)
	p("| first run, total | %s | | bound ceil(V/100) + deletes = %s: overhead %d |",
		count(runs.firstList+runs.firstDelete), count(pages+runs.deleted), runs.firstList+runs.firstDelete-pages-runs.deleted)
	p("| repeat run: listing, nothing new | %d | | |", runs.repeatNothing)
	p("| repeat run: listing, one new commit (%s versions) | %d | | ceil(%d/100) new pages + 1 |", count(runs.newVersions), runs.repeatNew, runs.newVersions)
	p("| listing, regtidy (page 1, then concurrent) | %s | %s | %s emulated latency a request, real time |", count(race.regtidyRequests), sec(race.regtidy), *latency)
	p("| listing, strictly sequential (Link next) | %s | %s | %s; regtidy is **%.1fx** faster |", count(pages), sec(race.sequential), race.how, ratio(race.sequential, race.regtidy))
	p("| deletes per hour, personal token | %s | | **%.0f%%** of the 5,000-request budget; a delete a second (a widely used action) is 3,600 (72%%) |",
		count(int(runs.perHour)), 100*runs.perHour/ghcr.HourlyPersonalToken)
	p("| peak points per minute | | | first run: versions list %d, delete %d (GitHub's limit: 900); listing race: %d for both tokens together, %d secondary-limit answers to regtidy |",
		runs.peakList, runs.peakDelete, race.peakList, race.regtidyLimited)
	p("")
	p("Time: the listing race ran in real time (%s of wall time). The first and repeat runs ran on a fake clock shared by the emulator and the client: "+
		"waits for rate limits and the delete pacing advance it at once, so %s of budget time took %s of wall time; deletes per hour are deletes over that fake time.",
		sec(race.wall), hours(runs.firstListFake+runs.applyFake), sec(runs.wall))
	return nil
}

// shape is the case's package: images of 3 versions, commit by commit, oldest first.
type shape struct {
	commits []string // 7-hex SDK commits, oldest first
	images  []image
}

type image struct {
	commit                    int
	tag                       string
	index, amd64, attestation string
}

func newShape(versions, commits int) *shape {
	s := &shape{}
	for c := range commits {
		s.commits = append(s.commits, hexOf("commit", c)[:7])
	}
	n := versions / 3
	for i := range n {
		c := i * commits / n
		s.images = append(s.images, image{
			commit: c, tag: fmt.Sprintf("%s-sweb.eval.x86_64.instance_%d-source-minimal", s.commits[c], i),
			index: "sha256:" + hexOf("index", i), amd64: "sha256:" + hexOf("amd64", i), attestation: "sha256:" + hexOf("att", i),
		})
	}
	return s
}

func (s *shape) versions() int { return 3 * len(s.images) }

// register records the images' versions, children before their index as a push makes them.
func (s *shape) register(e *ghcremu.Emulator, images []image) error {
	for _, im := range images {
		for _, d := range []string{im.amd64, im.attestation} {
			if _, err := e.Register(ghcrRepo, d); err != nil {
				return err
			}
		}
		if _, err := e.Register(ghcrRepo, im.index, im.tag); err != nil {
			return err
		}
	}
	return nil
}

func hexOf(kind string, i int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s-%d", kind, i))
	return hex.EncodeToString(sum[:])
}

// raceResult is the listing race's outcome.
type raceResult struct {
	regtidy, sequential, wall time.Duration
	regtidyRequests           int
	regtidyLimited            int
	how                       string
	peakList                  int
}

// listingRace lists the package with regtidy's client and with a sequential loop at once, each on
// its own token, in real time.
func listingRace(ctx context.Context, sh *shape, latency time.Duration, full bool) (raceResult, error) {
	var r raceResult
	start := time.Now()
	e, err := ghcremu.Start(ctx, ghcremu.Options{Latency: latency, RegistryDelete: ghcremu.DeleteTags})
	if err != nil {
		return r, err
	}
	defer e.Close()
	if err := sh.register(e, sh.images); err != nil {
		return r, err
	}
	c, err := ghcr.New("ghcr.io/"+ghcrRepo, ghcr.WithBaseURL(e.URL), ghcr.WithToken("race-regtidy"))
	if err != nil {
		return r, err
	}
	seqCtx, stopSeq := context.WithCancel(ctx)
	defer stopSeq()
	var seqPages atomic.Int64
	var seqErr error
	var seqTime time.Duration
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t0 := time.Now()
		seqErr = sequentialListing(seqCtx, e.URL, &seqPages)
		seqTime = time.Since(t0)
	}()
	t0 := time.Now()
	st := ghcr.NewState(c.Repository())
	stats, err := c.Sync(ctx, st)
	r.regtidy = time.Since(t0)
	r.regtidyRequests = stats.Requests
	r.regtidyLimited = c.Stats().SecondaryLimited
	r.regtidyLimited = c.Stats().SecondaryLimited
	if err != nil {
		return r, fmt.Errorf("regtidy listing: %w", err)
	}
	if len(st.Versions) != sh.versions() {
		return r, fmt.Errorf("regtidy listing found %d versions of %d", len(st.Versions), sh.versions())
	}
	if !full {
		stopSeq()
	}
	wg.Wait()
	pages := (sh.versions() + ghcr.DefaultPageSize - 1) / ghcr.DefaultPageSize
	done := int(seqPages.Load())
	switch {
	case seqErr == nil:
		r.sequential, r.how = seqTime, "measured to the end"
	case errors.Is(seqErr, context.Canceled) && done > 0:
		r.sequential = time.Duration(float64(seqTime) * float64(pages) / float64(done))
		r.how = fmt.Sprintf("%s of %s pages measured (%s), extrapolated linearly", count(done), count(pages), sec(seqTime))
	default:
		return r, fmt.Errorf("sequential listing: %w", seqErr)
	}
	r.peakList = e.Stats().REST[ghcremu.EndpointList].PeakAsked
	r.wall = time.Since(start)
	return r, nil
}

// sequentialListing pages through the versions one request at a time, following Link
// rel="next", waiting out a secondary-limit answer as a GitHub client library does.
func sequentialListing(ctx context.Context, base string, pages *atomic.Int64) error {
	owner, name, _ := strings.Cut(ghcrRepo, "/")
	next := fmt.Sprintf("%s/orgs/%s/packages/container/%s/versions?per_page=100", base, owner, name)
	hc := &http.Client{}
	for range 1_000_000 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer race-sequential")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		var page []json.RawMessage
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests {
			wait := 60 * time.Second
			if s := resp.Header.Get("Retry-After"); s != "" {
				if d, perr := time.ParseDuration(s + "s"); perr == nil {
					wait = d
				}
			}
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if resp.StatusCode != http.StatusOK || err != nil {
			return fmt.Errorf("GET %s: %d %v", next, resp.StatusCode, err)
		}
		pages.Add(1)
		next = ghcr.ParseLink(resp.Header.Get("Link"))["next"]
		if next == "" {
			return nil
		}
	}
	return errors.New("too many pages")
}

// runsResult is what the fake-clock runs measured.
type runsResult struct {
	firstList, firstDelete, estimate, deleted int
	firstListFake, applyFake, wall            time.Duration
	perHour                                   float64
	repeatNothing, repeatNew, newVersions     int
	peakList, peakDelete                      int
	secondaryLimited, primaryLimited          int
}

// budgetRuns makes a first run (full listing, then Apply of a plan deleting old commits' images)
// and repeat listings, on a fake clock with GitHub's limits and a personal token.
func budgetRuns(ctx context.Context, sh *shape, keep int) (runsResult, error) {
	var r runsResult
	start := time.Now()
	epoch := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	clock := ghcremu.NewFakeClock(epoch)
	e, err := ghcremu.Start(ctx, ghcremu.Options{Clock: clock.Now, RegistryDelete: ghcremu.DeleteTags})
	if err != nil {
		return r, err
	}
	defer e.Close()
	if err := sh.register(e, sh.images); err != nil {
		return r, err
	}
	newClient := func(token string) (*ghcr.Client, error) {
		// One request in flight: with no latency on a fake clock, concurrent requests gain no
		// time, and a sleeper advancing the clock under requests in flight would skew the
		// client's secondary-limit accounting (an artifact of the fake clock, not of GitHub).
		return ghcr.New("ghcr.io/"+ghcrRepo, ghcr.WithBaseURL(e.URL), ghcr.WithToken(token),
			ghcr.WithClock(clock.Now, clock.Sleep), ghcr.WithConcurrency(1))
	}
	c, err := newClient("first-run")
	if err != nil {
		return r, err
	}
	st := ghcr.NewState(c.Repository())
	sync, err := c.Sync(ctx, st)
	if err != nil {
		return r, fmt.Errorf("first listing: %w", err)
	}
	r.firstList, r.firstListFake = sync.Requests, clock.Now().Sub(epoch)

	p := sh.plan(st, len(sh.commits)-keep)
	p.Cost = ghcr.PlanCost(p, st, ghcr.Rate{Hourly: ghcr.HourlyPersonalToken})
	r.estimate = p.Cost.Requests
	t0 := clock.Now()
	res, err := ghcr.Apply(ctx, p, &versionTags{e: e}, c, st, ghcr.ApplyOptions{RecheckEvery: time.Hour, Journal: io.Discard})
	if err != nil {
		return r, fmt.Errorf("first apply: %w", err)
	}
	r.applyFake = clock.Now().Sub(t0)
	r.firstDelete, r.deleted = res.Requests, len(res.Deleted)
	r.perHour = float64(r.deleted) / r.applyFake.Hours()
	es := e.Stats().REST
	r.peakList, r.peakDelete = es[ghcremu.EndpointList].PeakAsked, es[ghcremu.EndpointDelete].PeakAsked
	r.secondaryLimited = es[ghcremu.EndpointDelete].SecondaryLimited + es[ghcremu.EndpointList].SecondaryLimited
	r.primaryLimited = es[ghcremu.EndpointDelete].PrimaryLimited + es[ghcremu.EndpointList].PrimaryLimited

	clock.Advance(24 * time.Hour)
	c2, err := newClient("repeat-run")
	if err != nil {
		return r, err
	}
	if sync, err = c2.Sync(ctx, st); err != nil {
		return r, fmt.Errorf("repeat listing: %w", err)
	}
	r.repeatNothing = sync.Requests
	fresh := newShape(3*len(sh.images)/len(sh.commits)+3, 1)
	for i := range fresh.images {
		fresh.images[i].index, fresh.images[i].amd64, fresh.images[i].attestation =
			"sha256:"+hexOf("new-index", i), "sha256:"+hexOf("new-amd64", i), "sha256:"+hexOf("new-att", i)
	}
	if err := fresh.register(e, fresh.images); err != nil {
		return r, err
	}
	r.newVersions = fresh.versions()
	if sync, err = c2.Sync(ctx, st); err != nil {
		return r, fmt.Errorf("repeat listing: %w", err)
	}
	r.repeatNew = sync.Requests
	r.wall = time.Since(start)
	return r, nil
}

// plan is the plan a commits policy makes: the images of the commits from cut on are kept, the
// others deleted with their children.
func (s *shape) plan(st *ghcr.State, cut int) *plan.Plan {
	p := &plan.Plan{Schema: plan.Schema, Repository: "ghcr.io/" + ghcrRepo}
	for _, im := range s.images {
		action := plan.Delete
		if im.commit >= cut {
			action = plan.Keep
		}
		p.Tags = append(p.Tags, inventory.Tag{Name: im.tag, Digest: im.index})
		id := func(d string) int64 { v, _ := st.ID(d); return v }
		p.Decisions = append(p.Decisions,
			plan.Decision{Digest: im.index, Action: action, Tags: []string{im.tag}, Kind: "image", MediaType: inventory.MediaTypeOCIIndex, VersionID: id(im.index)},
			plan.Decision{Digest: im.amd64, Action: action, Kind: "child", Parent: im.index, MediaType: inventory.MediaTypeOCIManifest, VersionID: id(im.amd64)},
			plan.Decision{Digest: im.attestation, Action: action, Kind: "attestation", Parent: im.index, MediaType: inventory.MediaTypeOCIManifest, VersionID: id(im.attestation)},
		)
	}
	slices.SortFunc(p.Tags, func(a, b inventory.Tag) int { return strings.Compare(a.Name, b.Name) })
	p.Seal() // apply carries out sealed plans only
	return p
}

// versionTags is the OCI side of REST-only versions: the tags the emulator's active versions
// hold. Apply lists and resolves them right before deleting; there are no manifests to fetch.
type versionTags struct {
	e    *ghcremu.Emulator
	mu   sync.Mutex
	tags map[string]string
}

// ListTags lists the tags of the active versions.
func (v *versionTags) ListTags(ctx context.Context, repo string, fn func([]string) error) error {
	m := map[string]string{}
	for _, ver := range v.e.Versions(ghcrRepo) {
		if ver.DeletedAt.IsZero() {
			for _, t := range ver.Tags {
				m[t] = ver.Digest
			}
		}
	}
	v.mu.Lock()
	v.tags = m
	v.mu.Unlock()
	names := make([]string, 0, len(m))
	for t := range m {
		names = append(names, t)
	}
	slices.Sort(names)
	return fn(names)
}

// Resolve returns the digest a tag pointed at when last listed.
func (v *versionTags) Resolve(ctx context.Context, repo, ref string) (inventory.Descriptor, error) {
	v.mu.Lock()
	d, ok := v.tags[ref]
	v.mu.Unlock()
	if !ok {
		return inventory.Descriptor{}, fmt.Errorf("%s: %w", ref, registry.ErrNotFound)
	}
	return inventory.Descriptor{Digest: d, MediaType: inventory.MediaTypeOCIIndex}, nil
}

// FetchManifest finds nothing: registered versions have no registry content.
func (v *versionTags) FetchManifest(ctx context.Context, repo, ref string) ([]byte, inventory.Descriptor, error) {
	return nil, inventory.Descriptor{}, fmt.Errorf("%s: REST-only version: %w", ref, registry.ErrNotFound)
}

func count(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func hours(d time.Duration) string {
	if d < time.Hour {
		return d.Round(time.Second).String()
	}
	return fmt.Sprintf("%.1f h", d.Hours())
}
