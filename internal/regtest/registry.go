// Package regtest runs real registries in-process for tests, benchmarks and the developer demo: the
// distribution v3 registry (the one behind the registry:3 image) on 127.0.0.1 with delete enabled,
// and the case's world (package casegen) in it.
package regtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/distribution/distribution/v3/configuration"
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd" // access controller "htpasswd"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // storage driver "filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"   // storage driver "inmemory"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"
)

// Registry is a distribution v3 registry serving on a loopback port.
type Registry struct {
	// Host is "127.0.0.1:PORT", usable as the registry part of a reference.
	Host string
	// URL is "http://127.0.0.1:PORT".
	URL string
	// Handler is the registry's HTTP handler; wrap it to inject faults or count requests.
	Handler http.Handler

	srv     *http.Server
	cancel  context.CancelFunc
	authDir string // temporary directory of the htpasswd file, removed on Close
}

// Options configure Start.
type Options struct {
	// Dir is the root of the filesystem storage driver; empty means in-memory storage.
	Dir string
	// Wrap, if set, wraps the registry's handler (fault injection, request counting).
	Wrap func(http.Handler) http.Handler
	// MaxTags caps the page size of tags/list when the client sends n (tags.maxtags; 0 keeps distribution's default, 1000).
	MaxTags int
	// Htpasswd, if set, turns on distribution's htpasswd access controller with these users
	// (user name -> password): every request then needs HTTP basic auth with one of them.
	// Passwords are hashed with bcrypt's minimum cost to keep tests fast.
	Htpasswd map[string]string
}

// Start starts a registry on 127.0.0.1 with a random port. Close it when done.
func Start(ctx context.Context, opts Options) (*Registry, error) {
	logrus.SetOutput(io.Discard)
	logrus.SetLevel(logrus.ErrorLevel)

	storage := "inmemory: {}"
	if opts.Dir != "" {
		storage = fmt.Sprintf("filesystem:\n    rootdirectory: %q", opts.Dir)
	}
	// The blob descriptor cache is left out on purpose: tests change storage behind the registry's
	// back (garbage collection, corruption), and the in-memory cache keeps answering deleted digests.
	yml := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
  redirect:
    disable: true
http:
  addr: 127.0.0.1:0
`, storage)
	var authDir string
	if len(opts.Htpasswd) > 0 {
		dir, path, err := writeHtpasswd(opts.Htpasswd)
		if err != nil {
			return nil, err
		}
		authDir = dir
		yml += fmt.Sprintf("auth:\n  htpasswd:\n    realm: regtest\n    path: %q\n", path)
	}
	cleanup := func() {
		if authDir != "" {
			os.RemoveAll(authDir)
		}
	}
	cfg, err := configuration.Parse(strings.NewReader(yml))
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("regtest: registry config: %w", err)
	}
	if opts.MaxTags > 0 {
		cfg.Tags.MaxTags = opts.MaxTags
	}
	actx, cancel := context.WithCancel(ctx)
	app := handlers.NewApp(actx, cfg)
	var h http.Handler = app
	if opts.Wrap != nil {
		h = opts.Wrap(h)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		cleanup()
		return nil, fmt.Errorf("regtest: listen: %w", err)
	}
	r := &Registry{
		Host:    ln.Addr().String(),
		URL:     "http://" + ln.Addr().String(),
		Handler: h,
		srv:     &http.Server{Handler: h},
		cancel:  cancel,
		authDir: authDir,
	}
	go r.srv.Serve(ln) //nolint:errcheck // Serve returns ErrServerClosed on Close.
	return r, nil
}

// Close stops the server and the registry's background work.
func (r *Registry) Close() error {
	r.cancel()
	err := r.srv.Close()
	if r.authDir != "" {
		if rerr := os.RemoveAll(r.authDir); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

// writeHtpasswd writes users as a bcrypt htpasswd file in a new temporary directory and returns
// the directory and the file's path.
func writeHtpasswd(users map[string]string) (dir, path string, err error) {
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, u := range names {
		hash, err := bcrypt.GenerateFromPassword([]byte(users[u]), bcrypt.MinCost)
		if err != nil {
			return "", "", fmt.Errorf("regtest: htpasswd for %q: %w", u, err)
		}
		fmt.Fprintf(&b, "%s:%s\n", u, hash)
	}
	dir, err = os.MkdirTemp("", "regtest-auth-")
	if err != nil {
		return "", "", fmt.Errorf("regtest: htpasswd dir: %w", err)
	}
	path = filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("regtest: write htpasswd: %w", err)
	}
	return dir, path, nil
}
