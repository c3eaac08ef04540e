package inventory

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Cache is a content-addressed store of manifest and config bytes on disk. Manifests are
// immutable by digest, so a second run never fetches one it has already seen. Each repository has
// one append-only pack file of records ("<digest> <len> <mediaType>\n<bytes>\n"); an index of
// offsets is read at open and bytes are read on demand. Every read is checked against its digest:
// a corrupt entry is reported as a miss (and counted), so the caller fetches it again and the new
// record supersedes the bad one. A record cut short by a crash mid-append is cut off the file at
// the next open, so records appended later stay readable.
//
// A Cache is safe for concurrent use; appends from several processes are serialised with flock.
type Cache struct {
	path string

	mu      sync.Mutex
	f       *os.File
	index   cacheIndex
	types   []string // media types by cacheEntry.mediaType
	corrupt int
}

// cacheKey is the first half of a sha256 digest's bytes: enough to tell half a million digests
// apart (a clash is as likely as a sha256 collision of 128 bits), in a fraction of the memory
// string keys would take. Should two digests ever share a key, reads are checked against the
// whole digest, so the clash reads as a miss (and drops the other digest's record, counted as
// corrupt), costing fetches, never wrong bytes.
type cacheKey [sha256.Size / 2]byte

type cacheEntry struct {
	off       int64
	size      int32
	mediaType uint16
}

// keyOf returns the cache key of a "sha256:<hex>" digest; ok is false for anything else, which
// the cache does not store.
func keyOf(digest string) (k cacheKey, ok bool) {
	hexPart, found := strings.CutPrefix(digest, "sha256:")
	if !found || len(hexPart) != 2*sha256.Size {
		return k, false
	}
	var full [sha256.Size]byte
	if _, err := hex.Decode(full[:], []byte(hexPart)); err != nil {
		return k, false
	}
	copy(k[:], full[:])
	return k, true
}

// typeIndex returns the index of a media type in c.types, adding it. Callers hold c.mu.
func (c *Cache) typeIndex(mt string) uint16 {
	for i, t := range c.types {
		if t == mt {
			return uint16(i)
		}
	}
	if len(c.types) >= 1<<16-1 {
		return 0
	}
	c.types = append(c.types, mt)
	return uint16(len(c.types) - 1)
}

// OpenCache opens (creating if needed) the cache of one repository under dir. repo is
// "host[:port]/path"; it maps to a directory below dir.
func OpenCache(dir, repo string) (*Cache, error) {
	p := filepath.Join(dir, "manifests", sanitizeRepo(repo))
	if err := os.MkdirAll(p, 0o755); err != nil {
		return nil, fmt.Errorf("manifest cache: %w", err)
	}
	path := filepath.Join(p, "pack")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("manifest cache: %w", err)
	}
	c := &Cache{path: path, f: f, types: []string{""}}
	if err := c.load(); err != nil {
		f.Close()
		return nil, err
	}
	return c, nil
}

// DefaultCacheDir is the user cache directory's "regtidy" folder.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "regtidy"), nil
}

func sanitizeRepo(repo string) string {
	r := strings.NewReplacer(":", "_", "@", "_", "..", "_")
	return filepath.FromSlash(r.Replace(repo))
}

// load reads the record headers and builds the offset index. A torn tail (a crash mid-append)
// would end the index there for good: every record appended after it would never be found, and
// each run would fetch and append them again. So load cuts the torn tail off (repair).
func (c *Cache) load() error {
	end, err := c.scan(0)
	if err != nil {
		return err
	}
	st, err := c.f.Stat()
	if err != nil {
		return fmt.Errorf("manifest cache: %w", err)
	}
	if st.Size() > end {
		return c.repair(end)
	}
	return nil
}

// scan indexes the records from off, where a record starts, and returns the end of the last
// whole record: where the file ends, or where a record is cut short or malformed.
func (c *Cache) scan(off int64) (int64, error) {
	if _, err := c.f.Seek(off, io.SeekStart); err != nil {
		return off, fmt.Errorf("manifest cache: %w", err)
	}
	br := bufio.NewReaderSize(c.f, 1<<20)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return off, nil // EOF or a header cut short
		}
		hdrLen := int64(len(line))
		fields := strings.SplitN(strings.TrimSuffix(line, "\n"), " ", 3)
		if len(fields) < 2 {
			return off, nil
		}
		n, err := strconv.ParseInt(fields[1], 10, 32)
		key, keyOK := keyOf(fields[0])
		if err != nil || n < 0 || n > maxCacheEntry || !keyOK {
			return off, nil
		}
		mt := ""
		if len(fields) == 3 {
			mt = fields[2]
		}
		if _, err := br.Discard(int(n)); err != nil {
			return off, nil
		}
		if b, err := br.ReadByte(); err != nil || b != '\n' {
			return off, nil
		}
		c.index.load(key, cacheEntry{off: off + hdrLen, size: int32(n), mediaType: c.typeIndex(mt)})
		off += hdrLen + n + 1
	}
}

// repair cuts the pack file back to end, the end of the last whole record load found, counting
// the torn record as corrupt. It holds the exclusive lock appends take, so no append is in flight
// while it looks; and it first scans on from end, since another process may have repaired the
// file and appended whole records after this one's scan: those are indexed and kept. Records of
// other processes' indexes that the cut removes read as corrupt there (every read is checked
// against its digest), so they are fetched again.
func (c *Cache) repair(end int64) error {
	unlock, err := lockFile(c.f)
	if err != nil {
		return fmt.Errorf("manifest cache: lock: %w", err)
	}
	defer unlock()
	end, err = c.scan(end)
	if err != nil {
		return err
	}
	st, err := c.f.Stat()
	if err != nil {
		return fmt.Errorf("manifest cache: %w", err)
	}
	if st.Size() <= end {
		return nil
	}
	if err := c.f.Truncate(end); err != nil {
		return fmt.Errorf("manifest cache: cutting off a torn record: %w", err)
	}
	c.corrupt++
	return nil
}

// Len is the number of digests indexed.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.index.len()
}

// Corrupt is the number of entries found corrupt so far (bad digest or bad record).
func (c *Cache) Corrupt() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.corrupt
}

// Get returns the bytes and media type stored for digest. ok is false on a miss or when the stored
// bytes do not match the digest (then the entry is dropped so Put can replace it).
func (c *Cache) Get(digest string) (raw []byte, mediaType string, ok bool) {
	return c.Read(digest, nil)
}

// Read is Get reading into buf (from its start, growing it when it is too small; the result then
// shares buf's memory), so a caller reading many entries can reuse one buffer.
func (c *Cache) Read(digest string, buf []byte) (raw []byte, mediaType string, ok bool) {
	key, valid := keyOf(digest)
	if !valid {
		return nil, "", false
	}
	c.mu.Lock()
	e, found := c.index.get(key)
	mediaType = c.types[e.mediaType]
	c.mu.Unlock()
	if !found {
		return nil, "", false
	}
	buf = slices.Grow(buf[:0], int(e.size))[:e.size]
	if _, err := c.f.ReadAt(buf, e.off); err != nil || !digestMatches(digest, buf) {
		c.mu.Lock()
		if c.index.drop(key, e) {
			c.corrupt++
		}
		c.mu.Unlock()
		return nil, "", false
	}
	return buf, mediaType, true
}

// Put stores bytes under their sha256 digest. Bytes that do not match the digest are refused;
// other digest algorithms are not cached (Put does nothing).
func (c *Cache) Put(digest, mediaType string, raw []byte) error {
	key, valid := keyOf(digest)
	if !valid || len(raw) > maxCacheEntry {
		return nil
	}
	if !digestMatches(digest, raw) {
		return fmt.Errorf("manifest cache: bytes do not match %s", digest)
	}
	c.mu.Lock()
	_, have := c.index.get(key)
	c.mu.Unlock()
	if have {
		return nil
	}
	if strings.ContainsAny(mediaType, " \n") {
		mediaType = ""
	}
	hdr := fmt.Sprintf("%s %d %s\n", digest, len(raw), mediaType)
	rec := make([]byte, 0, len(hdr)+len(raw)+1)
	rec = append(append(append(rec, hdr...), raw...), '\n')

	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.index.get(key); ok {
		return nil
	}
	unlock, err := lockFile(c.f)
	if err != nil {
		return fmt.Errorf("manifest cache: lock: %w", err)
	}
	defer unlock()
	st, err := c.f.Stat()
	if err != nil {
		return fmt.Errorf("manifest cache: %w", err)
	}
	if _, err := c.f.Write(rec); err != nil {
		return fmt.Errorf("manifest cache: %w", err)
	}
	c.index.set(key, cacheEntry{off: st.Size() + int64(len(hdr)), size: int32(len(raw)), mediaType: c.typeIndex(mediaType)})
	return nil
}

// Close closes the pack file.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}

// maxCacheEntry bounds one cached manifest or config.
const maxCacheEntry = 64 << 20

// ErrDigestMismatch is returned when bytes do not hash to the digest that names them.
var ErrDigestMismatch = errors.New("digest mismatch")

// digestMatches checks sha256 digests; other algorithms are accepted unchecked.
func digestMatches(digest string, raw []byte) bool {
	alg, hexPart, ok := strings.Cut(digest, ":")
	if !ok {
		return false
	}
	if alg != "sha256" {
		return true
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]) == hexPart
}

// DigestOf returns the sha256 digest of raw, "sha256:<hex>".
func DigestOf(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}
