package raster

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/canopyag/canopy/analysis-svc/internal/index"
)

// Where a band's role came from, in the order the sources are tried.
const (
	SourceDeclared    = "declared"             // the caller gave the file's role
	SourceLayout      = "layout"               // the caller gave a band layout string
	SourceXMP         = "xmp"                  // XMP Camera:BandName or Camera:CentralWavelength
	SourceDescription = "description"          // GDAL band description ("nir")
	SourceColorInterp = "color_interpretation" // GDAL colour interpretation (Red/Green/Blue/Alpha)
	SourceFilename    = "filename"             // Sequoia or DJI multispectral file-name suffix
)

// ParseLayout reads a band layout: one letter per band in band order,
// R G B, N (NIR), E (red edge), A (alpha), O or C (other, e.g. MAPIR's
// orange and cyan). Spaces and commas are ignored: "RGN", "NGB", "OCN",
// "BGRNE", "R,G,B,A". A role other than Other may appear only once.
func ParseLayout(s string) ([]index.Role, error) {
	var roles []index.Role
	for _, c := range strings.ToUpper(s) {
		var r index.Role
		switch c {
		case ' ', ',', '-', '_':
			continue
		case 'R':
			r = index.Red
		case 'G':
			r = index.Green
		case 'B':
			r = index.Blue
		case 'N':
			r = index.NIR
		case 'E':
			r = index.RedEdge
		case 'A':
			r = index.Alpha
		case 'O', 'C':
			r = index.Other
		default:
			return nil, fmt.Errorf("band layout %q: %w: unknown letter %q (use R G B, N for NIR, E for red edge, A for alpha, O or C for other)", s, ErrUnsupported, c)
		}
		if r != index.Other && slices.Contains(roles, r) {
			return nil, fmt.Errorf("band layout %q: %w: %s appears twice", s, ErrUnsupported, r)
		}
		roles = append(roles, r)
	}
	if len(roles) == 0 {
		return nil, fmt.Errorf("band layout %q: %w: no bands", s, ErrUnsupported)
	}
	return roles, nil
}

// fileRoles finds the role of each band of f. declared is the caller's role
// for a single-band file (Unknown if none); layout the caller's letters for
// this file's bands (nil if none). A band no source can name is Unknown; the
// caller decides whether that is an error. sources[i] says where roles[i]
// came from ("" when Unknown).
func fileRoles(f *File, declared index.Role, layout []index.Role) (roles []index.Role, sources []string, err error) {
	nb := len(f.Bands)
	roles, sources = make([]index.Role, nb), make([]string, nb)
	set := func(i int, r index.Role, src string) {
		roles[i], sources[i] = r, src
	}
	switch {
	case declared != index.Unknown:
		if nb != 1 {
			return nil, nil, fmt.Errorf("%s: %w: a role can be declared only for a single-band file, this one has %d bands; give a band layout instead", f.Name, ErrUnsupported, nb)
		}
		set(0, declared, SourceDeclared)
		return roles, sources, nil
	case layout != nil:
		for i, r := range layout {
			set(i, r, SourceLayout)
		}
		return roles, sources, nil
	}

	// Alpha is only ever told by colour interpretation; the XMP lists name
	// the data bands.
	var data []int
	for i, b := range f.Bands {
		if b.ColorInterp == "Alpha" {
			set(i, index.Alpha, SourceColorInterp)
		} else {
			data = append(data, i)
		}
	}
	if xr := xmpRoles(f.xmp, len(data)); xr != nil {
		for j, i := range data {
			set(i, xr[j], SourceXMP)
		}
		return roles, sources, nil
	}
	for _, i := range data {
		b := f.Bands[i]
		if r, ok := index.ParseRole(b.Description); ok && b.Description != "" {
			set(i, r, SourceDescription)
			continue
		}
		switch b.ColorInterp {
		case "Red":
			set(i, index.Red, SourceColorInterp)
		case "Green":
			set(i, index.Green, SourceColorInterp)
		case "Blue":
			set(i, index.Blue, SourceColorInterp)
		}
	}
	if len(data) == 1 && roles[data[0]] == index.Unknown {
		if r, ok := filenameRole(f.Name); ok {
			set(data[0], r, SourceFilename)
		}
	}
	return roles, sources, nil
}

// xmpRoles reads Camera:BandName (MicaSense, Sequoia, senseFly, DJI
// multispectral), else Camera:CentralWavelength, when it names exactly n
// bands that all map to a role. MicaSense's band names are authoritative:
// its file suffixes _1.._5 are not in spectral order (NIR is _4, red edge
// _5).
func xmpRoles(p xmpProps, n int) []index.Role {
	if names := p["Camera:BandName"]; len(names) == n {
		out := make([]index.Role, n)
		ok := true
		for i, s := range names {
			if out[i], ok = index.ParseRole(s); !ok {
				break
			}
		}
		if ok {
			return out
		}
	}
	if wl := p["Camera:CentralWavelength"]; len(wl) == n {
		out := make([]index.Role, n)
		for i, s := range wl {
			nm, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				return nil
			}
			r, ok := index.RoleForWavelength(nm)
			if !ok {
				return nil
			}
			out[i] = r
		}
		return out
	}
	return nil
}

// filenameRole reads the band suffix Parrot Sequoia (IMG_..._GRE.TIF, _RED,
// _REG, _NIR) and DJI multispectral cameras (DJI_..._MS_G.TIF, _MS_R,
// _MS_RE, _MS_NIR) put in their file names.
func filenameRole(name string) (index.Role, bool) {
	base := strings.ToUpper(strings.TrimSuffix(filepath.Base(name), filepath.Ext(name)))
	parts := strings.Split(base, "_")
	if len(parts) >= 3 && parts[len(parts)-2] == "MS" {
		switch parts[len(parts)-1] {
		case "G":
			return index.Green, true
		case "R":
			return index.Red, true
		case "RE":
			return index.RedEdge, true
		case "NIR":
			return index.NIR, true
		}
	}
	if len(parts) >= 2 {
		switch parts[len(parts)-1] {
		case "GRE":
			return index.Green, true
		case "RED":
			return index.Red, true
		case "REG":
			return index.RedEdge, true
		case "NIR":
			return index.NIR, true
		}
	}
	return index.Unknown, false
}
