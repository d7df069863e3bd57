module github.com/canopyag/canopy/status-svc

go 1.26

require (
	github.com/canopyag/canopy/gen v0.0.0
	github.com/canopyag/canopy/platform v0.0.0
)

replace github.com/canopyag/canopy/gen => ../gen

replace github.com/canopyag/canopy/platform => ../platform
