package registry

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Environment variables the Keychain reads.
const (
	EnvUsername = "REGTIDY_USERNAME"
	EnvPassword = "REGTIDY_PASSWORD"
)

// DefaultUsername is sent with a password or token given without a user name. Registries that
// take tokens over basic auth (ghcr.io among them) accept any user name.
const DefaultUsername = "regtidy"

// GitHub token variables, read in this order when Credentials.GitHubTokenEnv is empty, and the
// variable GitHub Actions sets to the user that started the workflow.
const (
	EnvGitHubToken = "GITHUB_TOKEN"
	EnvGHToken     = "GH_TOKEN"
	EnvGitHubActor = "GITHUB_ACTOR"
)

// Credentials are a user name and a password or token given explicitly (flags, stdin), and where
// a GitHub token may stand in for registry credentials.
type Credentials struct {
	Username string
	Password string
	// GitHubHosts are registry hosts (host or host:port) of GitHub's container registry. On these
	// a GitHub token from the environment (GitHubTokenEnv, else GITHUB_TOKEN, else GH_TOKEN) signs
	// registry requests when no other credentials are set, so that inside GitHub Actions the one
	// token that serves the REST API also reads (and pushes) images. "*" matches every host.
	GitHubHosts []string
	// GitHubTokenEnv names the variable holding the GitHub token (--token-env); empty means
	// GITHUB_TOKEN, then GH_TOKEN.
	GitHubTokenEnv string
}

// Keychain returns the keychain regtidy resolves credentials with, in this order:
//  1. creds, when creds.Password is set (the user name falls back to REGTIDY_USERNAME, then
//     DefaultUsername);
//  2. REGTIDY_USERNAME / REGTIDY_PASSWORD, when REGTIDY_PASSWORD is set;
//  3. the Docker config (~/.docker/config.json or $DOCKER_CONFIG) and its credential helpers,
//     through go-containerregistry's authn.DefaultKeychain;
//  4. on creds.GitHubHosts only, a GitHub token from the environment (the user name is
//     GITHUB_ACTOR, else DefaultUsername: the registry accepts any);
//  5. anonymous.
//
// Explicit and environment credentials apply to every registry: regtidy works on one registry at
// a time. The authenticators it returns remember where they came from, so an ErrUnauthorized error
// can say which credentials were refused without showing them.
func Keychain(creds Credentials) authn.Keychain {
	return &keychain{creds: creds, getenv: os.Getenv, fallback: authn.DefaultKeychain}
}

type keychain struct {
	creds    Credentials
	getenv   func(string) string
	fallback authn.Keychain
}

// Resolve implements authn.Keychain.
func (k *keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), r)
}

// ResolveContext implements authn.ContextKeychain.
func (k *keychain) ResolveContext(ctx context.Context, r authn.Resource) (authn.Authenticator, error) {
	envUser, envPass := k.getenv(EnvUsername), k.getenv(EnvPassword)
	if k.creds.Password != "" {
		user := firstOf(k.creds.Username, envUser, DefaultUsername)
		return basicFrom(user, k.creds.Password, "explicit credentials"), nil
	}
	if envPass != "" {
		user := firstOf(k.creds.Username, envUser, DefaultUsername)
		return basicFrom(user, envPass, EnvUsername+"/"+EnvPassword), nil
	}
	auth, err := authn.Resolve(ctx, k.fallback, r)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s from the Docker config: %w", r.RegistryStr(), err)
	}
	if auth == authn.Anonymous {
		if a := k.gitHubToken(r.RegistryStr()); a != nil {
			return a, nil
		}
		return &sourcedAuth{Authenticator: authn.Anonymous, source: "anonymous access (no credentials given, none in " +
			EnvPassword + " or the Docker config)"}, nil
	}
	return &sourcedAuth{Authenticator: auth, source: "the Docker config"}, nil
}

// gitHubToken returns the GitHub token of the environment as basic credentials for host, when
// host is one of creds.GitHubHosts and a token is set; nil otherwise.
func (k *keychain) gitHubToken(host string) *sourcedAuth {
	github := false
	for _, h := range k.creds.GitHubHosts {
		github = github || h == "*" || strings.EqualFold(h, host)
	}
	if !github {
		return nil
	}
	names := []string{EnvGitHubToken, EnvGHToken}
	if k.creds.GitHubTokenEnv != "" {
		names = []string{k.creds.GitHubTokenEnv}
	}
	for _, n := range names {
		if token := strings.TrimSpace(k.getenv(n)); token != "" {
			user := firstOf(k.creds.Username, k.getenv(EnvGitHubActor), DefaultUsername)
			return basicFrom(user, token, n+" (the GitHub token)")
		}
	}
	return nil
}

func basicFrom(user, password, source string) *sourcedAuth {
	return &sourcedAuth{
		Authenticator: authn.FromConfig(authn.AuthConfig{Username: user, Password: password}),
		source:        source,
	}
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// sourcedAuth is an authenticator that knows where its credentials came from.
type sourcedAuth struct {
	authn.Authenticator
	source string
}

// AuthorizationContext implements authn.ContextAuthenticator.
func (s *sourcedAuth) AuthorizationContext(ctx context.Context) (*authn.AuthConfig, error) {
	return authn.Authorization(ctx, s.Authenticator)
}

// unwrapAuth returns the authenticator to hand to go-containerregistry (which recognises
// authn.Anonymous by identity) and where it came from.
func unwrapAuth(a authn.Authenticator, source string) (authn.Authenticator, string) {
	if s, ok := a.(*sourcedAuth); ok {
		return s.Authenticator, s.source
	}
	return a, source
}

// describeCredentials says which credentials a is, for error messages; it never includes a secret.
func describeCredentials(ctx context.Context, a authn.Authenticator, source string) string {
	if a == authn.Anonymous {
		switch {
		case strings.HasPrefix(source, "anonymous"):
			return source
		case source == "":
			return "anonymous access"
		}
		return "anonymous access (from " + source + ")"
	}
	cfg, err := authn.Authorization(ctx, a)
	if err != nil {
		return "credentials from " + source + " that could not be read: " + err.Error()
	}
	switch {
	case cfg.IdentityToken != "":
		return "an identity token from " + source
	case cfg.RegistryToken != "":
		return "a registry token from " + source
	case cfg.Username != "":
		return fmt.Sprintf("user %q from %s", cfg.Username, source)
	case cfg.Auth != "":
		return "encoded credentials from " + source
	}
	return "anonymous access (empty credentials from " + source + ")"
}
