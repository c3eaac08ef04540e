package source

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// testRepo builds real git histories with go-git: commits are written as objects and branches
// moved by reference, so merges and side branches need no work tree.
type testRepo struct {
	t     *testing.T
	dir   string
	repo  *git.Repository
	clock time.Time
}

// newTestRepo makes an empty repository in a temporary directory, bare or with a work tree.
func newTestRepo(t *testing.T, bare bool) *testRepo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	if bare {
		dir += ".git"
	}
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.Main},
		Bare:        bare,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &testRepo{t: t, dir: dir, repo: repo, clock: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)}
}

// commit writes a commit whose tree holds one file with msg in it, moves branch to it and returns
// it. parents are in order: the first parent first.
func (r *testRepo) commit(branch, msg string, parents ...plumbing.Hash) Commit {
	r.t.Helper()
	r.clock = r.clock.Add(time.Minute)
	blob := r.repo.Storer.NewEncodedObject()
	blob.SetType(plumbing.BlobObject)
	w, err := blob.Writer()
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := w.Write([]byte(msg + "\n")); err != nil {
		r.t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		r.t.Fatal(err)
	}
	blobHash := r.store(blob)
	tree := &object.Tree{Entries: []object.TreeEntry{{Name: "CHANGES", Mode: filemode.Regular, Hash: blobHash}}}
	treeHash := r.encode(tree)
	sig := object.Signature{Name: "Dev", Email: "dev@example.test", When: r.clock}
	c := &object.Commit{
		Author:       sig,
		Committer:    sig,
		Message:      msg + "\n\nBody of " + msg + ".\n",
		TreeHash:     treeHash,
		ParentHashes: parents,
	}
	h := r.encode(c)
	if err := r.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(branch), h)); err != nil {
		r.t.Fatal(err)
	}
	return Commit{SHA: h.String(), Time: r.clock, Subject: msg}
}

func (r *testRepo) encode(o interface {
	Encode(plumbing.EncodedObject) error
}) plumbing.Hash {
	r.t.Helper()
	obj := r.repo.Storer.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		r.t.Fatal(err)
	}
	return r.store(obj)
}

func (r *testRepo) store(obj plumbing.EncodedObject) plumbing.Hash {
	r.t.Helper()
	h, err := r.repo.Storer.SetEncodedObject(obj)
	if err != nil {
		r.t.Fatal(err)
	}
	return h
}

// hash is the plumbing hash of a Commit made by commit.
func hash(c Commit) plumbing.Hash { return plumbing.NewHash(c.SHA) }

// caseHistory is a main branch with merged feature branches and a release branch:
//
//	f1 - f2            f3
//	/      \           /  \
//	a1 - a2 - m1 - a3 - a4 - m2      (main)
//	      \
//	       r1                        (release)
//
// main's first-parent history, newest first, is m2, a4, a3, m1, a2, a1.
type caseHistory struct {
	a1, a2, f1, f2, m1, a3, f3, a4, m2, r1 Commit
}

func buildCaseHistory(r *testRepo) caseHistory {
	var h caseHistory
	h.a1 = r.commit("main", "a1: initial")
	h.a2 = r.commit("main", "a2: add agent", hash(h.a1))
	h.f1 = r.commit("feature", "f1: feature work", hash(h.a2))
	h.r1 = r.commit("release", "r1: release fix", hash(h.a2))
	h.f2 = r.commit("feature", "f2: more feature work", hash(h.f1))
	h.m1 = r.commit("main", "m1: Merge feature", hash(h.a2), hash(h.f2))
	h.a3 = r.commit("main", "a3: fix", hash(h.m1))
	h.f3 = r.commit("feature2", "f3: second feature", hash(h.a3))
	h.a4 = r.commit("main", "a4: docs", hash(h.a3))
	h.m2 = r.commit("main", "m2: Merge feature2", hash(h.a4), hash(h.f3))
	return h
}

// needGitUploadPack skips a test that serves a file:// remote when the git command that go-git
// runs for it is missing.
func needGitUploadPack(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("file:// remotes need the git command (git-upload-pack): not installed")
	}
}
