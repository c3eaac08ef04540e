package ghcr_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log"

	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/registry/ghcr"
)

// Sync keeps a State of the package's versions; a repeat run lists only the pages with new ones.
func ExampleClient_Sync() {
	ctx := context.Background()
	emu, err := ghcremu.Start(ctx, ghcremu.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer emu.Close()
	for i := range 250 {
		if _, err := emu.Register("acme/app", fmt.Sprintf("sha256:%x", sha256.Sum256([]byte{byte(i)}))); err != nil {
			log.Fatal(err)
		}
	}
	c, err := ghcr.New("ghcr.io/acme/app", ghcr.WithBaseURL(emu.URL), ghcr.WithToken("token"))
	if err != nil {
		log.Fatal(err)
	}
	st := ghcr.NewState(c.Repository())
	first, err := c.Sync(ctx, st)
	if err != nil {
		log.Fatal(err)
	}
	again, err := c.Sync(ctx, st)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("first run: %d versions, %d requests\n", len(st.Versions), first.Requests)
	fmt.Printf("repeat run: %d new, %d request\n", again.New, again.Requests)
	// Output:
	// first run: 250 versions, 4 requests
	// repeat run: 0 new, 1 request
}
