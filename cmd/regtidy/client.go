package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/regtidy/regtidy"
	"github.com/regtidy/regtidy/registry"
)

// credentials are the registry credentials the flags and the environment give. The password is
// read from stdin at most once per command.
func (o *rootOptions) credentials() (registry.Credentials, error) {
	// The GitHub token (GITHUB_TOKEN, GH_TOKEN or --token-env) signs registry requests to GitHub's
	// container registry when no other credentials are set: one token for REST and registry. With
	// --github-api every repository of the run is GitHub's (see isGHCR).
	creds := registry.Credentials{Username: o.username, GitHubHosts: []string{regtidy.GHCRHost}, GitHubTokenEnv: o.gh.tokenEnv}
	if o.gh.api != "" {
		creds.GitHubHosts = []string{"*"}
	}
	if o.passwordStdin {
		if o.password == "" {
			line, err := bufio.NewReader(o.stdin).ReadString('\n')
			if err != nil && line == "" {
				return creds, fmt.Errorf("--password-stdin: reading the password: %w", err)
			}
			o.password = strings.TrimRight(line, "\r\n")
		}
		if o.password == "" {
			return creds, errors.New("--password-stdin: standard input held an empty password")
		}
		creds.Password = o.password
	}
	return creds, nil
}

// client builds the OCI registry client the flags describe.
func (o *rootOptions) client() (*registry.Client, error) {
	creds, err := o.credentials()
	if err != nil {
		return nil, err
	}
	opts := []registry.Option{
		registry.WithKeychain(registry.Keychain(creds)),
		registry.WithInsecure(o.insecure),
		registry.WithLogger(o.logger()),
	}
	if o.concurrency > 0 {
		opts = append(opts, registry.WithConcurrency(o.concurrency))
	}
	return registry.New(opts...), nil
}

// options are the library options the flags describe, with client c and progress pr (nil: none).
func (o *rootOptions) options(c *registry.Client, pr *progress) regtidy.Options {
	opt := regtidy.Options{
		Client:      c,
		CacheDir:    o.cacheDir,
		NoCache:     o.noCache,
		Concurrency: o.concurrency,
		Logger:      o.logger(),
		GHCR:        o.gh.lib(),
	}
	if pr != nil {
		opt.Progress = pr.update
	}
	return opt
}

// warn writes the library's warnings to stderr.
func (o *rootOptions) warn(warnings []string) {
	for _, w := range warnings {
		fmt.Fprintf(o.stderr, "regtidy: %s\n", w)
	}
}

// partial maps the library's partial runs to errPartial (exit status 3).
func partial(err error) error {
	if err != nil && regtidy.IsPartial(err) {
		return fmt.Errorf("%w: %w", errPartial, err)
	}
	return err
}
