package ghcremu

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// registryGrant is what a registry token issued by /token allows.
type registryGrant struct {
	pull, push map[string]bool // repositories
}

// challenge answers 401 with the Bearer challenge the registry sends: where to get a token
// (realm), for which service and scope.
func (e *Emulator) challenge(w http.ResponseWriter, repo string, push bool) {
	scope := ""
	if repo != "" {
		actions := "pull"
		if push {
			actions = "pull,push"
		}
		scope = fmt.Sprintf(`,scope="repository:%s:%s"`, repo, actions)
	}
	// The service is the registry's host, as the GitHub registry names itself in its challenge.
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="%s"%s`, e.URL, e.Host, scope))
	writeOCIError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
	e.mu.Lock()
	e.ociUnauthorized++
	e.mu.Unlock()
}

// authorizeOCI checks an OCI request's registry token when Options.OCIAuth is set, answering the
// challenge when it does not allow the request. It reports whether the request may go on.
func (e *Emulator) authorizeOCI(w http.ResponseWriter, r *http.Request, repo string) bool {
	if !e.opts.OCIAuth {
		return true
	}
	push := r.Method != http.MethodGet && r.Method != http.MethodHead
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	e.mu.Lock()
	g := e.grants[token]
	e.mu.Unlock()
	switch {
	case !ok || g == nil:
		e.challenge(w, repo, push)
		return false
	case repo == "": // the base /v2/ check: any token will do
		return true
	case push && !g.push[repo], !push && !g.pull[repo]:
		e.challenge(w, repo, push)
		return false
	}
	return true
}

// serveToken is the registry's token endpoint: GET /token?service=...&scope=repository:R:pull,push.
// With basic auth whose password is an accepted GitHub token (any user name), it grants pull and
// push on the repositories named; without credentials, pull on public packages only (none when
// Options.Private). Bad credentials answer 401, as the registry does for a token it does not know.
func (e *Emulator) serveToken(w http.ResponseWriter, r *http.Request) {
	_, password, hasBasic := r.BasicAuth()
	known := false
	if hasBasic && password != "" {
		_, listed := e.opts.Tokens[password]
		known = e.opts.Tokens == nil || listed
	}
	if hasBasic && !known {
		writeOCIError(w, http.StatusUnauthorized, "UNAUTHORIZED", "bad credentials")
		return
	}
	g := &registryGrant{pull: map[string]bool{}, push: map[string]bool{}}
	for _, scope := range r.URL.Query()["scope"] {
		parts := strings.Split(scope, ":")
		if len(parts) != 3 || parts[0] != "repository" {
			continue
		}
		for _, action := range strings.Split(parts[2], ",") {
			switch {
			case known && action == "push":
				g.push[parts[1]] = true
			case action == "pull" && (known || !e.opts.Private):
				g.pull[parts[1]] = true
			}
		}
	}
	raw := make([]byte, 16)
	_, _ = rand.Read(raw) // crypto/rand.Read never fails
	token := hex.EncodeToString(raw)
	e.mu.Lock()
	e.grants[token] = g
	e.tokenGrants++
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"token": token}) // the client went away
}
