package sample

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// The TIFF is written by hand, so check its pixel data independently of the
// writer: the first pixel of the file is scene(0, 0) quantised to 16 bits.
func TestWriteRGN(t *testing.T) {
	dir := t.TempDir()
	paths, err := Write(dir, 64, 48)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 {
		t.Fatalf("got %d paths", len(paths))
	}
	b, err := os.ReadFile(filepath.Join(dir, "field_rgn.tif"))
	if err != nil {
		t.Fatal(err)
	}
	// header 8 + IFD (2 + 10*12 + 4) + BitsPerSample 6 = 140
	const dataOff = 140
	if want := dataOff + 64*48*3*2; len(b) != want {
		t.Fatalf("size %d, want %d", len(b), want)
	}
	if got := binary.LittleEndian.Uint32(b[4:]); got != 8 {
		t.Fatalf("IFD offset %d", got)
	}
	// x = 0 is between rows (phase 0): soil, red 0.25 -> 16384 (0.25*65535 rounded)
	red := binary.LittleEndian.Uint16(b[dataOff:])
	if red != 16384 {
		t.Errorf("first pixel red = %d, want 16384 (soil reflectance 0.25)", red)
	}
}
