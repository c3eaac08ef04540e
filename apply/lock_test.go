package apply

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/plan"
)

// TestTwoAppliesAtOnceOneIsRefused starts a second apply of the same plan while the first one is
// deleting (its first DELETE is held until the second returns). The second must be refused,
// naming the lock, without a DELETE request or a line in the journal; the first finishes
// the plan, and the journal holds one run with one intent per planned delete.
func TestTwoAppliesAtOnceOneIsRefused(t *testing.T) {
	for _, mode := range []plan.Mode{plan.ModeTag, plan.ModeDigest} {
		t.Run(string(mode), func(t *testing.T) {
			w := newWorld(t)
			f := w.f
			journal := filepath.Join(t.TempDir(), "plan.journal.jsonl")
			deleting, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			f.setHook(func(rw http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodDelete {
					return false
				}
				once.Do(func() {
					close(deleting)
					<-release
				})
				return false
			})
			type outcome struct {
				res *ApplyResult
				err error
			}
			first := make(chan outcome, 1)
			go func() {
				res, err := Apply(t.Context(), w.plan, f.c, ApplyOptions{Mode: mode, JournalPath: journal})
				first <- outcome{res, err}
			}()
			select {
			case <-deleting:
			case o := <-first:
				t.Fatalf("the first run ended before deleting: %v", o.err)
			}
			// The bound only ends a test that would otherwise wait for ever on code without a lock.
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			res2, err2 := Apply(ctx, w.plan, f.c, ApplyOptions{Mode: mode, JournalPath: journal})
			cancel()
			close(release)
			o := <-first
			if err2 == nil || !strings.Contains(err2.Error(), "lock") || !strings.Contains(err2.Error(), "pid") {
				t.Errorf("second run: err %v, want a refusal naming the lock's holder", err2)
			}
			if res2 != nil && len(res2.DeletedTags)+len(res2.DeletedManifests)+len(res2.GoneTags)+len(res2.GoneManifests) > 0 {
				t.Errorf("second run deleted %d tags, %d manifests, found %d gone", len(res2.DeletedTags), len(res2.DeletedManifests), len(res2.GoneTags)+len(res2.GoneManifests))
			}
			if res2 != nil && res2.Requests.Deletes != 0 {
				t.Errorf("the second run made %d DELETE requests", res2.Requests.Deletes)
			}
			if o.err != nil {
				t.Fatalf("first run: %v", o.err)
			}
			if diff := cmp.Diff(deletedTags(w.plan), o.res.DeletedTags); mode == plan.ModeTag && diff != "" {
				t.Errorf("first run's deleted tags (-plan +run):\n%s", diff)
			}
			raw, err := os.ReadFile(journal)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := ReadJournal(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			headers, intents := 0, map[string]int{}
			for _, r := range recs {
				switch r.Type {
				case RecordHeader:
					headers++
				case RecordManifest:
					intents[r.Digest+" "+strings.Join(r.Tags, ",")]++
				}
			}
			for k, n := range intents {
				if n != 1 {
					t.Errorf("intent %s journaled %d times", k, n)
				}
			}
			if headers != 1 {
				t.Errorf("%d runs in the journal, want 1", headers)
			}
			if _, err := os.Stat(journal + ".lock"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the lock is left behind: %v", err)
			}
		})
	}
}

// TestAnExpiredLockIsTakenOver: a lock refuses others until it expires; then exactly one run
// takes it over, and the old holder finds it lost. Time is a fake clock.
func TestAnExpiredLockIsTakenOver(t *testing.T) {
	ctx := t.Context()
	clock := ghcremu.NewFakeClock(time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC))
	key := filepath.Join(t.TempDir(), "j.lock")
	opt := LockOptions{Expiry: 10 * time.Minute, Now: clock.Now, Purpose: "apply r/x"}
	old, err := AcquireLock(ctx, FileLockStore{}, key, opt)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(9 * time.Minute)
	_, err = AcquireLock(ctx, FileLockStore{}, key, opt)
	var le *LockedError
	if !errors.As(err, &le) || le.Holder.Token != old.Info().Token || !strings.Contains(err.Error(), "apply r/x") {
		t.Fatalf("second taker before expiry: err %v, want a *LockedError naming the holder", err)
	}
	if err := old.Refresh(ctx); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	clock.Advance(9 * time.Minute) // 18 minutes after the start, 9 after the refresh: still held
	if _, err := AcquireLock(ctx, FileLockStore{}, key, opt); !errors.Is(err, ErrLocked) {
		t.Fatalf("after a refresh: err %v, want ErrLocked", err)
	}
	clock.Advance(2 * time.Minute) // expired: the holder was killed
	taker, err := AcquireLock(ctx, FileLockStore{}, key, opt)
	if err != nil {
		t.Fatalf("taking over the expired lock: %v", err)
	}
	if _, err := AcquireLock(ctx, FileLockStore{}, key, opt); !errors.Is(err, ErrLocked) {
		t.Errorf("a third taker: err %v, want ErrLocked", err)
	}
	if err := old.Refresh(ctx); !errors.Is(err, ErrLockLost) {
		t.Errorf("the old holder's refresh: err %v, want ErrLockLost", err)
	}
	if err := old.Release(ctx); !errors.Is(err, ErrLockLost) {
		t.Errorf("the old holder's release: err %v, want ErrLockLost", err)
	}
	if raw, err := os.ReadFile(key); err != nil || !strings.Contains(string(raw), taker.Info().Token) {
		t.Fatalf("the lock after the old holder's release: %s, %v; want the taker's", raw, err)
	}
	if err := taker.Release(ctx); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(key), "*"))
	if len(left) != 0 {
		t.Errorf("files left after release: %v", left)
	}
}

// TestApplyTakesOverTheLockOfAKilledRun: a lock file left by a killed run blocks apply until it
// expires; then apply takes it over and carries the plan out.
func TestApplyTakesOverTheLockOfAKilledRun(t *testing.T) {
	w := newWorld(t)
	f := w.f
	clock := ghcremu.NewFakeClock(time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC))
	journal := filepath.Join(t.TempDir(), "plan.journal.jsonl")
	dead := LockInfo{Schema: LockSchema, Token: "dead", PID: 4242, Host: "ci-7", Started: clock.Now().Add(-time.Hour), Expires: clock.Now().Add(5 * time.Minute)}
	raw, _ := json.Marshal(dead)
	if err := os.WriteFile(journal+".lock", raw, 0o600); err != nil {
		t.Fatal(err)
	}
	before := f.liveTags()
	opt := ApplyOptions{Mode: plan.ModeTag, JournalPath: journal, Now: clock.Now}
	if _, err := Apply(t.Context(), w.plan, f.c, opt); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid 4242 on ci-7") {
		t.Fatalf("Apply under a live lock: err %v, want ErrLocked naming pid 4242 on ci-7", err)
	}
	if diff := cmp.Diff(before, f.liveTags()); diff != "" {
		t.Fatalf("the registry changed under a live lock (-before +after):\n%s", diff)
	}
	clock.Advance(6 * time.Minute)
	res, err := Apply(t.Context(), w.plan, f.c, opt)
	if err != nil {
		t.Fatalf("Apply after the lock expired: %v", err)
	}
	if diff := cmp.Diff(deletedTags(w.plan), res.DeletedTags); diff != "" {
		t.Errorf("deleted tags (-plan +run):\n%s", diff)
	}
	if left, _ := filepath.Glob(journal + ".lock*"); len(left) != 0 {
		t.Errorf("lock files left: %v", left)
	}
}
