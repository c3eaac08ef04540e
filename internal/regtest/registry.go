// Package regtest runs real registries in-process for tests, benchmarks and `regtidy demo`: the
// distribution v3 registry (the one behind the registry:3 image) on 127.0.0.1 with delete enabled,
// and fills repositories in the shape of the case regtidy was born from.
package regtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // storage driver "filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"   // storage driver "inmemory"
	"github.com/sirupsen/logrus"
)

// Registry is a distribution v3 registry serving on a loopback port.
type Registry struct {
	// Host is "127.0.0.1:PORT", usable as the registry part of a reference.
	Host string
	// URL is "http://127.0.0.1:PORT".
	URL string
	// Handler is the registry's HTTP handler; wrap it to inject faults or count requests.
	Handler http.Handler

	srv    *http.Server
	cancel context.CancelFunc
}

// Options configure Start.
type Options struct {
	// Dir is the root of the filesystem storage driver; empty means in-memory storage.
	Dir string
	// Wrap, if set, wraps the registry's handler (fault injection, request counting).
	Wrap func(http.Handler) http.Handler
	// MaxTags caps the page size of tags/list when the client sends n (tags.maxtags; 0 keeps distribution's default, 1000).
	MaxTags int
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
	cfg, err := configuration.Parse(strings.NewReader(yml))
	if err != nil {
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
		return nil, fmt.Errorf("regtest: listen: %w", err)
	}
	r := &Registry{
		Host:    ln.Addr().String(),
		URL:     "http://" + ln.Addr().String(),
		Handler: h,
		srv:     &http.Server{Handler: h},
		cancel:  cancel,
	}
	go r.srv.Serve(ln) //nolint:errcheck // Serve returns ErrServerClosed on Close.
	return r, nil
}

// Close stops the server and the registry's background work.
func (r *Registry) Close() error {
	r.cancel()
	return r.srv.Close()
}
