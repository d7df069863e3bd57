package worker

import (
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/canopyag/canopy/analysis-svc/internal/analyze"
	"github.com/canopyag/canopy/analysis-svc/internal/index"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// AlgorithmVersion is recorded with every analysis so results can be
// recomputed and compared when the index math changes. Bump it with any
// change that alters a number.
//
// canopy-analysis/2 added health classes, the zonal grid, ground sample
// distance and areas, GeoTIFF and thumbnail outputs; canopy-analysis/3
// turns MicaSense rig DN into reflectance (downwelling light sensor, or a
// calibration panel) and co-registers rig bands, cropping to their common
// area.
const AlgorithmVersion = "canopy-analysis/3"

// toProto converts a result; keys[i] is the blob key of r.Outputs[i].
//
// Health classes are open-ended at both ends ([-Inf, T1) ... [T3, +Inf)),
// but JSON has no infinity, so the proto carries the index's display range
// (its Min and Max, -1 and 1 for every index today) as the outer edges;
// values beyond that range still count in the outer classes.
func toProto(imageID string, r *analyze.Result, keys []string) *canopyv1.Analysis {
	a := &canopyv1.Analysis{
		ImageId:          imageID,
		AlgorithmVersion: AlgorithmVersion,
		Width:            int32(r.Width),
		Height:           int32(r.Height),
		CalibrationMode:  r.CalibrationMode,
		MapIndex:         r.MapIndex,
		BandRoles:        r.BandRoles,
		BandRolesSource:  r.BandRolesSource,
		SaviL:            r.SAVIL,
		Warnings:         r.Warnings,
		Capture:          captureInfo(r.Capture),
	}
	if r.GSD > 0 {
		a.GsdM = proto.Float64(r.GSD)
		a.GsdSource = r.GSDSource
	}
	for _, b := range r.Alignment {
		a.BandAlignment = append(a.BandAlignment, &canopyv1.BandAlignment{
			Band: b.Role, Filename: b.File, Reference: b.Reference,
			InitialOffsetX: b.InitialDX, InitialOffsetY: b.InitialDY, OffsetX: b.DX, OffsetY: b.DY,
			Scale: b.Scale, RotationDeg: b.RotationDeg,
			ResidualPx: b.Residual, ResidualMaxPx: b.ResidualMax, Peak: b.PeakConfidence,
		})
	}
	if len(r.Alignment) > 0 {
		ar := r.AlignedArea
		a.AlignedArea = &canopyv1.PixelRect{X: int32(ar.Min.X), Y: int32(ar.Min.Y), Width: int32(ar.Dx()), Height: int32(ar.Dy())}
	}
	for _, b := range r.Calibration {
		a.BandCalibration = append(a.BandCalibration, &canopyv1.BandCalibration{
			Band: b.Role, Filename: b.File, ReflectanceFactor: b.Factor, DlsIrradiance: b.Irradiance,
		})
	}
	for i, o := range r.Outputs {
		a.Outputs = append(a.Outputs, &canopyv1.Output{
			Kind: o.Kind, Index: o.Index, BlobKey: keys[i], ContentType: o.ContentType,
			Width: int32(o.Width), Height: int32(o.Height), Min: o.Min, Max: o.Max,
		})
		if o.Kind == analyze.KindColormap && o.Index == r.MapIndex {
			// The main map; every available index has its own colormap output.
			a.MapBlobKey = keys[i]
		}
	}
	for _, ix := range r.Indices {
		out := &canopyv1.IndexResult{Name: ix.Name, Available: ix.Available, Reason: ix.Reason}
		if ix.Available {
			st := ix.Stats
			out.ValidPixels, out.NodataPixels = st.Valid, st.NoData
			out.Mean, out.Std, out.Min, out.Max = st.Mean, st.Std, st.Min, st.Max
			out.Percentiles = &canopyv1.Percentiles{P2: st.P2, P5: st.P5, P25: st.P25, P50: st.P50, P75: st.P75, P95: st.P95, P98: st.P98}
			out.VegetationFraction, out.VegetationThreshold = st.VegetationFraction, st.Threshold
			out.HealthClasses = healthToProto(ix)
			h := st.Histogram
			out.Histogram = &canopyv1.Histogram{Min: h.Min, Max: h.Max, Counts: h.Counts, Below: h.Below, Above: h.Above}
			out.Zones = &canopyv1.ZonalGrid{Rows: int32(ix.GridRows), Cols: int32(ix.GridCols)}
			for _, z := range ix.Zones {
				cell := &canopyv1.Zone{Row: int32(z.Row), Col: int32(z.Col), ValidPixels: z.Valid, Mean: z.Mean}
				if z.Class >= 0 {
					cell.Class = index.ClassNames[z.Class]
				}
				out.Zones.Cells = append(out.Zones.Cells, cell)
			}
			if ix.Caveat != "" {
				out.Unreliable = true
				out.Reason = ix.Caveat
			}
		}
		a.Indices = append(a.Indices, out)
	}
	return a
}

func healthToProto(ix analyze.IndexResult) []*canopyv1.HealthClass {
	out := make([]*canopyv1.HealthClass, len(ix.Health))
	for i, c := range ix.Health {
		lo, hi := c.Min, c.Max
		if math.IsInf(lo, -1) {
			lo = math.Min(ix.Min, hi)
		}
		if math.IsInf(hi, 1) {
			hi = math.Max(ix.Max, lo)
		}
		out[i] = &canopyv1.HealthClass{Name: c.Name, Min: lo, Max: hi, Pixels: c.Pixels, Fraction: c.Fraction, AreaM2: c.AreaM2}
	}
	return out
}

func captureInfo(m analyze.Metadata) *canopyv1.CaptureInfo {
	return &canopyv1.CaptureInfo{
		Make: m.Make, Model: m.Model, CaptureId: m.CaptureID,
		RelativeAltitude: m.RelativeAltitude, GimbalPitch: m.GimbalPitch,
		Orientation: int32(m.Orientation), FocalLengthMm: m.FocalLength,
	}
}

func roleFromProto(r canopyv1.BandRole) index.Role {
	switch r {
	case canopyv1.BandRole_BAND_ROLE_BLUE:
		return index.Blue
	case canopyv1.BandRole_BAND_ROLE_GREEN:
		return index.Green
	case canopyv1.BandRole_BAND_ROLE_RED:
		return index.Red
	case canopyv1.BandRole_BAND_ROLE_RED_EDGE:
		return index.RedEdge
	case canopyv1.BandRole_BAND_ROLE_NIR:
		return index.NIR
	case canopyv1.BandRole_BAND_ROLE_ALPHA:
		return index.Alpha
	case canopyv1.BandRole_BAND_ROLE_OTHER:
		return index.Other
	}
	return index.Unknown
}
