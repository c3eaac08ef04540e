package ghcr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file:// state URLs
	_ "gocloud.dev/blob/gcsblob"  // gs:// state URLs
	_ "gocloud.dev/blob/s3blob"   // s3:// state URLs
	"gocloud.dev/gcerrors"

	"github.com/regtidy/regtidy/inventory"
)

// StateSchema is the version string of state files. Readers refuse other versions.
const StateSchema = "regtidy/ghcr-state/v1"

// State is what one run leaves the next about a package: the digest -> version id map (a
// version's id never changes its digest), the versions deleted or found undeletable, and where
// listing stopped. With it, a repeat run lists only the pages with new versions, and a run
// stopped by its budget resumes. State is not safe for concurrent use.
type State struct {
	Schema string `json:"schema"`
	// Repository is "OWNER/NAME".
	Repository string `json:"repository"`
	// OwnerKind spares a repeat run finding out whether the owner is an organization or a user.
	OwnerKind OwnerKind `json:"owner_kind,omitempty"`
	// Versions maps each digest listed and not deleted to its version.
	Versions map[string]StateVersion `json:"versions"`
	// Deleted holds the versions deleted (by this client or found gone), by id.
	Deleted map[int64]DeletedVersion `json:"deleted,omitempty"`
	// Undeletable holds the versions GitHub refused to delete, by id: not retried on every run.
	Undeletable map[int64]UndeletableVersion `json:"undeletable,omitempty"`
	// HighWater is the newest version id of the last complete listing: every older version was
	// listed then, so a later listing stops at the first page of versions no newer than it.
	HighWater int64 `json:"high_water,omitempty"`
	// Listing is the cursor of a listing that a spent budget (or an error) interrupted.
	Listing *Listing `json:"listing,omitempty"`
	// UpdatedAt is when the state was last saved.
	UpdatedAt time.Time `json:"updated_at"`

	// tagOwner maps each tag in Versions to its digest; built on first use, kept up to date by
	// the methods that change tags, dropped by those that remove versions.
	tagOwner map[string]string
}

// StateVersion is one listed version.
type StateVersion struct {
	ID      int64     `json:"id"`
	Created time.Time `json:"created"`
	// Tags are the version's tags as last seen: in the versions listing, or resolved through the
	// OCI API by the last inventory. A repeat run takes a listed tag's digest from here instead
	// of resolving it (BuildInventory). A tag moved onto an older version (a retag makes no new
	// version, and an incremental listing does not read old pages again) stays here on its old
	// version until a resolve sees it: Apply resolves every kept tag before its first delete.
	Tags []string `json:"tags,omitempty"`
}

// DeletedVersion is one deleted version.
type DeletedVersion struct {
	Digest string    `json:"digest"`
	At     time.Time `json:"at"`
}

// UndeletableVersion is one version GitHub refused to delete.
type UndeletableVersion struct {
	Digest  string    `json:"digest"`
	Reason  Reason    `json:"reason"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// Listing is an unfinished listing: pages 1 to Page were read (from the newest version down to
// Oldest), and versions no newer than Floor need no listing (0: a full listing).
type Listing struct {
	Page      int       `json:"page"`
	Oldest    int64     `json:"oldest,omitempty"`
	Newest    int64     `json:"newest,omitempty"`
	Floor     int64     `json:"floor,omitempty"`
	StartedAt time.Time `json:"started_at"`
}

// NewState returns an empty state for repo ("OWNER/NAME").
func NewState(repo string) *State {
	return &State{
		Schema: StateSchema, Repository: repo,
		Versions:    map[string]StateVersion{},
		Deleted:     map[int64]DeletedVersion{},
		Undeletable: map[int64]UndeletableVersion{},
	}
}

// ID returns the version id of digest, if listed and not deleted.
func (s *State) ID(digest string) (int64, bool) {
	v, ok := s.Versions[digest]
	return v.ID, ok
}

// Observe records a listed version and reports whether it was new to the state. A version listed
// again after being recorded deleted was restored.
//
// The listing's tags become the version's: a tag GitHub now lists on this version leaves the
// version the state had it on (a tag pushed again onto a new image moves).
func (s *State) Observe(v inventory.Version) bool {
	cur, ok := s.Versions[v.Digest]
	if ok && cur.ID == v.ID {
		s.setTags(v.Digest, v.Tags)
		return false
	}
	s.Versions[v.Digest] = StateVersion{ID: v.ID, Created: v.CreatedAt}
	s.setTags(v.Digest, v.Tags)
	delete(s.Deleted, v.ID)
	return true
}

// TagDigest returns the digest the state last saw tag on.
func (s *State) TagDigest(tag string) (string, bool) {
	d, ok := s.index()[tag]
	return d, ok
}

// SeeTags records the tags of a whole inventory (Inventory.TagsByDigest): each listed version
// gets the tags the inventory saw on its digest, and none when it saw none (a tag deleted since).
func (s *State) SeeTags(tagsByDigest map[string][]string) {
	for d, v := range s.Versions {
		if tags := tagsByDigest[d]; len(tags) > 0 || len(v.Tags) > 0 {
			s.setTags(d, tags)
		}
	}
}

// MoveTag records that tag now points at the listed digest d (a resolve saw it there): it
// leaves the version the state had it on.
func (s *State) MoveTag(tag, d string) {
	v, ok := s.Versions[d]
	if !ok || s.index()[tag] == d {
		return
	}
	s.setTags(d, append(slices.Clone(v.Tags), tag))
}

// setTags sets the tags of the listed digest d, taking each from the version that had it.
func (s *State) setTags(d string, tags []string) {
	idx := s.index()
	v := s.Versions[d]
	for _, t := range v.Tags {
		if idx[t] == d {
			delete(idx, t)
		}
	}
	for _, t := range tags {
		if other, ok := idx[t]; ok && other != d {
			if ov, ok := s.Versions[other]; ok {
				ov.Tags = slices.DeleteFunc(slices.Clone(ov.Tags), func(x string) bool { return x == t })
				if len(ov.Tags) == 0 {
					ov.Tags = nil
				}
				s.Versions[other] = ov
			}
		}
		idx[t] = d
	}
	v.Tags = nil
	if len(tags) > 0 {
		v.Tags = slices.Clone(tags)
	}
	s.Versions[d] = v
}

// index returns tagOwner, building it from Versions when needed.
func (s *State) index() map[string]string {
	if s.tagOwner == nil {
		s.tagOwner = make(map[string]string, len(s.Versions))
		for d, v := range s.Versions {
			for _, t := range v.Tags {
				s.tagOwner[t] = d
			}
		}
	}
	return s.tagOwner
}

// Record notes the outcome of a delete: deleted and gone versions leave Versions for Deleted;
// undeletable ones are kept with their reason; failures change nothing.
func (s *State) Record(r DeleteResult) {
	switch r.Outcome {
	case OutcomeDeleted, OutcomeGone:
		if cur, ok := s.Versions[r.Version.Digest]; ok && cur.ID == r.Version.ID {
			delete(s.Versions, r.Version.Digest)
			s.tagOwner = nil
		}
		s.Deleted[r.Version.ID] = DeletedVersion{Digest: r.Version.Digest, At: r.At}
		delete(s.Undeletable, r.Version.ID)
	case OutcomeUndeletable:
		s.Undeletable[r.Version.ID] = UndeletableVersion{Digest: r.Version.Digest, Reason: r.Reason, Message: r.Message, At: r.At}
	}
}

// Restored notes that a deleted version was restored.
func (s *State) Restored(id int64, at time.Time) {
	d, ok := s.Deleted[id]
	if !ok {
		return
	}
	delete(s.Deleted, id)
	s.Versions[d.Digest] = StateVersion{ID: id, Created: at}
}

// Skip reports whether deleting the version would be wasted: it is deleted already, or GitHub
// refused it (a reason that does not go away by itself).
func (s *State) Skip(id int64) bool {
	_, deleted := s.Deleted[id]
	_, refused := s.Undeletable[id]
	return deleted || refused
}

// InventoryVersions returns the versions as the inventory holds them, by digest, with the tags
// the inventory read through the OCI API (Inventory.TagsByDigest).
func (s *State) InventoryVersions(tagsByDigest map[string][]string) map[string]*inventory.Version {
	out := make(map[string]*inventory.Version, len(s.Versions))
	for d, v := range s.Versions {
		out[d] = &inventory.Version{ID: v.ID, Digest: d, Tags: tagsByDigest[d], CreatedAt: v.Created}
	}
	return out
}

// LoadState reads the state at loc: a local path, or a bucket URL (gs://BUCKET/KEY,
// s3://BUCKET/KEY, file:///DIR/FILE). A state that does not exist yet is an empty one.
func LoadState(ctx context.Context, loc string) (*State, error) {
	var data []byte
	var err error
	if isURL(loc) {
		data, err = readBlob(ctx, loc)
	} else {
		data, err = os.ReadFile(loc)
		if errors.Is(err, fs.ErrNotExist) {
			data, err = nil, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ghcr: load state %s: %w", loc, err)
	}
	if data == nil {
		return NewState(""), nil
	}
	s := NewState("")
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("ghcr: load state %s: %w", loc, err)
	}
	if s.Schema != StateSchema {
		return nil, fmt.Errorf("ghcr: load state %s: schema %q, this regtidy reads %q", loc, s.Schema, StateSchema)
	}
	if s.Versions == nil {
		s.Versions = map[string]StateVersion{}
	}
	if s.Deleted == nil {
		s.Deleted = map[int64]DeletedVersion{}
	}
	if s.Undeletable == nil {
		s.Undeletable = map[int64]UndeletableVersion{}
	}
	return s, nil
}

// Save writes the state to loc (see LoadState) atomically: a local file is written beside its
// place and renamed into it; a bucket object appears whole when its upload completes.
func (s *State) Save(ctx context.Context, loc string, now time.Time) error {
	s.Schema = StateSchema
	s.UpdatedAt = now.UTC()
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("ghcr: save state %s: %w", loc, err)
	}
	if isURL(loc) {
		err = writeBlob(ctx, loc, data)
	} else {
		err = writeFileAtomic(loc, data)
	}
	if err != nil {
		return fmt.Errorf("ghcr: save state %s: %w", loc, err)
	}
	return nil
}

func isURL(loc string) bool { return strings.Contains(loc, "://") }

// openBlob opens the bucket of a state URL and returns the object's key.
func openBlob(ctx context.Context, loc string) (*blob.Bucket, string, error) {
	u, err := url.Parse(loc)
	if err != nil {
		return nil, "", err
	}
	var bucketURL, key string
	if u.Scheme == "file" {
		dir, file := path.Split(u.Path)
		b := *u
		b.Path = strings.TrimSuffix(dir, "/")
		if b.Path == "" {
			b.Path = "/"
		}
		bucketURL, key = b.String(), file
	} else {
		b := *u
		b.Path = ""
		bucketURL, key = b.String(), strings.TrimPrefix(u.Path, "/")
	}
	if key == "" {
		return nil, "", fmt.Errorf("no object key in %q", loc)
	}
	bucket, err := blob.OpenBucket(ctx, bucketURL)
	if err != nil {
		return nil, "", err
	}
	return bucket, key, nil
}

func readBlob(ctx context.Context, loc string) ([]byte, error) {
	bucket, key, err := openBlob(ctx, loc)
	if err != nil {
		return nil, err
	}
	defer bucket.Close()
	data, err := bucket.ReadAll(ctx, key)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, nil
	}
	return data, err
}

func writeBlob(ctx context.Context, loc string, data []byte) error {
	bucket, key, err := openBlob(ctx, loc)
	if err != nil {
		return err
	}
	defer bucket.Close()
	return bucket.WriteAll(ctx, key, data, &blob.WriterOptions{ContentType: "application/json"})
}

// writeFileAtomic writes name through a temporary file beside it, making its directory (a
// nightly job's fresh state directory) if it is missing.
func writeFileAtomic(name string, data []byte) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = bytes.NewReader(data).WriteTo(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
