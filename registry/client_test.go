package registry_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sync/errgroup"

	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry"
	"github.com/regtidy/regtidy/registry/transport"
)

func TestCounterTotals(t *testing.T) {
	r := startRegistry(t, regtest.Options{})
	pusher := newClient()
	repo := r.Host + "/team/app"
	img := pushImage(t, pusher, repo, "v1.0.0", inventory.MediaTypeOCIManifest, "v1")

	c := newClient()
	if _, err := listAll(t, c, repo); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := c.Resolve(t.Context(), repo, "v1.0.0"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Resolve(t.Context(), repo, "gone"); err == nil {
		t.Fatal("resolve of a missing tag succeeded")
	}
	if _, _, err := c.FetchManifest(t.Context(), repo, img.desc.Digest); err != nil {
		t.Fatal(err)
	}

	got := c.Counter().Snapshot()
	want := []transport.RequestCount{
		{Method: http.MethodGet, Status: 200, Count: 3}, // ping, tags/list, manifest
		{Method: http.MethodHead, Status: 200, Count: 3},
		{Method: http.MethodHead, Status: 404, Count: 1},
	}
	if diff := cmp.Diff(want, got.Requests); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if got.Total() != 7 {
		t.Errorf("Total = %d, want 7", got.Total())
	}
	if got.BytesReceived < img.desc.Size {
		t.Errorf("BytesReceived = %d, want at least the manifest's %d bytes", got.BytesReceived, img.desc.Size)
	}
}

func TestConcurrencyLimitHolds(t *testing.T) {
	var inFlight, peak atomic.Int64
	r := startRegistry(t, regtest.Options{Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			if req.Method == http.MethodHead {
				time.Sleep(15 * time.Millisecond)
			}
			h.ServeHTTP(w, req)
		})
	}})
	c := newClient(registry.WithConcurrency(3))
	repo := r.Host + "/team/app"
	pushImage(t, c, repo, "v1.0.0", inventory.MediaTypeOCIManifest, "v1")

	g, ctx := errgroup.WithContext(t.Context())
	for range 24 {
		g.Go(func() error {
			_, err := c.Resolve(ctx, repo, "v1.0.0")
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := peak.Load(); got != 3 {
		t.Errorf("peak requests in flight at the registry = %d, want 3", got)
	}
}

func TestInsecureLoopbackNames(t *testing.T) {
	r := startRegistry(t, regtest.Options{})
	_, port, _ := strings.Cut(r.Host, ":")
	c := newClient()
	// localhost resolves to the loopback registry over plain HTTP without WithInsecure.
	repo := "localhost:" + port + "/team/app"
	pushImage(t, c, repo, "v1.0.0", inventory.MediaTypeOCIManifest, "v1")
	if _, err := c.Resolve(t.Context(), repo, "v1.0.0"); err != nil {
		t.Fatal(err)
	}
}
