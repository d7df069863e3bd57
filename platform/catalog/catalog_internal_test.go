package catalog

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSeqRuns(t *testing.T) {
	for _, c := range []struct {
		seqs, lo, hi []int64
	}{
		{nil, nil, nil},
		{[]int64{7}, []int64{7}, []int64{7}},
		{[]int64{1, 2, 3, 4999}, []int64{1, 4999}, []int64{3, 4999}},
		{[]int64{2, 4, 5, 6, 9, 10}, []int64{2, 4, 9}, []int64{2, 6, 10}},
	} {
		lo, hi := seqRuns(c.seqs)
		if !slices.Equal(lo, c.lo) || !slices.Equal(hi, c.hi) {
			t.Errorf("seqRuns(%v) = %v, %v; want %v, %v", c.seqs, lo, hi, c.lo, c.hi)
		}
	}
}

// A huge id comes back shortened in its error, not whole.
func TestParseIDShortensAHugeID(t *testing.T) {
	huge := strings.Repeat("é", 50_000) // 100,000 bytes, multi-byte runes
	_, err := ParseID(huge)
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	if len(msg) > 300 || !strings.Contains(msg, "(100000 bytes)") || !utf8.ValidString(msg) {
		t.Errorf("error of %d bytes: %.120q", len(msg), msg)
	}
	if _, err := ParseID("plot-7"); err == nil || !strings.Contains(err.Error(), `"plot-7"`) {
		t.Errorf("a short id is not quoted whole: %v", err)
	}
}
