package regtest

import "os"

// Runner is what a test binary's TestMain gets: *testing.M.
type Runner interface{ Run() int }

// RunWithoutCredentials runs m's tests with an empty Docker config (DOCKER_CONFIG pointed at an
// empty temporary directory) and the named environment variables unset, so that the developer's
// own registry credentials stay out of them, and returns m.Run's exit code. For TestMain:
//
//	func TestMain(m *testing.M) {
//		os.Exit(regtest.RunWithoutCredentials(m, registry.EnvUsername, registry.EnvPassword))
//	}
func RunWithoutCredentials(m Runner, unset ...string) int {
	dir, err := os.MkdirTemp("", "regtidy-docker-config-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	os.Setenv("DOCKER_CONFIG", dir)
	for _, name := range unset {
		os.Unsetenv(name)
	}
	return m.Run()
}
