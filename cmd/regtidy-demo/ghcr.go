package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/regtidy/regtidy"
	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/demo"
	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/internal/units"
	"github.com/regtidy/regtidy/plan"
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
	// exitPartial is regtidy's exit status for a run that stopped at its budget.
	exitPartial = 3
)

// runGHCR is the GitHub Container Registry story: the demo's case on an emulated ghcr.io, whose
// REST API and OCI API regtidy uses as it would use GitHub's, on a fake clock that the emulator
// and the REST client share.
func runGHCR(ctx context.Context, c *demo.Config) error {
	// The registry in this process allocates a buffer per blob it serves.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	dir, done, err := demo.Dir(c, "regtidy-demo-ghcr-")
	if err != nil {
		return err
	}
	defer done()
	say := func(format string, a ...any) { fmt.Fprintf(c.Stdout, format+"\n", a...) }

	t0 := c.Present()
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
	w, err := casegen.MakeWorld(ctx, e.Host, casegen.WorldSpec{Dir: dir, Scale: c.Scale, Seed: c.Seed, Now: t0})
	if err != nil {
		return err
	}
	cs := w.Case
	repo := w.Repository()
	// The library's GHCR options: the emulator's API and token, the shared fake clock.
	c.Options.GHCR = regtidy.GHCROptions{
		API: e.URL, Token: demoToken, Now: clock.Now, Sleep: clock.Sleep,
		State: filepath.Join(dir, "ghcr-state.json"),
	}

	tagged, untagged := versionCounts(e.Versions(cs.Repository))
	say("== The case on an emulated ghcr.io, at scale %g, made in %s", c.Scale, time.Since(realStart).Round(time.Millisecond))
	say("registry   %s: %d tags, %d manifests over %d SDK commits (OCI API: reads and pushes; DELETE answers 405, as on ghcr.io)", repo, cs.Totals.Tags, cs.Totals.Manifests, cs.Totals.Commits)
	owner, name, _ := strings.Cut(cs.Repository, "/")
	say("versions   %s/orgs/%s/packages/container/%s/versions (GitHub Packages REST API, emulated):", e.URL, owner, url.PathEscape(name))
	say("           %s package versions, one per digest: %s tagged, %s untagged (each index's linux/amd64 image and attestation manifest);", units.Count(tagged+untagged), units.Count(tagged), units.Count(untagged))
	say("           each is deleted by one REST request on its version id")
	say("token      a personal access token: %s REST requests an hour; at most %d points a minute per endpoint (GET 1, DELETE 5)", units.Count(ghcremu.DefaultRateLimit), ghcremu.DefaultSecondaryPoints)
	say("git        %s: the SDK's main branch, %d first-parent commits", w.GitDir, len(cs.Commits))
	say("runs       %s: %d evaluation runs, %d of them live", w.RunsDir, len(w.Runs), demo.Live(w))
	say("clock      emulated time: regtidy and the emulator share a clock that starts at %s; GitHub's pacing (one", t0.Format("2006-01-02 15:04 MST"))
	say("           delete a second at first), rate-limit resets and the days between nightly runs pass at once")

	polPath, pol, err := demo.Policy(w, dir)
	if err != nil {
		return err
	}
	gh := "--github-api " + e.URL

	clock.Advance(demoNightStart)
	say("\n== regtidy report %s --policy examples/openhands.yaml %s\n", repo, gh)
	rest := e.Stats().Total()
	rr, err := regtidy.Report(ctx, repo, regtidy.ReportOptions{Options: c.Options, Policy: pol, Report: report.Options{GroupBy: "sdk"}})
	if err != nil {
		return err
	}
	firstListing := e.Stats().Total() - rest
	if err := c.WriteReport(rr); err != nil {
		return err
	}
	say("\n(tags and manifests through the OCI API: %d requests, which the REST budget does not count;", rr.Listing.Requests.Total())
	say(" version ids through the REST API: %d requests for %s versions, %d to a page, pages fetched concurrently)",
		firstListing, units.Count(tagged+untagged), ghcr.DefaultPageSize)

	say("\n== regtidy plan %s --policy examples/openhands.yaml %s -o plan.json\n", repo, gh)
	rest = e.Stats().Total()
	p, err := regtidy.Plan(ctx, repo, regtidy.PlanOptions{Options: c.Options, PolicyFile: polPath, Now: clock.Now(), Mode: plan.ModeAuto})
	if err != nil {
		return err
	}
	planListing := e.Stats().Total() - rest
	if err := p.WriteFile(filepath.Join(dir, "plan.json")); err != nil {
		return err
	}
	if err := c.WritePlan(p); err != nil {
		return err
	}
	say("\n(the plan listed the versions again for %d REST request(s), against %d for the report's first listing: the state file", planListing, firstListing)
	say(" %s holds every version id, so a repeat listing reads page 1 and stops at what it knows)", filepath.Base(c.Options.GHCR.State))
	if err := demo.Explain(c.Stdout, p); err != nil {
		return err
	}

	nights, err := applyNights(ctx, c, p, clock, dir)
	if err != nil {
		return err
	}

	say("\n== regtidy report %s %s (after apply)\n", repo, gh)
	rest = e.Stats().Total()
	l, err := regtidy.Inventory(ctx, repo, regtidy.InventoryOptions{Options: c.Options})
	if err != nil {
		return err
	}
	repeatListing := e.Stats().Total() - rest
	after := report.Compute(l.Inventory, pol.Scheme, report.Options{})
	taggedAfter, untaggedAfter := activeCounts(e.Versions(cs.Repository))
	say("tags: %d before, %d after", cs.Totals.Tags, after.Tags)
	for _, k := range after.Kinds {
		say("  %-12s %d", k.Kind, k.Tags)
	}
	say("package versions: %s before, %s after (%s tagged, %s untagged)", units.Count(tagged+untagged), units.Count(taggedAfter+untaggedAfter), units.Count(taggedAfter), units.Count(untaggedAfter))
	say("listing the versions cost %d REST request(s), against %d the first time: the state file knew every id", repeatListing, firstListing)

	if err := c.Verify(ctx, repo, p); err != nil {
		return err
	}
	if err := undoOne(ctx, c, repo, e.URL, dir); err != nil {
		return err
	}
	gitHubSide(c.Stdout, e.Stats(), nights, time.Since(realStart))
	return nil
}

// demoNight is one nightly run of the demo.
type demoNight struct {
	// took is the run's emulated time.
	took time.Duration
}

// applyNights applies the plan as a nightly job would: each night a fresh run with a budget of
// REST requests (GHCROptions.MaxRequests), which stops cleanly when spent; the next night
// continues from the state file. Nights are a day apart on the fake clock.
func applyNights(ctx context.Context, c *demo.Config, p *plan.Plan, clock *ghcremu.FakeClock, dir string) ([]demoNight, error) {
	budget := max(50, (p.Cost.Requests+demoNights-1)/demoNights)
	budget = (budget + 49) / 50 * 50
	opt := regtidy.ApplyOptions{Options: c.Options, Journal: filepath.Join(dir, "plan.journal.jsonl"), DeleteConcurrency: 8}
	opt.GHCR.MaxRequests = budget
	w := c.Stdout
	fmt.Fprintf(w, "\nA nightly job applies the plan with a budget of %s REST requests a night (about a third of the plan, so that\n", units.Count(budget))
	fmt.Fprintf(w, "the story takes %d nights; a personal token allows %s an hour). Each night is a new process: the state\n", demoNights, units.Count(ghcremu.DefaultRateLimit))
	fmt.Fprintf(w, "file tells it what earlier nights deleted, and the journal keeps growing for undo.\n")
	var nights []demoNight
	for n := 1; ; n++ {
		if n > maxDemoNights {
			return nights, fmt.Errorf("the plan is not done after %d nights", maxDemoNights)
		}
		start := clock.Now()
		fmt.Fprintf(w, "\n== night %d, %s: regtidy apply plan.json --max-requests %d --state %s\n\n",
			n, start.Format("Mon 2006-01-02 15:04 MST"), budget, filepath.Base(c.Options.GHCR.State))
		res, err := regtidy.Apply(ctx, p, opt)
		if res != nil {
			if werr := c.WriteApply(res); werr != nil && err == nil {
				err = werr
			}
		}
		night := demoNight{took: clock.Now().Sub(start)}
		nights = append(nights, night)
		var be *ghcr.BudgetError
		switch {
		case err == nil:
			fmt.Fprintf(w, "(night %d: %s of emulated time; the plan is done)\n", n, emulated(night.took))
			return nights, nil
		case regtidy.IsPartial(err) && errors.As(err, &be):
			fmt.Fprintf(w, "regtidy: exit status %d: %v\n", exitPartial, be)
			fmt.Fprintf(w, "(night %d: %s of emulated time)\n", n, emulated(night.took))
		default:
			return nights, err
		}
		clock.Advance(24*time.Hour - night.took)
	}
}

// undoOne cuts the journal down to one image (its index, platform image and attestation) and
// undoes that: GitHub restores the three versions, and the tag is back.
func undoOne(ctx context.Context, c *demo.Config, repo, api, dir string) error {
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
	fmt.Fprintf(c.Stdout, "\n== regtidy undo one-image.journal.jsonl %s\n", "--github-api "+api)
	fmt.Fprintf(c.Stdout, "(the journal cut down to the image tagged %s: GitHub restores deleted versions for 30 days)\n\n", tag)
	res, err := regtidy.Undo(ctx, path, regtidy.UndoOptions{Options: c.Options})
	if res != nil {
		if werr := res.WriteText(c.Stdout); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		return err
	}
	desc, err := c.Options.Client.Resolve(ctx, repo, tag)
	if err != nil {
		return fmt.Errorf("after undo, %s:%s: %w", repo, tag, err)
	}
	fmt.Fprintf(c.Stdout, "%s is back: %s\n", tag, desc.Digest)
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

// gitHubSide tells what the emulated GitHub counted: requests by endpoint, the limits, and the
// emulated time the nights took.
func gitHubSide(w io.Writer, s ghcremu.Stats, nights []demoNight, real time.Duration) {
	say := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
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
