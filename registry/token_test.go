package registry_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry"
)

// tokenGate puts bearer-token auth in front of the real registry, the way ghcr.io and Docker Hub
// work: a 401 challenge names a token endpoint on the same host, which trades basic credentials
// for a token granting the scopes asked; each request must carry a token whose scope allows its
// method (GET/HEAD pull, PUT/POST/PATCH push, DELETE delete) on its repository.
type tokenGate struct {
	user, password string

	mu     sync.Mutex
	grants map[string]map[string][]string // token -> repository -> actions
	asked  []string                       // scope parameters of token requests, in order
	issued []string
}

func (g *tokenGate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/token" {
			g.serveToken(w, req)
			return
		}
		// Blob uploads come from the test's fixtures (casegen.PushBlob), not from the client
		// under test, which never uploads blobs: they pass.
		uploads := strings.Contains(req.URL.Path, "/blobs/uploads/")
		if req.URL.Path != "/v2/" && !uploads && !g.allowed(req) {
			g.challenge(w, req)
			return
		}
		if req.URL.Path == "/v2/" && !strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ") {
			g.challenge(w, req)
			return
		}
		h.ServeHTTP(w, req)
	})
}

func (g *tokenGate) challenge(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="regtest"`, req.Host))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
}

func (g *tokenGate) serveToken(w http.ResponseWriter, req *http.Request) {
	user, pass, ok := req.BasicAuth()
	if !ok || user != g.user || pass != g.password {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}`))
		return
	}
	buf := make([]byte, 16)
	rand.Read(buf)
	tok := "tok-" + hex.EncodeToString(buf)
	grant := map[string][]string{}
	for _, scope := range req.URL.Query()["scope"] {
		parts := strings.Split(scope, ":")
		if len(parts) == 3 && parts[0] == "repository" {
			grant[parts[1]] = append(grant[parts[1]], strings.Split(parts[2], ",")...)
		}
	}
	g.mu.Lock()
	if g.grants == nil {
		g.grants = map[string]map[string][]string{}
	}
	g.grants[tok] = grant
	g.asked = append(g.asked, strings.Join(req.URL.Query()["scope"], " "))
	g.issued = append(g.issued, tok)
	g.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_in": 300})
}

func (g *tokenGate) allowed(req *http.Request) bool {
	tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	rest := strings.TrimPrefix(req.URL.Path, "/v2/")
	var repo string
	for _, marker := range []string{"/manifests/", "/blobs/", "/tags/list"} {
		if i := strings.Index(rest, marker); i >= 0 {
			repo = rest[:i]
			break
		}
	}
	action := map[string]string{
		http.MethodGet: "pull", http.MethodHead: "pull", http.MethodDelete: "delete",
	}[req.Method]
	if action == "" {
		action = "push"
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Contains(g.grants[tok][repo], action)
}

func (g *tokenGate) snapshot() (asked, issued []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.asked), slices.Clone(g.issued)
}

func TestBearerTokensPerRepositoryAndScope(t *testing.T) {
	gate := &tokenGate{user: testUser, password: testPassword}
	r := startRegistry(t, regtest.Options{Wrap: gate.wrap})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newClient(registry.WithLogger(logger),
		registry.WithKeychain(registry.Keychain(registry.Credentials{Username: testUser, Password: testPassword})))
	repo := r.Host + "/team/app"

	pushImage(t, c, repo, "v1.0.0", inventory.MediaTypeOCIManifest, "v1")
	pushImage(t, c, repo, "v1.0.1", inventory.MediaTypeOCIManifest, "v1.0.1")
	for range 3 {
		if _, err := c.Resolve(t.Context(), repo, "v1.0.0"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := listAll(t, c, repo); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteManifest(t.Context(), repo, "v1.0.1"); err != nil {
		t.Fatal(err)
	}

	asked, issued := gate.snapshot()
	want := []string{"repository:team/app:push,pull", "repository:team/app:pull", "repository:team/app:push,pull,delete"}
	if diff := cmp.Diff(want, asked); diff != "" {
		t.Errorf("token requests, one per scope (-want +got):\n%s", diff)
	}
	stats := c.Counter().Snapshot()
	if n := stats.Count(http.MethodGet, http.StatusUnauthorized); n != 1 {
		t.Errorf("GET 401 = %d, want 1 (the ping only)", n)
	}
	if stats.Total() < int64(len(asked))+1 {
		t.Errorf("counter total %d does not include the %d token requests", stats.Total(), len(asked))
	}
	out := logs.String()
	for _, tok := range issued {
		if strings.Contains(out, tok) {
			t.Fatalf("debug log contains the bearer token %q", tok)
		}
	}
	if !strings.Contains(out, "/token?") {
		t.Errorf("token requests were not logged:\n%s", out)
	}
}

func TestBearerBadCredentials(t *testing.T) {
	gate := &tokenGate{user: testUser, password: testPassword}
	r := startRegistry(t, regtest.Options{Wrap: gate.wrap})
	c := newClient(registry.WithKeychain(registry.Keychain(registry.Credentials{Username: testUser, Password: "stale-token"})))
	_, err := c.Resolve(t.Context(), r.Host+"/team/app", "v1.0.0")
	if !errors.Is(err, registry.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	msg := err.Error()
	t.Log(msg)
	if !strings.Contains(msg, `user "alice"`) || !strings.Contains(msg, "repository team/app") || strings.Contains(msg, "stale-token") {
		t.Errorf("error %q should name the user and repository and not the secret", msg)
	}
}
