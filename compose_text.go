package regtidy

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/regtidy/regtidy/compose"
	"github.com/regtidy/regtidy/internal/units"
)

// WriteComposeText writes a compose report as the regtidy command shows it: one line per image
// (followed, in a dry run, by what it would write) and the totals.
func WriteComposeText(w io.Writer, rep *compose.Report, dryRun bool) error {
	if dryRun {
		for _, r := range rep.Images {
			if r.Status == compose.StatusFailed {
				fmt.Fprintf(w, "failed %s: %s\n", r.Target, r.Error)
				continue
			}
			fmt.Fprintf(w, "would push %s (%s) %s\n", r.Target, r.Digest, strings.Join(r.Platforms, ","))
			for _, wr := range r.Writes {
				from := ""
				if wr.From != "" {
					from = "  from " + wr.From
				}
				fmt.Fprintf(w, "  %-8s %s %10s%s\n", wr.Kind, wr.Digest, units.Bytes(wr.Size), from)
			}
		}
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "STATUS\tTARGET\tDIGEST\tPLATFORMS")
		for _, r := range rep.Images {
			detail := strings.Join(r.Platforms, ",")
			if r.Status == compose.StatusFailed {
				detail = r.Error
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Status, r.Target, r.Digest, detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	s := rep.Summary
	fmt.Fprintf(w, "\n%d images: %d composed, %d unchanged, %d planned, %d failed (%d platform images) in %s\n",
		s.Images, s.Composed, s.Unchanged, s.Planned, s.Failed, s.Platforms, s.Elapsed.Round(time.Millisecond))
	if dryRun {
		fmt.Fprintf(w, "dry run: nothing pushed; a full rebuild would push %s\n", units.Bytes(s.BytesFullRebuild))
	} else {
		ratio := 0.0
		if s.BytesFullRebuild > 0 {
			ratio = 100 * float64(s.BytesUploaded) / float64(s.BytesFullRebuild)
		}
		fmt.Fprintf(w, "layer %s sent %d time(s)\n", s.Layer, s.LayerUploads)
		fmt.Fprintf(w, "uploaded %s; a full rebuild would push %s (%.4f%%)\n",
			units.Bytes(s.BytesUploaded), units.Bytes(s.BytesFullRebuild), ratio)
	}
	perImage := 0.0
	if s.Images > 0 {
		perImage = float64(s.Requests) / float64(s.Images)
	}
	_, err := fmt.Fprintf(w, "%d requests (%.1f per image)\n", s.Requests, perImage)
	return err
}
