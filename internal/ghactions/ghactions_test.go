package ghactions

import (
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestOutsideActionsNothingHappens(t *testing.T) {
	var log strings.Builder
	r := Detect(env(map[string]string{"GITHUB_OUTPUT": filepath.Join(t.TempDir(), "out")}), &log)
	if r != nil {
		t.Fatal("detected a runner without GITHUB_ACTIONS=true")
	}
	r.Warning("t", "m")
	r.Group("g")()
	if err := r.SetOutputs(map[string]string{"a": "b"}); err != nil || log.Len() != 0 {
		t.Errorf("nil runner: err %v, log %q", err, log.String())
	}
}

// Outputs and the summary land in the runner's files in the format the runner parses.
func TestOutputsAndSummary(t *testing.T) {
	dir := t.TempDir()
	out, sum := filepath.Join(dir, "output"), filepath.Join(dir, "summary")
	var log strings.Builder
	r := Detect(env(map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": out, "GITHUB_STEP_SUMMARY": sum}), &log)
	if err := r.SetOutputs(map[string]string{"deleted": "42", "plans": "a.json\nb.json"}); err != nil {
		t.Fatal(err)
	}
	if err := r.SetOutputs(map[string]string{"failed": "0"}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(out)
	re := regexp.MustCompile(`^deleted=42\nplans<<(ghadelim_[0-9a-f]{24})\na\.json\nb\.json\n(ghadelim_[0-9a-f]{24})\nfailed=0\n$`)
	if m := re.FindStringSubmatch(string(raw)); m == nil || m[1] != m[2] {
		t.Errorf("GITHUB_OUTPUT holds %q", raw)
	}
	if err := r.AppendSummary("## night 1"); err != nil {
		t.Fatal(err)
	}
	if err := r.AppendSummary("## night 2\n"); err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(sum); string(raw) != "## night 1\n## night 2\n" {
		t.Errorf("summary %q", raw)
	}
}

// Annotations escape what would end or split the command.
func TestWorkflowCommandsAreEscaped(t *testing.T) {
	var log strings.Builder
	r := Detect(env(map[string]string{"GITHUB_ACTIONS": "true"}), &log)
	r.Warning("refused: version 7, digest", "100% sure\nnext line")
	end := r.Group("apply acme/app")
	r.Error("", "boom")
	end()
	want := "::warning title=refused%3A version 7%2C digest::100%25 sure%0Anext line\n" +
		"::group::apply acme/app\n::error::boom\n::endgroup::\n"
	if log.String() != want {
		t.Errorf("log:\n%s\nwant:\n%s", log.String(), want)
	}
	if err := r.SetOutputs(map[string]string{"x": "1"}); err == nil {
		t.Error("outputs without GITHUB_OUTPUT: no error")
	}
}

// Warnings and errors logged during a run become annotations; the rest goes to the log as before.
func TestLogHandlerAnnotatesWarnings(t *testing.T) {
	var log, text strings.Builder
	r := Detect(env(map[string]string{"GITHUB_ACTIONS": "true"}), &log)
	l := slog.New(r.LogHandler(slog.NewTextHandler(&text, &slog.HandlerOptions{Level: slog.LevelInfo})))
	l.With("repository", "acme/app").Warn("tag moved since the plan: skipped", "tag", "v1", "live", "sha256:ab")
	l.Error("delete failed", "err", "500")
	l.Info("listing", "pages", 3)
	want := "::warning title=regtidy::tag moved since the plan: skipped repository=acme/app tag=v1 live=sha256:ab\n" +
		"::error title=regtidy::delete failed err=500\n"
	if log.String() != want {
		t.Errorf("annotations:\n%s\nwant:\n%s", log.String(), want)
	}
	if !strings.Contains(text.String(), "msg=listing pages=3") || strings.Contains(text.String(), "moved") {
		t.Errorf("text log %q: want the info record only", text.String())
	}
	if got := (*Runner)(nil).LogHandler(slog.DiscardHandler); got != slog.DiscardHandler {
		t.Error("a nil runner wraps the handler")
	}
}
