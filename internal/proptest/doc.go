// Package proptest holds regtidy's property tests of its safety invariants: random repositories
// (shared digests, buildx indexes with attestation manifests, nested indexes, referrer tags,
// subject referrers, untagged manifests) and random policies are planned and applied, and what
// the plan deletes, and what the registry holds after, is checked against an expectation the
// tests compute on their own from the generated model.
//
// The package has no code outside its tests; nothing in it ships in the regtidy binary. A failing
// case prints its seed; run it again with
//
//	go test ./internal/proptest -run TestName -seed N
//
// or with REGTIDY_PROPTEST_SEED=N in the environment.
//
// Bugs the tests found and that are not fixed yet have tests of their own, named TestKnownBug...,
// in files built only with the knownbugs build tag (knownbugs_test.go, knownbugs_ghcr_test.go):
// they fail today, and are meant to pass once fixed. Run them with
//
//	go test -tags knownbugs ./internal/proptest -run TestKnownBug -count=1
package proptest
