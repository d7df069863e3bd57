// Package index holds the vegetation-index formulas and the statistics over
// their per-pixel values. It is pure Go with no I/O, so the math can be tested
// with hand-computed numbers and reused without GDAL.
//
// Conventions shared by every function here:
//   - arithmetic is done in float64 on float32 inputs, never on the unsigned
//     integers a sensor delivers, so a difference of 16-bit values cannot wrap;
//   - a NaN input means "no data" (masked, nodata value, saturated) and
//     propagates through every formula;
//   - a zero denominator yields NaN rather than ±Inf or 0, and NaN (or any
//     non-finite value) is left out of every statistic.
package index

import (
	"strings"
)

// Role says what part of the spectrum a band measured. The zero value means
// the role is not known.
type Role uint8

// Band roles. Other covers bands that no index here uses (orange, cyan,
// panchromatic, thermal) so that a layout can still name them.
const (
	Unknown Role = iota
	Blue
	Green
	Red
	RedEdge
	NIR
	Alpha
	Other
)

// String returns the name used in results and messages ("RedEdge", "NIR").
func (r Role) String() string {
	switch r {
	case Blue:
		return "Blue"
	case Green:
		return "Green"
	case Red:
		return "Red"
	case RedEdge:
		return "RedEdge"
	case NIR:
		return "NIR"
	case Alpha:
		return "Alpha"
	case Other:
		return "Other"
	default:
		return "Unknown"
	}
}

// ParseRole recognises the band names that cameras, GDAL descriptions and
// callers use ("NIR", "Red edge", "rededge", "near-infrared", "r", ...).
// Case, spaces, hyphens and underscores are ignored. It returns false for
// names it does not know rather than guessing.
func ParseRole(s string) (Role, bool) {
	k := strings.Map(func(c rune) rune {
		switch c {
		case ' ', '-', '_', '.':
			return -1
		}
		return c
	}, strings.ToLower(strings.TrimSpace(s)))
	switch k {
	case "blue", "b":
		return Blue, true
	case "green", "g":
		return Green, true
	case "red", "r":
		return Red, true
	case "rededge", "re", "reg", "e", "edge":
		return RedEdge, true
	case "nir", "n", "nearinfrared", "nearir", "infrared":
		return NIR, true
	case "alpha", "a":
		return Alpha, true
	case "other", "o", "c", "orange", "cyan", "panchro", "panchromatic", "pan", "lwir", "thermal":
		return Other, true
	}
	return Unknown, false
}

// RoleForWavelength maps a band's centre wavelength in nanometres to a role.
// The limits follow the usual multispectral drone bands: MicaSense red edge
// is 717 nm and Sequoia's 735 nm, while NIR bands sit at 790-850 nm.
func RoleForWavelength(nm float64) (Role, bool) {
	switch {
	case nm >= 400 && nm < 500:
		return Blue, true
	case nm >= 500 && nm < 600:
		return Green, true
	case nm >= 600 && nm < 690:
		return Red, true
	case nm >= 690 && nm < 750:
		return RedEdge, true
	case nm >= 750 && nm <= 1100:
		return NIR, true
	}
	return Unknown, false
}
