package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/regtidy/regtidy/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// pageFixture is caseInventory with commit-hash sdk values on a three-commit history, and a plan
// that keeps the commits of the last two (a222222 is #2, b000000 is off the window), keeps
// a222222's gaia image for a live run, and deletes the rest.
func pageFixture() (*Report, *plan.Plan) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := &History{Branch: "main", Commits: []Commit{
		{SHA: "c" + strings.Repeat("1", 39), Time: t0.Add(48 * time.Hour)},
		{SHA: "a" + strings.Repeat("2", 39), Time: t0.Add(24 * time.Hour)},
		{SHA: "b" + strings.Repeat("0", 39), Time: t0},
	}}
	inv := caseInventory()
	inv.ListedAt = time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)
	for i, tg := range inv.Tags {
		switch {
		case strings.HasPrefix(tg.Name, "a-"):
			inv.Tags[i].Name = "a222222" + tg.Name[1:]
		case strings.HasPrefix(tg.Name, "b-"):
			inv.Tags[i].Name = "b000000" + tg.Name[1:]
		}
	}
	r := Compute(inv, prefixClassifier{}, Options{History: h, TagList: true})
	p := &plan.Plan{Schema: plan.Schema, Repository: "r", Now: inv.ListedAt, Policy: plan.PolicyRef{Path: "policy.yaml"},
		Tags: inv.Tags,
		Sources: []plan.SourceRead{{Kind: "commits", Source: "main of sdk", Commits: &plan.CommitsRead{Count: 2, Head: h.Commits[0].SHA, Oldest: h.Commits[1].SHA}},
			{Kind: "runs", Source: "file:///runs/*.jsonl", Runs: &plan.RunsRead{Matched: 1, Files: 1, Runs: 3, LiveRuns: 1, LiveCommits: 1}}}}
	for _, tg := range inv.Tags {
		cls, fields := prefixClassifier{}.Classify(tg.Name)
		d := plan.Decision{Digest: tg.Digest, Tags: []string{tg.Name}, Kind: cls, Action: plan.Delete,
			Reasons: []plan.Reason{{Rule: "no-keep-rule-matched", Kind: cls, Detail: "tag " + tg.Name + " is not kept"}}}
		for k, v := range fields {
			d.Fields = append(d.Fields, plan.Field{Name: k, Value: v})
		}
		switch {
		case strings.HasPrefix(tg.Name, "a222222-gaia"):
			d.Action, d.Reasons = plan.Keep, []plan.Reason{{Rule: "commits", Detail: "sdk a222222 is #2 of the last 2 commits of main"},
				{Rule: "runs", Detail: "sdk a222222 is used by live run r1"}}
		case strings.HasPrefix(tg.Name, "a222222"):
			d.Action, d.Reasons = plan.Keep, []plan.Reason{{Rule: "commits", Detail: "sdk a222222 is #2 of the last 2 commits of main"}}
		case tg.Name == "v1.0.0":
			d.Action, d.Reasons = plan.Keep, []plan.Reason{{Rule: "unknown-kind", Detail: "tag v1.0.0 matches no kind | <b>"}}
		}
		p.Decisions = append(p.Decisions, d)
	}
	p.Summarize(inv)
	p.Cost = plan.Cost{Mode: "tag", Why: "the registry deletes tags", Requests: 12, Deletes: 2, AfterApply: "run the registry's garbage collection"}
	return r, p
}

func TestWriteMarkdownGolden(t *testing.T) {
	r, p := pageFixture()
	for _, tc := range []struct {
		name string
		p    *plan.Plan
	}{{"report-plan.md", p}, {"report.md", nil}} {
		var buf bytes.Buffer
		if err := WriteMarkdown(&buf, r, tc.p, MarkdownOptions{}); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), "<script") || strings.Contains(buf.String(), "<b>") {
			t.Errorf("%s: markdown carries HTML:\n%s", tc.name, buf.String())
		}
		golden := filepath.Join("testdata", tc.name)
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./report/ -run Golden -update to write it)", err)
		}
		if buf.String() != string(want) {
			t.Errorf("%s differs from the golden file; got:\n%s", tc.name, buf.String())
		}
	}
}

// TestWriteHTMLData checks the page without a browser: self-contained, the data embedded once and
// safely, the fan-out in commit order with the window and the live run, and a tag's reason.
func TestWriteHTMLData(t *testing.T) {
	r, p := pageFixture()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, r, p, HTMLOptions{Title: "a <title>"}); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	if regexp.MustCompile(`(?i)(src|href)\s*=|https?://|@import|url\(`).MatchString(strings.ReplaceAll(s, "http://www.w3.org/2000/svg", "")) {
		t.Errorf("the page refers to something outside itself")
	}
	if strings.Count(s, `id="regtidy-data"`) != 1 || strings.Contains(s, "<title>a <title>") || strings.Contains(s, "<b>") {
		t.Fatalf("data or title not embedded once and escaped")
	}
	raw := s[strings.Index(s, `id="regtidy-data">`)+len(`id="regtidy-data">`):]
	data := []byte(raw[:strings.Index(raw, "</script>")])
	var pg struct {
		Fanout struct {
			Order        string   `json:"order"`
			Window       int      `json:"window"`
			WindowShaded bool     `json:"window_shaded"`
			Points       [][6]any `json:"points"`
			Live         int      `json:"live"`
		} `json:"fanout"`
		Table struct {
			Prefix  []int    `json:"tag_prefix"`
			Suffix  []string `json:"tag_suffix"`
			Action  []int    `json:"action"`
			Reason  []int    `json:"reason"`
			Reasons []string `json:"reasons"`
		} `json:"table"`
	}
	if err := json.Unmarshal(data, &pg); err != nil {
		t.Fatal(err)
	}
	fo := pg.Fanout
	if fo.Order != "commit" || fo.Window != 2 || !fo.WindowShaded || fo.Live != 1 || len(fo.Points) != 2 {
		t.Fatalf("fan-out: %+v", fo)
	}
	// Oldest commit first: b000000 (2 behind, 1 tag deleted), then a222222 (1 behind, 3 kept, live).
	if fo.Points[0][0] != "b000000" || fo.Points[0][2].(float64) != 2 || fo.Points[0][4].(float64) != 1 ||
		fo.Points[1][0] != "a222222" || fo.Points[1][3].(float64) != 3 || fo.Points[1][5].(float64) != 3 {
		t.Errorf("points: %v", fo.Points)
	}
	var tags []string
	for i, suffix := range pg.Table.Suffix {
		prev := ""
		if i > 0 {
			prev = tags[i-1]
		}
		tags = append(tags, prev[:pg.Table.Prefix[i]]+suffix)
	}
	if tags[0] != "a222222-gaia-z" || tags[1] != "a222222-swebench-x" || pg.Table.Prefix[1] != 8 {
		t.Errorf("front-coded tags: %q, prefixes %v", tags, pg.Table.Prefix)
	}
	for i, tag := range tags {
		if tag == "b000000-swebench-x" && (pg.Table.Action[i] != 2 || !strings.HasPrefix(pg.Table.Reasons[pg.Table.Reason[i]], "no-keep-rule-matched: ")) {
			t.Errorf("row %s: action %d reason %q", tag, pg.Table.Action[i], pg.Table.Reasons[pg.Table.Reason[i]])
		}
	}
	if len(tags) != 6 {
		t.Errorf("table has %d tags, want 6", len(tags))
	}
}

// The plan's Markdown alone names the repository and carries the plan section of the report's.
func TestWritePlanMarkdownIsThePlanSection(t *testing.T) {
	r, p := pageFixture()
	var whole, alone strings.Builder
	if err := WriteMarkdown(&whole, r, p, MarkdownOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := WritePlanMarkdown(&alone, p); err != nil {
		t.Fatal(err)
	}
	head := "# regtidy plan: " + p.Repository + "\n"
	section := strings.TrimPrefix(alone.String(), head)
	if !strings.HasPrefix(alone.String(), head) || !strings.Contains(section, "## Plan") || !strings.HasSuffix(whole.String(), section) {
		t.Errorf("plan markdown:\n%s\nis not the report's plan section:\n%s", alone.String(), whole.String())
	}
}
