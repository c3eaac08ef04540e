package apply

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Two applies of one plan at once would each re-check, journal and delete the same tags, and
// count each other's deletes as "already gone". A lock beside the journal (or, on GitHub, beside
// the state) lets one run at a time work on a repository. It is an object created only if none
// exists (a hard link on a file system, a conditional write in a bucket) holding who runs and
// until when: a run killed without releasing it wedges nothing past the expiry, after which the
// next run takes it over. A run refreshes its lock while it works, so it does not expire under it.

// LockSchema is the version string written in every lock.
const LockSchema = "regtidy/lock/v1"

// DefaultLockExpiry is how long a lock holds without a refresh. A run refreshes it every third of
// this while it works.
const DefaultLockExpiry = 15 * time.Minute

// ErrLocked is wrapped by the error of a run refused because another run holds the lock.
var ErrLocked = errors.New("another regtidy run holds the lock")

// ErrLockExists is what a LockStore's Create returns when the key exists.
var ErrLockExists = errors.New("lock exists")

// ErrLockLost is wrapped by the error of a run whose lock was taken by another run (it was not
// refreshed in time) or could not be refreshed: the run stops deleting.
var ErrLockLost = errors.New("the run's lock was lost")

// LockStore is where locks are kept: a file system (FileLockStore) or a bucket.
type LockStore interface {
	// Create writes data at key only if nothing is there: else it returns ErrLockExists.
	Create(ctx context.Context, key string, data []byte) error
	// Read returns the data at key, or an error wrapping fs.ErrNotExist.
	Read(ctx context.Context, key string) ([]byte, error)
	// Write replaces the data at key.
	Write(ctx context.Context, key string, data []byte) error
	// Delete removes key; a missing key is no error.
	Delete(ctx context.Context, key string) error
}

// LockInfo is a lock's content: who holds it, since and until when.
type LockInfo struct {
	Schema string `json:"schema"`
	// Token is random, written by the holder, so that it knows the lock is still its own.
	Token   string    `json:"token"`
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Purpose string    `json:"purpose,omitempty"`
	Started time.Time `json:"started"`
	Expires time.Time `json:"expires"`
}

// String names the holder for messages.
func (i LockInfo) String() string {
	s := fmt.Sprintf("pid %d on %s, started %s, expires %s", i.PID, i.Host, i.Started.UTC().Format(time.RFC3339), i.Expires.UTC().Format(time.RFC3339))
	if i.Purpose != "" {
		s += " (" + i.Purpose + ")"
	}
	return s
}

// LockedError is a run refused because another holds the lock.
type LockedError struct {
	// Key is the lock's path or URL; Holder is its content (zero when it could not be read).
	Key    string
	Holder LockInfo
	// Unreadable says why the lock's content could not be read, if it could not.
	Unreadable string
}

// Error names the lock and its holder and says what to do.
func (e *LockedError) Error() string {
	if e.Unreadable != "" {
		return fmt.Sprintf("%s: %v, which cannot be read (%s): if no regtidy run is working on this repository, remove the lock and run again", e.Key, ErrLocked, e.Unreadable)
	}
	return fmt.Sprintf("%s: %v: %s; wait for it to finish (its lock is taken over once expired), and remove the lock by hand only if that run is dead", e.Key, ErrLocked, e.Holder)
}

// Unwrap returns ErrLocked.
func (e *LockedError) Unwrap() error { return ErrLocked }

// LockOptions tune AcquireLock.
type LockOptions struct {
	// Expiry is how long the lock holds without a refresh. The default value is
	// DefaultLockExpiry.
	Expiry time.Duration
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
	// Purpose is written in the lock for whoever finds it, e.g. "apply 127.0.0.1:5000/app".
	Purpose string
}

// Lock is a held lock.
type Lock struct {
	store LockStore
	key   string
	opt   LockOptions

	mu   sync.Mutex
	info LockInfo
	// takeover is the marker this run created to take over an expired lock; removed on release.
	takeover string
	stop     chan struct{}
	done     chan struct{}
}

// AcquireLock takes the lock at key in store, or returns a *LockedError naming its holder. An
// expired lock is taken over: only one run can, since each taker must first create a marker
// named after the expired lock's token.
func AcquireLock(ctx context.Context, store LockStore, key string, opt LockOptions) (*Lock, error) {
	if opt.Expiry <= 0 {
		opt.Expiry = DefaultLockExpiry
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	host, _ := os.Hostname()
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	now := opt.Now()
	l := &Lock{store: store, key: key, opt: opt, info: LockInfo{
		Schema: LockSchema, Token: hex.EncodeToString(tok), PID: os.Getpid(), Host: host,
		Purpose: opt.Purpose, Started: now.UTC(), Expires: now.Add(opt.Expiry).UTC(),
	}}
	data, err := json.Marshal(l.info)
	if err != nil {
		return nil, err
	}
	// A lock released between Create and Read is tried again, a bounded number of times.
	for range 3 {
		err := store.Create(ctx, key, data)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, ErrLockExists) {
			return nil, fmt.Errorf("taking the lock %s: %w", key, err)
		}
		raw, err := store.Read(ctx, key)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading the lock %s: %w", key, err)
		}
		var held LockInfo
		if err := json.Unmarshal(raw, &held); err != nil || held.Token == "" {
			why := "no token"
			if err != nil {
				why = err.Error()
			}
			return nil, &LockedError{Key: key, Unreadable: why}
		}
		if now.Before(held.Expires) {
			return nil, &LockedError{Key: key, Holder: held}
		}
		marker := takeoverKey(key, held.Token)
		if err := store.Create(ctx, marker, data); errors.Is(err, ErrLockExists) {
			return nil, &LockedError{Key: key, Holder: held}
		} else if err != nil {
			return nil, fmt.Errorf("taking over the expired lock %s: %w", key, err)
		}
		if err := store.Write(ctx, key, data); err != nil {
			_ = store.Delete(ctx, marker)
			return nil, fmt.Errorf("taking over the expired lock %s: %w", key, err)
		}
		l.takeover = marker
		return l, nil
	}
	return nil, fmt.Errorf("taking the lock %s: it kept changing", key)
}

// takeoverKey is the key of the marker that takes over the expired lock at key holding token:
// beside the lock, its name suffixed (before the query of a URL).
func takeoverKey(key, token string) string {
	suffix := ".takeover-" + token
	if i := strings.IndexByte(key, '?'); i >= 0 && strings.Contains(key, "://") {
		return key[:i] + suffix + key[i:]
	}
	return key + suffix
}

// Info returns the lock's current content.
func (l *Lock) Info() LockInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}

// Refresh pushes the lock's expiry to now plus the expiry, after checking the lock is still this
// run's; an error wrapping ErrLockLost says it is not (or cannot be read).
func (l *Lock) Refresh(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.owned(ctx); err != nil {
		return err
	}
	info := l.info
	info.Expires = l.opt.Now().Add(l.opt.Expiry).UTC()
	data, err := json.Marshal(info)
	if err != nil {
		return err
	}
	if err := l.store.Write(ctx, l.key, data); err != nil {
		return fmt.Errorf("%w: refreshing %s: %w", ErrLockLost, l.key, err)
	}
	l.info = info
	return nil
}

// owned checks the lock at key still holds this run's token. Holds l.mu.
func (l *Lock) owned(ctx context.Context) error {
	raw, err := l.store.Read(ctx, l.key)
	if err != nil {
		return fmt.Errorf("%w: reading %s: %w", ErrLockLost, l.key, err)
	}
	var cur LockInfo
	if err := json.Unmarshal(raw, &cur); err != nil || cur.Token != l.info.Token {
		return fmt.Errorf("%w: %s now holds %s", ErrLockLost, l.key, cur)
	}
	return nil
}

// KeepFresh refreshes the lock every third of its expiry (on the wall clock) until Release,
// calling lost once if a refresh fails: the caller must stop its work.
func (l *Lock) KeepFresh(ctx context.Context, lost func(error)) {
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	every := max(l.opt.Expiry/3, time.Second)
	go func() {
		defer close(l.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-tick.C:
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), every)
				err := l.Refresh(rctx)
				cancel()
				if err != nil {
					lost(err)
					return
				}
			}
		}
	}()
}

// Release stops refreshing and removes the lock if it is still this run's, with the marker of a
// takeover.
func (l *Lock) Release(ctx context.Context) error {
	if l.stop != nil {
		close(l.stop)
		<-l.done
		l.stop = nil
	}
	ctx = context.WithoutCancel(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.owned(ctx); err != nil {
		return err
	}
	err := l.store.Delete(ctx, l.key)
	if l.takeover != "" {
		err = errors.Join(err, l.store.Delete(ctx, l.takeover))
	}
	return err
}

// FileLockStore keeps locks as files: keys are paths.
type FileLockStore struct{}

// Create writes data to a temporary file and hard-links it to key, which fails if key exists: the
// lock appears whole or not at all. Where hard links are not supported it creates key exclusively
// and writes it.
func (FileLockStore) Create(_ context.Context, key string, data []byte) error {
	tmp, err := writeTemp(key, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	err = os.Link(tmp, key)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrExist):
		return ErrLockExists
	}
	f, err := os.OpenFile(key, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return ErrLockExists
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Read reads the file at key.
func (FileLockStore) Read(_ context.Context, key string) ([]byte, error) { return os.ReadFile(key) }

// Write replaces the file at key atomically (a temporary file renamed into place).
func (FileLockStore) Write(_ context.Context, key string, data []byte) error {
	tmp, err := writeTemp(key, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, key); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// Delete removes the file at key.
func (FileLockStore) Delete(_ context.Context, key string) error {
	if err := os.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// writeTemp writes data to a new temporary file beside key and returns its name.
func writeTemp(key string, data []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(key), filepath.Base(key)+".tmp-*")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
