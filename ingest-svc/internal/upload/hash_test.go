package upload

import (
	"bytes"
	"crypto/sha256"
	"testing"
)

// The hasher's sum is SHA-256 of the chunks in the order given, however
// they are cut, and asking twice gives the same sum.
func TestChunkHasherSumsChunksInOrder(t *testing.T) {
	data := bytes.Repeat([]byte("canopy onion bed 0123456789"), 40_000) // about 1 MB
	want := sha256.Sum256(data)
	for _, size := range []int{1 << 10, 64 << 10, 256<<10 + 7, len(data)} {
		h := newChunkHasher()
		for off := 0; off < len(data); off += size {
			h.add(data[off:min(off+size, len(data))])
		}
		got := h.sum()
		if !bytes.Equal(got, want[:]) {
			t.Fatalf("chunks of %d: sum %x, want %x", size, got, want)
		}
		if again := h.sum(); !bytes.Equal(again, got) {
			t.Fatalf("chunks of %d: second sum %x, first %x", size, again, got)
		}
	}
	// Nothing added: the hash of no bytes.
	empty := sha256.Sum256(nil)
	if got := newChunkHasher().sum(); !bytes.Equal(got, empty[:]) {
		t.Fatalf("no chunks: %x, want %x", got, empty)
	}
}
