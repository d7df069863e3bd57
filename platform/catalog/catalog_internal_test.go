package catalog

import (
	"slices"
	"testing"
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
