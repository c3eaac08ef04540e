package transport

import "net/http"

// DefaultUserAgent is the User-Agent Stack sends when none is given.
const DefaultUserAgent = "regtidy"

// UserAgent returns a RoundTripper that sets the User-Agent header of every request to ua, unless
// ua is empty. The caller's request is not modified: a copy carries the header.
func UserAgent(next http.RoundTripper, ua string) http.RoundTripper {
	if ua == "" {
		return next
	}
	return &userAgent{next: next, ua: ua}
}

type userAgent struct {
	next http.RoundTripper
	ua   string
}

func (t *userAgent) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("User-Agent") == t.ua {
		return t.next.RoundTrip(req)
	}
	out := new(http.Request)
	*out = *req
	out.Header = req.Header.Clone()
	if out.Header == nil {
		out.Header = http.Header{}
	}
	out.Header.Set("User-Agent", t.ua)
	return t.next.RoundTrip(out)
}
