package apply

// RestoreOrder groups keys (digests) by height, the order an undo puts manifests back on either
// backend: level 0 has no child among keys, level k's children are all in lower levels, so
// children come back before the indexes listing them and an index is never restored while its
// children are deleted. children returns a key's children among keys (others are ignored);
// nesting deeper than 8 is not followed. Within a level keys keep their order.
func RestoreOrder(keys []string, children func(key string) []string) [][]string {
	in := make(map[string]bool, len(keys))
	for _, k := range keys {
		in[k] = true
	}
	height := make(map[string]int, len(keys))
	var h func(k string, depth int) int
	h = func(k string, depth int) int {
		if v, ok := height[k]; ok {
			return v
		}
		v := 0
		if depth < maxIndexDepth {
			for _, c := range children(k) {
				if in[c] && c != k {
					v = max(v, h(c, depth+1)+1)
				}
			}
		}
		height[k] = v
		return v
	}
	var out [][]string
	for _, k := range keys {
		lv := h(k, 0)
		for len(out) <= lv {
			out = append(out, nil)
		}
		out[lv] = append(out[lv], k)
	}
	return out
}
