// Package examples embeds the example policy files, so `regtidy demo` and tests use the very file
// the documentation shows.
package examples

import _ "embed"

// OpenHands is examples/openhands.yaml: the tag scheme and retention policy of the case regtidy
// was born from.
//
//go:embed openhands.yaml
var OpenHands []byte
