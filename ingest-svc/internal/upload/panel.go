package upload

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/apierror"
	"github.com/canopyag/canopy/platform/catalog"
)

// maxPanelCoordinate bounds a panel corner's coordinates in pixels: far
// beyond any drone camera's sensor, but finite.
const maxPanelCoordinate = 100000

// checkCalibration checks the calibration-panel settings on their own: a
// panel declaration's bands, reflectances and corners, and that a capture
// is not both a panel and calibrated with another one. Whether
// calibrate_with names a panel capture needs the database (checkPanelRef).
func checkCalibration(o *canopyv1.AnalysisOptions) error {
	const f = "metadata.analysis."
	if o.GetPanel() != nil && o.GetCalibrateWith() != "" {
		return apierror.BadField(f+"calibrate_with", "a panel capture (panel is set) is calibrated with its own panel; set one of panel and calibrate_with")
	}
	if id := o.GetCalibrateWith(); id != "" {
		if _, err := catalog.ParseID(id); err != nil {
			return apierror.BadField(f+"calibrate_with", "%q is not an image id (a UUID)", id)
		}
	}
	p := o.GetPanel()
	if p == nil {
		return nil
	}
	bands := p.GetBands()
	if len(bands) == 0 {
		return apierror.BadField(f+"panel.bands", "is empty: declare the panel's reflectance and corners for each band of the capture")
	}
	if len(bands) > len(catalog.PanelBandNames) {
		return apierror.BadField(f+"panel.bands", "has %d bands; there are %d (%s)", len(bands), len(catalog.PanelBandNames), strings.Join(catalog.PanelBandNames, ", "))
	}
	seen := map[string]int{}
	for i, b := range bands {
		field := fmt.Sprintf("%spanel.bands[%d]", f, i)
		name, ok := catalog.CanonicalPanelBand(b.GetBand())
		if !ok {
			return apierror.BadField(field+".band", "%q is not a band role; known: %s", b.GetBand(), strings.Join(catalog.PanelBandNames, ", "))
		}
		if j, dup := seen[name]; dup {
			return apierror.BadField(field+".band", "%s is declared twice (also bands[%d])", name, j)
		}
		seen[name] = i
		// Written so NaN fails too.
		if r := b.GetReflectance(); !(r > 0 && r <= 1) {
			return apierror.BadField(field+".reflectance", "%g: a panel's reflectance is a fraction in (0, 1], such as 0.61 (from the panel's calibration sheet)", r)
		}
		cs := b.GetCorners()
		if len(cs) != 4 {
			return apierror.BadField(field+".corners", "has %d points; want the panel's 4 corners in this band's pixels", len(cs))
		}
		var twiceArea float64 // shoelace formula
		for k, c := range cs {
			if x, y := c.GetX(), c.GetY(); !(x >= 0 && x <= maxPanelCoordinate && y >= 0 && y <= maxPanelCoordinate) {
				return apierror.BadField(fmt.Sprintf("%s.corners[%d]", field, k), "(%g, %g) is not a pixel position (column x, row y, from 0 at the top left)", x, y)
			}
			n := cs[(k+1)%len(cs)]
			twiceArea += c.GetX()*n.GetY() - n.GetX()*c.GetY()
		}
		if twiceArea == 0 {
			return apierror.BadField(field+".corners", "enclose no area: give the panel's 4 corners in order around it")
		}
	}
	return nil
}

// canonicalCalibration spells the declared band names as Analysis does
// and the panel's image id as the API returns ids, in place (o is a
// checked clone).
func canonicalCalibration(o *canopyv1.AnalysisOptions) {
	if id, err := catalog.ParseID(o.GetCalibrateWith()); err == nil {
		o.CalibrateWith = id
	}
	for _, b := range o.GetPanel().GetBands() {
		if n, ok := catalog.CanonicalPanelBand(b.GetBand()); ok {
			b.Band = n
		}
	}
}

// checkPanelRef checks that calibrate_with names a panel capture of the
// caller's project. Another project's image is NotFound exactly like a
// missing one, so ids cannot be probed across tenants.
func (s *Service) checkPanelRef(ctx context.Context, project string, o *canopyv1.AnalysisOptions) error {
	const field = "metadata.analysis.calibrate_with"
	id := o.GetCalibrateWith()
	if id == "" {
		return nil
	}
	panel, err := catalog.GetImage(ctx, s.pool, catalog.Project(project), id)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		return status.Errorf(codes.NotFound, "%s: image %s not found", field, id)
	case errors.Is(err, catalog.ErrInvalid):
		return apierror.BadField(field, "%q is not an image id (a UUID)", id)
	case err != nil:
		return s.unavailable(ctx, "look up calibration panel", err)
	}
	if panel.GetAnalysisOptions().GetPanel() == nil {
		return preconditionFailed(field, "NOT_A_PANEL", id,
			"image %s is not a calibration-panel capture: upload the panel capture with analysis.panel (its reflectance and corners per band) and name that image", id)
	}
	if panel.GetStatus() == canopyv1.ImageStatus_IMAGE_STATUS_FAILED {
		return preconditionFailed(field, "PANEL_FAILED", id,
			"the panel capture %s failed (%s): retry it or name another panel", id, panel.GetLastError())
	}
	return nil
}

// preconditionFailed is FailedPrecondition with google.rpc.PreconditionFailure
// naming the image that is not in the state the request needs.
func preconditionFailed(field, kind, id, format string, args ...any) error {
	msg := field + ": " + fmt.Sprintf(format, args...)
	st, err := status.New(codes.FailedPrecondition, msg).WithDetails(&errdetails.PreconditionFailure{
		Violations: []*errdetails.PreconditionFailure_Violation{{Type: kind, Subject: "images/" + id, Description: msg}},
	})
	if err != nil {
		return status.Error(codes.FailedPrecondition, msg)
	}
	return st.Err()
}
