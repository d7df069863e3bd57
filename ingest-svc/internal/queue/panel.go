package queue

import (
	"context"
	"errors"
	"fmt"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/catalog"
)

// calibrationPanel loads the panel capture a claimed image names in
// analysis_options.calibrate_with, from the image's own project (which the
// claim read), so the worker gets its files and declaration with the
// claim. It returns nil when the image names none, or when the panel is no
// longer in the project (the worker then fails the image, saying so).
func calibrationPanel(ctx context.Context, q catalog.Querier, img *canopyv1.Image, project string) (*canopyv1.Image, error) {
	id := img.GetAnalysisOptions().GetCalibrateWith()
	if id == "" {
		return nil, nil
	}
	panel, err := catalog.GetImage(ctx, q, catalog.Project(project), id)
	if errors.Is(err, catalog.ErrNotFound) || errors.Is(err, catalog.ErrInvalid) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("calibration panel of image %s: %w", img.GetId(), err)
	}
	return panel, nil
}
