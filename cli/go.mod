module github.com/canopyag/canopy/cli

go 1.26

require github.com/canopyag/canopy/gen v0.0.0

replace github.com/canopyag/canopy/gen => ../gen
