package inventory_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry"
)

func isNotFound(err error) bool { return errors.Is(err, registry.ErrNotFound) }

// fill starts a registry with the case at a small scale, optionally behind a handler wrapper.
func fill(t *testing.T, wrap func(http.Handler) http.Handler) (*regtest.Registry, *casegen.Case, string) {
	t.Helper()
	ctx := context.Background()
	reg, err := regtest.Start(ctx, regtest.Options{Wrap: wrap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	c, err := casegen.FillCase(ctx, reg.Host, casegen.CaseSpec{Scale: 0.002, Seed: 7, Referrers: 4})
	if err != nil {
		t.Fatal(err)
	}
	return reg, c, reg.Host + "/" + c.Repository
}

func TestBuildMatchesTheCaseColdAndWarm(t *testing.T) {
	_, c, repo := fill(t, nil)
	ctx := context.Background()
	cache, err := inventory.OpenCache(t.TempDir(), repo)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()

	cold := registry.New()
	inv, st, err := inventory.Build(ctx, cold, repo, inventory.BuildOptions{Cache: cache, IsNotFound: isNotFound})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Tags) != len(c.Tags) {
		t.Fatalf("inventory has %d tags, the case %d", len(inv.Tags), len(c.Tags))
	}
	for _, ct := range c.Tags {
		i := findTag(inv, ct.Name)
		if i < 0 || inv.Tags[i].Digest != ct.Digest {
			t.Fatalf("tag %s: inventory %v, case digest %s", ct.Name, i, ct.Digest)
		}
		m := inv.Manifests[ct.Digest]
		if m == nil {
			t.Fatalf("tag %s: manifest %s not fetched", ct.Name, ct.Digest)
		}
		for _, child := range ct.ChildDigests {
			if inv.Manifests[child] == nil {
				t.Errorf("tag %s: child %s not fetched", ct.Name, child)
			}
		}
		if ct.Kind == casegen.KindImage {
			if !m.IsIndex() || len(m.Manifests) != 2 || !m.Manifests[1].IsAttestation() && !m.Manifests[0].IsAttestation() {
				t.Errorf("tag %s: want an index with an image and an attestation, got %+v", ct.Name, m.Manifests)
			}
			if !m.Created.Equal(ct.Created) {
				t.Errorf("tag %s: created %v, case %v", ct.Name, m.Created, ct.Created)
			}
		}
		if ct.Kind == casegen.KindReferrer {
			subject, ok := inventory.ReferrerTagDigest(ct.Name)
			if !ok || inv.Manifests[subject] == nil {
				t.Errorf("referrer tag %s: subject %s not in the inventory", ct.Name, subject)
			}
		}
	}
	if st.ManifestGets == 0 || st.Heads != 0 {
		t.Errorf("cold run: %d manifest GETs, %d HEADs; want GETs by tag and no HEADs", st.ManifestGets, st.Heads)
	}

	warm := registry.New()
	inv2, st2, err := inventory.Build(ctx, warm, repo, inventory.BuildOptions{Cache: cache, IsNotFound: isNotFound})
	if err != nil {
		t.Fatal(err)
	}
	if st2.ManifestGets != 0 || st2.ConfigGets != 0 {
		t.Errorf("warm run: %d manifest GETs, %d config GETs; want none", st2.ManifestGets, st2.ConfigGets)
	}
	if got := warm.Counter().Snapshot().Count(http.MethodGet, 200); got != 2 { // ping + tags/list
		t.Errorf("warm run made %d GETs, want 2 (ping and tag list)", got)
	}
	if inv2.Fingerprint() != inv.Fingerprint() || len(inv2.Manifests) != len(inv.Manifests) {
		t.Errorf("warm inventory differs: %d manifests vs %d", len(inv2.Manifests), len(inv.Manifests))
	}
}

func TestBuildSkipsATagDeletedAfterListing(t *testing.T) {
	var victim atomic.Value
	victim.Store("")
	var reg *regtest.Registry
	// After the tag list is served, delete one tag through the registry's own API.
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			if v := victim.Load().(string); v != "" && strings.HasSuffix(r.URL.Path, "/tags/list") {
				victim.Store("")
				req, _ := http.NewRequest(http.MethodDelete, reg.URL+v, nil)
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
				}
			}
		})
	}
	reg, c, repo := fill(t, wrap)
	gone := c.TagsOf(casegen.KindLegacy)[0]
	victim.Store("/v2/" + c.Repository + "/manifests/" + gone.Name)

	inv, st, err := inventory.Build(context.Background(), registry.New(), repo, inventory.BuildOptions{}) // the default IsNotFound knows registry.ErrNotFound
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Vanished) != 1 || inv.Vanished[0] != gone.Name || st.VanishedTags != 1 {
		t.Fatalf("vanished = %v, want [%s]", inv.Vanished, gone.Name)
	}
	if findTag(inv, gone.Name) >= 0 || len(inv.Tags) != len(c.Tags)-1 {
		t.Errorf("deleted tag still listed, or others lost: %d tags", len(inv.Tags))
	}
}

func TestBuildRetriesA500MidListing(t *testing.T) {
	var armed, failed atomic.Bool
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Once armed, the first GET of a manifest by digest fails, mid-inventory.
			if armed.Load() && r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/sha256:") && failed.CompareAndSwap(false, true) {
				http.Error(w, "injected", http.StatusInternalServerError)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	_, c, repo := fill(t, wrap)
	armed.Store(true)
	cl := registry.New()
	inv, _, err := inventory.Build(context.Background(), cl, repo, inventory.BuildOptions{IsNotFound: isNotFound})
	if err != nil {
		t.Fatal(err)
	}
	if !failed.Load() || cl.Counter().Snapshot().Count(http.MethodGet, 500) != 1 {
		t.Errorf("the injected 500 was not seen exactly once")
	}
	if len(inv.Tags) != len(c.Tags) {
		t.Errorf("%d tags after a retried 500, want %d", len(inv.Tags), len(c.Tags))
	}
}

func TestBuildRefetchesACorruptCacheEntry(t *testing.T) {
	_, c, repo := fill(t, nil)
	ctx := context.Background()
	dir := t.TempDir()
	cache, err := inventory.OpenCache(dir, repo)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := inventory.Build(ctx, registry.New(), repo, inventory.BuildOptions{Cache: cache, IsNotFound: isNotFound}); err != nil {
		t.Fatal(err)
	}
	cache.Close()

	// Corrupt the cached bytes of one tagged index: its digest no longer matches.
	var pack string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "pack" {
			pack = p
		}
		return nil
	})
	b, err := os.ReadFile(pack)
	if err != nil {
		t.Fatal(err)
	}
	victim := c.TagsOf(casegen.KindImage)[0].Digest
	i := strings.Index(string(b), victim+" ")
	j := strings.Index(string(b[i:]), "schemaVersion")
	b[i+j] = 'S'
	if err := os.WriteFile(pack, b, 0o644); err != nil {
		t.Fatal(err)
	}

	cache, err = inventory.OpenCache(dir, repo)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	inv, st, err := inventory.Build(ctx, registry.New(), repo, inventory.BuildOptions{Cache: cache, IsNotFound: isNotFound})
	if err != nil {
		t.Fatal(err)
	}
	if st.CacheCorrupt != 1 || st.ManifestGets != 1 {
		t.Errorf("corrupt %d, manifest GETs %d; want 1 and 1 (the corrupt entry fetched again)", st.CacheCorrupt, st.ManifestGets)
	}
	if m := inv.Manifests[victim]; m == nil || len(m.Manifests) != 2 {
		t.Errorf("re-fetched manifest %+v", m)
	}
}

func TestBuildReportsBadCredentials(t *testing.T) {
	ctx := context.Background()
	reg, err := regtest.Start(ctx, regtest.Options{Htpasswd: map[string]string{"alice": "right"}})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	cl := registry.New(registry.WithKeychain(registry.Keychain(registry.Credentials{Username: "alice", Password: "wrong"})))
	_, _, err = inventory.Build(ctx, cl, reg.Host+"/team/app", inventory.BuildOptions{IsNotFound: isNotFound})
	if !errors.Is(err, registry.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "alice") || strings.Contains(msg, "wrong") {
		t.Errorf("error should name the user and never the password: %s", msg)
	}
}

func findTag(inv *inventory.Inventory, name string) int {
	for i, t := range inv.Tags {
		if t.Name == name {
			return i
		}
	}
	return -1
}

func TestMain(m *testing.M) {
	os.Exit(regtest.RunWithoutCredentials(m, registry.EnvUsername, registry.EnvPassword))
}
