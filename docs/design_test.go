// Package docs holds the repository's design notes; its test keeps them honest.
package docs

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDesignNamesExistingTests fails when DESIGN.md names a test that no _test.go file of the
// repository defines: an invariant must stay proved by a test that exists.
func TestDesignNamesExistingTests(t *testing.T) {
	doc, err := os.ReadFile("DESIGN.md")
	if err != nil {
		t.Fatal(err)
	}
	named := regexp.MustCompile("`(Test[A-Za-z0-9_]+)`").FindAllStringSubmatch(string(doc), -1)
	if len(named) < 20 {
		t.Fatalf("DESIGN.md names %d tests; the invariants name many more", len(named))
	}
	defined := map[string]bool{}
	decl := regexp.MustCompile(`^func (Test[A-Za-z0-9_]+)\(`)
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if m := decl.FindStringSubmatch(sc.Text()); m != nil {
				defined[m[1]] = true
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range named {
		if !defined[m[1]] {
			t.Errorf("DESIGN.md names %s, which no test file defines", m[1])
		}
	}
}

// TestDesignMapsEveryPackage fails when a package directory of the repository is missing from
// DESIGN.md's package map (a row starting "| `dir`"; the module root is "| `regtidy`").
func TestDesignMapsEveryPackage(t *testing.T) {
	doc, err := os.ReadFile("DESIGN.md")
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]bool{}
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != ".." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			dirs[filepath.ToSlash(filepath.Dir(path))] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir := range dirs {
		name := strings.TrimPrefix(dir, "../")
		if dir == ".." {
			name = "regtidy"
		}
		if !strings.Contains(string(doc), "\n| `"+name+"`") {
			t.Errorf("DESIGN.md's package map has no row for %s", name)
		}
	}
}
