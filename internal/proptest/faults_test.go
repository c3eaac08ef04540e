package proptest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/internal/faultproxy"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/registry"
	"github.com/regtidy/regtidy/registry/transport"
)

// Fault runs: how many cases, and how many runs a phase may take before the test gives up.
const (
	faultCases = 4
	maxRuns    = 30
	// clientTimeout is how long the client waits for an answer's headers: a stall outlasts it.
	// Generous for a loopback registry; a slow answer past it is retried like a stall.
	clientTimeout = 1500 * time.Millisecond
)

// faultyClient is a registry client that gives up on a stall after clientTimeout and retries
// once, quickly: a burst of three errors gets through to regtidy's own handling.
func faultyClient() *registry.Client {
	base := transport.NewBase(false, 8)
	base.ResponseHeaderTimeout = clientTimeout
	return registry.New(registry.WithTransport(base),
		registry.WithRetry(transport.RetryOptions{Attempts: 2, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxWait: 10 * time.Second}))
}

// faultTally adds up, over a test, the faults injected and the runs each phase took.
type faultTally struct {
	faults   map[faultproxy.Kind]int
	requests int
	runs     map[string][]int
	errors   map[string]int
}

func newTally() *faultTally {
	return &faultTally{faults: map[faultproxy.Kind]int{}, runs: map[string][]int{}, errors: map[string]int{}}
}

func (ft *faultTally) addProxy(p *faultproxy.Proxy) {
	for k, n := range p.Counts() {
		ft.faults[k] += n
	}
	_, reqs := p.Total()
	ft.requests += reqs
}

func (ft *faultTally) String() string {
	var kinds []string
	total := 0
	for k, n := range ft.faults {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
		total += n
	}
	sort.Strings(kinds)
	var phases []string
	for ph, runs := range ft.runs {
		hist := map[int]int{}
		most := 0
		for _, r := range runs {
			hist[r]++
			most = max(most, r)
		}
		phases = append(phases, fmt.Sprintf("%s: %d times, runs needed %v (at most %d), %d failed runs reported", ph, len(runs), hist, most, ft.errors[ph]))
	}
	sort.Strings(phases)
	return fmt.Sprintf("%d faults in %d requests (%s)\n%s", total, ft.requests, strings.Join(kinds, " "), strings.Join(phases, "\n"))
}

// TestPlanApplyUndoUnderFaults runs plan, apply (tag and digest mode) and undo through a proxy
// that injects every kind of network and server fault but the empty tag page. Each phase is run
// again until it reports success, at most maxRuns times. Checked: every run that did not finish
// says so (an error, and for apply a partial result); a run that reports success left the
// registry exactly as expected; after every apply run, finished or not, nothing kept is touched
// and nothing is gone that the plan keeps; the plan made under faults is exactly the model's;
// undo puts the registry back as it was.
func TestPlanApplyUndoUnderFaults(t *testing.T) {
	ctx := t.Context()
	tally := newTally()
	for i, seed := range seeds(t, faultCases, 6) {
		c, err := deletingCase(t, seed, genOptions{now: caseNow}, 4)
		if err != nil {
			failf(t, t.Name(), seed, "%v", err)
			continue
		}
		for _, mode := range []plan.Mode{plan.ModeTag, plan.ModeDigest} {
			var proxy *faultproxy.Proxy
			reg, err := regtest.Start(ctx, regtest.Options{Wrap: faultproxy.Wrap(&proxy, faultproxy.Options{
				Seed: c.seed + uint64(i), Rate: 0.06, Max: 40,
				MaxPerKind: map[faultproxy.Kind]int{faultproxy.Stall: 1}, StallMax: 4 * clientTimeout,
			})})
			if err != nil {
				t.Fatal(err)
			}
			msg := faultCase(ctx, reg, proxy, c, mode, tally, filepath.Join(t.TempDir(), "journal.jsonl"))
			tally.addProxy(proxy)
			reg.Close()
			if msg != "" {
				failf(t, t.Name(), c.seed, "%s mode: %s", mode, msg)
			}
		}
	}
	t.Logf("under faults:\n%s", tally)
	if len(tally.faults) < len(faultproxy.NetworkAndServer)-2 {
		t.Errorf("only %d kinds of fault were injected", len(tally.faults))
	}
}

// faultCase runs one case in one mode under faults; it returns what went wrong, or "".
func faultCase(ctx context.Context, reg *regtest.Registry, proxy *faultproxy.Proxy, c *planCase, mode plan.Mode, tally *faultTally, journal string) string {
	repo := reg.Host + "/prop/faults"
	direct := registry.New()
	proxy.SetEnabled(false)
	if err := pushModel(ctx, direct, repo, c.m); err != nil {
		return err.Error()
	}
	before, err := readState(ctx, direct, repo, c.m)
	if err != nil {
		return err.Error()
	}
	exp := expect(c.m, c.gp, caseNow, c.m.createdFromModel, nil)
	want := wantState(c.m, exp, mode)
	// check reads the registry with faults off.
	check := func() (*registryState, error) {
		proxy.SetEnabled(false)
		defer proxy.SetEnabled(true)
		return readState(ctx, direct, repo, c.m)
	}
	proxy.SetEnabled(true)
	client := faultyClient()

	// Plan: a listing that fails fails the plan; the plan made is exactly the model's.
	var p *plan.Plan
	runs := 0
	for p == nil {
		if runs++; runs > maxRuns {
			return fmt.Sprintf("no plan after %d runs", maxRuns)
		}
		inv, _, err := inventory.Build(ctx, client, repo, inventory.BuildOptions{IsNotFound: isNotFound, Concurrency: 4})
		if err != nil {
			tally.errors["plan"]++
			continue
		}
		if p, err = policy.Evaluate(inv, c.pol, c.ks, caseNow); err != nil {
			return "evaluate: " + err.Error()
		}
	}
	tally.runs["plan"] = append(tally.runs["plan"], runs)
	if msg := checkPlan(p, c, exp); msg != "" {
		return "plan made under faults:\n" + msg
	}

	// Apply until a run reports success, journaling to a file as the CLI does: a later run reads
	// what the earlier ones deleted.
	for runs = 1; ; runs++ {
		if runs > maxRuns {
			return fmt.Sprintf("apply not done after %d runs", maxRuns)
		}
		res, err := apply.Apply(ctx, p, client, apply.ApplyOptions{Mode: mode, JournalPath: journal, Concurrency: 4, DeleteTimeout: time.Minute})
		got, cerr := check()
		if cerr != nil {
			return cerr.Error()
		}
		if msg := safeSoFar(got, want, exp); msg != "" {
			return fmt.Sprintf("apply run %d (err %v): %s", runs, err, msg)
		}
		if errors.Is(err, plan.ErrPlanStale) {
			return fmt.Sprintf("apply run %d found the plan stale, though nothing moved: %v", runs, err)
		}
		if err != nil {
			if res != nil && !res.Partial() && !errors.Is(err, apply.ErrPartial) {
				// An error before deleting (listing) is fine; a partial result must say so.
				if len(res.DeletedManifests)+len(res.DeletedTags) > 0 && len(res.Failed) == 0 {
					return fmt.Sprintf("apply run %d: error %v with a result that looks complete", runs, err)
				}
			}
			tally.errors["apply "+string(mode)]++
			continue
		}
		if len(res.Failed) > 0 {
			return fmt.Sprintf("apply run %d: no error, but failed %+v", runs, res.Failed)
		}
		if res.Partial() {
			return fmt.Sprintf("apply run %d: no error, but %d deletes left", runs, res.Remaining)
		}
		if d := diffState(want, got); d != "" {
			return fmt.Sprintf("apply run %d reported success, but the registry is not as planned (a failure swallowed):\n%s", runs, d)
		}
		break
	}
	tally.runs["apply "+string(mode)] = append(tally.runs["apply "+string(mode)], runs)

	// Undo until a run reports success; then the registry is as it was.
	for runs = 1; ; runs++ {
		if runs > maxRuns {
			return fmt.Sprintf("undo not done after %d runs", maxRuns)
		}
		jf, err := os.Open(journal)
		if err != nil {
			return err.Error()
		}
		res, err := apply.Undo(ctx, jf, client, apply.UndoOptions{Concurrency: 4})
		jf.Close()
		if err != nil {
			if res != nil && !res.Partial() {
				return fmt.Sprintf("undo run %d: error %v, but the result is not partial", runs, err)
			}
			tally.errors["undo"]++
			continue
		}
		got, cerr := check()
		if cerr != nil {
			return cerr.Error()
		}
		if d := diffState(before, got); d != "" {
			return fmt.Sprintf("undo run %d reported success, but the registry differs from before apply:\n%s", runs, d)
		}
		break
	}
	tally.runs["undo"] = append(tally.runs["undo"], runs)
	return ""
}

// safeSoFar checks a registry state in the middle of an apply: every kept tag points where it
// did and every kept manifest is there; what is gone is planned for deletion.
func safeSoFar(got, want *registryState, exp *expectation) string {
	var b strings.Builder
	for t, d := range want.tags {
		if got.tags[t] != d {
			fmt.Fprintf(&b, "kept tag %s: want %s, registry has %q\n", t, d, got.tags[t])
		}
	}
	for t, d := range got.tags {
		if _, kept := want.tags[t]; !kept && !exp.deleted[d] {
			fmt.Fprintf(&b, "tag %s points at %s, which the plan does not delete\n", t, d)
		}
	}
	for d := range exp.kept {
		if !got.manifests[d] {
			fmt.Fprintf(&b, "kept manifest %s is gone\n", d)
		}
	}
	return b.String()
}
