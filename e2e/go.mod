module github.com/canopyag/canopy/e2e

go 1.26

require (
	github.com/canopyag/canopy/analysis-svc v0.0.0
	github.com/canopyag/canopy/cli v0.0.0
	github.com/canopyag/canopy/gen v0.0.0
	github.com/canopyag/canopy/ingest-svc v0.0.0
	github.com/canopyag/canopy/platform v0.0.0
	github.com/canopyag/canopy/status-svc v0.0.0
)

replace (
	github.com/canopyag/canopy/analysis-svc => ../analysis-svc
	github.com/canopyag/canopy/cli => ../cli
	github.com/canopyag/canopy/gen => ../gen
	github.com/canopyag/canopy/ingest-svc => ../ingest-svc
	github.com/canopyag/canopy/platform => ../platform
	github.com/canopyag/canopy/status-svc => ../status-svc
)
