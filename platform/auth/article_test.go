package auth

import "testing"

func TestArticle(t *testing.T) {
	for word, want := range map[string]string{"admin": "an", "uploader": "an", "viewer": "a", "worker": "a"} {
		if got := article(word); got != want {
			t.Errorf("article(%q) = %q, want %q", word, got, want)
		}
	}
}
