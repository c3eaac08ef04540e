package registry_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log"

	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry"
)

// A zero-option client talks to a loopback registry over plain HTTP, pushes an image manifest
// under two tags, lists them and reports the requests it made.
func ExampleClient_ListTags() {
	ctx := context.Background()
	reg, err := regtest.Start(ctx, regtest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Close()

	c := registry.New()
	repo := reg.Host + "/openhands/eval-agent-server"
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	configDigest := fmt.Sprintf("sha256:%x", sha256.Sum256(config))
	// The config blob is uploaded by the test registry's helper: regtidy itself uploads none.
	if _, err := casegen.PushBlob(ctx, nil, reg.Host, "openhands/eval-agent-server", config); err != nil {
		log.Fatal(err)
	}
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[]}`,
		inventory.MediaTypeOCIManifest, configDigest, len(config))
	for _, tag := range []string{"v1.0.0", "v1.0.0-rc1"} {
		if err := c.PushManifest(ctx, repo, tag, inventory.MediaTypeOCIManifest, []byte(manifest)); err != nil {
			log.Fatal(err)
		}
	}

	err = c.ListTags(ctx, repo, func(tags []string) error {
		fmt.Println(tags)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// GET: the /v2/ ping and the one tags/list; PUT: the two manifests.
	for _, r := range c.Counter().Snapshot().Requests {
		fmt.Println(r.Method, r.Status, r.Count)
	}
	// Output:
	// [v1.0.0 v1.0.0-rc1]
	// GET 200 2
	// PUT 201 2
}
