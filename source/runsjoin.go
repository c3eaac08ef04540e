package source

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path"
	"sort"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	"golang.org/x/sync/errgroup"
)

// maxDocBytes bounds a joined document; a larger one is malformed.
const maxDocBytes = 16 << 20

// template is a parsed join template: literal text and field names in braces.
type template struct {
	parts []templatePart
}

type templatePart struct {
	text  string
	field bool // text is a field name
}

// parseTemplate parses "{path}/metadata/params.json". Braces do not nest and cannot be escaped.
func parseTemplate(s string) (*template, error) {
	t := &template{}
	fields := 0
	for rest := s; rest != ""; {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			t.parts = append(t.parts, templatePart{text: rest})
			break
		}
		if rest[open] == '}' {
			return nil, fmt.Errorf("join template %q: unmatched '}'", s)
		}
		if open > 0 {
			t.parts = append(t.parts, templatePart{text: rest[:open]})
		}
		end := strings.IndexAny(rest[open+1:], "{}")
		if end < 0 || rest[open+1+end] != '}' {
			return nil, fmt.Errorf("join template %q: unclosed '{'", s)
		}
		name := rest[open+1 : open+1+end]
		if strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("join template %q: empty field name in braces", s)
		}
		t.parts = append(t.parts, templatePart{text: name, field: true})
		fields++
		rest = rest[open+1+end+1:]
	}
	if fields == 0 {
		return nil, fmt.Errorf("join template %q names no field in braces, so every run would join the same document", s)
	}
	return t, nil
}

// expand substitutes a line's fields. A field must be a non-empty string or a number.
func (t *template) expand(fields map[string]json.RawMessage) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		if !p.field {
			b.WriteString(p.text)
			continue
		}
		raw, ok := fields[p.text]
		if !ok {
			return "", fmt.Errorf("%w: join: no field %q", ErrMalformedRun, p.text)
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			var n json.Number
			if err := json.Unmarshal(raw, &n); err != nil {
				return "", fmt.Errorf("%w: join: field %q is neither a string nor a number: %s", ErrMalformedRun, p.text, abbreviate(string(raw)))
			}
			s = n.String()
		}
		if strings.TrimSpace(s) == "" {
			return "", fmt.Errorf("%w: join: field %q is empty", ErrMalformedRun, p.text)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// joinCommits fetches the joined document of every live run, each distinct document once, at most
// docConcurrency at a time, and fills in the runs' commits.
func (r *runsReader) joinCommits(ctx context.Context, runs []liveRun) error {
	first := map[string]int{} // document -> index of the first run that names it
	for i, lr := range runs {
		if _, seen := first[lr.docURL]; !seen {
			first[lr.docURL] = i
		}
	}
	docs := make([]string, 0, len(first))
	for doc := range first {
		docs = append(docs, doc)
	}
	sort.Strings(docs)
	commits := make([]string, len(docs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(docConcurrency)
	for i, doc := range docs {
		g.Go(func() error {
			lr := runs[first[doc]]
			c, err := r.docCommit(gctx, doc)
			if err != nil {
				return fmt.Errorf("%s:%d: live run %q (status %q): %w", lr.File, lr.Line, lr.Run, lr.Status, err)
			}
			commits[i] = c
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	byDoc := make(map[string]string, len(docs))
	for i, doc := range docs {
		byDoc[doc] = commits[i]
	}
	for i := range runs {
		runs[i].Commit = byDoc[runs[i].docURL]
	}
	r.log.DebugContext(ctx, "run metadata: joined", "documents", len(docs), "runs", len(runs))
	return nil
}

// docCommit reads the commit field of one joined document.
func (r *runsReader) docCommit(ctx context.Context, doc string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	b, key, name, err := r.docLocation(ctx, doc)
	if err != nil {
		return "", err
	}
	rd, err := b.NewReader(ctx, key, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return "", fmt.Errorf("%s: %w: without it the run's commit is unknown, and the images the run may still "+
			"use cannot be told apart, so nothing is decided (fail closed); restore the document, or give the run a terminal status",
			name, ErrRunDocMissing)
	}
	if err != nil {
		return "", bucketErr(ctx, "open "+name, err)
	}
	defer rd.Close()
	data, err := io.ReadAll(io.LimitReader(rd, maxDocBytes+1))
	if err != nil {
		return "", bucketErr(ctx, "read "+name, err)
	}
	if len(data) > maxDocBytes {
		return "", fmt.Errorf("%s: %w: larger than %d MiB", name, ErrMalformedRun, maxDocBytes>>20)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return "", fmt.Errorf("%s: %w: not a JSON object", name, ErrMalformedRun)
	}
	commit, err := stringField(fields, r.joinKey)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	c, err := validCommit(commit)
	if err != nil {
		return "", fmt.Errorf("%s: %w: field %q: %w", name, ErrMalformedRun, r.joinKey, err)
	}
	return c, nil
}

// docLocation resolves an expanded join key: a relative key is a key from the metadata bucket's
// root (never on file://, which newRunsReader refuses); a key with a scheme names its own bucket
// (for file:// the file system's root), opened once per call.
func (r *runsReader) docLocation(ctx context.Context, doc string) (b *blob.Bucket, key, name string, err error) {
	if !strings.Contains(doc, "://") {
		key = strings.TrimPrefix(doc, "/")
		return r.bucket, key, r.loc.base + key, nil
	}
	u, err := url.Parse(doc)
	if err != nil || u.Scheme == "" {
		return nil, "", "", fmt.Errorf("%w: joined document %q is not a URL", ErrMalformedRun, abbreviate(doc))
	}
	bucketURL := url.URL{Scheme: u.Scheme, Host: u.Host, RawQuery: u.RawQuery}
	key = strings.TrimPrefix(u.Path, "/")
	if u.Scheme == "file" {
		bucketURL.Path = "/"
		key = strings.TrimPrefix(path.Clean(u.Path), "/")
	}
	if key == "" || key == "." {
		return nil, "", "", fmt.Errorf("%w: joined document %q names no object", ErrMalformedRun, abbreviate(doc))
	}
	name = strings.TrimSuffix((&url.URL{Scheme: bucketURL.Scheme, Host: bucketURL.Host, Path: bucketURL.Path}).String(), "/") + "/" + key

	r.bucketsMu.Lock()
	defer r.bucketsMu.Unlock()
	if b, ok := r.docBuckets[bucketURL.String()]; ok {
		return b, key, name, nil
	}
	b, err = r.mux.OpenBucket(ctx, bucketURL.String())
	if err != nil {
		return nil, "", "", bucketErr(ctx, "open bucket of "+name, err)
	}
	r.docBuckets[bucketURL.String()] = b
	return b, key, name, nil
}
