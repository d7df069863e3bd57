package worker

import (
	"github.com/canopyag/canopy/analysis-svc/internal/analyze"
	"github.com/canopyag/canopy/analysis-svc/internal/index"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// AlgorithmVersion is recorded with every analysis so results can be
// recomputed and compared when the index math changes. Bump it with any
// change that alters a number.
const AlgorithmVersion = "canopy-analysis/1"

func toProto(imageID string, r *analyze.Result, mapKey string, saviL float64) *canopyv1.Analysis {
	if saviL == 0 {
		saviL = index.DefaultSAVIL
	}
	a := &canopyv1.Analysis{
		ImageId:          imageID,
		AlgorithmVersion: AlgorithmVersion,
		Width:            int32(r.Width),
		Height:           int32(r.Height),
		CalibrationMode:  r.CalibrationMode,
		MapIndex:         r.MapIndex,
		MapBlobKey:       mapKey,
		BandRoles:        r.BandRoles,
		BandRolesSource:  r.BandRolesSource,
		SaviL:            saviL,
		Warnings:         r.Warnings,
	}
	for _, ix := range r.Indices {
		out := &canopyv1.IndexResult{Name: ix.Name, Available: ix.Available, Reason: ix.Reason}
		if ix.Available {
			st := ix.Stats
			out.ValidPixels, out.NodataPixels = st.Valid, st.NoData
			out.Mean, out.Std, out.Min, out.Max = st.Mean, st.Std, st.Min, st.Max
			out.Percentiles = &canopyv1.Percentiles{P2: st.P2, P5: st.P5, P25: st.P25, P50: st.P50, P75: st.P75, P95: st.P95, P98: st.P98}
			out.VegetationFraction, out.VegetationThreshold = st.VegetationFraction, st.Threshold
			if ix.Caveat != "" {
				out.Unreliable = true
				out.Reason = ix.Caveat
			}
		}
		a.Indices = append(a.Indices, out)
	}
	return a
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
