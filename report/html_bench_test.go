package report_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/regtidy/regtidy/report"
)

// BenchmarkHTMLPageInChromium measures the HTML page of the case at REGTIDY_HTML_SCALE (default
// 1: the full case, 133,425 tags) in headless Chromium: from the start of the navigation until
// the page's script has drawn the charts and the first page of the tag table (open-ms), the
// script's own part of it (script-ms), and a search over every tag until the table shows the
// match (search-ms). The case's content is made in memory (casegen.MaterializeCase) and read by
// inventory.Build; the plan is the example policy's with its real keep sources. Making the case
// takes minutes at full scale, so each iteration opens the page REGTIDY_HTML_ROUNDS times
// (default 5) and the metrics are means over all openings; run it once:
//
//	go test ./report/ -run '^$' -bench HTMLPageInChromium -benchtime 1x -timeout 60m
func BenchmarkHTMLPageInChromium(b *testing.B) {
	scale := 1.0
	if s := os.Getenv("REGTIDY_HTML_SCALE"); s != "" {
		var err error
		if scale, err = strconv.ParseFloat(s, 64); err != nil {
			b.Fatalf("REGTIDY_HTML_SCALE: %v", err)
		}
	}
	br := newBrowser(b)
	f := newCaseFixture(b, scale, true)
	file := filepath.Join(b.TempDir(), "report.html")
	out, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := report.WriteHTML(out, f.Report, f.Plan, report.HTMLOptions{}); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(file)
	b.Logf("scale %v: %d tags, %d manifests, %d decisions; page %d bytes written in %s", scale, len(f.Report.TagList),
		len(f.Inv.Manifests), len(f.Plan.Decisions), st.Size(), time.Since(start).Round(time.Millisecond))
	search := f.Plan.Tags[len(f.Plan.Tags)/2].Name
	rounds := 5
	if s := os.Getenv("REGTIDY_HTML_ROUNDS"); s != "" {
		if rounds, err = strconv.Atoi(s); err != nil || rounds < 1 {
			b.Fatalf("REGTIDY_HTML_ROUNDS: %q", s)
		}
	}
	var open, script, find, slowest time.Duration
	b.ResetTimer()
	for range b.N * rounds {
		d := br.open(b, file, 2*time.Minute)
		open += d
		slowest = max(slowest, d)
		ms, _ := strconv.ParseFloat(eval[string](b, br, `document.body.getAttribute("data-render-ms")`), 64)
		script += time.Duration(ms * float64(time.Millisecond))
		ms = eval[float64](b, br, `new Promise(function(done){
			var q = document.getElementById("q"), info = document.getElementById("info"), t0 = performance.now();
			var obs = new MutationObserver(function(){ if (info.textContent.indexOf("1 of") === 0) { obs.disconnect(); done(performance.now() - t0); } });
			obs.observe(info, {childList: true, characterData: true, subtree: true});
			q.value = "`+search+`"; q.dispatchEvent(new Event("input")); })`, chromedp.EvalAwaitPromise)
		find += time.Duration(ms * float64(time.Millisecond))
	}
	b.StopTimer()
	for _, m := range br.messages(b) {
		if m.Type == "error" || m.IsException() {
			b.Errorf("console: %s", m)
		}
	}
	n := float64(b.N * rounds)
	b.ReportMetric(float64(open.Milliseconds())/n, "open-ms")
	b.ReportMetric(float64(slowest.Milliseconds()), "slowest-open-ms")
	b.ReportMetric(float64(script.Milliseconds())/n, "script-ms")
	b.ReportMetric(float64(find.Milliseconds())/n, "search-ms")
	b.ReportMetric(float64(st.Size())/1e6, "page-MB")
	path := br.screenshot(b, "report-full-case.png")
	b.Logf("screenshot: %s", path)
}
