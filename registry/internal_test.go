package registry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func TestNextLink(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   string
	}{
		{"distribution", []string{`</v2/a/tags/list?last=b&n=2>; rel="next"`}, "/v2/a/tags/list?last=b&n=2"},
		{"several links", []string{`<https://x/p?page=1>; rel="prev", <https://x/p?page=3>; rel="next", <https://x/p?page=9>; rel="last"`}, "https://x/p?page=3"},
		{"unquoted rel", []string{`</next>; rel=next`}, "/next"},
		{"rel list", []string{`</n>; rel="last next"`}, "/n"},
		{"second header", []string{`</p>; rel="prev"`, `</n>; rel="next"`}, "/n"},
		{"no next", []string{`</p>; rel="prev"`}, ""},
		{"none", nil, ""},
		{"garbage", []string{`<unterminated; rel="next"`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextLink(tt.values); got != tt.want {
				t.Errorf("nextLink(%q) = %q, want %q", tt.values, got, tt.want)
			}
		})
	}
}

func TestParseChallenge(t *testing.T) {
	tests := []struct {
		values     []string
		wantScheme string
		wantParams map[string]string
	}{
		{[]string{`Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:o/n:pull"`}, "Bearer",
			map[string]string{"realm": "https://ghcr.io/token", "service": "ghcr.io", "scope": "repository:o/n:pull"}},
		{[]string{`Basic realm="regtest"`}, "Basic", map[string]string{"realm": "regtest"}},
		{[]string{`Negotiate`, `Basic realm="a, \"b\""`}, "Basic", map[string]string{"realm": `a, "b"`}},
		{[]string{`Bearer realm=https://x/token, service=x`}, "Bearer", map[string]string{"realm": "https://x/token", "service": "x"}},
	}
	for _, tt := range tests {
		scheme, params := pickChallenge(tt.values)
		if scheme != tt.wantScheme {
			t.Errorf("scheme of %q = %q, want %q", tt.values, scheme, tt.wantScheme)
		}
		if diff := cmp.Diff(tt.wantParams, params); diff != "" {
			t.Errorf("params of %q (-want +got):\n%s", tt.values, diff)
		}
	}
}

func TestSchemes(t *testing.T) {
	tests := []struct {
		host     string
		insecure bool
		want     []string
	}{
		{"localhost:5000", false, []string{"http"}},
		{"127.0.0.1:5000", false, []string{"http"}},
		{"127.8.9.10", false, []string{"http"}},
		{"[::1]:5000", false, []string{"http"}},
		{"registry.localhost", false, []string{"http"}},
		{"ghcr.io", false, []string{"https"}},
		{"192.168.1.20:5000", false, []string{"https"}},
		{"192.168.1.20:5000", true, []string{"https", "http"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, schemes(tt.host, tt.insecure)); diff != "" {
			t.Errorf("schemes(%q, %v) (-want +got):\n%s", tt.host, tt.insecure, diff)
		}
	}
}

func TestResponseError(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		wantErr  error
		wantCode string
		wantText string
	}{
		{"manifest unknown", 404, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}`,
			ErrNotFound, "MANIFEST_UNKNOWN", "fetch manifest r.io/a:x: 404 MANIFEST_UNKNOWN: manifest unknown"},
		{"bare 404", 404, ``, ErrNotFound, "", "fetch manifest r.io/a:x: 404 not found"},
		{"denied", 403, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`,
			ErrUnauthorized, "DENIED", "requested access to the resource is denied (registry r.io refused access to repository a; credentials used: anonymous access)"},
		{"unsupported", 405, `{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}`,
			ErrUnsupported, "UNSUPPORTED", "405 UNSUPPORTED: The operation is unsupported."},
		{"rate limited", 429, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`, ErrRateLimited, "TOOMANYREQUESTS", "slow down"},
		{"several errors", 400, `{"errors":[{"code":"MANIFEST_INVALID","message":"bad"},{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown"}]}`,
			nil, "MANIFEST_INVALID", "400 MANIFEST_INVALID: bad; blob unknown"},
		{"plain text", 502, "upstream gone\n", nil, "", "502: upstream gone"},
		{"html page", 500, "<html><body>oops</body></html>", nil, "", "500 internal server error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.status, Body: io.NopCloser(strings.NewReader(tt.body))}
			e := responseError("fetch manifest", "r.io/a", "x", resp)
			if errors.Is(e.Err, ErrUnauthorized) {
				e.Credentials = "anonymous access"
			}
			if tt.wantErr != nil && !errors.Is(e, tt.wantErr) {
				t.Errorf("errors.Is(%v, %v) = false", e, tt.wantErr)
			}
			if tt.wantErr == nil && e.Err != nil {
				t.Errorf("wraps %v, want no sentinel", e.Err)
			}
			if e.Code != tt.wantCode || !strings.Contains(e.Error(), tt.wantText) {
				t.Errorf("code %q, text %q; want %q containing %q", e.Code, e.Error(), tt.wantCode, tt.wantText)
			}
		})
	}
}

// fixedKeychain answers one authenticator for every registry: the Docker config in tests.
type fixedKeychain struct{ auth authn.Authenticator }

func (k fixedKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.auth, nil }

func TestKeychainOrder(t *testing.T) {
	docker := &authn.Basic{Username: "docker-user", Password: "docker-pass"}
	tests := []struct {
		name      string
		creds     Credentials
		env       map[string]string
		fallback  authn.Authenticator
		wantUser  string
		wantPass  string
		wantDescr string
	}{
		{"explicit first", Credentials{Username: "alice", Password: "flag-pass"}, map[string]string{EnvUsername: "bob", EnvPassword: "env-pass"}, docker,
			"alice", "flag-pass", `user "alice" from explicit credentials`},
		{"explicit password, env user", Credentials{Password: "flag-pass"}, map[string]string{EnvUsername: "bob"}, docker,
			"bob", "flag-pass", `user "bob" from explicit credentials`},
		{"token alone", Credentials{Password: "ghp_token"}, nil, docker,
			DefaultUsername, "ghp_token", `user "regtidy" from explicit credentials`},
		{"environment next", Credentials{}, map[string]string{EnvUsername: "bob", EnvPassword: "env-pass"}, docker,
			"bob", "env-pass", `user "bob" from REGTIDY_USERNAME/REGTIDY_PASSWORD`},
		{"docker config last", Credentials{Username: "alice"}, nil, docker,
			"docker-user", "docker-pass", `user "docker-user" from the Docker config`},
		{"anonymous", Credentials{}, nil, authn.Anonymous, "", "", "anonymous access (no credentials given"},
		{"github token on a GitHub host", Credentials{GitHubHosts: []string{"$REPO-HOST"}},
			map[string]string{EnvGitHubToken: "ghs_actions", EnvGHToken: "gho_cli", EnvGitHubActor: "octocat"}, authn.Anonymous,
			"octocat", "ghs_actions", `user "octocat" from GITHUB_TOKEN (the GitHub token)`},
		{"gh token when GITHUB_TOKEN is unset", Credentials{GitHubHosts: []string{"$repo-host"}},
			map[string]string{EnvGHToken: "gho_cli"}, authn.Anonymous,
			DefaultUsername, "gho_cli", `user "regtidy" from GH_TOKEN (the GitHub token)`},
		{"the variable --token-env names", Credentials{GitHubHosts: []string{"$repo-host"}, GitHubTokenEnv: "PACKAGES_TOKEN"},
			map[string]string{EnvGitHubToken: "ghs_actions", "PACKAGES_TOKEN": "ghp_admin"}, authn.Anonymous,
			DefaultUsername, "ghp_admin", `user "regtidy" from PACKAGES_TOKEN (the GitHub token)`},
		{"docker config wins over the github token", Credentials{GitHubHosts: []string{"$repo-host"}},
			map[string]string{EnvGitHubToken: "ghs_actions"}, docker,
			"docker-user", "docker-pass", `user "docker-user" from the Docker config`},
		{"github token not sent to other hosts", Credentials{GitHubHosts: []string{"registry.example.com"}},
			map[string]string{EnvGitHubToken: "ghs_actions"}, authn.Anonymous, "", "", "anonymous access (no credentials given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo, _ := name.NewRepository("ghcr.io/openhands/eval-agent-server")
			// "$repo-host" stands for the repository's registry host ("$REPO-HOST": in capitals).
			creds := tt.creds
			creds.GitHubHosts = nil
			for _, h := range tt.creds.GitHubHosts {
				h = strings.ReplaceAll(h, "$repo-host", repo.RegistryStr())
				creds.GitHubHosts = append(creds.GitHubHosts, strings.ReplaceAll(h, "$REPO-HOST", strings.ToUpper(repo.RegistryStr())))
			}
			kc := &keychain{creds: creds, getenv: func(k string) string { return tt.env[k] }, fallback: fixedKeychain{tt.fallback}}
			a, err := authn.Resolve(context.Background(), kc, repo)
			if err != nil {
				t.Fatal(err)
			}
			inner, source := unwrapAuth(a, "?")
			cfg, err := authn.Authorization(context.Background(), inner)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Username != tt.wantUser || cfg.Password != tt.wantPass {
				t.Errorf("credentials %q/%q, want %q/%q", cfg.Username, cfg.Password, tt.wantUser, tt.wantPass)
			}
			descr := describeCredentials(context.Background(), inner, source)
			if !strings.HasPrefix(descr, tt.wantDescr) || strings.Contains(descr, "pass") || strings.Contains(descr, "ghp_") || strings.Contains(descr, "ghs_") || strings.Contains(descr, "gho_") {
				t.Errorf("description %q, want it to start with %q and hold no secret", descr, tt.wantDescr)
			}
		})
	}
}
