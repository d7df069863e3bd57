module github.com/canopyag/canopy/ingest-svc

go 1.26.0

require (
	github.com/canopyag/canopy/gen v0.0.0
	github.com/canopyag/canopy/platform v0.0.0
)

require (
	github.com/google/uuid v1.6.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
)

replace github.com/canopyag/canopy/gen => ../gen

replace github.com/canopyag/canopy/platform => ../platform
