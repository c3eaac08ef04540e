package inventory

import (
	"fmt"
	"os"
	"testing"
)

const cacheTestRepo = "127.0.0.1:5000/openhands/eval-agent-server"

// manifestBytes returns a small manifest made unique by seed, with its digest.
func manifestBytes(seed string) ([]byte, string) {
	raw := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"annotations":{"seed":%q}}`, MediaTypeOCIManifest, seed)
	return raw, DigestOf(raw)
}

// record is a pack record as Put writes it.
func record(raw []byte, digest string) string {
	return fmt.Sprintf("%s %d %s\n%s\n", digest, len(raw), MediaTypeOCIManifest, raw)
}

// appendToPack appends bytes to the pack file behind the cache's back (a crashed process).
func appendToPack(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func packSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// TestCacheRecoversFromATornAppend crashes an append halfway, then runs several times as a
// command would: each run looks its manifest up and stores it on a miss. The record stored after
// the torn one must be found by the next runs, and the pack must stop growing.
func TestCacheRecoversFromATornAppend(t *testing.T) {
	goodRaw, good := manifestBytes("good")
	laterRaw, later := manifestBytes("later")
	tornRaw, torn := manifestBytes("torn")
	for _, tc := range []struct {
		name string
		tail string // what the crash left after the good record
	}{
		{"half a body", record(tornRaw, torn)[:len(record(tornRaw, torn))-len(tornRaw)/2]},
		{"half a header", record(tornRaw, torn)[:20]},
		{"body without its newline", record(tornRaw, torn)[:len(record(tornRaw, torn))-1]},
		{"garbage header", "not a record header\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c, err := OpenCache(dir, cacheTestRepo)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Put(good, MediaTypeOCIManifest, goodRaw); err != nil {
				t.Fatal(err)
			}
			path := c.path
			c.Close()
			appendToPack(t, path, tc.tail)

			want := int64(len(record(goodRaw, good)) + len(record(laterRaw, later)))
			for run := range 4 {
				c, err := OpenCache(dir, cacheTestRepo)
				if err != nil {
					t.Fatalf("run %d: %v", run, err)
				}
				if _, _, ok := c.Get(good); !ok {
					t.Errorf("run %d: the record before the torn one is lost", run)
				}
				_, _, ok := c.Get(later)
				if run > 0 && !ok {
					t.Errorf("run %d: the record stored by run 0 after the torn one is not found", run)
				}
				if !ok {
					if err := c.Put(later, MediaTypeOCIManifest, laterRaw); err != nil {
						t.Fatalf("run %d: Put: %v", run, err)
					}
				}
				if got, mt, ok := c.Get(later); !ok || string(got) != string(laterRaw) || mt != MediaTypeOCIManifest {
					t.Errorf("run %d: Get(later) = %q, %q, %v", run, got, mt, ok)
				}
				c.Close()
				if got := packSize(t, path); got != want {
					t.Errorf("run %d: pack is %d bytes, want %d (the two whole records)", run, got, want)
				}
			}
		})
	}
}

// TestCacheRepairKeepsRecordsAppendedMeanwhile plays two processes: one scans a pack with a torn
// tail; before it takes the lock to cut the tail off, the other cuts it and appends a whole
// record. The first must keep that record, not cut it off as torn.
func TestCacheRepairKeepsRecordsAppendedMeanwhile(t *testing.T) {
	goodRaw, good := manifestBytes("good")
	tornRaw, torn := manifestBytes("torn")
	otherRaw, other := manifestBytes("other")
	dir := t.TempDir()
	c, err := OpenCache(dir, cacheTestRepo)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put(good, MediaTypeOCIManifest, goodRaw); err != nil {
		t.Fatal(err)
	}
	path := c.path
	c.Close()
	appendToPack(t, path, record(tornRaw, torn)[:30])

	// The first process: opened the file and scanned it, not yet repaired.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	first := &Cache{path: path, f: f, types: []string{""}}
	defer first.Close()
	end, err := first.scan(0)
	if err != nil {
		t.Fatal(err)
	}
	if end != int64(len(record(goodRaw, good))) {
		t.Fatalf("scan ended at %d, want %d (after the good record)", end, len(record(goodRaw, good)))
	}

	// The second process opens (cutting the torn tail off) and appends.
	second, err := OpenCache(dir, cacheTestRepo)
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Put(other, MediaTypeOCIManifest, otherRaw); err != nil {
		t.Fatal(err)
	}
	second.Close()

	if err := first.repair(end); err != nil {
		t.Fatal(err)
	}
	if got, _, ok := first.Get(other); !ok || string(got) != string(otherRaw) {
		t.Errorf("the record appended by the other process is lost: %q, %v", got, ok)
	}
	if want := int64(len(record(goodRaw, good)) + len(record(otherRaw, other))); packSize(t, path) != want {
		t.Errorf("pack is %d bytes, want %d", packSize(t, path), want)
	}
}
