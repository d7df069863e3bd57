package raster

import "testing"

// Every value lands at its own index whatever the split across cores,
// including the parts' edges (the length is not a multiple of any split).
func TestWidenKeepsEveryValueInPlace(t *testing.T) {
	raw := make([]uint16, 3<<16+7)
	for i := range raw {
		raw[i] = uint16(i * 7919)
	}
	got := widen(raw)
	if len(got) != len(raw) {
		t.Fatalf("len %d, want %d", len(got), len(raw))
	}
	for i, v := range raw {
		if got[i] != float32(v) {
			t.Fatalf("value %d: %v, want %v", i, got[i], v)
		}
	}
	if b := widen([]uint8{0, 255}); b[0] != 0 || b[1] != 255 {
		t.Errorf("bytes widened to %v", b)
	}
}
