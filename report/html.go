package report

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html"
	"io"

	"github.com/regtidy/regtidy/plan"
)

// HTMLOptions choose how WriteHTML renders a page.
type HTMLOptions struct {
	// Title is the page's title; the default is "regtidy report: REPOSITORY".
	Title string
	// PageSize is how many rows of the tag table are in the page's DOM at once; default 100.
	PageSize int
}

//go:embed assets/page.css
var pageCSS string

//go:embed assets/page.js
var pageJS string

// WriteHTML writes one self-contained HTML page for a report and, if p is not nil, the plan made
// for the same repository: the evidence table; the tags per group-by value (per commit, in commit
// order when the report read a history) with the keep window and the commits of live runs
// marked; image bytes by kind and by split value; a histogram of tag ages; with a plan, what it
// keeps and deletes by kind and by reason, the bytes it frees and what applying it costs; and a
// searchable, paged table of the tags with each decision's first reason.
//
// The page makes no request: its style, script and charts (SVG drawn by the script) are inline,
// and its data is one JSON value, tag names front-coded (each stores what it shares with the
// previous one as a length). The tag table holds every tag in that value but keeps only PageSize
// rows in the DOM, so a page of 133k tags stays responsive. Compute the report with
// Options.TagList for the table to show sizes and ages; without it the table is the plan's tags.
func WriteHTML(w io.Writer, r *Report, p *plan.Plan, opt HTMLOptions) error {
	if opt.PageSize <= 0 {
		opt.PageSize = 100
	}
	pg := buildPage(r, p, opt.Title)
	data, err := json.Marshal(struct {
		*page
		PageSize int `json:"page_size"`
	}{pg, opt.PageSize})
	if err != nil {
		return fmt.Errorf("report: encoding the page's data: %w", err)
	}
	// json.Marshal escapes <, > and &, so the data cannot end the script element.
	_, err = fmt.Fprintf(w, `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>%s</title>
<style>%s</style>
</head>
<body>
<header><h1>%s</h1><p class="sub">Made by regtidy from a listing of %s at %s.</p></header>
<main id="main"><noscript>This page draws its evidence, charts and tag table with a script; regtidy report -o markdown writes the same without one.</noscript></main>
<script type="application/json" id="regtidy-data">%s</script>
<script>%s</script>
</body>
</html>
`, html.EscapeString(pg.Title), pageCSS, html.EscapeString(pg.Title), html.EscapeString(r.Repository), html.EscapeString(pg.ListedAt), data, pageJS)
	return err
}
