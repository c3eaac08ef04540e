package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// More sentinel errors of the HTTP client, next to those of the ports (ErrNotFound,
// ErrUnauthorized, ErrUnsupported).
var (
	// ErrDigestMismatch: bytes received or about to be sent do not hash to the digest that names
	// them: a corrupt manifest or blob, or a registry answering with the wrong content.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrRateLimited: the registry still answered 429 Too Many Requests after the retries.
	ErrRateLimited = errors.New("rate limited")
	// ErrInvalidReference: a repository, tag or digest that cannot be parsed.
	ErrInvalidReference = errors.New("invalid reference")
	// ErrPaging: a tag listing that does not end (a Link loop, too many pages, or a Link to
	// another host).
	ErrPaging = errors.New("tag listing paging failed")
)

// Error is a failed registry operation: the HTTP status, and the first OCI error code and the
// messages the registry sent in its error body ({"errors":[{"code":..., "message":...}]}).
// It wraps the sentinel that applies (ErrNotFound, ErrUnauthorized, ErrUnsupported,
// ErrRateLimited, ErrDigestMismatch), so callers test it with errors.Is and read the details
// with errors.As.
type Error struct {
	// Op is the operation: "list tags", "resolve", "fetch manifest", "delete manifest", ...
	Op string
	// Repo is the repository, "host[:port]/path".
	Repo string
	// Ref is the tag or digest, when the operation has one.
	Ref string
	// Status is the HTTP status code (0 when the failure was found in a good response, such as a
	// digest mismatch).
	Status int
	// Code is the registry's error code, e.g. MANIFEST_UNKNOWN, DENIED; empty when none was sent
	// (HEAD responses have no body).
	Code string
	// Message is the registry's message, or regtidy's own explanation.
	Message string
	// Credentials says which credentials were used (never the secret) on 401 and 403.
	Credentials string
	// Err is the sentinel this error wraps, or nil.
	Err error
}

// Error renders "op repo[:ref]: status code: message", plus the registry, repository and
// credentials involved when access was refused.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(" ")
	b.WriteString(refString(e.Repo, e.Ref))
	b.WriteString(":")
	if e.Status != 0 {
		fmt.Fprintf(&b, " %d", e.Status)
	}
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	switch {
	case e.Message != "":
		if e.Status != 0 || e.Code != "" {
			b.WriteString(":")
		}
		b.WriteString(" ")
		b.WriteString(e.Message)
	case e.Status != 0:
		b.WriteString(" ")
		b.WriteString(strings.ToLower(http.StatusText(e.Status)))
	}
	if errors.Is(e.Err, ErrUnauthorized) {
		host, path, _ := strings.Cut(e.Repo, "/")
		fmt.Fprintf(&b, " (registry %s refused access", host)
		if path != "" {
			fmt.Fprintf(&b, " to repository %s", path)
		}
		if e.Credentials != "" {
			fmt.Fprintf(&b, "; credentials used: %s", e.Credentials)
		}
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns the sentinel the error wraps.
func (e *Error) Unwrap() error { return e.Err }

// errorBody is the OCI Distribution error body.
type errorBody struct {
	Errors []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// responseError reads and closes resp's body and returns the *Error it describes.
func responseError(op, repo, ref string, resp *http.Response) *Error {
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{Op: op, Repo: repo, Ref: ref, Status: resp.StatusCode}
	var body errorBody
	if json.Unmarshal(raw, &body) == nil && len(body.Errors) > 0 {
		e.Code = body.Errors[0].Code
		msgs := make([]string, 0, len(body.Errors))
		for _, d := range body.Errors {
			if d.Message != "" {
				msgs = append(msgs, d.Message)
			}
		}
		e.Message = strings.Join(msgs, "; ")
	} else if text := strings.TrimSpace(string(raw)); text != "" && len(text) < 200 && !strings.HasPrefix(text, "<") {
		e.Message = text
	}
	e.Err = sentinelFor(e.Status, e.Code)
	return e
}

// sentinelFor maps an HTTP status and OCI error code to the sentinel error that applies.
func sentinelFor(status int, code string) error {
	switch code {
	case "MANIFEST_UNKNOWN", "BLOB_UNKNOWN", "NAME_UNKNOWN":
		return ErrNotFound
	case "UNAUTHORIZED", "DENIED":
		return ErrUnauthorized
	case "UNSUPPORTED":
		return ErrUnsupported
	case "TOOMANYREQUESTS":
		return ErrRateLimited
	}
	switch status {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrUnauthorized
	case http.StatusMethodNotAllowed:
		return ErrUnsupported
	case http.StatusTooManyRequests:
		return ErrRateLimited
	}
	return nil
}
