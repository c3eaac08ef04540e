package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/inventory"
)

// growJournal writes to out a tag-mode journal of n deleted tags in the shape of the journal at
// src (a real apply's): its header with the repository set to repo, then, copy after copy, each
// manifest record of src with its manifest given a "copy" annotation (so a new digest, and the
// same size give or take a few bytes) and its tags a "-cK" suffix, each followed by its outcome
// records, until at least n tags are journaled. None of these tags exist in the registry, so an
// undo of the journal finds every one absent, as right after apply; run it with --dry-run, since
// the copies' manifests were never pushed. It returns the number of tags written.
func growJournal(src, out, repo string, n int) (int, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return 0, err
	}
	recs, err := apply.ReadJournal(strings.NewReader(string(b)))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", src, err)
	}
	f, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	hdr := recs[0]
	hdr.Repository = repo
	if err := enc.Encode(hdr); err != nil {
		f.Close()
		return 0, err
	}
	written := 0
	for k := 1; written < n; k++ {
		digests := map[string]string{} // old digest -> this copy's
		before := written
		for _, r := range recs {
			switch r.Type {
			case apply.RecordManifest:
				if written >= n || len(r.Raw) < 2 || r.Raw[len(r.Raw)-1] != '}' {
					continue
				}
				raw := append(append([]byte(nil), r.Raw[:len(r.Raw)-1]...), fmt.Sprintf(`,"annotations":{"copy":"%d"}}`, k)...)
				if strings.Contains(string(r.Raw), `"annotations":{"copy"`) {
					continue
				}
				d := inventory.DigestOf(raw)
				digests[r.Digest] = d
				r.Digest, r.Raw = d, raw
				tags := make([]string, len(r.Tags))
				for i, t := range r.Tags {
					tags[i] = fmt.Sprintf("%s-c%d", t, k)
				}
				r.Tags = tags
				written += len(tags)
			case apply.RecordOutcome:
				d, ok := digests[r.Digest]
				if !ok {
					continue
				}
				r.Digest = d
				if r.Tag != "" {
					r.Tag = fmt.Sprintf("%s-c%d", r.Tag, k)
				}
			default:
				continue
			}
			if err := enc.Encode(r); err != nil {
				f.Close()
				return 0, err
			}
		}
		if written == before {
			f.Close()
			return 0, fmt.Errorf("%s: no manifest record to copy", src)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	return written, f.Close()
}
