package inventory

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
)

// TestFingerprintIsTheDigestOfTheSortedMapping checks the fingerprint against its definition (the
// sha256 of "name\x00digest\n" per tag, in name order), whatever order Tags is in, and that
// computing it leaves Tags as they were.
func TestFingerprintIsTheDigestOfTheSortedMapping(t *testing.T) {
	sorted := []Tag{{"a", "sha256:1"}, {"b", "sha256:2"}, {"c", "sha256:1"}}
	// Enough long tags to fill the hashing buffer several times.
	for i := range 3000 {
		sorted = append(sorted, Tag{Name: "d" + strings.Repeat("x", 40) + string(rune('a'+i%26)) + hex.EncodeToString([]byte{byte(i >> 8), byte(i)}), Digest: "sha256:" + strings.Repeat("0", 64)})
	}
	slices.SortFunc(sorted, func(a, b Tag) int { return strings.Compare(a.Name, b.Name) })
	h := sha256.New()
	for _, tg := range sorted {
		h.Write([]byte(tg.Name + "\x00" + tg.Digest + "\n"))
	}
	want := "sha256:" + hex.EncodeToString(h.Sum(nil))

	reversed := slices.Clone(sorted)
	slices.Reverse(reversed)
	for name, tags := range map[string][]Tag{"sorted": sorted, "reversed": reversed} {
		before := slices.Clone(tags)
		inv := &Inventory{Tags: tags}
		if got := inv.Fingerprint(); got != want {
			t.Errorf("%s: fingerprint %s, want %s", name, got, want)
		}
		if !slices.Equal(before, inv.Tags) {
			t.Errorf("%s: Fingerprint reordered the inventory's tags", name)
		}
	}
}
