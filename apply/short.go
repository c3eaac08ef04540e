package apply

// short abbreviates a digest for messages: "sha256:1a2b3c4d5e6f".
func short(digest string) string {
	if len(digest) > 19 {
		return digest[:19]
	}
	return digest
}
