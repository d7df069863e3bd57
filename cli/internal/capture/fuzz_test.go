package capture

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzSplit: whatever names a ground station hands over, Split never panics,
// puts every path in exactly one group, keeps each group in one folder and
// sorted, and names every group. Seeded with the real file names of the
// shared drone data (MicaSense, Sequoia, DJI), found beside the repository.
//
//	go test -run='^$' -fuzz=FuzzSplit -fuzztime=10s ./cli/internal/capture/
func FuzzSplit(f *testing.F) {
	var real []string
	if dir := sharedData(); dir != "" {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(dir, p)
				real = append(real, rel)
			}
			return nil
		})
	}
	f.Add(strings.Join(real, "\n"))
	for _, p := range real {
		f.Add(p)
	}
	f.Add("f/IMG_0001_1.tif\nf/IMG_0001_2.tif\nf/DJI_0061.JPG\nd/DJI_0011_MS_NIR.TIF\nd/DJI_0011_MS_R.TIF")
	f.Add("_MS_R.tif\n_NIR.TIF\nIMG_0001_1.TIFF\nimg_0001_2.tif")
	f.Add("")
	f.Fuzz(func(t *testing.T, list string) {
		var in []string
		if list != "" {
			in = strings.Split(list, "\n")
		}
		groups := Split(in)
		var out []string
		for _, g := range groups {
			if g.Name == "" || len(g.Paths) == 0 {
				t.Fatalf("group %+v from %q", g, in)
			}
			if !slices.IsSorted(g.Paths) {
				t.Fatalf("group %+v not sorted", g)
			}
			for _, p := range g.Paths {
				if filepath.Dir(p) != filepath.Dir(g.Paths[0]) {
					t.Fatalf("group %+v spans folders", g)
				}
			}
			out = append(out, g.Paths...)
		}
		slices.Sort(in)
		slices.Sort(out)
		if !slices.Equal(in, out) {
			t.Fatalf("Split(%q) grouped %q", in, out)
		}
	})
}

// sharedData finds ../shared/data beside the repository (or
// CANOPY_SHARED_DATA); "" if absent. (This module does not depend on
// platform, whose shareddata package does the same.)
func sharedData() string {
	if d := os.Getenv("CANOPY_SHARED_DATA"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			d := filepath.Join(dir, "..", "shared", "data")
			if _, err := os.Stat(d); err == nil {
				return d
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
