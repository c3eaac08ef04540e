package ghcremu_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"

	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry"
)

const actionsToken = "ghs_workflowtoken"

// pushEmptyConfig uploads the empty JSON config blob ("{}") to repo with the keychain's
// credentials, through go-containerregistry (regtidy itself uploads no blobs).
func pushEmptyConfig(repo string, kc authn.Keychain) error {
	r, err := name.NewRepository(repo, name.Insecure)
	if err != nil {
		return err
	}
	return remote.WriteLayer(r, static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json"), remote.WithAuthFromKeychain(kc))
}

// startWithTokenAuth starts an emulator whose OCI API asks for registry tokens, with packages
// private or public, and clears every credential but the GitHub token from the environment.
func startWithTokenAuth(t *testing.T, private bool) *ghcremu.Emulator {
	t.Helper()
	e, err := ghcremu.Start(t.Context(), ghcremu.Options{
		OCIAuth: true, Private: private, Tokens: map[string]int{actionsToken: 1000},
		Clock: ghcremu.NewFakeClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)).Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv(registry.EnvPassword, "")
	t.Setenv(registry.EnvGHToken, "")
	return e
}

// The OCI side asks for a registry token as the GitHub registry does. With nothing but the
// workflow's GITHUB_TOKEN in the environment (no Docker config, no REGTIDY_PASSWORD), regtidy's
// client gets one and pushes, lists and reads; anonymous and wrong credentials are refused.
func TestGitHubTokenAloneServesTheOCIAPI(t *testing.T) {
	e := startWithTokenAuth(t, true)
	repo := e.Host + "/acme/app"

	if _, _, _, err := casegen.PushIndex(t.Context(), e.Host, "acme/app", "v1"); err == nil {
		t.Fatal("a push without a registry token was accepted")
	}

	t.Setenv(registry.EnvGitHubToken, actionsToken)
	c := registry.New(registry.WithKeychain(registry.Keychain(registry.Credentials{GitHubHosts: []string{e.Host}})))
	raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`)
	if err := pushEmptyConfig(repo, registry.Keychain(registry.Credentials{GitHubHosts: []string{e.Host}})); err != nil {
		t.Fatalf("push a blob with the GitHub token: %v", err)
	}
	if err := c.PushManifest(t.Context(), repo, "v1", inventory.MediaTypeOCIManifest, raw); err != nil {
		t.Fatalf("push a manifest with the GitHub token: %v", err)
	}
	var tags []string
	if err := c.ListTags(t.Context(), repo, func(page []string) error { tags = append(tags, page...); return nil }); err != nil || len(tags) != 1 {
		t.Fatalf("list with the GitHub token: %v, %v", tags, err)
	}
	if _, err := c.Resolve(t.Context(), repo, "v1"); err != nil {
		t.Fatalf("resolve with the GitHub token: %v", err)
	}
	if st := e.Stats(); st.TokenGrants == 0 || st.OCIUnauthorized == 0 {
		t.Errorf("stats %+v: want challenges answered and registry tokens granted", st)
	}

	t.Setenv(registry.EnvGitHubToken, "ghp_notatoken")
	bad := registry.New(registry.WithKeychain(registry.Keychain(registry.Credentials{GitHubHosts: []string{e.Host}})))
	if _, err := bad.Resolve(t.Context(), repo, "v1"); !errors.Is(err, registry.ErrUnauthorized) {
		t.Errorf("resolve with an unknown token: %v, want ErrUnauthorized", err)
	}
	t.Setenv(registry.EnvGitHubToken, "")
	anon := registry.New(registry.WithKeychain(registry.Keychain(registry.Credentials{GitHubHosts: []string{e.Host}})))
	if _, err := anon.Resolve(t.Context(), repo, "v1"); !errors.Is(err, registry.ErrUnauthorized) {
		t.Errorf("anonymous resolve in a private package: %v, want ErrUnauthorized", err)
	}
}

// A public package is read anonymously, as on the GitHub registry; pushing still needs a token.
func TestAnonymousPullOfAPublicPackage(t *testing.T) {
	e := startWithTokenAuth(t, false)
	t.Setenv(registry.EnvGitHubToken, "")
	repo := e.Host + "/acme/app"
	anon := registry.New()
	const emptyConfig = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
	if err := pushEmptyConfig(repo, authn.NewMultiKeychain()); err == nil {
		t.Fatal("an anonymous push was accepted")
	}
	t.Setenv(registry.EnvGitHubToken, actionsToken)
	owner := registry.New(registry.WithKeychain(registry.Keychain(registry.Credentials{GitHubHosts: []string{e.Host}})))
	raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + emptyConfig + `","size":2},"layers":[]}`)
	if err := pushEmptyConfig(repo, registry.Keychain(registry.Credentials{GitHubHosts: []string{e.Host}})); err != nil {
		t.Fatal(err)
	}
	if err := owner.PushManifest(t.Context(), repo, "v1", inventory.MediaTypeOCIManifest, raw); err != nil {
		t.Fatal(err)
	}
	t.Setenv(registry.EnvGitHubToken, "")
	if _, err := anon.Resolve(t.Context(), repo, "v1"); err != nil {
		t.Errorf("anonymous resolve in a public package: %v", err)
	}
}
