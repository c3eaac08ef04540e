package inventory

import (
	"strings"
	"testing"
)

// TestCacheIndex: the last record of a key wins, whether read from the pack or appended; dropped
// records are gone; Len counts each live key once.
func TestCacheIndex(t *testing.T) {
	k := func(b byte) cacheKey { return cacheKey{b} }
	e := func(off int64) cacheEntry { return cacheEntry{off: off, size: 10} }
	var x cacheIndex
	x.load(k(3), e(1))
	x.load(k(1), e(2))
	x.load(k(3), e(3)) // supersedes e(1)
	x.load(k(2), e(4))
	if got, ok := x.get(k(3)); !ok || got != e(3) {
		t.Errorf("get(3) = %v, %v; want the later record", got, ok)
	}
	if n := x.len(); n != 3 {
		t.Errorf("len = %d, want 3", n)
	}
	x.load(k(4), e(5)) // read after sealing (a repair's scan): still found
	x.set(k(1), e(6))  // appended: supersedes the loaded record
	if got, _ := x.get(k(4)); got != e(5) {
		t.Errorf("get(4) = %v", got)
	}
	if got, _ := x.get(k(1)); got != e(6) {
		t.Errorf("get(1) = %v, want the appended record", got)
	}
	if n := x.len(); n != 4 {
		t.Errorf("len = %d, want 4", n)
	}
	if x.drop(k(2), e(99)) {
		t.Error("dropped a record that is not the current one")
	}
	if !x.drop(k(2), e(4)) || !x.drop(k(1), e(6)) {
		t.Error("could not drop current records")
	}
	for _, key := range []cacheKey{k(1), k(2)} {
		if got, ok := x.get(key); ok {
			t.Errorf("get(%v) = %v after drop", key[0], got)
		}
	}
	if _, ok := x.get(k(9)); ok {
		t.Error("found a key never recorded")
	}
	if n := x.len(); n != 2 {
		t.Errorf("len = %d, want 2", n)
	}
}

// TestCacheKeyClashReadsAsAMiss: two digests that share the 16 bytes the index keys on (only a
// forged digest could) never read each other's bytes: the second reads as a miss.
func TestCacheKeyClashReadsAsAMiss(t *testing.T) {
	for _, reopen := range []bool{false, true} {
		dir := t.TempDir()
		c, err := OpenCache(dir, "127.0.0.1:5000/org/repo")
		if err != nil {
			t.Fatal(err)
		}
		raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
		d := DigestOf(raw)
		if err := c.Put(d, MediaTypeOCIManifest, raw); err != nil {
			t.Fatal(err)
		}
		if reopen { // the record is then in the loaded, sorted part of the index
			c.Close()
			if c, err = OpenCache(dir, "127.0.0.1:5000/org/repo"); err != nil {
				t.Fatal(err)
			}
		}
		tail := []byte(d[len(d)-32:])
		for i := range tail {
			tail[i] = "0123456789abcdef"[(strings.IndexByte("0123456789abcdef", tail[i])+1)%16]
		}
		twin := d[:len(d)-32] + string(tail)
		if got, _, ok := c.Get(twin); ok {
			t.Errorf("reopen %v: Get(%s) = %q, the bytes of %s", reopen, twin, got, d)
		}
		c.Close()
	}
}
