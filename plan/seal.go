package plan

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// A plan file is reviewed and may be edited by hand before `regtidy apply` carries it out. Two
// edits must never delete more than the policy decided: turning a kept manifest's decision into a
// delete, and pointing the plan at another repository. The seal makes both visible:
//
//   - Seal writes into the plan a digest over everything the policy engine decided except each
//     decision's action: the repository, the policy's path and digest, the evaluation time, the
//     tag to digest mapping, and every decision's digest, tags, kind, fields, parent, media type,
//     creation time, version id and reasons. Read and Apply check it: changing any of these
//     breaks the seal.
//   - The action is left out so that a reviewer may turn a delete into a keep. The opposite flip
//     is refused by another rule: a delete may carry only delete reasons (DeleteRules). Every
//     decision the evaluator keeps carries at least one keep reason, and reasons are sealed, so a
//     kept decision turned into a delete is refused whatever else is edited.
//
// The seal is a digest, not a signature: it catches edits by hand or by a script unaware of it,
// not someone who recomputes it on purpose.

// SealScheme names the seal's construction; it is the first thing hashed, so a later scheme
// gives other digests.
const SealScheme = "regtidy/plan-seal/v1"

// ErrSeal is wrapped (with ErrPlanInvalid) by the errors of a plan whose seal does not match its
// content, and by Apply's refusal of a plan without a seal.
var ErrSeal = errors.New("plan seal")

// DeleteRules are the reason rules a delete decision may carry: "no-keep-rule-matched" (no keep
// condition of the kind held), "child-of-deleted" and "referrer-of-deleted" (it follows deleted
// parents). Any other rule is a keep rule; a delete carrying one is refused.
var DeleteRules = []string{"no-keep-rule-matched", "child-of-deleted", "referrer-of-deleted"}

// IsDeleteRule reports whether rule is one of DeleteRules.
func IsDeleteRule(rule string) bool {
	for _, r := range DeleteRules {
		if r == rule {
			return true
		}
	}
	return false
}

// Seal computes the plan's seal and writes it in p.SealDigest. The policy engine seals the plans
// it makes; a plan made by other means (a test, a tool) must be sealed before Apply accepts it.
func (p *Plan) Seal() { p.SealDigest = p.computeSeal() }

// CheckSeal returns an error wrapping ErrSeal and ErrPlanInvalid when the plan has no seal, or a
// seal its content does not match (an edit other than turning deletes into keeps). It does not
// check the reasons of deletes: see CheckDeleteReasons.
func (p *Plan) CheckSeal() error {
	if p.SealDigest == "" {
		return fmt.Errorf("%w: %w: the plan of %s has no seal (it was made by a regtidy older than plan seals, or by hand): make it again with `regtidy plan`",
			ErrPlanInvalid, ErrSeal, p.Repository)
	}
	if got := p.computeSeal(); got != p.SealDigest {
		return fmt.Errorf("%w: %w: field \"seal\" is %s but the plan's content gives %s: the plan was edited after it was made (only turning a delete into a keep is allowed); make it again with `regtidy plan`",
			ErrPlanInvalid, ErrSeal, p.SealDigest, got)
	}
	return nil
}

// CheckDeleteReasons returns an error wrapping ErrPlanInvalid naming the first delete decision
// that carries a reason whose rule is not a delete rule (a kept decision turned into a delete),
// and how many such decisions the plan has.
func (p *Plan) CheckDeleteReasons() error {
	bad, first, rule := 0, -1, ""
	for i := range p.Decisions {
		d := &p.Decisions[i]
		if d.Action != Delete {
			continue
		}
		for _, r := range d.Reasons {
			if !IsDeleteRule(r.Rule) {
				if first < 0 {
					first, rule = i, r.Rule
				}
				bad++
				break
			}
		}
	}
	if bad == 0 {
		return nil
	}
	d := &p.Decisions[first]
	what := d.Digest
	if len(d.Tags) > 0 {
		what += " (tags " + joinTags(d.Tags) + ")"
	}
	return fmt.Errorf("%w: decisions[%d] %s: action \"delete\" with keep reason %q: the policy kept it and the plan was edited; %d delete decisions carry keep reasons; refusing to apply",
		ErrPlanInvalid, first, what, rule, bad)
}

// CheckApplicable returns the error Apply gives a plan it must not carry out for what the plan
// says rather than what the registry holds: a delete carrying keep reasons (CheckDeleteReasons),
// no seal or a broken one (CheckSeal). Both wrap ErrPlanInvalid.
func (p *Plan) CheckApplicable() error {
	if err := p.CheckDeleteReasons(); err != nil {
		return err
	}
	return p.CheckSeal()
}

// joinTags names at most three tags.
func joinTags(tags []string) string {
	s := ""
	for i, t := range tags {
		if i == 3 {
			return s + " and " + strconv.Itoa(len(tags)-3) + " more"
		}
		if i > 0 {
			s += ", "
		}
		s += t
	}
	return s
}

// sealChunk is how many tags or decisions are hashed together; chunks are hashed on every core
// and their digests hashed in order, so the seal does not depend on the number of cores.
const sealChunk = 4096

// computeSeal returns "sha256:" and the hex digest of the plan's sealed content.
func (p *Plan) computeSeal() string {
	var b []byte
	b = appendSealString(b, SealScheme)
	b = appendSealString(b, p.Repository)
	b = appendSealString(b, p.Policy.Path)
	b = appendSealString(b, p.Policy.Digest)
	b = appendSealTime(b, p.Now)
	b = binary.AppendUvarint(b, uint64(len(p.Tags)))
	for _, sum := range hashChunks(len(p.Tags), func(b []byte, i int) []byte {
		t := &p.Tags[i]
		return appendSealString(appendSealString(b, t.Name), t.Digest)
	}) {
		b = append(b, sum[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(p.Decisions)))
	for _, sum := range hashChunks(len(p.Decisions), func(b []byte, i int) []byte {
		return appendSealDecision(b, &p.Decisions[i])
	}) {
		b = append(b, sum[:]...)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// hashChunks hashes items [0, n) in chunks of sealChunk, each chunk's bytes made by add, and
// returns the chunks' digests in order.
func hashChunks(n int, add func(b []byte, i int) []byte) [][sha256.Size]byte {
	chunks := (n + sealChunk - 1) / sealChunk
	sums := make([][sha256.Size]byte, chunks)
	workers := min(runtime.GOMAXPROCS(0), chunks)
	var next sync.Mutex
	c := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var buf []byte
			for {
				next.Lock()
				k := c
				c++
				next.Unlock()
				if k >= chunks {
					return
				}
				buf = buf[:0]
				for i := k * sealChunk; i < min(n, (k+1)*sealChunk); i++ {
					buf = add(buf, i)
				}
				sums[k] = sha256.Sum256(buf)
			}
		})
	}
	wg.Wait()
	return sums
}

// appendSealDecision appends every field of d but its action.
func appendSealDecision(b []byte, d *Decision) []byte {
	b = appendSealString(b, d.Digest)
	b = binary.AppendUvarint(b, uint64(len(d.Tags)))
	for _, t := range d.Tags {
		b = appendSealString(b, t)
	}
	b = appendSealString(b, d.Kind)
	b = binary.AppendUvarint(b, uint64(len(d.Fields)))
	for _, f := range d.Fields {
		b = appendSealString(appendSealString(b, f.Name), f.Value)
	}
	b = appendSealString(b, d.Parent)
	b = appendSealString(b, d.MediaType)
	b = appendSealTime(b, d.Created)
	b = binary.AppendVarint(b, d.VersionID)
	b = binary.AppendUvarint(b, uint64(len(d.Reasons)))
	for _, r := range d.Reasons {
		b = appendSealString(b, r.Rule)
		b = appendSealString(b, r.Kind)
		b = appendSealString(b, r.Detail)
		b = appendSealString(b, r.Of)
	}
	return b
}

// appendSealString appends s with its length first, so that no two sequences of strings give the
// same bytes.
func appendSealString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendSealTime appends t as the instant JSON round-trips: RFC 3339 in UTC, or "" when zero.
func appendSealTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return appendSealString(b, "")
	}
	var buf [64]byte
	f := t.UTC().AppendFormat(buf[:0], time.RFC3339Nano)
	b = binary.AppendUvarint(b, uint64(len(f)))
	return append(b, f...)
}
