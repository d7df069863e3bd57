package index

import (
	"fmt"
	"strings"
)

// DefaultSAVIL is the soil factor Huete (1988) recommends for intermediate
// vegetation cover.
const DefaultSAVIL = 0.5

// Params are the tunable inputs of the formulas.
type Params struct {
	// SAVIL is SAVI's soil factor L, used as given (0 turns SAVI into NDVI).
	SAVIL float64
	// ReflectanceScale multiplies every input before the formulas that add a
	// constant (SAVI, OSAVI, MSAVI2, EVI, EVI2), e.g. 0.0001 for reflectance
	// stored as integers times 10000. 0 means 1. Ratio indices do not depend
	// on it, so it is not applied to them.
	ReflectanceScale float64
}

// Validate reports parameters outside their published range.
func (p Params) Validate() error {
	if !(p.SAVIL >= 0 && p.SAVIL <= 1) {
		return fmt.Errorf("SAVI soil factor L = %v is outside 0..1", p.SAVIL)
	}
	if !(p.ReflectanceScale >= 0) {
		return fmt.Errorf("reflectance scale %v is negative", p.ReflectanceScale)
	}
	return nil
}

func (p Params) scale() float64 {
	if p.ReflectanceScale == 0 {
		return 1
	}
	return p.ReflectanceScale
}

// Pixel is one pixel's band values, already scaled, for Def.Pixel.
type Pixel struct {
	Blue, Green, Red, RedEdge, NIR float64
}

// Bands holds one value slice per role, all of the same length; a slice is nil
// when the image has no such band. NaN marks a pixel with no data.
type Bands struct {
	Blue, Green, Red, RedEdge, NIR []float32
}

// Slice returns the values for a role, or nil.
func (b *Bands) Slice(r Role) []float32 {
	switch r {
	case Blue:
		return b.Blue
	case Green:
		return b.Green
	case Red:
		return b.Red
	case RedEdge:
		return b.RedEdge
	case NIR:
		return b.NIR
	}
	return nil
}

// Roles lists the roles present, in spectral order.
func (b *Bands) Roles() []Role {
	var out []Role
	for _, r := range []Role{Blue, Green, Red, RedEdge, NIR} {
		if b.Slice(r) != nil {
			out = append(out, r)
		}
	}
	return out
}

// Def describes one index. The table returned by Defs is the single place
// where an index's inputs, formula and defaults are listed.
type Def struct {
	Name string
	// Needs lists the band roles the formula reads.
	Needs []Role
	// Additive is true for formulas with an additive constant (SAVI, OSAVI,
	// MSAVI2, EVI, EVI2). The constant assumes reflectance in 0..1; on raw
	// sensor numbers it is negligible or dominant, so the values are
	// unreliable there.
	Additive bool
	// Threshold is the default vegetation threshold: a valid pixel whose
	// value is above it counts towards Stats.VegetationFraction. These are
	// common rules of thumb, scene dependent, not calibrated per crop.
	Threshold float64
	// Health holds the default health-class cut points (see Thresholds
	// and the derivation above Defs).
	Health Thresholds
	// Min and Max fix the colour-map range and the Stats.Histogram range so
	// that maps and histograms of different images compare.
	Min, Max float64
	// Reference cites the formula's source.
	Reference string
	// Pixel evaluates the formula on one pixel. It is the readable form;
	// Compute runs the same math over whole slices.
	Pixel func(px Pixel, p Params) float64

	kernel func(dst []float32, b *Bands, p Params)
}

// Default health thresholds. They are rules of thumb, documented so that a
// user can tell where a number came from and override it per request.
//
//   - NDVI 0.2 / 0.4 / 0.6: bare soil, rock and water stay below about 0.2,
//     sparse or stressed canopies sit at 0.2-0.4 and dense green crops
//     above 0.6 (the ranges NASA's Earth Observatory "Measuring Vegetation"
//     and most agronomy guides quote).
//   - SAVI, OSAVI, MSAVI2, EVI, EVI2 0.15 / 0.30 / 0.45: these formulas give
//     smaller numbers than NDVI for the same canopy. Evaluating each at the
//     reflectance pairs (NIR, Red) = (0.30, 0.20), (0.35, 0.15), (0.40,
//     0.10), which have NDVI 0.2, 0.4, 0.6 and NIR+Red = 0.5 as crop
//     canopies typically do (Blue = Red/2 for EVI), gives 0.14-0.15,
//     0.28-0.30 and 0.44-0.46 for all five (TestHealthDefaultsTrackNDVI
//     checks this), so one set of cut points serves the family.
//   - GNDVI 0.2 / 0.35 / 0.5: vegetation reflects more green than red, so
//     over canopies GNDVI runs about 0.1-0.15 below NDVI (Gitelson et al.
//     1996); over bare soil the two are alike, so the lowest cut stays.
//   - NDRE 0.1 / 0.2 / 0.3: red-edge reflectance (about 720 nm) is 40-60 %
//     of NIR over green leaves, so NDRE spans about half of NDVI's range;
//     dense crops read about 0.3-0.5 (Barnes et al. 2000).
//   - VARI, NGRDI 0 / 0.05 / 0.15: below 0 red outweighs green (soil,
//     residue, dry matter); a photo's green canopy reads 0.15-0.3, yellowing
//     leaves barely above 0 (e.g. RGB 80,110,60 gives VARI 0.23, NGRDI
//     0.16; RGB 120,125,70 gives 0.03 and 0.02).
//   - GLI 0 / 0.1 / 0.2: GLI doubles the green weight, so the same pixels
//     read higher (0.22 and 0.14 for the two examples above).
//   - ExG 0.05 / 0.15 / 0.3: on chromatic coordinates a neutral grey is 0,
//     soil slightly above; green canopy reads 0.25-0.4 (0.32 for the first
//     example) and yellowing leaves about 0.2, low blue lifting them
//     (Woebbecke et al. 1995; Meyer and Neto 2008 threshold ExG near 0.1).
//
// None of these is calibrated per crop or growth stage, and on
// uncalibrated sensor numbers the additive indices shift (see Additive).
var (
	healthNDVI     = Thresholds{0.2, 0.4, 0.6}
	healthAdditive = Thresholds{0.15, 0.30, 0.45}
	healthGNDVI    = Thresholds{0.2, 0.35, 0.5}
	healthNDRE     = Thresholds{0.1, 0.2, 0.3}
	healthVARI     = Thresholds{0, 0.05, 0.15}
	healthGLI      = Thresholds{0, 0.1, 0.2}
	healthExG      = Thresholds{0.05, 0.15, 0.3}
)

// Defs returns the index table in the order results are reported.
func Defs() []Def {
	return []Def{
		{
			Name: "NDVI", Needs: []Role{NIR, Red}, Threshold: 0.3, Health: healthNDVI, Min: -1, Max: 1,
			Reference: "Rouse et al. 1974, (NIR-Red)/(NIR+Red)",
			Pixel:     func(px Pixel, _ Params) float64 { return normDiff(px.NIR, px.Red) },
			kernel:    kernelNDVI,
		},
		{
			Name: "SAVI", Needs: []Role{NIR, Red}, Additive: true, Threshold: 0.2, Health: healthAdditive, Min: -1, Max: 1,
			Reference: "Huete 1988, (1+L)(NIR-Red)/(NIR+Red+L)",
			Pixel:     func(px Pixel, p Params) float64 { return savi(px.NIR, px.Red, p.SAVIL) },
			kernel:    kernelSAVI,
		},
		{
			Name: "OSAVI", Needs: []Role{NIR, Red}, Additive: true, Threshold: 0.2, Health: healthAdditive, Min: -1, Max: 1,
			Reference: "Rondeaux et al. 1996, (NIR-Red)/(NIR+Red+0.16)",
			Pixel:     func(px Pixel, _ Params) float64 { return osavi(px.NIR, px.Red) },
			kernel:    kernelOSAVI,
		},
		{
			Name: "MSAVI2", Needs: []Role{NIR, Red}, Additive: true, Threshold: 0.2, Health: healthAdditive, Min: -1, Max: 1,
			Reference: "Qi et al. 1994, (2NIR+1-sqrt((2NIR+1)^2-8(NIR-Red)))/2",
			Pixel:     func(px Pixel, _ Params) float64 { return msavi2(px.NIR, px.Red) },
			kernel:    kernelMSAVI2,
		},
		{
			Name: "GNDVI", Needs: []Role{NIR, Green}, Threshold: 0.3, Health: healthGNDVI, Min: -1, Max: 1,
			Reference: "Gitelson et al. 1996, (NIR-Green)/(NIR+Green)",
			Pixel:     func(px Pixel, _ Params) float64 { return normDiff(px.NIR, px.Green) },
			kernel:    kernelGNDVI,
		},
		{
			Name: "NDRE", Needs: []Role{NIR, RedEdge}, Threshold: 0.2, Health: healthNDRE, Min: -1, Max: 1,
			Reference: "Barnes et al. 2000, (NIR-RedEdge)/(NIR+RedEdge)",
			Pixel:     func(px Pixel, _ Params) float64 { return normDiff(px.NIR, px.RedEdge) },
			kernel:    kernelNDRE,
		},
		{
			Name: "EVI", Needs: []Role{NIR, Red, Blue}, Additive: true, Threshold: 0.2, Health: healthAdditive, Min: -1, Max: 1,
			Reference: "Huete et al. 2002, 2.5(NIR-Red)/(NIR+6Red-7.5Blue+1)",
			Pixel:     func(px Pixel, _ Params) float64 { return evi(px.NIR, px.Red, px.Blue) },
			kernel:    kernelEVI,
		},
		{
			Name: "EVI2", Needs: []Role{NIR, Red}, Additive: true, Threshold: 0.2, Health: healthAdditive, Min: -1, Max: 1,
			Reference: "Jiang et al. 2008, 2.5(NIR-Red)/(NIR+2.4Red+1)",
			Pixel:     func(px Pixel, _ Params) float64 { return evi2(px.NIR, px.Red) },
			kernel:    kernelEVI2,
		},
		{
			Name: "VARI", Needs: []Role{Green, Red, Blue}, Threshold: 0.05, Health: healthVARI, Min: -1, Max: 1,
			Reference: "Gitelson et al. 2002, (G-R)/(G+R-B)",
			Pixel:     func(px Pixel, _ Params) float64 { return vari(px.Green, px.Red, px.Blue) },
			kernel:    kernelVARI,
		},
		{
			Name: "ExG", Needs: []Role{Red, Green, Blue}, Threshold: 0.1, Health: healthExG, Min: -1, Max: 1,
			Reference: "Woebbecke et al. 1995, 2g-r-b on chromatic coordinates",
			Pixel:     func(px Pixel, _ Params) float64 { return exg(px.Red, px.Green, px.Blue) },
			kernel:    kernelExG,
		},
		{
			Name: "GLI", Needs: []Role{Red, Green, Blue}, Threshold: 0.05, Health: healthGLI, Min: -1, Max: 1,
			Reference: "Louhaichi et al. 2001, (2G-R-B)/(2G+R+B)",
			Pixel:     func(px Pixel, _ Params) float64 { return gli(px.Red, px.Green, px.Blue) },
			kernel:    kernelGLI,
		},
		{
			Name: "NGRDI", Needs: []Role{Green, Red}, Threshold: 0.0, Health: healthVARI, Min: -1, Max: 1,
			Reference: "Tucker 1979, (G-R)/(G+R)",
			Pixel:     func(px Pixel, _ Params) float64 { return normDiff(px.Green, px.Red) },
			kernel:    kernelNGRDI,
		},
	}
}

// Lookup finds a definition by name, ignoring case.
func Lookup(name string) (Def, bool) {
	for _, d := range Defs() {
		if strings.EqualFold(d.Name, name) {
			return d, true
		}
	}
	return Def{}, false
}

// Missing returns the roles the index needs that b lacks.
func (d Def) Missing(b *Bands) []Role {
	var out []Role
	for _, r := range d.Needs {
		if b.Slice(r) == nil {
			out = append(out, r)
		}
	}
	return out
}

// Unavailable explains why the index cannot be computed from bands with the
// given roles, or returns "" when it can. The wording is meant for end users:
// "NDVI needs a NIR band; this image has Red, Green, Blue".
func (d Def) Unavailable(have []Role) string {
	var missing []string
	for _, need := range d.Needs {
		found := false
		for _, h := range have {
			if h == need {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, need.String())
		}
	}
	if len(missing) == 0 {
		return ""
	}
	var names []string
	for _, h := range have {
		names = append(names, h.String())
	}
	has := "no band with a known role"
	if len(names) > 0 {
		has = strings.Join(names, ", ")
	}
	if len(missing) == 1 {
		return fmt.Sprintf("%s needs a %s band; this image has %s", d.Name, missing[0], has)
	}
	return fmt.Sprintf("%s needs %s bands; this image has %s", d.Name, strings.Join(missing, " and "), has)
}

// Compute writes the index for every pixel into dst, which must be as long as
// the input bands. Pixels with no data or a zero denominator become NaN.
func (d Def) Compute(dst []float32, b *Bands, p Params) error {
	if err := d.check(dst, b, p); err != nil {
		return err
	}
	d.kernel(dst, b, p)
	return nil
}

// check validates Compute's arguments.
func (d Def) check(dst []float32, b *Bands, p Params) error {
	if err := p.Validate(); err != nil {
		return err
	}
	for _, r := range d.Needs {
		s := b.Slice(r)
		if s == nil {
			return fmt.Errorf("%s: missing %s band", d.Name, r)
		}
		if len(s) != len(dst) {
			return fmt.Errorf("%s: %s band has %d values, output has %d", d.Name, r, len(s), len(dst))
		}
	}
	return nil
}
