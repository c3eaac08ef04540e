package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/cli and docs/man from the command line's definition")

// cliDocDate is the date the man pages carry: fixed, so that regenerating changes nothing unless
// the command line changed.
var cliDocDate = time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)

// generateCLIDocs writes the markdown reference (one page per command) and the man pages of the
// command line into dir/cli and dir/man.
func generateCLIDocs(t *testing.T, dir string) {
	t.Helper()
	root := NewRootCmd(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	root.DisableAutoGenTag = true
	for _, sub := range []string{"cli", "man"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := doc.GenMarkdownTree(root, filepath.Join(dir, "cli")); err != nil {
		t.Fatal(err)
	}
	header := &doc.GenManHeader{Title: "REGTIDY", Section: "1", Source: "regtidy", Manual: "regtidy manual", Date: &cliDocDate}
	if err := doc.GenManTree(root, header, filepath.Join(dir, "man")); err != nil {
		t.Fatal(err)
	}
}

// The reference in docs/cli and docs/man is generated from the command line, and stays so:
// regenerate with `go test ./cmd/regtidy -run TestCLIReference -update`.
func TestCLIReferenceIsUpToDate(t *testing.T) {
	docs := filepath.Join("..", "..", "docs")
	if *updateDocs {
		for _, sub := range []string{"cli", "man"} {
			if err := os.RemoveAll(filepath.Join(docs, sub)); err != nil {
				t.Fatal(err)
			}
		}
		generateCLIDocs(t, docs)
	}
	fresh := t.TempDir()
	generateCLIDocs(t, fresh)
	for _, sub := range []string{"cli", "man"} {
		want, _ := filepath.Glob(filepath.Join(fresh, sub, "*"))
		have, _ := filepath.Glob(filepath.Join(docs, sub, "*"))
		if len(want) != len(have) {
			t.Errorf("docs/%s holds %d pages, the command line makes %d: run go test ./cmd/regtidy -run TestCLIReference -update", sub, len(have), len(want))
		}
		for _, w := range want {
			got, err := os.ReadFile(filepath.Join(docs, sub, filepath.Base(w)))
			exp, _ := os.ReadFile(w)
			if err != nil || !bytes.Equal(got, exp) {
				t.Errorf("docs/%s/%s is missing or stale: run go test ./cmd/regtidy -run TestCLIReference -update", sub, filepath.Base(w))
			}
		}
	}
}

// Every command and every flag appears in the markdown reference.
func TestCLIReferenceNamesEveryCommandAndFlag(t *testing.T) {
	root := NewRootCmd(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		page := filepath.Join("..", "..", "docs", "cli", strings.ReplaceAll(c.CommandPath(), " ", "_")+".md")
		raw, err := os.ReadFile(page)
		if err != nil {
			t.Errorf("command %q has no reference page: %v", c.CommandPath(), err)
			return
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden && !strings.Contains(string(raw), "--"+f.Name) {
				t.Errorf("%s: flag --%s missing from %s", c.CommandPath(), f.Name, page)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
