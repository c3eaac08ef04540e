package ghcr

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/inventory"
)

// TestApplyRefusesAPlanWhoseTagsAreGoneWithoutARecord: every version the plan deletes was deleted
// by a run nothing recorded. With a state that does not know the plan's versions (another
// package's, or none), apply must stop before any delete request and say the plan does not match;
// with the package's state, which lists them, it counts them as done.
func TestApplyRefusesAPlanWhoseTagsAreGoneWithoutARecord(t *testing.T) {
	g := fillGHCR(t, 0.001, fastDeletes)
	p, _ := g.makePlan(t, g.newRun(t), inventory.BuildOptions{})
	want := g.expected()
	if _, err := Apply(t.Context(), p, g.oci, client(t, g.e, g.clock), NewState(""), ApplyOptions{}); err != nil {
		t.Fatalf("unrecorded run: %v", err)
	}
	answered := deleteAnswers(g.e)[404] + deleteAnswers(g.e)[204]
	res, err := Apply(t.Context(), p, g.oci, client(t, g.e, g.clock), NewState(""), ApplyOptions{})
	if !errors.Is(err, apply.ErrPlanMismatch) || !strings.Contains(err.Error(), "does not match the registry") {
		t.Errorf("run with no record: err %v, want plan.ErrPlanMismatch", err)
	}
	if res != nil && len(res.Gone)+len(res.Deleted) > 0 {
		t.Errorf("run with no record: %d gone, %d deleted", len(res.Gone), len(res.Deleted))
	}
	if got := deleteAnswers(g.e)[404] + deleteAnswers(g.e)[204]; got != answered {
		t.Errorf("%d delete requests after the refusal", got-answered)
	}
	r := g.newRun(t)
	res, err = Apply(t.Context(), p, g.oci, r.rest, r.st, ApplyOptions{})
	if err != nil || len(res.Gone) != len(want) {
		t.Errorf("run with the package's state: err %v, %d gone, want %d", err, len(res.Gone), len(want))
	}
	checkEnd(t, g.e, want)
}

// TestApplyLocksTheStateInABucket: a lock object beside a bucket state keeps a second run out
// (nothing deleted, the holder named) until it expires on the client's clock; then apply takes it
// over, deletes the plan and removes the lock.
func TestApplyLocksTheStateInABucket(t *testing.T) {
	g := fillGHCR(t, 0.001, fastDeletes)
	p, _ := g.makePlan(t, g.newRun(t), inventory.BuildOptions{})
	want := g.expected()
	dir := t.TempDir()
	loc := "file://" + filepath.ToSlash(dir) + "/state.json?no_tmp_dir=true"
	lockLoc := LockLocation(loc)
	if lockLoc != "file://"+filepath.ToSlash(dir)+"/state.json.lock?no_tmp_dir=true" {
		t.Fatalf("LockLocation(%s) = %s", loc, lockLoc)
	}
	held, err := apply.AcquireLock(t.Context(), LockStore(lockLoc), lockLoc, apply.LockOptions{Expiry: 10 * time.Minute, Now: g.clock.Now, Purpose: "apply by a killed job"})
	if err != nil {
		t.Fatal(err)
	}
	// The lock is an object of the bucket: a second taker is refused.
	if _, err := apply.AcquireLock(t.Context(), LockStore(lockLoc), lockLoc, apply.LockOptions{Now: g.clock.Now}); !errors.Is(err, apply.ErrLocked) {
		t.Fatalf("second AcquireLock: %v, want plan.ErrLocked", err)
	}
	r := g.newRun(t)
	_, err = Apply(t.Context(), p, g.oci, r.rest, r.st, ApplyOptions{StatePath: loc})
	if !errors.Is(err, apply.ErrLocked) || !strings.Contains(err.Error(), "apply by a killed job") {
		t.Fatalf("Apply under a live lock: err %v, want plan.ErrLocked naming the holder", err)
	}
	if n := len(deletedDigests(g.e)); n != 0 {
		t.Fatalf("%d versions deleted under a live lock", n)
	}
	g.clock.Advance(11 * time.Minute)
	r = g.newRun(t)
	res, err := Apply(t.Context(), p, g.oci, r.rest, r.st, ApplyOptions{StatePath: loc})
	if err != nil {
		t.Fatalf("Apply after the lock expired: %v", err)
	}
	if len(res.Deleted) != len(want) {
		t.Fatalf("Apply after the lock expired: err %v, %d deleted, want %d", err, len(res.Deleted), len(want))
	}
	checkEnd(t, g.e, want)
	if _, err := LockStore(lockLoc).Read(t.Context(), lockLoc); err == nil {
		t.Error("the lock object is left behind")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*takeover*")); len(left) != 0 {
		t.Errorf("takeover markers left behind: %v", left)
	}
	if err := held.Release(t.Context()); !errors.Is(err, apply.ErrLockLost) {
		t.Errorf("the killed job's release: %v, want plan.ErrLockLost", err)
	}
}
