package proptest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/faultproxy"
	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/registry"
	"github.com/regtidy/regtidy/registry/ghcr"
	"github.com/regtidy/regtidy/registry/transport"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers (a logger's).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// secretForms are the ways a secret can leak: as is, and inside HTTP basic auth.
func secretForms(user, secret string) []string {
	return []string{secret, base64.StdEncoding.EncodeToString([]byte(user + ":" + secret))}
}

// leaks returns the places (by name) whose text holds a form of the secret.
func leaks(forms []string, places map[string]string) []string {
	var out []string
	for name, text := range places {
		for _, f := range forms {
			if strings.Contains(text, f) {
				out = append(out, name)
				break
			}
		}
	}
	return out
}

// TestSecretsNeverWritten checks invariant 7 on a random case, under faults so that retries are
// logged: with a registry that wants a password, and logging at debug level (every request),
// neither the password nor its basic-auth form appears in the logs, the plan file, the journal,
// the results or the errors of plan, apply, verify and undo; nor does the GHCR token in those of
// a GHCR plan and apply.
func TestSecretsNeverWritten(t *testing.T) {
	ctx := t.Context()
	const user, password = "ci-bot", "s3cret-regtidy-password-9d2f"
	var proxy *faultproxy.Proxy
	reg, err := regtest.Start(ctx, regtest.Options{Htpasswd: map[string]string{user: password},
		Wrap: faultproxy.Wrap(&proxy, faultproxy.Options{Seed: 9, Rate: 0.1, Max: 20,
			Kinds: []faultproxy.Kind{faultproxy.Status503, faultproxy.Status429RetryAfter, faultproxy.Reset}})})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	client := registry.New(registry.WithAuth(&authn.Basic{Username: user, Password: password}), registry.WithLogger(log),
		registry.WithRetry(transport.RetryOptions{Attempts: 4, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, Logger: log}))
	c, err := deletingCase(t, 10, genOptions{now: caseNow}, 3)
	if err != nil {
		t.Fatal(err)
	}
	repo := reg.Host + "/prop/secrets"
	proxy.SetEnabled(false)
	if err := pushModelWith(ctx, client, casegen.BasicAuth(user, password), repo, c.m); err != nil {
		t.Fatal(err)
	}
	proxy.SetEnabled(true)
	places := map[string]string{}
	var p *plan.Plan
	for run := 0; p == nil && run < maxRuns; run++ {
		inv, _, err := inventory.Build(ctx, client, repo, inventory.BuildOptions{IsNotFound: isNotFound, Logger: log})
		if err != nil {
			places[fmt.Sprintf("plan error %d", run)] = err.Error()
			continue
		}
		if p, err = policy.Evaluate(inv, c.pol, c.ks, caseNow); err != nil {
			t.Fatal(err)
		}
	}
	if p == nil {
		t.Fatal("no plan")
	}
	var planFile, journal bytes.Buffer
	if err := p.Write(&planFile); err != nil {
		t.Fatal(err)
	}
	places["plan file"] = planFile.String()
	for run := 0; run < maxRuns; run++ {
		res, err := apply.Apply(ctx, p, client, apply.ApplyOptions{Mode: plan.ModeDigest, Journal: &journal, Logger: log})
		places[fmt.Sprintf("apply result %d", run)] = fmt.Sprintf("%+v %v", res, err)
		if err == nil {
			break
		}
	}
	places["journal"] = journal.String()
	v, err := apply.VerifyPlan(ctx, client, p, apply.VerifyOptions{Logger: log})
	places["verify"] = fmt.Sprintf("%+v %v", v, err)
	ures, err := apply.Undo(ctx, bytes.NewReader(journal.Bytes()), client, apply.UndoOptions{Logger: log})
	places["undo"] = fmt.Sprintf("%+v %v", ures, err)
	// A request with a wrong password fails; its error must not carry the password either.
	bad := registry.New(registry.WithAuth(&authn.Basic{Username: user, Password: password + "-wrong"}), registry.WithLogger(log))
	_, err = bad.Resolve(ctx, repo, c.m.tagNames()[0])
	if !errors.Is(err, registry.ErrUnauthorized) {
		t.Errorf("a wrong password: %v, want ErrUnauthorized", err)
	}
	places["unauthorized error"] = fmt.Sprint(err)
	places["logs"] = logs.String()
	if n, _ := proxy.Total(); n == 0 || !strings.Contains(logs.String(), "retrying request") {
		t.Errorf("%d faults, retries logged: %v: the logs were not exercised", n, strings.Contains(logs.String(), "retrying request"))
	}
	if l := leaks(append(secretForms(user, password), secretForms(user, password+"-wrong")...), places); len(l) > 0 {
		t.Errorf("the password is written in: %v", l)
	}

	// GHCR: the token in the REST client's logs, the journal, the plan and the results.
	g := startGHCR(t, ghcremu.Options{RegistryDelete: ghcremu.DeleteTags, Tokens: map[string]int{ghcrToken: 0}}, "acme/secrets")
	gc, err := deletingCase(t, 20, genOptions{ghcrShape: true, now: caseNow, noUntaggedReferrers: true, noOrphanIndexes: true}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := pushModel(ctx, g.oci, g.repo, gc.m); err != nil {
		t.Fatal(err)
	}
	g.clock.Advance(24 * time.Hour)
	g.e.SetErrorRate(0.1)
	rest, err := g.rest(ghcr.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	gplaces := map[string]string{}
	gp, err := g.plan(ctx, gc, rest)
	for run := 0; err != nil && run < maxRuns; run++ {
		gplaces[fmt.Sprintf("ghcr plan error %d", run)] = err.Error()
		gp, err = g.plan(ctx, gc, rest)
	}
	if err != nil {
		t.Fatal(err)
	}
	var gplan, gjournal bytes.Buffer
	if err := gp.Write(&gplan); err != nil {
		t.Fatal(err)
	}
	gplaces["ghcr plan file"] = gplan.String()
	for run := 0; run < maxRuns; run++ {
		res, err := g.apply(ctx, gp, rest, ghcr.ApplyOptions{Journal: &gjournal, Logger: log})
		gplaces[fmt.Sprintf("ghcr apply result %d", run)] = fmt.Sprintf("%+v %v", res, err)
		if err == nil {
			break
		}
	}
	gplaces["ghcr journal"] = gjournal.String()
	gplaces["logs"] = logs.String()
	if l := leaks([]string{ghcrToken}, gplaces); len(l) > 0 {
		t.Errorf("the GHCR token is written in: %v", l)
	}
	t.Logf("%d bytes of debug logs, a %d-byte journal, %d-byte plan files and every result and error checked", len(logs.String()), journal.Len()+gjournal.Len(), planFile.Len()+gplan.Len())
}
