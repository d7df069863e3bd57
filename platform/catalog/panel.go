package catalog

import "strings"

// PanelBandNames are the bands a calibration panel can be declared for
// (AnalysisOptions.panel.bands[].band), named as Analysis names bands.
var PanelBandNames = []string{"Blue", "Green", "Red", "RedEdge", "NIR"}

// CanonicalPanelBand returns the canonical name of a panel band: any case,
// with spaces, hyphens and underscores ignored ("red edge", "red_edge" and
// "RedEdge" are one band). ok is false for a name that is not a spectral
// band a panel can calibrate.
func CanonicalPanelBand(name string) (string, bool) {
	k := strings.Map(func(c rune) rune {
		switch c {
		case ' ', '-', '_':
			return -1
		}
		return c
	}, strings.ToLower(strings.TrimSpace(name)))
	for _, n := range PanelBandNames {
		if k == strings.ToLower(n) {
			return n, true
		}
	}
	return "", false
}
