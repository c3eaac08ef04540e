package registry_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry"
)

const (
	testUser     = "alice"
	testPassword = "correct-horse-battery-staple"
)

func TestCredentialsAgainstHtpasswd(t *testing.T) {
	r := startRegistry(t, regtest.Options{Htpasswd: map[string]string{testUser: testPassword}})
	repo := r.Host + "/team/app"
	good := newClient(registry.WithKeychain(registry.Keychain(registry.Credentials{Username: testUser, Password: testPassword})))
	pushImage(t, good, repo, "v1.0.0", inventory.MediaTypeOCIManifest, "v1")
	if pages, err := listAll(t, good, repo); err != nil || len(pages) != 1 {
		t.Fatalf("list with good credentials = %v, %v", pages, err)
	}

	tests := []struct {
		name      string
		client    *registry.Client
		wantCreds string
	}{
		{"wrong password", newClient(registry.WithKeychain(registry.Keychain(registry.Credentials{Username: testUser, Password: "wrong-password"}))),
			`user "alice" from explicit credentials`},
		{"anonymous", newClient(), "anonymous access"},
		{"fixed authenticator", newClient(registry.WithAuth(&authn.Basic{Username: "mallory", Password: "guess"})),
			`user "mallory" from the configured authenticator`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := listAll(t, tt.client, repo)
			if !errors.Is(err, registry.ErrUnauthorized) {
				t.Fatalf("err = %v, want ErrUnauthorized", err)
			}
			msg := err.Error()
			t.Log(msg)
			for _, want := range []string{"registry " + r.Host, "repository team/app", tt.wantCreds} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			for _, secret := range []string{"wrong-password", "guess", testPassword} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q shows a secret", msg)
				}
			}
			var rerr *registry.Error
			if !errors.As(err, &rerr) || rerr.Status != http.StatusUnauthorized {
				t.Errorf("err = %#v, want a 401 *Error", err)
			}
		})
	}
}

func TestCredentialsFromEnvironment(t *testing.T) {
	r := startRegistry(t, regtest.Options{Htpasswd: map[string]string{testUser: testPassword}})
	t.Setenv(registry.EnvUsername, testUser)
	t.Setenv(registry.EnvPassword, testPassword)
	c := newClient()
	pushImage(t, c, r.Host+"/team/app", "v1.0.0", inventory.MediaTypeOCIManifest, "v1")
	if _, err := c.Resolve(t.Context(), r.Host+"/team/app", "v1.0.0"); err != nil {
		t.Fatalf("resolve with environment credentials: %v", err)
	}
}

func TestLogsNeverShowCredentials(t *testing.T) {
	r := startRegistry(t, regtest.Options{Htpasswd: map[string]string{testUser: testPassword}})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newClient(registry.WithLogger(logger),
		registry.WithKeychain(registry.Keychain(registry.Credentials{Username: testUser, Password: testPassword})))
	repo := r.Host + "/team/app"
	pushImage(t, c, repo, "v1.0.0", inventory.MediaTypeOCIManifest, "v1")
	if _, err := listAll(t, c, repo); err != nil {
		t.Fatal(err)
	}

	out := logs.String()
	basic := base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testPassword))
	for _, secret := range []string{testPassword, basic} {
		if strings.Contains(out, secret) {
			t.Errorf("debug log contains the secret %q", secret)
		}
	}
	if !strings.Contains(out, "Authorization=REDACTED") || !strings.Contains(out, "/tags/list") {
		t.Errorf("debug log lacks the redacted Authorization header or the listing:\n%s", out)
	}
}

// Inside GitHub Actions the workflow's token is the only credential: with no Docker config, a
// registry listed as a GitHub host takes it, and no other registry sees it.
func TestGitHubTokenServesGitHubHostsOnly(t *testing.T) {
	r := startRegistry(t, regtest.Options{Htpasswd: map[string]string{testUser: testPassword}})
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv(registry.EnvPassword, "")
	t.Setenv(registry.EnvGitHubToken, testPassword)
	t.Setenv(registry.EnvGitHubActor, testUser)
	repo := r.Host + "/team/app"

	github := newClient(registry.WithKeychain(registry.Keychain(registry.Credentials{GitHubHosts: []string{r.Host}})))
	pushImage(t, github, repo, "v1.0.0", inventory.MediaTypeOCIManifest, "v1")
	if _, err := github.Resolve(t.Context(), repo, "v1.0.0"); err != nil {
		t.Fatalf("resolve with the GitHub token on a GitHub host: %v", err)
	}

	other := newClient(registry.WithKeychain(registry.Keychain(registry.Credentials{GitHubHosts: []string{"registry.example.com"}})))
	_, err := other.Resolve(t.Context(), repo, "v1.0.0")
	if !errors.Is(err, registry.ErrUnauthorized) || !strings.Contains(err.Error(), "anonymous access") {
		t.Fatalf("resolve on a host that is not GitHub's: %v, want ErrUnauthorized as anonymous", err)
	}
}
