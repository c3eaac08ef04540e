package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docsWithCommands are the user documents whose shell examples must be real regtidy command
// lines.
var docsWithCommands = []string{
	"walkthrough.md", "quickstart.md", "cookbook.md", "policy-reference.md", "undo.md",
	"migrating.md", "comparison.md",
}

// TestDocsCommandLinesParse parses every regtidy command line in the ```sh blocks of the user
// documents with the command line's own definition: an unknown command or flag, a flag without
// its value or a wrong number of arguments fails, so a page cannot show a command regtidy does not
// take.
func TestDocsCommandLinesParse(t *testing.T) {
	total := 0
	for _, name := range docsWithCommands {
		path := filepath.Join("..", "..", "docs", name)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range shellCommands(string(data)) {
			args, ok := regtidyArgs(c.words)
			if !ok {
				continue
			}
			total++
			root := NewRootCmd(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
			cmd, rest, err := root.Find(args)
			if err != nil || cmd == root {
				t.Errorf("docs/%s:%d: %q: no such command (%v)", name, c.line, strings.Join(args, " "), err)
				continue
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Errorf("docs/%s:%d: %q: %v", name, c.line, strings.Join(args, " "), err)
				continue
			}
			if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
				t.Errorf("docs/%s:%d: %q: %v", name, c.line, strings.Join(args, " "), err)
			}
		}
	}
	if total < 20 {
		t.Errorf("found %d regtidy command lines in the docs; the walkthrough alone has more than 15", total)
	}
}

func TestShellCommands(t *testing.T) {
	doc := "text\n```sh\nX=1\nregtidy plan \"$REPO\" --policy 'a b.yaml' \\\n  --out p.json   # comment\ngo run ./cmd/regtidy demo\nregtidy compose --field sdk=$(git rev-parse --short=7 HEAD) --at /x\n```\n"
	got := shellCommands(doc)
	if len(got) != 4 {
		t.Fatalf("got %d commands: %v", len(got), got)
	}
	for i, want := range [][]string{
		{"plan", "$REPO", "--policy", "a b.yaml", "--out", "p.json"},
		{"demo"},
		{"compose", "--field", "sdk=$(git rev-parse --short=7 HEAD)", "--at", "/x"},
	} {
		args, ok := regtidyArgs(got[i+1].words)
		if !ok || strings.Join(args, "|") != strings.Join(want, "|") {
			t.Errorf("command %d: %q, want %q", i+1, args, want)
		}
	}
	if got[1].line != 4 {
		t.Errorf("the plan command is on line %d, want 4", got[1].line)
	}
}

// shellCommand is one command of a shell block: its words, quotes removed, and its first line.
type shellCommand struct {
	words []string
	line  int
}

// shellCommands splits the ```sh blocks of a Markdown text into commands: lines joined at a
// trailing backslash, comments dropped, words split at blanks outside quotes and $(...).
func shellCommands(doc string) []shellCommand {
	var out []shellCommand
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```sh" {
			continue
		}
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			start := i + 1
			text := lines[i]
			for strings.HasSuffix(text, "\\") && i+1 < len(lines) {
				i++
				text = strings.TrimSuffix(text, "\\") + " " + lines[i]
			}
			if words := shellWords(text); len(words) > 0 {
				out = append(out, shellCommand{words: words, line: start})
			}
		}
	}
	return out
}

// shellWords splits one command line into words the way a shell would for these examples:
// single and double quotes group and are removed, $(...) stays one word part, # outside quotes
// starts a comment.
func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	depth := 0
	var quote rune
	flush := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	runes := []rune(line)
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case depth > 0:
			cur.WriteRune(r)
			if r == '(' {
				depth++
			} else if r == ')' {
				depth--
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '$' && i+1 < len(runes) && runes[i+1] == '(':
			cur.WriteString("$(")
			i++
			depth, inWord = 1, true
		case r == '#' && !inWord:
			flush()
			return words
		case r == ' ' || r == '\t':
			flush()
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	flush()
	return words
}

// regtidyArgs returns the arguments of a regtidy command line: after "regtidy" or "go run
// ./cmd/regtidy". ok is false for other commands.
func regtidyArgs(words []string) ([]string, bool) {
	switch {
	case len(words) > 0 && words[0] == "regtidy":
		return words[1:], true
	case len(words) > 2 && words[0] == "go" && words[1] == "run" && words[2] == "./cmd/regtidy":
		return words[3:], true
	}
	return nil, false
}
