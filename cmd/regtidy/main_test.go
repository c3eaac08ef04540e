package main

import (
	"os"
	"testing"
)

// TestMain keeps the tests hermetic when they themselves run inside GitHub Actions: regtidy turns
// warnings into annotations and writes step outputs there, which tests opt into explicitly.
func TestMain(m *testing.M) {
	for _, k := range []string{"GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"} {
		os.Unsetenv(k)
	}
	os.Exit(m.Run())
}
