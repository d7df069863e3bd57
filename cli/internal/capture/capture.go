// Package capture groups the files a ground station hands over into uploads:
// every band file of one multispectral rig capture goes up as one image.
package capture

import (
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Group is one upload: a photo, or the band files of one capture.
type Group struct {
	Name  string
	Paths []string
}

var patterns = []*regexp.Regexp{
	// MicaSense: IMG_0001_1.tif .. IMG_0001_5.tif (band roles come from XMP, not the suffix).
	regexp.MustCompile(`(?i)^(.*IMG_\d{4})_(\d{1,2})\.tiff?$`),
	// DJI multispectral: DJI_0011_MS_NIR.TIF.
	regexp.MustCompile(`(?i)^(.*)_MS_(G|R|RE|NIR)\.tiff?$`),
	// Parrot Sequoia (after DJI, whose _MS_NIR also ends in _NIR): IMG_180413_080658_0000_NIR.TIF (the _RGB.JPG is a separate photo).
	regexp.MustCompile(`(?i)^(.*)_(GRE|RED|REG|NIR)\.tiff?$`),
}

// Split groups paths: band files sharing a capture prefix go together,
// everything else is a group of its own. Order follows the input.
func Split(paths []string) []Group {
	// A capture is its folder and its prefix, kept apart: joined as one path,
	// "f/IMG_0001" + "_MS_R.TIF" and "f" + "IMG_0001_0.tif" made the same
	// key and one group across two folders (found by FuzzSplit).
	type key struct{ dir, prefix string }
	var groups []Group
	index := map[key]int{}
	for _, p := range paths {
		base := filepath.Base(p)
		var k key
		matched := false
		for _, re := range patterns {
			if m := re.FindStringSubmatch(base); m != nil {
				k, matched = key{dir: filepath.Dir(p), prefix: strings.ToUpper(m[1])}, true
				break
			}
		}
		if !matched {
			groups = append(groups, Group{Name: base, Paths: []string{p}})
			continue
		}
		if i, ok := index[k]; ok {
			groups[i].Paths = append(groups[i].Paths, p)
			continue
		}
		index[k] = len(groups)
		name := k.prefix
		if name == "" {
			name = base
		}
		groups = append(groups, Group{Name: name, Paths: []string{p}})
	}
	for i := range groups {
		sort.Strings(groups[i].Paths)
	}
	return groups
}
