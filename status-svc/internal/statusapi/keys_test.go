package statusapi

import (
	"slices"
	"testing"
)

func TestEventKeys(t *testing.T) {
	for _, tc := range []struct {
		payload string
		want    []string
	}{
		{"12 0190c0de-0000-7000-8000-000000000001 alpha", []string{"0190c0de-0000-7000-8000-000000000001", "project:alpha"}},
		// The payload of the first migration, without a project: only the
		// image's watchers, never a project's.
		{"12 0190c0de-0000-7000-8000-000000000001", []string{"0190c0de-0000-7000-8000-000000000001"}},
		{"", nil},
	} {
		if got := EventKeys(tc.payload); !slices.Equal(got, tc.want) {
			t.Errorf("EventKeys(%q) = %q, want %q", tc.payload, got, tc.want)
		}
	}
}
