// Package regtidy is regtidy as a Go library: the operations the regtidy command runs, each a
// function with an option struct, ctx first.
//
//   - Inventory lists a repository (tags, manifests, configs) through the manifest cache;
//   - Report measures it (tags by kind, fan-out per commit, sizes, sharing);
//   - Plan evaluates a retention policy into a plan with a reason for every decision;
//   - Apply carries a plan out, Undo puts back what an apply deleted, Verify checks that kept tags
//     still resolve whole;
//   - Compose builds thin images in the registry.
//
// A repository on GitHub Container Registry (or any repository when Options.GHCR.API is set) is
// handled through GitHub's REST API on package versions; every other repository through the OCI
// distribution API. The packages below this one (inventory, policy, plan, report, compose,
// registry, registry/ghcr, source) are the building blocks; this package wires them the way the
// command does, so a program gets the command's behaviour without its flags.
package regtidy
