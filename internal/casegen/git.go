package casegen

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/memory"
)

// A real git repository standing in for the SDK: main's first-parent chain carries the commits
// images are built for, and merged pull requests bring in side-branch commits that are reachable
// from main but not on that chain, so "the last N commits of main" must walk first parents.

// GitMainBranch is the branch MakeGitHistory commits to.
const GitMainBranch = "main"

// gitAuthors sign the history in turn.
var gitAuthors = []object.Signature{
	{Name: "Ada Lovelace", Email: "ada@example.com"},
	{Name: "Grace Hopper", Email: "grace@example.com"},
	{Name: "Alan Turing", Email: "alan@example.com"},
	{Name: "Barbara Liskov", Email: "barbara@example.com"},
	{Name: "Ken Thompson", Email: "ken@example.com"},
}

// MakeGitHistory creates a git repository in dir (which must not hold one) whose branch main has
// n first-parent commits at start, start+step, ... Every fourth main commit from the fourth on
// merges a pull-request branch of one to three commits that forked three commits earlier; those
// side commits are dated between the fork and the merge, so a walk by date mixes them in. An
// unmerged branch "wip-streaming" forks from the newest commit. Authors, times and contents are
// deterministic, so the same arguments give the same hashes. It returns main's first-parent
// commits, oldest first.
func MakeGitHistory(dir string, n int, start time.Time, step time.Duration) ([]Commit, error) {
	// Git keeps whole seconds.
	start, step = start.UTC().Truncate(time.Second), step.Truncate(time.Second)
	if n < 1 || step <= 0 {
		return nil, fmt.Errorf("git history: n %d and step %s must be positive (whole seconds): %w", n, step, ErrInvalidSpec)
	}
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		return nil, fmt.Errorf("git history: init %s: %w", dir, err)
	}
	// Objects are built in memory and written as one packfile: thousands of loose objects cost
	// a file each.
	w := &historyWriter{st: memory.NewStorage()}
	var main []Commit
	var hashes []plumbing.Hash
	for i := range n {
		at := start.Add(time.Duration(i) * step)
		parents := []plumbing.Hash{}
		if i > 0 {
			parents = append(parents, hashes[i-1])
		}
		msg := fmt.Sprintf("sdk: change %d\n", i+1)
		if i >= 4 && i%4 == 0 {
			fork := hashes[i-3]
			from, to := start.Add(time.Duration(i-3)*step), at
			side := 1 + (i/4)%3
			tip := fork
			for k := range side {
				t := from.Add(to.Sub(from) * time.Duration(k+1) / time.Duration(side+1)).Truncate(time.Second)
				tip, err = w.commit(fmt.Sprintf("pr-%d/%d", i/4, k), fmt.Sprintf("pr %d: step %d\n", i/4, k+1), t, i+k+1, tip)
				if err != nil {
					return nil, err
				}
			}
			parents = append(parents, tip)
			msg = fmt.Sprintf("Merge pull request #%d from all-hands/pr-%d\n", 100+i/4, i/4)
		}
		h, err := w.commit(fmt.Sprintf("main/%d", i), msg, at, i, parents...)
		if err != nil {
			return nil, err
		}
		hashes = append(hashes, h)
		main = append(main, Commit{SHA: h.String(), Time: at})
	}
	tip := hashes[n-1]
	wipAt := start.Add(time.Duration(n-1)*step + step/2).Truncate(time.Second)
	wip, err := w.commit("wip", "wip: streaming responses\n", wipAt, n, tip)
	if err != nil {
		return nil, err
	}
	if err := w.pack(repo.Storer); err != nil {
		return nil, err
	}
	refs := []*plumbing.Reference{
		plumbing.NewHashReference(plumbing.NewBranchReferenceName(GitMainBranch), tip),
		plumbing.NewHashReference(plumbing.NewBranchReferenceName("wip-streaming"), wip),
		plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName(GitMainBranch)),
	}
	for _, ref := range refs {
		if err := repo.Storer.SetReference(ref); err != nil {
			return nil, fmt.Errorf("git history: set %s: %w", ref.Name(), err)
		}
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, fmt.Errorf("git history: worktree: %w", err)
	}
	if err := wt.Reset(&git.ResetOptions{Commit: tip, Mode: git.HardReset}); err != nil {
		return nil, fmt.Errorf("git history: checkout %s: %w", GitMainBranch, err)
	}
	return main, nil
}

// GitSideCommits returns the commits of the repository in dir that are reachable from any branch
// but are not on main's first-parent chain (merged pull-request commits, unmerged branches),
// oldest first. Images built for them are not among "the last N commits of main".
func GitSideCommits(dir string) ([]Commit, error) {
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return nil, fmt.Errorf("git side commits: open %s: %w", dir, err)
	}
	ref, err := repo.Reference(plumbing.NewBranchReferenceName(GitMainBranch), true)
	if err != nil {
		return nil, fmt.Errorf("git side commits: %s: %w", GitMainBranch, err)
	}
	onMain := map[plumbing.Hash]bool{}
	for h := ref.Hash(); ; {
		onMain[h] = true
		c, err := repo.CommitObject(h)
		if err != nil {
			return nil, fmt.Errorf("git side commits: %s: %w", h, err)
		}
		if len(c.ParentHashes) == 0 {
			break
		}
		h = c.ParentHashes[0]
	}
	iter, err := repo.Log(&git.LogOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("git side commits: log: %w", err)
	}
	var out []Commit
	err = iter.ForEach(func(c *object.Commit) error {
		if !onMain[c.Hash] {
			out = append(out, Commit{SHA: c.Hash.String(), Time: c.Committer.When.UTC()})
		}
		return nil
	})
	if err != nil && !errors.Is(err, storer.ErrStop) {
		return nil, fmt.Errorf("git side commits: walk: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// historyWriter writes blobs, trees and commits into an object store and remembers their hashes.
type historyWriter struct {
	st     storer.EncodedObjectStorer
	hashes []plumbing.Hash
}

// pack writes every object written so far into dst as one packfile.
func (w *historyWriter) pack(dst storer.EncodedObjectStorer) error {
	pw, ok := dst.(storer.PackfileWriter)
	if !ok {
		return fmt.Errorf("git history: %T cannot store packfiles: %w", dst, ErrInvalidSpec)
	}
	out, err := pw.PackfileWriter()
	if err != nil {
		return fmt.Errorf("git history: packfile: %w", err)
	}
	if _, err := packfile.NewEncoder(out, w.st, false).Encode(w.hashes, 10); err != nil {
		out.Close()
		return fmt.Errorf("git history: packfile: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("git history: packfile: %w", err)
	}
	return nil
}

// put stores one encoded object.
func (w *historyWriter) put(obj plumbing.EncodedObject) (plumbing.Hash, error) {
	h, err := w.st.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	w.hashes = append(w.hashes, h)
	return h, nil
}

// commit writes a commit whose tree holds one file, CHANGES, with the given content.
func (w *historyWriter) commit(content, msg string, at time.Time, author int, parents ...plumbing.Hash) (plumbing.Hash, error) {
	blob := w.st.NewEncodedObject()
	blob.SetType(plumbing.BlobObject)
	bw, err := blob.Writer()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("git history: blob: %w", err)
	}
	if _, err := bw.Write([]byte(content + "\n")); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("git history: blob: %w", err)
	}
	if err := bw.Close(); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("git history: blob: %w", err)
	}
	blobHash, err := w.put(blob)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("git history: blob: %w", err)
	}
	tree := &object.Tree{Entries: []object.TreeEntry{{Name: "CHANGES", Mode: filemode.Regular, Hash: blobHash}}}
	treeObj := w.st.NewEncodedObject()
	if err := tree.Encode(treeObj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("git history: tree: %w", err)
	}
	treeHash, err := w.put(treeObj)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("git history: tree: %w", err)
	}
	sig := gitAuthors[author%len(gitAuthors)]
	sig.When = at
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: treeHash, ParentHashes: parents}
	obj := w.st.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("git history: commit: %w", err)
	}
	h, err := w.put(obj)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("git history: commit: %w", err)
	}
	return h, nil
}
