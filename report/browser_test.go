package report_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumEnv is the environment variable CI sets to "required": then a missing Chromium fails
// the browser tests instead of skipping them. REGTIDY_CHROMIUM_PATH names the binary if it is
// not chromium or chromium-browser on PATH.
const chromiumEnv = "REGTIDY_CHROMIUM"

// chromiumPath finds Chromium, or skips the test outside CI and fails it in CI.
func chromiumPath(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("REGTIDY_CHROMIUM_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(chromiumEnv) == "required" {
		tb.Fatalf("Chromium not found on PATH and %s=required (CI installs the Debian package chromium)", chromiumEnv)
	}
	tb.Skipf("Chromium not found on PATH; set %s=required to make this a failure", chromiumEnv)
	return ""
}

// browser is one headless Chromium with one tab, and the console messages the tab received.
type browser struct {
	ctx context.Context
	mu  sync.Mutex
	msg []chromedp.ConsoleMessage
}

// newBrowser starts headless Chromium for the test, with the flags this machine's closed
// network needs; it stops when the test ends.
func newBrowser(tb testing.TB) *browser {
	tb.Helper()
	path := chromiumPath(tb)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(tb.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-component-update", true), chromedp.WindowSize(1280, 900))...)
	ctx, cancel := chromedp.NewContext(actx)
	tb.Cleanup(func() { cancel(); cancelA() })
	// The first Run starts the browser; it must not carry a timeout (it would stop the browser).
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("starting %s: %v", path, err)
	}
	b := &browser{ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.msg = append(b.msg, m)
			b.mu.Unlock()
		}
	}()
	return b
}

// open loads a page file and waits until its script has drawn everything (body[data-rendered]),
// at most limit. It returns the wall time from the start of the navigation.
func (b *browser) open(tb testing.TB, file string, limit time.Duration) time.Duration {
	tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, limit)
	defer cancel()
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+file),
		chromedp.WaitVisible(chromedp.CSS(`body[data-rendered="true"]`))); err != nil {
		tb.Fatalf("opening %s: %v (console: %v)", file, err, b.messages(tb))
	}
	return time.Since(start)
}

// messages returns the console messages so far: it writes a marker and waits for it, so that
// every message the page wrote before has arrived.
func (b *browser) messages(tb testing.TB) []chromedp.ConsoleMessage {
	tb.Helper()
	marker := fmt.Sprintf("regtidy-test-marker-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`console.debug("`+marker+`")`)); err != nil {
		tb.Fatalf("console marker: %v", err)
	}
	for {
		b.mu.Lock()
		for i, m := range b.msg {
			if strings.Contains(m.Text, marker) {
				out := append([]chromedp.ConsoleMessage(nil), b.msg[:i]...)
				b.msg = b.msg[i+1:]
				b.mu.Unlock()
				return out
			}
		}
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			tb.Fatalf("the console marker did not arrive: %v", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// eval evaluates a script expression in the page.
func eval[T any](tb testing.TB, b *browser, expr string, opts ...chromedp.EvaluateOption) T {
	tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		tb.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// screenshot saves a PNG of the whole page to REGTIDY_ARTIFACTS (if set) or the test's temp
// directory, and returns its path.
func (b *browser) screenshot(tb testing.TB, name string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("REGTIDY_ARTIFACTS")
	if dir == "" {
		dir = tb.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}
