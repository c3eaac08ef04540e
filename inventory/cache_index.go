package inventory

import (
	"bytes"
	"slices"
)

// cacheIndex maps digests to their records in the pack. The records found when the pack is read
// (half a million for the case's repository) sit in one slice sorted by key, 32 bytes each,
// searched by bisection; records appended later go to a small map. A map of every record would
// take about twice the memory, which an inventory of this size does not have to spare.
type cacheIndex struct {
	// loaded are the records read from the pack, sorted by key once sealed, one per key (the
	// last record of a key supersedes earlier ones). A dropped record has size -1.
	loaded []indexedRecord
	sealed bool
	// added are records appended by this process, and records read after sealing.
	added map[cacheKey]cacheEntry
	// dropped counts the loaded records dropped.
	dropped int
}

// indexedRecord is one loaded record.
type indexedRecord struct {
	key cacheKey
	cacheEntry
}

// load records a record read from the pack, in file order.
func (x *cacheIndex) load(k cacheKey, e cacheEntry) {
	if x.sealed {
		x.set(k, e)
		return
	}
	x.loaded = append(x.loaded, indexedRecord{k, e})
}

// seal sorts the loaded records, keeping the last of each key. Lookups seal first.
func (x *cacheIndex) seal() {
	if x.sealed {
		return
	}
	x.sealed = true
	slices.SortStableFunc(x.loaded, func(a, b indexedRecord) int { return bytes.Compare(a.key[:], b.key[:]) })
	out := x.loaded[:0]
	for _, r := range x.loaded {
		if n := len(out); n > 0 && out[n-1].key == r.key {
			out[n-1] = r
			continue
		}
		out = append(out, r)
	}
	x.loaded = slices.Clip(out)
}

// find returns the position of k among the loaded records, and whether it is there.
func (x *cacheIndex) find(k cacheKey) (int, bool) {
	x.seal()
	return slices.BinarySearchFunc(x.loaded, k, func(r indexedRecord, k cacheKey) int { return bytes.Compare(r.key[:], k[:]) })
}

// get returns the live record of k.
func (x *cacheIndex) get(k cacheKey) (cacheEntry, bool) {
	if e, ok := x.added[k]; ok {
		return e, true
	}
	if i, ok := x.find(k); ok && x.loaded[i].size >= 0 {
		return x.loaded[i].cacheEntry, true
	}
	return cacheEntry{}, false
}

// set records k's newest record.
func (x *cacheIndex) set(k cacheKey, e cacheEntry) {
	if x.added == nil {
		x.added = map[cacheKey]cacheEntry{}
	}
	x.added[k] = e
}

// drop forgets k's record if it is still e, and reports whether it did.
func (x *cacheIndex) drop(k cacheKey, e cacheEntry) bool {
	if cur, ok := x.added[k]; ok {
		if cur != e {
			return false
		}
		delete(x.added, k)
		// A loaded record under the same key is older and was superseded: drop it too.
		if i, ok := x.find(k); ok && x.loaded[i].size >= 0 {
			x.loaded[i].size = -1
			x.dropped++
		}
		return true
	}
	i, ok := x.find(k)
	if !ok || x.loaded[i].cacheEntry != e {
		return false
	}
	x.loaded[i].size = -1
	x.dropped++
	return true
}

// len is the number of live records.
func (x *cacheIndex) len() int {
	x.seal()
	n := len(x.loaded) - x.dropped + len(x.added)
	for k := range x.added {
		if i, ok := x.find(k); ok && x.loaded[i].size >= 0 {
			n-- // counted in both
		}
	}
	return n
}
