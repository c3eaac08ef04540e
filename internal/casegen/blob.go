package casegen

import (
	"context"
	"net/http"
)

// PushBlob uploads data as a blob of repo on the registry at host ("127.0.0.1:port", plain
// HTTP) through client, and returns its digest. A nil client is http.DefaultClient; for a
// registry started with Htpasswd, give one whose transport adds the credentials (BasicAuth).
// Tests build repositories by hand with it; regtidy itself never uploads blobs.
func PushBlob(ctx context.Context, client *http.Client, host, repo string, data []byte) (string, error) {
	if client == nil {
		client = http.DefaultClient
	}
	b := newBlob(data)
	return b.digest, newPusher(client, "http://"+host).upload(ctx, repo, b)
}

// BasicAuth returns a client that sends user and password with every request, for PushBlob to a
// registry started with Htpasswd.
func BasicAuth(user, password string) *http.Client {
	return &http.Client{Transport: basicAuth{user: user, password: password}}
}

// basicAuth is BasicAuth's transport.
type basicAuth struct{ user, password string }

// RoundTrip sends r with the credentials.
func (b basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.user, b.password)
	return http.DefaultTransport.RoundTrip(r)
}
