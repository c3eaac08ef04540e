package report_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/report"
)

// browserScale is the case's scale for the browser test: 13k tags over 55 commits.
const browserScale = 0.1

// TestHTMLPageInChromium makes the case at scale 0.1 (its content in memory, read by
// inventory.Build as from a registry), reports it and plans the example policy with its real keep sources, writes the HTML page and opens it in headless
// Chromium. It checks what a reader sees: one fan-out bar group per SDK commit of the case, the
// keep window over the commits of the last 30, a marker per live-run commit, a bar per kind and
// age bucket, the plan by kind, a tag table of 100 rows that finds a tag and its reason, no
// console error or exception, and no request for anything but the page. It saves a screenshot
// and the page (to REGTIDY_ARTIFACTS when set).
func TestHTMLPageInChromium(t *testing.T) {
	b := newBrowser(t)
	f := newCaseFixture(t, browserScale, true)
	dir := os.Getenv("REGTIDY_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "report-case-0.1.html")
	out, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := report.WriteHTML(out, f.Report, f.Plan, report.HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	b.open(t, file, time.Minute)

	// Expectations from the case, not from the report.
	sdks, recent := map[string]bool{}, map[string]bool{}
	last30 := map[string]bool{}
	for _, c := range f.Case.Commits[max(0, len(f.Case.Commits)-30):] {
		last30[c.SHA] = true
	}
	for _, tg := range f.Case.TagsOf(casegen.KindImage) {
		sdks[tg.SDK] = true
		if last30[tg.SDK] {
			recent[tg.SDK] = true
		}
	}
	// Live-run commits with images: the example policy reads runs whose daily file is of the
	// last 30 days (since: 30d), and a run is live by its status.
	liveSDKs := map[string]bool{}
	for _, r := range casegen.CaseRuns(f.Case, caseNow, 3) {
		day := r.CreatedAt.UTC().Truncate(24 * time.Hour)
		if r.Live() && day.Add(24*time.Hour).After(caseNow.Add(-30*24*time.Hour)) && sdks[r.SDKCommit] {
			liveSDKs[r.SDKCommit] = true
		}
	}
	liveCommits := len(liveSDKs)
	if len(sdks) < 40 || len(recent) == 0 || liveCommits == 0 {
		t.Fatalf("the case has %d SDK commits, %d in the last 30, %d live: too few to test the chart", len(sdks), len(recent), liveCommits)
	}

	counts := map[string]int{
		"#fanout g.pt":             len(sdks),
		"#fanout rect.window":      1,
		"#fanout circle.live":      liveCommits,
		"#kind-bytes rect.kbar":    len(f.Report.Kinds),
		"#split-bytes rect.sbar":   len(f.Report.SplitBytes),
		"#age-histogram rect.abar": len(f.Report.Ages),
		"#plan-kinds rect.pk":      len(f.Plan.Summary.Kinds),
		"#plan-reasons rect.rbar":  len(f.Plan.Summary.TopReasons),
		"#tag-table tbody tr":      100,
		"section#plan #cost":       1,
		"#fanout rect.keep":        len(sdks),
		"#fanout rect.del":         len(sdks),
	}
	for sel, want := range counts {
		if got := eval[int](t, b, `document.querySelectorAll("`+strings.ReplaceAll(sel, `"`, `\"`)+`").length`); got != want {
			t.Errorf("%s: %d elements, want %d", sel, got, want)
		}
	}
	// The window covers the bars of the commits among the last 30, and only those.
	inWindow := eval[int](t, b, `(function(){
		var w = document.querySelector("#fanout rect.window"), x0 = +w.getAttribute("x"), x1 = x0 + +w.getAttribute("width");
		return Array.from(document.querySelectorAll("#fanout g.pt rect.keep")).filter(function(r){
			var x = +r.getAttribute("x"); return x >= x0 - 0.01 && x < x1 - 0.01; }).length; })()`)
	if inWindow != len(recent) {
		t.Errorf("the keep window covers %d commits' bars, want the %d commits of the last 30 that have images", inWindow, len(recent))
	}
	// Bars have data: the tallest fan-out bar reaches the top of the plot.
	if h := eval[float64](t, b, `Math.max.apply(null, Array.from(document.querySelectorAll("#fanout g.pt")).map(function(g){
		return Array.from(g.querySelectorAll("rect")).reduce(function(s, r){ return s + +r.getAttribute("height"); }, 0); }))`); h < 200 {
		t.Errorf("the tallest fan-out bar is %.1f px high, want the plot's height", h)
	}
	if n := eval[int](t, b, `performance.getEntriesByType("resource").length`); n != 0 {
		t.Errorf("the page requested %d resources, want none", n)
	}
	info := eval[string](t, b, `document.getElementById("info").textContent`)
	if want := "of " + commas(len(f.Case.Tags)) + " tags"; !strings.Contains(info, want) {
		t.Errorf("table info %q lacks %q", info, want)
	}

	// Search finds a deleted tag with its reason.
	var gone plan.Decision
	for _, d := range f.Plan.Decisions {
		if d.Action == plan.Delete && d.Kind == "image" && len(d.Tags) == 1 {
			gone = d
			break
		}
	}
	if gone.Digest == "" {
		t.Fatal("the plan deletes no image tag")
	}
	eval[any](t, b, `(function(){ var q = document.getElementById("q"); q.value = "`+gone.Tags[0]+`"; q.dispatchEvent(new Event("input")); })()`)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.HasPrefix(eval[string](t, b, `document.getElementById("info").textContent`), "1 of") {
		if time.Now().After(deadline) {
			t.Fatalf("searching %s: the table shows %q", gone.Tags[0], eval[string](t, b, `document.getElementById("info").textContent`))
		}
		time.Sleep(20 * time.Millisecond)
	}
	row := eval[[]string](t, b, `Array.from(document.querySelectorAll("#tag-table tbody tr td")).map(function(td){ return td.textContent; })`)
	if len(row) != 6 || row[0] != gone.Tags[0] || row[4] != "delete" || !strings.HasPrefix(row[5], gone.Reasons[0].Rule+": ") {
		t.Errorf("row for %s: %q", gone.Tags[0], row)
	}
	eval[any](t, b, `(function(){ var q = document.getElementById("q"); q.value = ""; q.dispatchEvent(new Event("input")); })()`)
	time.Sleep(300 * time.Millisecond)

	for _, m := range b.messages(t) {
		if m.Type == "error" || m.IsException() {
			t.Errorf("console: %s", m)
		}
	}
	path := b.screenshot(t, "report-case-0.1.png")
	t.Logf("screenshot: %s", path)
}

// commas writes n as the page does (en-US grouping).
func commas(n int) string {
	d := strconv.Itoa(n)
	var s []byte
	for i := range len(d) {
		if i > 0 && (len(d)-i)%3 == 0 {
			s = append(s, ',')
		}
		s = append(s, d[i])
	}
	return string(s)
}
