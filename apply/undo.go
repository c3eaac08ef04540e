package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/regtidy/regtidy/internal/redact"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
)

// ErrBlobsGone is wrapped by an undo failure whose manifest refers to blobs (or children) the
// registry no longer has: its garbage collection ran after apply, and the journal, which holds
// manifests but not blobs, cannot bring them back.
var ErrBlobsGone = errors.New("blobs gone: the registry's garbage collection ran after apply; the journal holds manifests, not blobs")

// UndoOptions tune Undo. The zero value restores 8 at a time.
type UndoOptions struct {
	// Concurrency bounds the pushes (and checks) in flight. The default value is 8.
	Concurrency int
	// Logger receives what could not be restored; nil discards.
	Logger *slog.Logger
	// Progress, if set, is called after each manifest or tag handled with done and total.
	Progress func(done, total int)
	// DryRun checks what is present and reports what would be restored, without pushing.
	DryRun bool
}

// UndoResult reports what Undo did. In a dry run, the restored lists say what would be restored.
type UndoResult struct {
	Repository string `json:"repository"`
	DryRun     bool   `json:"dry_run,omitempty"`
	// RestoredManifests were pushed back by digest (they had been deleted by digest).
	RestoredManifests []string `json:"restored_manifests,omitempty"`
	// RestoredTags were pushed back, pointing at the digest they had.
	RestoredTags []inventory.Tag `json:"restored_tags,omitempty"`
	// PresentManifests and PresentTags were already there (never deleted, or restored before).
	PresentManifests []string `json:"present_manifests,omitempty"`
	PresentTags      []string `json:"present_tags,omitempty"`
	// Conflicts are tags that now point at another digest: left alone, not overwritten.
	Conflicts []plan.TagMove `json:"conflicts,omitempty"`
	// Failed could not be restored.
	Failed []UndoFailure `json:"failed,omitempty"`
	// Requests counts the calls made to the registry.
	Requests Requests `json:"requests"`
}

// Partial reports whether something could not be restored.
func (r *UndoResult) Partial() bool { return len(r.Failed) > 0 }

// UndoFailure is a manifest or tag that could not be restored, and what it lacks.
type UndoFailure struct {
	Digest string `json:"digest"`
	Tag    string `json:"tag,omitempty"`
	// MissingBlobs are config and layer blobs the registry no longer has.
	MissingBlobs []string `json:"missing_blobs,omitempty"`
	// MissingChildren are index children the registry no longer has (and the journal lacks).
	MissingChildren []string `json:"missing_children,omitempty"`
	Err             error    `json:"-"`
}

// MarshalJSON writes the error as text, credentials redacted.
func (f UndoFailure) MarshalJSON() ([]byte, error) {
	type plain UndoFailure
	msg := ""
	if f.Err != nil {
		msg = redact.Text(f.Err.Error())
	}
	return json.Marshal(struct {
		plain
		Error string `json:"error"`
	}{plain(f), msg})
}

// Error renders the failure with what is missing, credentials redacted.
func (f UndoFailure) Error() string {
	what := f.Digest
	if f.Tag != "" {
		what = f.Tag + " (" + short(f.Digest) + ")"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %v", what, f.Err)
	if n := len(f.MissingBlobs); n > 0 {
		fmt.Fprintf(&b, " (%d blobs missing, e.g. %s)", n, short(f.MissingBlobs[0]))
	}
	if n := len(f.MissingChildren); n > 0 {
		fmt.Fprintf(&b, " (%d children missing, e.g. %s)", n, short(f.MissingChildren[0]))
	}
	return redact.Text(b.String())
}

// Unwrap returns the underlying error.
func (f UndoFailure) Unwrap() error { return f.Err }

// Undo puts back what the apply runs recorded in a journal deleted: every manifest journaled for
// a delete by digest, byte-identical (pushed by digest with its media type, children before their
// indexes), then every journaled tag, pointing at its digest again. What is already present is
// skipped; a tag that now points at another digest is reported and left alone.
//
// Every intent counts, whatever outcome follows it (pending, deleted, gone, failed): a DELETE
// whose answer was lost may have happened all the same (a timeout recorded as failed, or a retry
// answered 404 recorded as gone), and only the registry knows. Undo asks it: what is absent is
// pushed back, what is present is left alone. Only tags journaled as not attempted are skipped.
//
// Undo works while the registry still holds the blobs, that is before its garbage collection:
// after it, manifests whose config, layers or children were collected cannot be restored, and
// each failure wraps ErrBlobsGone and lists what is missing. (A tag-mode apply deleted only tags,
// so its journal holds the tagged manifests but not their untagged children: those are the
// registry's until its garbage collection.) The error wraps ErrPartial when anything failed.
func Undo(ctx context.Context, journal io.Reader, t registry.Target, opt UndoOptions) (*UndoResult, error) {
	j := newUndoJournal(journal)
	entries, repo, err := j.fold()
	if err != nil {
		return nil, err
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = DefaultConcurrency
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	u := &undoer{repo: repo, t: &countingTarget{Target: t}, opt: opt, journal: j, entries: entries, failed: map[string]bool{}}
	u.res.Repository = repo
	u.res.DryRun = opt.DryRun
	for _, e := range entries {
		if e.byDigest {
			u.total++
		}
		u.total += e.restoreCount()
	}

	for _, level := range u.heights() {
		if err := ctx.Err(); err != nil {
			return u.finish(), err
		}
		u.each(ctx, level, u.restoreManifest)
	}
	if err := ctx.Err(); err != nil {
		return u.finish(), err
	}
	all := make([]*undoEntry, 0, len(entries))
	for _, e := range entries {
		all = append(all, e)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].digest < all[j].digest })
	u.each(ctx, all, u.restoreTags)
	res := u.finish()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if n := len(res.Failed); n > 0 {
		errs := make([]error, n)
		for i, f := range res.Failed {
			errs[i] = f
		}
		return res, fmt.Errorf("%w: %d could not be restored: %w", ErrPartial, n, errors.Join(errs...))
	}
	return res, nil
}

// undoEntry is everything undo keeps about one digest while it works: where the journal holds its
// bytes, not the bytes, when the journal can be read again (see undoJournal).
type undoEntry struct {
	digest    string
	mediaType string
	// off and n locate the last manifest record naming the digest in the journal; raw holds its
	// bytes instead when the journal cannot be read again.
	off int64
	n   int
	raw []byte
	// children are the index's children, kept for entries restored by digest (children first).
	children []string
	// byDigest: journaled for a delete by digest (whatever the outcome): restore it if absent.
	byDigest bool
	// tags are the journaled tags in journal order; byName indexes them once there are many.
	tags   []tagState
	byName map[string]int
}

// tagState is what the journal says about one tag of a digest.
type tagState struct {
	name string
	// notAttempted: the last intent naming the tag was followed by a not-attempted outcome.
	notAttempted bool
}

// manyTags is the tag count from which an entry indexes its tags by name.
const manyTags = 16

// tag returns the state of the named tag, nil if the journal never named it for this digest.
func (e *undoEntry) tag(name string) *tagState {
	if e.byName != nil {
		if i, ok := e.byName[name]; ok {
			return &e.tags[i]
		}
		return nil
	}
	for i := range e.tags {
		if e.tags[i].name == name {
			return &e.tags[i]
		}
	}
	return nil
}

// addTag records an intent naming the tag: it is to be restored again, whatever came before.
func (e *undoEntry) addTag(name string) {
	if s := e.tag(name); s != nil {
		s.notAttempted = false
		return
	}
	e.tags = append(e.tags, tagState{name: name})
	if e.byName != nil {
		e.byName[name] = len(e.tags) - 1
	} else if len(e.tags) > manyTags {
		e.byName = make(map[string]int, len(e.tags))
		for i, s := range e.tags {
			e.byName[s.name] = i
		}
	}
}

// restoreTags returns the tags to put back if absent: every journaled tag whose delete was
// attempted (or may have been: no outcome), in journal order.
func (e *undoEntry) restoreTags() []string {
	var out []string
	for _, s := range e.tags {
		if !s.notAttempted {
			out = append(out, s.name)
		}
	}
	return out
}

// restoreCount is len(e.restoreTags()) without the list.
func (e *undoEntry) restoreCount() int {
	n := 0
	for _, s := range e.tags {
		if !s.notAttempted {
			n++
		}
	}
	return n
}

// undoJournal is the journal Undo reads: once, record by record, to fold it into entries, then
// again at each manifest's record when its bytes are pushed, if the reader allows (an io.ReaderAt
// that is also an io.Seeker, as a file or a bytes.Reader). So undo holds a few fields per digest,
// not every record with its manifest's bytes; a journal it cannot read again (a pipe) has its
// manifests' bytes kept in memory instead.
type undoJournal struct {
	r    io.Reader
	at   io.ReaderAt // nil: keep the bytes
	base int64       // where r stood in at when Undo started
}

func newUndoJournal(r io.Reader) *undoJournal {
	j := &undoJournal{r: r}
	at, ok := r.(io.ReaderAt)
	sk, ok2 := r.(io.Seeker)
	if ok && ok2 {
		if pos, err := sk.Seek(0, io.SeekCurrent); err == nil {
			j.at, j.base = at, pos
		}
	}
	return j
}

// fold reads the journal's records into entries by digest and returns the repository.
func (j *undoJournal) fold() (map[string]*undoEntry, string, error) {
	repo := ""
	entries := map[string]*undoEntry{}
	mediaTypes := map[string]string{} // one string per media type, not one per entry
	s := newJournalScanner(j.r)
	for i := 1; s.next(); i++ {
		r := &s.rec
		switch r.Type {
		case RecordHeader:
			if repo != "" && r.Repository != repo {
				return nil, "", fmt.Errorf("%w: record %d: repository %s, earlier records %s", ErrJournal, i, r.Repository, repo)
			}
			repo = r.Repository
		case RecordManifest:
			if !bytesMatch(r.Digest, r.Raw) {
				return nil, "", fmt.Errorf("%w: record %d: the bytes journaled for %s do not match it", ErrJournal, i, r.Digest)
			}
			e := entries[r.Digest]
			if e == nil {
				e = &undoEntry{digest: r.Digest}
				entries[r.Digest] = e
			}
			mt, ok := mediaTypes[r.MediaType]
			if !ok {
				mt = r.MediaType
				mediaTypes[mt] = mt
			}
			e.mediaType = mt
			if j.at != nil {
				e.off, e.n = j.base+s.recOff, s.recLen
			} else {
				e.raw = r.Raw
			}
			for _, tag := range r.Tags {
				e.addTag(tag)
			}
			if r.By == plan.ModeDigest && !e.byDigest {
				e.byDigest = true
				e.children = indexChildren(r.Digest, r.MediaType, r.Raw)
			}
		case RecordOutcome:
			e := entries[r.Digest]
			if e == nil || r.Tag == "" || r.Outcome != OutcomeNotAttempted {
				continue // undo asks the registry what is gone; only "not attempted" is certain
			}
			if st := e.tag(r.Tag); st != nil {
				st.notAttempted = true
			}
		}
	}
	if s.err != nil {
		return nil, "", s.err
	}
	if repo == "" {
		return nil, "", fmt.Errorf("%w: no repository in the header", ErrJournal)
	}
	return entries, repo, nil
}

// raw returns the bytes journaled for e, reading its record again if they were not kept.
func (j *undoJournal) raw(e *undoEntry) ([]byte, error) {
	if j.at == nil {
		return e.raw, nil
	}
	rec, err := recordAt(j.at, e.off, e.n)
	if err != nil {
		return nil, err
	}
	if rec.Type != RecordManifest || rec.Digest != e.digest || !bytesMatch(e.digest, rec.Raw) {
		return nil, fmt.Errorf("%w: the record of %s at byte %d changed since undo read it", ErrJournal, e.digest, e.off)
	}
	return rec.Raw, nil
}

// indexChildren returns the digests of an index's children (nil for an image manifest or bytes
// that do not parse).
func indexChildren(digest, mediaType string, raw []byte) []string {
	m, err := inventory.ParseManifest(digest, mediaType, raw, nil)
	if err != nil {
		return nil
	}
	var out []string
	for _, c := range m.Manifests {
		out = append(out, c.Digest)
	}
	return out
}

// undoer is one run of Undo.
type undoer struct {
	repo    string
	t       *countingTarget
	opt     UndoOptions
	journal *undoJournal
	entries map[string]*undoEntry

	mu     sync.Mutex
	res    UndoResult
	failed map[string]bool // digests whose manifest could not be restored
	done   int
	total  int
}

// heights groups the manifests to restore by height (RestoreOrder): level 0 lists no journaled
// child, level k's children are all in lower levels, so children are pushed before their
// indexes. Each level is sorted by digest.
func (u *undoer) heights() [][]*undoEntry {
	var keys []string
	for d, e := range u.entries {
		if e.byDigest {
			keys = append(keys, d)
		}
	}
	sort.Strings(keys)
	var out [][]*undoEntry
	for _, level := range RestoreOrder(keys, func(d string) []string { return u.entries[d].children }) {
		entries := make([]*undoEntry, len(level))
		for i, d := range level {
			entries[i] = u.entries[d]
		}
		out = append(out, entries)
	}
	return out
}

// each runs fn over entries with bounded concurrency; fn records into the result.
func (u *undoer) each(ctx context.Context, entries []*undoEntry, fn func(context.Context, *undoEntry)) {
	var g errgroup.Group
	g.SetLimit(u.opt.Concurrency)
	for _, e := range entries {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			fn(ctx, e)
			return nil
		})
	}
	_ = g.Wait() // fn records failures into the result
}

// restoreManifest pushes a manifest journaled for a delete by digest back under its digest, if the
// registry no longer has it.
func (u *undoer) restoreManifest(ctx context.Context, e *undoEntry) {
	defer u.step()
	_, err := u.t.Resolve(ctx, u.repo, e.digest)
	switch {
	case err == nil:
		u.record(func(r *UndoResult) { r.PresentManifests = append(r.PresentManifests, e.digest) })
		return
	case !errors.Is(err, registry.ErrNotFound):
		u.failManifest(e, UndoFailure{Digest: e.digest, Err: err})
		return
	}
	if !u.opt.DryRun {
		raw, err := u.journal.raw(e)
		if err != nil {
			u.failManifest(e, UndoFailure{Digest: e.digest, Err: err})
			return
		}
		if err := u.t.PushManifest(ctx, u.repo, e.digest, e.mediaType, raw); err != nil {
			u.failManifest(e, u.diagnose(ctx, e, raw, "", err))
			return
		}
	}
	u.record(func(r *UndoResult) { r.RestoredManifests = append(r.RestoredManifests, e.digest) })
}

// restoreTags puts an entry's journaled tags back where absent, each pointing at the entry's
// digest.
func (u *undoer) restoreTags(ctx context.Context, e *undoEntry) {
	tags := e.restoreTags()
	u.mu.Lock()
	manifestFailed := u.failed[e.digest]
	u.mu.Unlock()
	for _, tag := range tags {
		if ctx.Err() != nil {
			return
		}
		u.restoreTag(ctx, e, tag, manifestFailed)
		u.step()
	}
}

func (u *undoer) restoreTag(ctx context.Context, e *undoEntry, tag string, manifestFailed bool) {
	desc, err := u.t.Resolve(ctx, u.repo, tag)
	switch {
	case err == nil && desc.Digest == e.digest:
		u.record(func(r *UndoResult) { r.PresentTags = append(r.PresentTags, tag) })
		return
	case err == nil:
		u.opt.Logger.Warn("tag now points at another digest: not overwritten", "tag", tag, "journaled", e.digest, "live", desc.Digest)
		u.record(func(r *UndoResult) {
			r.Conflicts = append(r.Conflicts, plan.TagMove{Tag: tag, Planned: e.digest, Live: desc.Digest})
		})
		return
	case !errors.Is(err, registry.ErrNotFound):
		u.fail(UndoFailure{Digest: e.digest, Tag: tag, Err: err})
		return
	case manifestFailed:
		u.fail(UndoFailure{Digest: e.digest, Tag: tag, Err: errors.New("not restored: its manifest could not be restored")})
		return
	}
	if !u.opt.DryRun {
		raw, err := u.journal.raw(e)
		if err != nil {
			u.fail(UndoFailure{Digest: e.digest, Tag: tag, Err: err})
			return
		}
		if err := u.t.PushManifest(ctx, u.repo, tag, e.mediaType, raw); err != nil {
			u.fail(u.diagnose(ctx, e, raw, tag, err))
			return
		}
	}
	u.record(func(r *UndoResult) {
		r.RestoredTags = append(r.RestoredTags, inventory.Tag{Name: tag, Digest: e.digest})
	})
}

// diagnose turns a failed push of raw, e's bytes, into a failure saying which blobs or children
// are missing.
func (u *undoer) diagnose(ctx context.Context, e *undoEntry, raw []byte, tag string, pushErr error) UndoFailure {
	f := UndoFailure{Digest: e.digest, Tag: tag, Err: pushErr}
	m, err := inventory.ParseManifest(e.digest, e.mediaType, raw, nil)
	if err != nil {
		return f
	}
	for b := range m.Blobs() {
		if ok, err := u.t.BlobExists(ctx, u.repo, b.Digest); err == nil && !ok {
			f.MissingBlobs = append(f.MissingBlobs, b.Digest)
		}
	}
	for _, c := range m.Manifests {
		c := c.Digest
		if _, err := u.t.Resolve(ctx, u.repo, c); errors.Is(err, registry.ErrNotFound) {
			f.MissingChildren = append(f.MissingChildren, c)
		}
	}
	if len(f.MissingBlobs) > 0 || len(f.MissingChildren) > 0 {
		f.Err = fmt.Errorf("%w: %w", ErrBlobsGone, pushErr)
	}
	return f
}

func (u *undoer) failManifest(e *undoEntry, f UndoFailure) {
	u.mu.Lock()
	u.failed[e.digest] = true
	u.mu.Unlock()
	u.fail(f)
}

func (u *undoer) fail(f UndoFailure) {
	u.opt.Logger.Warn("could not restore", "digest", f.Digest, "tag", f.Tag, "err", redact.Text(f.Err.Error()))
	u.record(func(r *UndoResult) { r.Failed = append(r.Failed, f) })
}

func (u *undoer) record(fn func(r *UndoResult)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	fn(&u.res)
}

func (u *undoer) step() {
	u.mu.Lock()
	u.done++
	done, total := u.done, u.total
	u.mu.Unlock()
	if u.opt.Progress != nil {
		u.opt.Progress(done, total)
	}
}

// finish sorts the result's lists and copies the request counts.
func (u *undoer) finish() *UndoResult {
	u.mu.Lock()
	defer u.mu.Unlock()
	r := u.res
	sort.Strings(r.RestoredManifests)
	sort.Slice(r.RestoredTags, func(i, j int) bool { return r.RestoredTags[i].Name < r.RestoredTags[j].Name })
	sort.Strings(r.PresentManifests)
	sort.Strings(r.PresentTags)
	sort.Slice(r.Conflicts, func(i, j int) bool { return r.Conflicts[i].Tag < r.Conflicts[j].Tag })
	sort.Slice(r.Failed, func(i, j int) bool {
		if r.Failed[i].Digest != r.Failed[j].Digest {
			return r.Failed[i].Digest < r.Failed[j].Digest
		}
		return r.Failed[i].Tag < r.Failed[j].Tag
	})
	r.Requests = u.t.counts()
	return &r
}
