package plan

import (
	"fmt"
	"time"

	"github.com/regtidy/regtidy/internal/units"
)

// Mode is how apply deletes on an OCI registry.
type Mode string

// Modes of apply.
const (
	// ModeAuto deletes by tag, and falls back to ModeDigest when the registry refuses tag
	// deletes (the OCI Distribution spec makes them optional).
	ModeAuto Mode = "auto"
	// ModeTag deletes each tag of each deleted digest. The manifests, now untagged, stay until
	// the registry's garbage collection removes untagged manifests.
	ModeTag Mode = "tag"
	// ModeDigest deletes each deleted manifest by digest, parents before children.
	ModeDigest Mode = "digest"
)

// ModeVersion is how apply deletes on GitHub Container Registry: one GitHub Packages REST call per
// package version (ghcr.io answers DELETE on /v2/.../manifests/ with 405). Journals of such runs
// carry VersionID on their manifest and outcome records; they are undone through GitHub's restore
// endpoint (package registry/ghcr), not by pushing manifests back.
const ModeVersion Mode = "version"

// ParseMode parses "auto", "tag" or "digest"; the empty string is ModeAuto.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", ModeAuto:
		return ModeAuto, nil
	case ModeTag, ModeDigest:
		return Mode(s), nil
	}
	return "", fmt.Errorf("unknown apply mode %q: want auto, tag or digest", s)
}

// digestDeletePerTag is what one DELETE by digest costs per tag of the repository on
// distribution v3: it scans every tag for ones pointing at the digest. Measured: 3.6-5.2 s a call
// with 133,425 tags, about 33 µs a tag.
const digestDeletePerTag = 33 * time.Microsecond

// tagDeleteCost is what one DELETE by tag costs on distribution v3 (measured 3-6 ms).
const tagDeleteCost = 5 * time.Millisecond

// IssueGCChildren is the distribution issue about garbage collection with --delete-untagged
// removing children of manifest lists that are still in use. It is a bug of distribution v2: on
// v3.1.2, `garbage-collect --delete-untagged` after a tag-mode apply left every kept index and
// all its children whole (its mark phase keeps the manifests a kept index lists).
const IssueGCChildren = "distribution/distribution#3004"

// GCAdvice says, for the untagged manifests a tag-mode apply leaves (what, e.g. "12 manifests
// are"), what to run per version of distribution; freed is freed's phrase or "".
func GCAdvice(what, freed string) string {
	return what + " left untagged: the registry's garbage collection is to remove them" + freed + ". " +
		"distribution v3: `registry garbage-collect --delete-untagged` removes them and keeps everything a kept index lists. " +
		"distribution v2: --delete-untagged also removes children of kept indexes (" + IssueGCChildren + "); there, run garbage-collect without it (it then frees nothing of these) or apply with --mode digest. " +
		"Run `regtidy verify` after garbage collection."
}

// ChooseMode turns a requested mode into the one apply will start with, and says why.
// ModeAuto starts with ModeTag; Apply falls back to ModeDigest if the registry refuses.
func ChooseMode(requested Mode, p *Plan) (Mode, string, error) {
	requested, err := ParseMode(string(requested))
	if err != nil {
		return "", "", err
	}
	tags := len(p.Tags)
	perDigest := time.Duration(tags) * digestDeletePerTag
	switch requested {
	case ModeTag:
		return ModeTag, fmt.Sprintf("tag mode was asked for: DELETE by tag removes only the tag (about %s a call on distribution); the untagged manifests wait for the registry's garbage collection", tagDeleteCost), nil
	case ModeDigest:
		return ModeDigest, fmt.Sprintf("digest mode was asked for: DELETE by digest removes the manifest at once, but distribution scans every tag on each call (about %s a call with %d tags)", roundDuration(perDigest), tags), nil
	}
	return ModeTag, fmt.Sprintf("auto: DELETE by tag removes only the tag and costs milliseconds, while DELETE by digest makes distribution scan every tag (about %s a call with %d tags; 3.6-5.2 s at 133k tags); falls back to digest mode if the registry refuses tag deletes", roundDuration(perDigest), tags), nil
}

// EstimateCost estimates the requests Apply makes for p in mode (ModeAuto counts as ModeTag), and
// what the registry must do afterwards. Manifests served from a local cache would save the GETs
// counted here for the journal.
func EstimateCost(p *Plan, mode Mode) Cost {
	chosen, why, err := ChooseMode(mode, p)
	if err != nil {
		return Cost{Mode: string(mode), Why: err.Error()}
	}
	var delManifests, delTagged, delTags, untagged int
	for i := range p.Decisions {
		d := &p.Decisions[i]
		if d.Action != Delete {
			continue
		}
		delManifests++
		delTags += len(d.Tags)
		if len(d.Tags) > 0 {
			delTagged++
		} else {
			untagged++
		}
	}
	liveHeads := 0 // tags resolved before deleting to detect conflicts
	deleted := p.deletedLookup()
	for _, t := range p.Tags {
		if chosen == ModeDigest || !deleted(t.Digest) {
			liveHeads++
		}
	}
	c := Cost{Mode: string(chosen), Why: why}
	switch chosen {
	case ModeTag:
		// list + resolve kept tags + per deleted tag (HEAD, DELETE) + one GET per tagged manifest.
		c.Deletes = delTags
		c.Requests = 1 + liveHeads + 2*delTags + delTagged
		if delManifests > 0 {
			c.AfterApply = GCAdvice(fmt.Sprintf("%d manifests (%d tagged, %d untagged children, attestations and referrers) are", delManifests, delTagged, untagged), freed(p))
		}
	case ModeDigest:
		// list + resolve every tag + per deleted tag a re-check HEAD + per manifest (GET, DELETE),
		// and before each level after the first a new listing that resolves every tag left.
		c.Deletes = delManifests
		c.Requests = 1 + liveHeads + delTags + 2*delManifests + relistRequests(p)
		total := time.Duration(delManifests) * time.Duration(len(p.Tags)) * digestDeletePerTag
		c.Why += fmt.Sprintf("; %d digest deletes, about %s of registry time", delManifests, roundDuration(total))
		if delManifests > 0 {
			c.AfterApply = fmt.Sprintf("the registry's garbage collection must still run to free the blobs%s; run `regtidy verify` after it", freed(p))
		}
	}
	return c
}

// relistRequests counts the requests of the listings a digest-mode apply makes between levels of
// deletes (plan.DeleteLevels): before each level after the first, one listing and a resolve of
// every tag still there (the plan's tags less those deleted in the levels before). A long run
// lists again every 200 deletes or 2 minutes too; those are not counted.
func relistRequests(p *Plan) int {
	tagsOf := make(map[string]int, len(p.Decisions))
	for _, d := range p.Decisions {
		tagsOf[d.Digest] = len(d.Tags)
	}
	n, live := 0, len(p.Tags)
	for i, level := range p.DeleteLevels() {
		if i > 0 {
			n += 1 + live
		}
		for _, d := range level {
			live -= tagsOf[d]
		}
	}
	return n
}

// freed says how many bytes garbage collection frees, when the plan's summary knows.
func freed(p *Plan) string {
	if p.Summary.BytesFreed <= 0 {
		return ""
	}
	return fmt.Sprintf(" and free about %s", units.Bytes(p.Summary.BytesFreed))
}

// roundDuration rounds for messages: whole seconds above a minute, milliseconds below.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}
