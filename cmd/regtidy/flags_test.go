package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestNumericFlagsOutOfRangeAreUsageErrors: every numeric flag of apply, prune and undo, the root
// --concurrency and the GHCR flags refuses a value out of range with exit code 2 and a message
// naming the flag, before reading any file or registry; in-range values go on (and here fail for
// the missing plan file, exit 1).
func TestNumericFlagsOutOfRangeAreUsageErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-plan.json")
	for _, tc := range []struct {
		flag string
		args []string
	}{
		// apply and prune.
		{"--max-deletes", []string{"apply", missing, "--max-deletes", "-1"}},
		{"--delete-concurrency", []string{"apply", missing, "--delete-concurrency", "0"}},
		{"--delete-concurrency", []string{"apply", missing, "--delete-concurrency", "-3"}},
		{"--max-deletes", []string{"prune", "127.0.0.1:1/r", "--policy", "p.yaml", "--max-deletes", "-5"}},
		{"--delete-concurrency", []string{"prune", "127.0.0.1:1/r", "--policy", "p.yaml", "--delete-concurrency", "0"}},
		// root.
		{"--concurrency", []string{"apply", missing, "--concurrency", "0"}},
		{"--concurrency", []string{"report", "127.0.0.1:1/r", "--concurrency", "-2"}},
		{"--concurrency", []string{"undo", missing, "--concurrency", "0"}},
		// GHCR.
		{"--deadline", []string{"apply", missing, "--deadline", "-5s"}},
		{"--max-requests", []string{"apply", missing, "--max-requests", "-1"}},
		{"--hourly-budget", []string{"apply", missing, "--hourly-budget", "-1"}},
		{"--hourly-budget", []string{"plan", "ghcr.io/o/p", "--policy", "p.yaml", "--hourly-budget", "-1000"}},
		{"--pace", []string{"apply", missing, "--pace", "-1"}},
		{"--pace", []string{"apply", missing, "--pace", "NaN"}},
		{"--pace", []string{"apply", missing, "--pace", "+Inf"}},
		{"--pace", []string{"apply", missing, "--pace", "quick"}},
		{"--deadline", []string{"undo", missing, "--deadline", "-1m"}},
		{"--max-requests", []string{"undo", missing, "--max-requests", "-7"}},
		{"--push-grace", []string{"apply", missing, "--push-grace", "-1h"}},
	} {
		_, _, err := runCLI(t, tc.args...)
		if got := exitCode(err); got != exitUsage || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%v: exit code %d (%v), want %d naming %s", tc.args, got, err, exitUsage, tc.flag)
		}
	}
	for _, args := range [][]string{
		{"apply", missing, "--max-deletes", "0", "--delete-concurrency", "1", "--concurrency", "1"},
		{"apply", missing, "--deadline", "0s", "--max-requests", "0", "--pace", "0", "--hourly-budget", "0"},
		{"apply", missing, "--deadline", "2h", "--max-requests", "900", "--pace", "30"},
		{"apply", missing, "--pace", "fast"},
		{"apply", missing, "--pace", "github"},
	} {
		_, _, err := runCLI(t, args...)
		if errors.Is(err, errUsage) || exitCode(err) != exitError {
			t.Errorf("%v: %v, want the missing plan file's plain error", args, err)
		}
	}
}
