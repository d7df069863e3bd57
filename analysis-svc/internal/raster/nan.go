package raster

import "math"

func float32NaN() float32 { return float32(math.NaN()) }
