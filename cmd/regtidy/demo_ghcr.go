package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"gocloud.dev/blob/fileblob"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/internal/units"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
	"github.com/regtidy/regtidy/registry/ghcr"
	"github.com/regtidy/regtidy/report"
)

// The demo's emulated ghcr.io.
const (
	// demoToken is the token regtidy sends to the emulator: a personal access token, 5,000
	// requests an hour.
	demoToken = "demo-personal-token"
	// demoNights splits the plan's REST requests over this many nightly budgets, so that the
	// story shows runs that stop at their budget and runs that continue.
	demoNights = 3
	// maxDemoNights bounds the nightly runs.
	maxDemoNights = 10
	// demoNightStart is when the first nightly run starts, after the case was pushed.
	demoNightStart = 2 * time.Hour
)

// runDemoGHCR is `regtidy demo --ghcr`: the demo's story on an emulated ghcr.io, whose REST API
// and OCI API regtidy uses as it would use GitHub's, on a fake clock that the emulator and the
// REST client share.
func (o *rootOptions) runDemoGHCR(ctx context.Context, do *demoOptions) error {
	if err := o.checkFormat(); err != nil {
		return err
	}
	// As in runDemo: the registry in this process allocates a buffer per blob it serves.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	dir, done, err := o.demoDir(do, "regtidy-demo-ghcr-")
	if err != nil {
		return err
	}
	defer done()
	say := func(format string, a ...any) { fmt.Fprintf(o.stdout, format+"\n", a...) }

	t0, err := do.present()
	if err != nil {
		return err
	}
	realStart := time.Now()
	clock := ghcremu.NewFakeClock(t0)
	e, err := ghcremu.Start(ctx, ghcremu.Options{
		Clock:  clock.Now,
		Tokens: map[string]int{demoToken: ghcremu.DefaultRateLimit},
		// Deleting only the tags behind the emulator spares distribution a walk of every tag
		// per delete; regtidy sees the same answers (a deleted version's digest is unknown).
		RegistryDelete: ghcremu.DeleteTags,
	})
	if err != nil {
		return err
	}
	defer e.Close()
	pr := o.newProgress()
	w, err := demoWorld(ctx, e.Host, dir, do, t0, func(done, total int) { pr.update("push", done, total) })
	pr.wait()
	if err != nil {
		return err
	}
	c := w.Case
	repo := e.Host + "/" + c.Repository
	o.gh.api, o.gh.token, o.gh.now, o.gh.sleep = e.URL, demoToken, clock.Now, clock.Sleep
	o.gh.state = filepath.Join(dir, "ghcr-state.json")

	live := 0
	for _, r := range w.Runs {
		if r.Live() {
			live++
		}
	}
	tagged, untagged := versionCounts(e.Versions(c.Repository))
	say("== The case on an emulated ghcr.io, at scale %g, made in %s", do.scale, time.Since(realStart).Round(time.Millisecond))
	say("registry   %s: %d tags, %d manifests over %d SDK commits (OCI API: reads and pushes; DELETE answers 405, as on ghcr.io)", repo, c.Totals.Tags, c.Totals.Manifests, c.Totals.Commits)
	owner, name, _ := strings.Cut(c.Repository, "/")
	say("versions   %s/orgs/%s/packages/container/%s/versions (GitHub Packages REST API, emulated):", e.URL, owner, url.PathEscape(name))
	say("           %s package versions, one per digest: %s tagged, %s untagged (each index's linux/amd64 image and attestation manifest);", units.Count(tagged+untagged), units.Count(tagged), units.Count(untagged))
	say("           each is deleted by one REST request on its version id")
	say("token      a personal access token: %s REST requests an hour; at most %d points a minute per endpoint (GET 1, DELETE 5)", units.Count(ghcremu.DefaultRateLimit), ghcremu.DefaultSecondaryPoints)
	say("git        %s: the SDK's main branch, %d first-parent commits", w.GitDir, len(c.Commits))
	say("runs       %s: %d evaluation runs, %d of them live", w.RunsDir, len(w.Runs), live)
	say("clock      emulated time: regtidy and the emulator share a clock that starts at %s; GitHub's pacing (one", t0.Format("2006-01-02 15:04 MST"))
	say("           delete a second at first), rate-limit resets and the days between nightly runs pass at once")

	polPath, pol, err := demoPolicy(w, dir)
	if err != nil {
		return err
	}
	client, err := o.client()
	if err != nil {
		return err
	}
	gh := "--github-api " + e.URL

	clock.Advance(demoNightStart)
	say("\n== regtidy report %s --policy examples/openhands.yaml %s\n", repo, gh)
	rest := e.Stats().Total()
	l, err := o.listRepo(ctx, client, repo)
	if err != nil {
		return err
	}
	firstListing := e.Stats().Total() - rest
	ropt := report.Options{GroupBy: "sdk"}
	ropt.History = o.history(ctx, pol, &reportOptions{ropt: ropt})
	if err := o.writeReport(report.Compute(l.inv, pol.Scheme, ropt), l); err != nil {
		return err
	}
	say("\n(tags and manifests through the OCI API: %d requests, which the REST budget does not count;", l.stats.Total())
	say(" version ids through the REST API: %d requests for %s versions, %d to a page, pages fetched concurrently)",
		firstListing, units.Count(tagged+untagged), ghcr.DefaultPageSize)

	say("\n== regtidy plan %s --policy examples/openhands.yaml %s -o plan.json\n", repo, gh)
	rest = e.Stats().Total()
	planPath := filepath.Join(dir, "plan.json")
	p, err := o.makePlan(ctx, client, repo, &planFlags{policy: polPath, mode: "auto", now: clock.Now().Format(time.RFC3339)})
	if err != nil {
		return err
	}
	planListing := e.Stats().Total() - rest
	if err := p.WriteFile(planPath); err != nil {
		return err
	}
	if err := o.writePlanSummary(p); err != nil {
		return err
	}
	say("\n(the plan listed the versions again for %d REST request(s), against %d for the report's first listing: the state file", planListing, firstListing)
	say(" %s holds every version id, so a repeat listing reads page 1 and stops at what it knows)", filepath.Base(o.gh.state))
	if err := o.demoExplain(p); err != nil {
		return err
	}

	nights, err := o.demoNights(ctx, client, p, clock, dir)
	if err != nil {
		return err
	}

	say("\n== regtidy report %s %s (after apply)\n", repo, gh)
	rest = e.Stats().Total()
	l, err = o.listRepo(ctx, client, repo)
	if err != nil {
		return err
	}
	repeatListing := e.Stats().Total() - rest
	after := report.Compute(l.inv, pol.Scheme, report.Options{})
	taggedAfter, untaggedAfter := activeCounts(e.Versions(c.Repository))
	say("tags: %d before, %d after", c.Totals.Tags, after.Tags)
	for _, k := range after.Kinds {
		say("  %-12s %d", k.Kind, k.Tags)
	}
	say("package versions: %s before, %s after (%s tagged, %s untagged)", units.Count(tagged+untagged), units.Count(taggedAfter+untaggedAfter), units.Count(taggedAfter), units.Count(untaggedAfter))
	say("listing the versions cost %d REST request(s), against %d the first time: the state file knew every id", repeatListing, firstListing)

	say("\n== regtidy verify %s --plan plan.json\n", repo)
	res, err := apply.VerifyPlan(ctx, client, p, apply.VerifyOptions{})
	if err != nil {
		return err
	}
	say("checked %d kept tags, %d manifests, %d blobs: %d broken", res.Tags, res.Manifests, res.Blobs, len(res.Broken))
	if !res.OK() {
		return fmt.Errorf("verify found %d broken tags after apply", len(res.Broken))
	}

	if err := o.demoUndoOne(ctx, client, repo, dir); err != nil {
		return err
	}
	o.demoGitHubSide(e.Stats(), nights, time.Since(realStart))
	o.printStats(client)
	return nil
}

// demoWorld makes the case's world as regtest.NewWorld does (the SDK's git history, the case
// built from it, the run metadata), pushing the case into the emulated ghcr.io at host. The
// returned world has no Registry of its own: the emulator runs it.
func demoWorld(ctx context.Context, host, dir string, do *demoOptions, now time.Time, progress func(done, total int)) (*regtest.World, error) {
	w := &regtest.World{Dir: dir, Now: now, GitDir: filepath.Join(dir, "software-agent-sdk"), RunsDir: filepath.Join(dir, "evaluation-results")}
	n := max(regtest.MinCaseCommits, int(float64(regtest.FullCommits)*do.scale+0.5))
	step := (regtest.CasePeriod / time.Duration(n)).Truncate(time.Second)
	commits, err := regtest.MakeGitHistory(w.GitDir, n, now.Add(-regtest.CasePeriod), step)
	if err != nil {
		return nil, err
	}
	if w.Case, err = regtest.FillCase(ctx, host, regtest.CaseSpec{
		Scale: do.scale, Seed: do.seed, Now: now, Commits: commits, Progress: progress,
	}); err != nil {
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
	w.Runs = regtest.CaseRuns(w.Case, now, do.seed)
	return w, regtest.WriteRuns(ctx, bucket, w.Runs)
}

// demoNight is one nightly run of the demo.
type demoNight struct {
	// took is the run's emulated time.
	took time.Duration
}

// demoNights applies the plan as a nightly job would: each night a fresh run with a budget of
// REST requests (--max-requests), which stops cleanly when spent; the next night continues from
// the state file. Nights are a day apart on the fake clock.
func (o *rootOptions) demoNights(ctx context.Context, client *registry.Client, p *plan.Plan, clock *ghcremu.FakeClock, dir string) ([]demoNight, error) {
	budget := max(50, (p.Cost.Requests+demoNights-1)/demoNights)
	budget = (budget + 49) / 50 * 50
	o.gh.maxRequests = budget
	defer func() { o.gh.maxRequests = 0 }()
	fmt.Fprintf(o.stdout, "\nA nightly job applies the plan with a budget of %s REST requests a night (about a third of the plan, so that\n", units.Count(budget))
	fmt.Fprintf(o.stdout, "the story takes %d nights; a personal token allows %s an hour). Each night is a new process: the state\n", demoNights, units.Count(ghcremu.DefaultRateLimit))
	fmt.Fprintf(o.stdout, "file tells it what earlier nights deleted, and the journal keeps growing for undo.\n")
	journal := filepath.Join(dir, "plan.journal.jsonl")
	var nights []demoNight
	for n := 1; ; n++ {
		if n > maxDemoNights {
			return nights, fmt.Errorf("the plan is not done after %d nights", maxDemoNights)
		}
		start := clock.Now()
		fmt.Fprintf(o.stdout, "\n== night %d, %s: regtidy apply plan.json --max-requests %d --state %s\n\n",
			n, start.Format("Mon 2006-01-02 15:04 MST"), budget, filepath.Base(o.gh.state))
		err := o.applyPlan(ctx, client, p, &applyFlags{journal: journal, concurrency: 8})
		night := demoNight{took: clock.Now().Sub(start)}
		nights = append(nights, night)
		var be *ghcr.BudgetError
		switch {
		case err == nil:
			fmt.Fprintf(o.stdout, "(night %d: %s of emulated time; the plan is done)\n", n, emulated(night.took))
			return nights, nil
		case errors.Is(err, errPartial) && errors.As(err, &be):
			fmt.Fprintf(o.stdout, "regtidy: exit status %d: %v\n", exitPartial, be)
			fmt.Fprintf(o.stdout, "(night %d: %s of emulated time)\n", n, emulated(night.took))
		default:
			return nights, err
		}
		clock.Advance(24*time.Hour - night.took)
	}
}

// demoUndoOne cuts the journal down to one image (its index, platform image and attestation) and
// undoes that: GitHub restores the three versions, and the tag is back.
func (o *rootOptions) demoUndoOne(ctx context.Context, client *registry.Client, repo, dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, "plan.journal.jsonl"))
	if err != nil {
		return err
	}
	recs, err := apply.ReadJournal(bytes.NewReader(data))
	if err != nil {
		return err
	}
	one, tag := oneImage(recs)
	if tag == "" {
		return nil // nothing deleted with a tag: nothing to show
	}
	path := filepath.Join(dir, "one-image.journal.jsonl")
	if err := os.WriteFile(path, one, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "\n== regtidy undo one-image.journal.jsonl %s\n", "--github-api "+o.gh.api)
	fmt.Fprintf(o.stdout, "(the journal cut down to the image tagged %s: GitHub restores deleted versions for 30 days)\n\n", tag)
	if err := o.undoGHCR(ctx, repo, one, false); err != nil {
		return err
	}
	desc, err := client.Resolve(ctx, repo, tag)
	if err != nil {
		return fmt.Errorf("after undo, %s:%s: %w", repo, tag, err)
	}
	fmt.Fprintf(o.stdout, "%s is back: %s\n", tag, desc.Digest)
	return nil
}

// oneImage returns, as a journal, the records of the first deleted version with a tag and of the
// versions the journal names it the parent of, with the headers; and that tag.
func oneImage(recs []apply.JournalRecord) ([]byte, string) {
	var root *apply.JournalRecord
	deleted := map[int64]bool{}
	for _, r := range recs {
		if r.Type == apply.RecordOutcome && r.Outcome == apply.OutcomeDeleted {
			deleted[r.VersionID] = true
		}
	}
	for i := range recs {
		if r := &recs[i]; r.Type == apply.RecordManifest && len(r.Tags) > 0 && deleted[r.VersionID] {
			root = r
			break
		}
	}
	if root == nil {
		return nil, ""
	}
	ids := map[int64]bool{root.VersionID: true}
	for _, r := range recs {
		if r.Type == apply.RecordManifest && r.Parent == root.Digest {
			ids[r.VersionID] = true
		}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	for _, r := range recs {
		if r.Type == apply.RecordHeader || (r.Type == apply.RecordManifest || r.Type == apply.RecordOutcome) && ids[r.VersionID] {
			if err := enc.Encode(r); err != nil {
				return nil, ""
			}
		}
	}
	return out.Bytes(), root.Tags[0]
}

// demoGitHubSide tells what the emulated GitHub counted: requests by endpoint, the limits, and
// the emulated time the nights took.
func (o *rootOptions) demoGitHubSide(s ghcremu.Stats, nights []demoNight, real time.Duration) {
	say := func(format string, a ...any) { fmt.Fprintf(o.stdout, format+"\n", a...) }
	ep := func(name string) ghcremu.EndpointStats { return s.REST[name] }
	limited := 0
	for _, es := range s.REST {
		limited += es.PrimaryLimited + es.SecondaryLimited
	}
	say("\n== What GitHub saw (the emulator's counters)\n")
	say("REST requests  %s: %s listing pages, %s deletes, %s restores, %s other; %d answered over a rate limit",
		units.Count(s.Total()), units.Count(ep(ghcremu.EndpointList).Requests), units.Count(ep(ghcremu.EndpointDelete).Requests),
		units.Count(ep(ghcremu.EndpointRestore).Requests), units.Count(ep(ghcremu.EndpointPackage).Requests+ep(ghcremu.EndpointVersion).Requests), limited)
	del := ep(ghcremu.EndpointDelete)
	say("DELETE         at most %d points in any minute (%d deletes), of the %d allowed: regtidy spreads the token's hourly",
		del.PeakAsked, del.PeakAsked/ghcr.PointsMutation, ghcremu.DefaultSecondaryPoints)
	say("               budget over the hour (%s / 60 = %d a minute), well under the %d a minute the secondary limit allows",
		units.Count(ghcremu.DefaultRateLimit), ghcremu.DefaultRateLimit/60, ghcremu.DefaultSecondaryPoints/ghcr.PointsMutation)
	ociTotal := 0
	for _, n := range s.OCI {
		ociTotal += n
	}
	say("OCI API        %s requests (the case's pushes, listings, re-checks of kept tags before deleting), none counted", units.Count(ociTotal))
	say("               against the token's budget")
	var deleting time.Duration
	for _, n := range nights {
		deleting += n.took
	}
	span := time.Duration(len(nights)-1)*24*time.Hour + nights[len(nights)-1].took
	say("emulated time: %d nightly runs over %s, %s of them deleting; real time of the whole demo %s",
		len(nights), emulated(span), emulated(deleting), real.Round(100*time.Millisecond))
}

// versionCounts counts the tagged and untagged versions of a package, deleted or not.
func versionCounts(vs []ghcremu.Version) (tagged, untagged int) {
	for _, v := range vs {
		if len(v.Tags) > 0 {
			tagged++
		} else {
			untagged++
		}
	}
	return tagged, untagged
}

// activeCounts counts the tagged and untagged versions not deleted.
func activeCounts(vs []ghcremu.Version) (tagged, untagged int) {
	var active []ghcremu.Version
	for _, v := range vs {
		if v.DeletedAt.IsZero() {
			active = append(active, v)
		}
	}
	return versionCounts(active)
}

// emulated formats an emulated duration in days, hours and minutes: "2d 0h 13m", "1h 2m", "45s".
func emulated(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return d.String()
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", d/time.Minute, d%time.Minute/time.Second)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %02dm", d/time.Hour, d%time.Hour/time.Minute)
	}
	return fmt.Sprintf("%dd %dh %02dm", d/(24*time.Hour), d%(24*time.Hour)/time.Hour, d%time.Hour/time.Minute)
}
