package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"gocloud.dev/blob"
)

// runsLocation is a run metadata URL split into the bucket to open and the glob to match in it.
type runsLocation struct {
	// bucketURL is opened with the URL mux: "gs://bucket?…", "file:///srv/runs/metadata?…".
	bucketURL string
	// base is bucketURL without its query and with a trailing "/": keys are appended to it
	// to name a file in messages and RunRef.File.
	base string
	// segments is the glob, one path.Match pattern per path segment of the key.
	segments []string
	// fileScheme is set for file:// URLs, whose "bucket" is a directory, not a bucket root.
	fileScheme bool
}

// parseRunsURL splits a metadata URL. For file:// URLs the bucket is the directory before the
// first segment holding a glob (or before the last segment); for every other scheme the bucket is
// the URL's host and the whole path is the glob.
func parseRunsURL(raw string) (runsLocation, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return runsLocation{}, fmt.Errorf("%w: run metadata URL %q: want scheme://bucket/path, e.g. gs://bucket/metadata/*.jsonl", ErrInvalidSpec, raw)
	}
	p := strings.TrimPrefix(u.Path, "/")
	if p == "" {
		return runsLocation{}, fmt.Errorf("%w: run metadata URL %q names no objects; add a path such as metadata/*.jsonl", ErrInvalidSpec, raw)
	}
	if strings.HasSuffix(p, "/") {
		p += "*"
	}
	segments := strings.Split(p, "/")
	for _, seg := range segments {
		if seg == "" {
			return runsLocation{}, fmt.Errorf("%w: run metadata URL %q has an empty path segment", ErrInvalidSpec, raw)
		}
		if _, err := path.Match(seg, ""); err != nil {
			return runsLocation{}, fmt.Errorf("%w: run metadata URL %q: bad glob %q: %w", ErrInvalidSpec, raw, seg, err)
		}
	}
	bucket := url.URL{Scheme: u.Scheme, Host: u.Host, RawQuery: u.RawQuery}
	if u.Scheme == "file" {
		first := len(segments) - 1
		for i, seg := range segments {
			if hasGlob(seg) {
				first = i
				break
			}
		}
		bucket.Path = "/" + strings.Join(segments[:first], "/")
		segments = segments[first:]
	}
	base := bucket
	base.RawQuery = ""
	display := strings.TrimSuffix(base.String(), "/") + "/"
	return runsLocation{bucketURL: bucket.String(), base: display, segments: segments, fileScheme: u.Scheme == "file"}, nil
}

// display names a key of the bucket for messages and RunRef.File.
func (l runsLocation) display(key string) string {
	if key == "" {
		return l.base + strings.Join(l.segments, "/")
	}
	return l.base + key
}

// hasGlob reports whether a path segment holds glob syntax.
func hasGlob(seg string) bool { return strings.ContainsAny(seg, `*?[\`) }

// literalPrefix is the part of a glob segment before its first glob character.
func literalPrefix(seg string) string {
	if i := strings.IndexAny(seg, `*?[\`); i >= 0 {
		return seg[:i]
	}
	return seg
}

// matchFiles opens the bucket and lists the keys the glob matches, sorted. Each glob segment is
// listed with the delimiter "/" and the segment's literal prefix, so only directories that can
// match are descended into. No match at all is ErrNoRunFiles: an empty keep set must come from
// files that say so, not from a mistyped URL.
func (r *runsReader) matchFiles(ctx context.Context) ([]string, error) {
	b, err := r.mux.OpenBucket(ctx, r.loc.bucketURL)
	if err != nil {
		return nil, bucketErr(ctx, "open "+r.loc.display(""), err)
	}
	r.bucket = b
	var keys []string
	var walk func(dir string, segments []string) error
	walk = func(dir string, segments []string) error {
		seg, last := segments[0], len(segments) == 1
		if !last && !hasGlob(seg) {
			return walk(dir+seg+"/", segments[1:])
		}
		it := b.List(&blob.ListOptions{Prefix: dir + literalPrefix(seg), Delimiter: "/"})
		for {
			obj, err := it.Next(ctx)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return bucketErr(ctx, "list "+r.loc.base+dir, err)
			}
			name := strings.TrimSuffix(strings.TrimPrefix(obj.Key, dir), "/")
			if ok, _ := path.Match(seg, name); !ok {
				continue
			}
			switch {
			case last && !obj.IsDir:
				keys = append(keys, obj.Key)
			case !last && obj.IsDir:
				if err := walk(dir+name+"/", segments[1:]); err != nil {
					return err
				}
			}
		}
	}
	if err := walk("", r.loc.segments); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoRunFiles, r.loc.display(""))
	}
	sort.Strings(keys)
	return keys, nil
}

// dateInName finds a YYYY-MM-DD date in a file name.
var dateInName = regexp.MustCompile(`\d{4}-\d{2}-\d{2}`)

// recent drops the files whose name dates a day that ended before now-Since. Files without a
// valid date in their name are kept.
func (r *runsReader) recent(keys []string, now time.Time) []string {
	if r.spec.Since <= 0 {
		return keys
	}
	cutoff := now.Add(-r.spec.Since)
	var kept []string
	for _, key := range keys {
		if day, ok := nameDate(key); ok && !day.Add(24*time.Hour).After(cutoff) {
			continue
		}
		kept = append(kept, key)
	}
	return kept
}

// nameDate is the YYYY-MM-DD date (UTC) in a key's file name, if it holds a valid one.
func nameDate(key string) (time.Time, bool) {
	m := dateInName.FindString(path.Base(key))
	if m == "" {
		return time.Time{}, false
	}
	day, err := time.Parse(time.DateOnly, m)
	return day, err == nil
}

// newestDate is the newest date the keys' file names hold; zero when none holds one.
func newestDate(keys []string) time.Time {
	var newest time.Time
	for _, key := range keys {
		if day, ok := nameDate(key); ok && day.After(newest) {
			newest = day
		}
	}
	return newest
}

// bucketErr wraps a bucket error. When the context ended the operation it wraps the context's
// error too; a cancellation is the caller's doing, so it is not called a bucket error.
func bucketErr(ctx context.Context, what string, err error) error {
	switch ctxErr := ctx.Err(); {
	case errors.Is(ctxErr, context.Canceled):
		return fmt.Errorf("%s: %w (%v)", what, ctxErr, err)
	case ctxErr != nil:
		return fmt.Errorf("%w: %s: %w (%v)", ErrBucket, what, ctxErr, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrBucket, what, err)
}
