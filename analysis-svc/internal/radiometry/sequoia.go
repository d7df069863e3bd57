package radiometry

// Parrot Sequoia. Sources (read, not copied): Parrot's application note
// SEQ-AN-01 as quoted by Parrot staff on forum.developer.parrot.com
// ("Reflectance Estimation", "Explanation of Exif Tags - Radiometric
// Calibration", "Details of Irradiance List tag for Sunshine sensor"), and
// rasmusfenger/micasense_imageprocessing_sequoia micasense/sequoiautils.py
// (MIT), which prints the reference "Sunshine sensor irradiance: 0.14".
//
// Camera, per band file (XMP Camera:SensorModel = A, B, C, factory
// calibrated for the camera's life):
//
//	L = f² (p - B) / (A t γ + C) / V(x/w, y/h)
//
// with p the 16-bit pixel value, f the f-number, t the exposure in seconds,
// γ the ISO value (EXIF ISO, not ISO/100) and V the 2-D vignetting
// polynomial Σ c_k (x/w)^i_k (y/h)^j_k (Camera:VignettingPolynomial2DName
// gives the powers i_k, j_k, Camera:VignettingPolynomial2D the c_k) at the
// pixel's column x and row y as stored. L is radiance in Parrot's arbitrary
// but band-consistent units, not W/m²/sr/nm. The vignetting factor divides
// the light signal p - B; sequoiautils.py divides p before subtracting B,
// which leaves the dark offset vignetted as well.
//
// Sunshine sensor: Camera:IrradianceList is base64 of little-endian records
// of 28 bytes (firmware 1.1.0 and later):
//
//	uint64 timestamp (µs since the camera started)
//	uint16 CH0 count, uint16 CH1 count, uint16 gain index,
//	uint16 integration time (ms), float32 yaw, pitch, roll (degrees)
//
// The sensor is linear with no black level: CH0 ∝ gain(index) × time ×
// irradiance. The gain of each index is relative and varies from unit to
// unit; Camera:IrradianceCalibrationMeasurement lists (gain index,
// integration time in ms, CH0, CH1) measured under one light, so the ratio of
// counts per millisecond between indices is the relative gain. Gain index 1
// is the reference (gain 1), as Parrot's example uses, so
//
//	E = CH0 / (g(index) × time_ms)
//
// in counts per millisecond at gain index 1: arbitrary units again, which
// for this capture's NIR reading (CH0 14, index 1, 100 ms) gives the 0.14
// the reference prints.
//
// L / E is then proportional to reflectance, with a constant per band that
// only a panel of known reflectance gives (Parrot: "Sequoia is designed to
// measure reflectance, not irradiance"; the units "are homogeneous to SI
// units, but have an arbitrary scaling factor").

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// VignetteTerm is one term c x^PX y^PY of Sequoia's 2-D vignetting
// polynomial, x and y the pixel's column and row over the width and height.
type VignetteTerm struct {
	PX, PY int
	Coef   float64
}

// VignetteTerms pairs Camera:VignettingPolynomial2DName (powers, x then y,
// per term) with Camera:VignettingPolynomial2D (coefficients).
func VignetteTerms(powers, coefs []float64) ([]VignetteTerm, error) {
	if len(powers) == 0 || len(powers) != 2*len(coefs) {
		return nil, fmt.Errorf("%w: %d vignetting powers for %d coefficients", ErrMetadata, len(powers), len(coefs))
	}
	out := make([]VignetteTerm, len(coefs))
	for i, c := range coefs {
		px, py := powers[2*i], powers[2*i+1]
		if px != math.Trunc(px) || py != math.Trunc(py) || px < 0 || py < 0 || px > 16 || py > 16 {
			return nil, fmt.Errorf("%w: vignetting powers %g, %g", ErrMetadata, px, py)
		}
		out[i] = VignetteTerm{PX: int(px), PY: int(py), Coef: c}
	}
	return out, nil
}

// Vignette evaluates the polynomial at normalised coordinates x, y.
func Vignette(terms []VignetteTerm, x, y float64) float64 {
	v := 0.0
	for _, t := range terms {
		v += t.Coef * ipow(x, t.PX) * ipow(y, t.PY)
	}
	return v
}

func ipow(x float64, n int) float64 {
	p := 1.0
	for range n {
		p *= x
	}
	return p
}

// Sequoia is the radiometric model of one Sequoia band image, from that
// image's own metadata.
type Sequoia struct {
	// A, B, C are XMP Camera:SensorModel.
	A, B, C  float64
	FNumber  float64
	Exposure float64 // seconds
	ISO      float64 // EXIF ISO as written (621, not 6.21)
	// Vignette is the 2-D vignetting polynomial; empty means none applied.
	Vignette []VignetteTerm
	// Saturation is the lowest DN that means clipped (0: none).
	Saturation float32
	// Irradiance is the sunshine sensor's reading for this band (see
	// SunshineIrradiance), 0 when absent.
	Irradiance float64
}

// Validate says which coefficient is missing or impossible.
func (m Sequoia) Validate() error {
	switch {
	case !(m.Exposure > 0):
		return fmt.Errorf("%w: exposure time %g s", ErrMetadata, m.Exposure)
	case !(m.ISO > 0):
		return fmt.Errorf("%w: ISO %g", ErrMetadata, m.ISO)
	case !(m.FNumber > 0):
		return fmt.Errorf("%w: f-number %g", ErrMetadata, m.FNumber)
	case !(m.A > 0) || !(m.A*m.Exposure*m.ISO+m.C > 0):
		return fmt.Errorf("%w: sensor model A %g, C %g", ErrMetadata, m.A, m.C)
	}
	return nil
}

// SensorIrradiance is the downwelling reading recorded with the image.
func (m Sequoia) SensorIrradiance() float64 { return m.Irradiance }

// Radiance converts raw DN to Parrot's relative radiance in place. NaN
// stays NaN, saturated pixels become NaN, negative values are floored at 0;
// a pixel whose vignetting factor is not positive becomes NaN.
func (m Sequoia) Radiance(v []float32, width, height int) error {
	if err := checkInput(m, v, width, height); err != nil {
		return err
	}
	k := m.FNumber * m.FNumber / (m.A*m.Exposure*m.ISO + m.C)
	nan := float32(math.NaN())
	for y := range height {
		fy := float64(y) / float64(height)
		row := v[y*width : (y+1)*width]
		for x, dn := range row {
			if dn != dn {
				continue
			}
			if m.Saturation > 0 && dn >= m.Saturation {
				row[x] = nan
				continue
			}
			vig := 1.0
			if len(m.Vignette) > 0 {
				vig = Vignette(m.Vignette, float64(x)/float64(width), fy)
				if !(vig > 0) {
					row[x] = nan
					continue
				}
			}
			l := (float64(dn) - m.B) * k / vig
			if l < 0 {
				l = 0
			}
			row[x] = float32(l)
		}
	}
	return nil
}

// SunshineRecord is one reading of the Sequoia sunshine sensor.
type SunshineRecord struct {
	Timestamp     uint64 // µs since the camera started
	CH0, CH1      uint16 // counts
	GainIndex     uint16
	IntegrationMS uint16
	// Yaw, Pitch, Roll are the sensor's attitude in degrees.
	Yaw, Pitch, Roll float32
}

const sunshineRecordSize = 28

// DecodeIrradianceList decodes XMP Camera:IrradianceList. Firmware before
// 1.1.0 wrote shorter records without gain and integration time; they are
// refused.
func DecodeIrradianceList(s string) ([]SunshineRecord, error) {
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		return nil, fmt.Errorf("%w: Camera:IrradianceList is not base64: %v", ErrMetadata, err)
	}
	if len(b) == 0 || len(b)%sunshineRecordSize != 0 {
		return nil, fmt.Errorf("%w: Camera:IrradianceList holds %d bytes, not a whole number of %d-byte records (firmware before 1.1.0?)", ErrMetadata, len(b), sunshineRecordSize)
	}
	le := binary.LittleEndian
	out := make([]SunshineRecord, len(b)/sunshineRecordSize)
	for i := range out {
		r := b[i*sunshineRecordSize:]
		out[i] = SunshineRecord{
			Timestamp:     le.Uint64(r),
			CH0:           le.Uint16(r[8:]),
			CH1:           le.Uint16(r[10:]),
			GainIndex:     le.Uint16(r[12:]),
			IntegrationMS: le.Uint16(r[14:]),
			Yaw:           math.Float32frombits(le.Uint32(r[16:])),
			Pitch:         math.Float32frombits(le.Uint32(r[20:])),
			Roll:          math.Float32frombits(le.Uint32(r[24:])),
		}
	}
	return out, nil
}

// SunshineGains turns XMP Camera:IrradianceCalibrationMeasurement (groups of
// gain index, integration time in ms, CH0, CH1) into each gain index's gain
// relative to index 1, from CH0 per millisecond. Saturated (65535) and zero
// readings give no gain.
func SunshineGains(cal []float64) (map[uint16]float64, error) {
	if len(cal) == 0 || len(cal)%4 != 0 {
		return nil, fmt.Errorf("%w: Camera:IrradianceCalibrationMeasurement has %d values, not groups of 4", ErrMetadata, len(cal))
	}
	rate := map[uint16]float64{}
	for i := 0; i < len(cal); i += 4 {
		idx, ms, ch0 := cal[i], cal[i+1], cal[i+2]
		if ms > 0 && ch0 > 0 && ch0 < 65535 && idx >= 0 && idx == math.Trunc(idx) {
			rate[uint16(idx)] = ch0 / ms
		}
	}
	ref, ok := rate[1]
	if !ok {
		return nil, fmt.Errorf("%w: Camera:IrradianceCalibrationMeasurement has no usable reading at gain index 1", ErrMetadata)
	}
	out := map[uint16]float64{}
	for idx, r := range rate {
		out[idx] = r / ref
	}
	return out, nil
}

// Sunshine is the irradiance chosen from a sunshine-sensor list.
type Sunshine struct {
	Irradiance float64 // CH0 / (gain × ms), gain index 1 = 1
	Record     SunshineRecord
	// Index is the record's position in the list.
	Index int
}

// SunshineIrradiance picks the reading nearest in time to the exposure (at
// µs since the camera started; 0 means unknown, and the last reading, the
// latest before the exposure, is taken) and converts it with gains (from
// SunshineGains; nil is allowed when the reading is at gain index 1).
func SunshineIrradiance(recs []SunshineRecord, gains map[uint16]float64, at uint64) (Sunshine, error) {
	if len(recs) == 0 {
		return Sunshine{}, fmt.Errorf("%w: empty Camera:IrradianceList", ErrMetadata)
	}
	best := len(recs) - 1
	if at > 0 {
		dist := func(r SunshineRecord) uint64 {
			if r.Timestamp > at {
				return r.Timestamp - at
			}
			return at - r.Timestamp
		}
		for i, r := range recs {
			if dist(r) < dist(recs[best]) {
				best = i
			}
		}
	}
	r := recs[best]
	g := 1.0
	if r.GainIndex != 1 {
		var ok bool
		if g, ok = gains[r.GainIndex]; !ok {
			return Sunshine{}, fmt.Errorf("%w: sunshine reading at gain index %d and no calibration for it (Camera:IrradianceCalibrationMeasurement)", ErrMetadata, r.GainIndex)
		}
	}
	if r.IntegrationMS == 0 || r.CH0 == 0 || r.CH0 == 65535 {
		return Sunshine{}, fmt.Errorf("%w: sunshine reading CH0 %d in %d ms is empty or saturated", ErrMetadata, r.CH0, r.IntegrationMS)
	}
	return Sunshine{Irradiance: float64(r.CH0) / (g * float64(r.IntegrationMS)), Record: r, Index: best}, nil
}

// SunshineFactor is the factor 1 / E turning relative radiance into a
// reflectance-proportional value.
func SunshineFactor(irradiance float64) (float64, error) {
	if !(irradiance > 0) || math.IsInf(irradiance, 0) {
		return 0, fmt.Errorf("%w: sunshine irradiance %g", ErrMetadata, irradiance)
	}
	return 1 / irradiance, nil
}
