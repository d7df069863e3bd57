package queue

import (
	"context"
	"errors"
	"fmt"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/catalog"
)

// calibrationPanel loads the panel capture a claimed image names in
// analysis_options.calibrate_with, from the image's own project, so the
// worker gets its files and declaration with the claim. It returns nil
// when the image names none, or when the panel is no longer in the
// project (the worker then fails the image, saying so).
func calibrationPanel(ctx context.Context, q catalog.Querier, img *canopyv1.Image) (*canopyv1.Image, error) {
	id := img.GetAnalysisOptions().GetCalibrateWith()
	if id == "" {
		return nil, nil
	}
	var project string
	if err := q.QueryRow(ctx, `SELECT project_id FROM images WHERE id = $1`, img.GetId()).Scan(&project); err != nil {
		return nil, fmt.Errorf("project of image %s: %w", img.GetId(), err)
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
