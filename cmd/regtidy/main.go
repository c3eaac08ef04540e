// Command regtidy keeps container registries down to the images that still matter.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/regtidy/regtidy/internal/redact"
)

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 2
	exitPartial = 3 // some deletes failed or were skipped; the rest is done
	exitCancel  = 130
)

// errPartial marks a run that did part of its work; main maps it to exitPartial.
var errPartial = errors.New("partial failure")

// defaultMemoryLimit is the soft heap limit regtidy runs under unless GOMEMLIMIT says otherwise.
// An inventory of the case's 133k tags and 400k manifests holds about 300 MB; without a limit the
// garbage collector lets the heap grow to twice the live data before collecting. The limit is
// soft: a larger repository still works, with more collection.
const defaultMemoryLimit = 400 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, stop catching: a second Ctrl-C ends the process at once, while the
	// first lets journaled deletes finish and the journal stay whole.
	go func() {
		<-ctx.Done()
		stop()
	}()
	cmd := NewRootCmd(os.Stdin, os.Stdout, os.Stderr)
	err := cmd.ExecuteContext(ctx)
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "regtidy: interrupted")
		return exitCancel
	case errors.Is(err, errUsage), cobraUsage(err):
		fmt.Fprintln(os.Stderr, "regtidy:", redact.Text(err.Error()))
		return exitUsage
	case errors.Is(err, errPartial):
		fmt.Fprintln(os.Stderr, "regtidy:", redact.Text(err.Error()))
		return exitPartial
	default:
		fmt.Fprintln(os.Stderr, "regtidy:", redact.Text(err.Error()))
		return exitError
	}
}

// cobraUsage reports the usage errors cobra makes itself, which have no type to test for: an
// unknown command ("regtidy aply") and a required flag left out. Flag parsing errors and
// argument counts are marked with errUsage where they are made (SetFlagErrorFunc, exactArgs).
func cobraUsage(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command ") || strings.HasPrefix(msg, "required flag(s) ")
}

// errUsage marks bad command-line usage; main maps it to exitUsage.
var errUsage = errors.New("usage")

func usageError(err error) error { return fmt.Errorf("%w: %w", errUsage, err) }
