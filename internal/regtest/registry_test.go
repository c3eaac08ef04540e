package regtest

import (
	"context"
	"net/http"
	"testing"
)

func TestStartServesV2(t *testing.T) {
	for _, dir := range []string{"", t.TempDir()} {
		r, err := Start(context.Background(), Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(r.URL + "/v2/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /v2/ = %d, want 200", resp.StatusCode)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
