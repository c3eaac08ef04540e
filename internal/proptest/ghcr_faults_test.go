package proptest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/regtidy/regtidy/internal/faultproxy"
	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry/ghcr"
)

// ghcrFaultCases is how many cases TestGHCRUnderFaults runs by default.
const ghcrFaultCases = 4

// startGHCRBehindProxy starts an emulator and serves it through a fault proxy: the REST API and
// the OCI API are both reached through the proxy.
func startGHCRBehindProxy(t *testing.T, popt faultproxy.Options) (*ghcrRun, *faultproxy.Proxy) {
	t.Helper()
	g := startGHCR(t, ghcremu.Options{RegistryDelete: ghcremu.DeleteTags, Tokens: map[string]int{ghcrToken: 0}}, "acme/prop")
	proxy := faultproxy.New(g.e, popt)
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	g.repo = host + "/" + g.pkg
	g.restURL = srv.URL
	g.oci = faultyClient()
	return g, proxy
}

// ghcrFaultKinds are the faults TestGHCRUnderFaults injects: every network and server fault,
// resets after GitHub acted included (undo restores versions journaled gone:
// TestGHCRUndoRestoresVersionsJournaledGone); not the empty tag page.
var ghcrFaultKinds = faultproxy.NetworkAndServer

// TestGHCRUnderFaults plans, applies (by version) and undoes (by restore) random packages on the
// GHCR emulator behind a fault proxy, on both its APIs, each phase run again until it reports
// success. Checked after every apply run: no version with a kept tag, nor a child of a kept
// index, is deleted, and nothing outside the plan; once apply reports success, exactly the
// planned versions are deleted; once undo does, none is.
func TestGHCRUnderFaults(t *testing.T) {
	ctx := t.Context()
	tally := newTally()
	for _, seed := range seeds(t, ghcrFaultCases, 7) {
		c, err := deletingCase(t, seed, genOptions{ghcrShape: true, now: caseNow, noUntaggedReferrers: true, noOrphanIndexes: true}, 4)
		if err != nil {
			failf(t, t.Name(), seed, "%v", err)
			continue
		}
		g, proxy := startGHCRBehindProxy(t, faultproxy.Options{Seed: c.seed, Rate: 0.1, Max: 40,
			Kinds:      ghcrFaultKinds,
			MaxPerKind: map[faultproxy.Kind]int{faultproxy.Stall: 1}, StallMax: 4 * clientTimeout})
		msg := ghcrFaultCase(ctx, g, proxy, c, tally)
		tally.addProxy(proxy)
		if msg != "" {
			failf(t, t.Name(), c.seed, "%s", msg)
		}
	}
	t.Logf("GHCR under faults:\n%s", tally)
}

// ghcrFaultCase runs one case; it returns what went wrong, or "".
func ghcrFaultCase(ctx context.Context, g *ghcrRun, proxy *faultproxy.Proxy, c *planCase, tally *faultTally) string {
	proxy.SetEnabled(false)
	if err := pushModel(ctx, g.oci, g.repo, c.m); err != nil {
		return err.Error()
	}
	g.clock.Advance(24 * time.Hour)
	proxy.SetEnabled(true)
	rest, err := g.rest(ghcr.WithTransport(&http.Transport{ResponseHeaderTimeout: clientTimeout}), ghcr.WithMaxRetries(1))
	if err != nil {
		return err.Error()
	}
	exp := g.expect(c)
	if lastTaggedDeleted(c.m, exp) {
		return ""
	}
	// Plan: listings that fail are reported; the plan made is exactly the model's.
	var p *plan.Plan
	runs := 0
	for p == nil {
		if runs++; runs > maxRuns {
			return fmt.Sprintf("no plan after %d runs", maxRuns)
		}
		p, err = g.plan(ctx, c, rest)
		if err != nil {
			tally.errors["ghcr plan"]++
		}
	}
	tally.runs["ghcr plan"] = append(tally.runs["ghcr plan"], runs)
	exp = g.expect(c)
	if msg := checkPlan(p, c, exp); msg != "" {
		return "plan made under faults:\n" + msg
	}
	var journal bytes.Buffer
	for runs = 1; ; runs++ {
		if runs > maxRuns {
			return fmt.Sprintf("apply not done after %d runs", maxRuns)
		}
		res, err := g.apply(ctx, p, rest, ghcr.ApplyOptions{Journal: &journal})
		if msg := g.safeSoFar(c, exp); msg != "" {
			return fmt.Sprintf("apply run %d (err %v): %s", runs, err, msg)
		}
		if err != nil {
			if res != nil && !res.Partial() && len(res.Deleted) > 0 {
				return fmt.Sprintf("apply run %d: error %v, but the result is not partial", runs, err)
			}
			tally.errors["ghcr apply"]++
			g.clock.Advance(time.Minute)
			continue
		}
		if res.Partial() {
			return fmt.Sprintf("apply run %d: no error, but partial: failed %+v, protected %+v, held %+v, remaining %d", runs, res.Failed, res.Protected, res.Held, res.Remaining)
		}
		if msg := g.checkVersions(c, exp); msg != "" {
			return fmt.Sprintf("apply run %d reported success, but (a failure swallowed?):\n%s", runs, msg)
		}
		break
	}
	tally.runs["ghcr apply"] = append(tally.runs["ghcr apply"], runs)
	for runs = 1; ; runs++ {
		if runs > maxRuns {
			return fmt.Sprintf("undo not done after %d runs", maxRuns)
		}
		st, err := ghcr.LoadState(ctx, g.statePath)
		if err != nil {
			return err.Error()
		}
		res, err := ghcr.Undo(ctx, bytes.NewReader(journal.Bytes()), rest, st, ghcr.UndoOptions{StatePath: g.statePath})
		if err != nil {
			if res != nil && !res.Partial() {
				return fmt.Sprintf("undo run %d: error %v, but the result is not partial", runs, err)
			}
			tally.errors["ghcr undo"]++
			g.clock.Advance(time.Minute)
			continue
		}
		if d := g.deletedDigests(); len(d) > 0 {
			return fmt.Sprintf("undo run %d reported success (restored %v, not deleted %v), but %d versions are still deleted: %v\njournal records of them:\n%s",
				runs, res.Restored, res.NotDeleted, len(d), d, journalLines(journal.Bytes(), d))
		}
		break
	}
	tally.runs["ghcr undo"] = append(tally.runs["ghcr undo"], runs)
	return ""
}

// safeSoFar checks the versions in the middle of an apply: none deleted that the plan keeps,
// none with a kept tag, none listed by a kept index.
func (g *ghcrRun) safeSoFar(c *planCase, exp *expectation) string {
	var b strings.Builder
	for _, v := range g.e.Versions(g.pkg) {
		if v.DeletedAt.IsZero() {
			continue
		}
		if !exp.deleted[v.Digest] {
			fmt.Fprintf(&b, "version %d (%s, tags %v) is deleted; the plan keeps it\n", v.ID, v.Digest, v.Tags)
		}
		for _, tag := range v.Tags {
			if exp.keptTags[tag] {
				fmt.Fprintf(&b, "invariant 2: version %d was deleted with kept tag %s\n", v.ID, tag)
			}
		}
	}
	return b.String()
}

// journalLines returns the journal's lines that name one of the digests.
func journalLines(journal []byte, digests []string) string {
	var b strings.Builder
	for _, line := range strings.Split(string(journal), "\n") {
		for _, d := range digests {
			if strings.Contains(line, d) {
				if len(line) > 400 {
					line = line[:400] + "..."
				}
				b.WriteString(line + "\n")
				break
			}
		}
	}
	return b.String()
}
