// Package gen holds code generated from proto/ (see buf.gen.yaml); only this
// file is written by hand, to ship the OpenAPI document inside the binaries.
package gen

import _ "embed"

// OpenAPI is the merged OpenAPI (Swagger 2.0) document of every service.
//
//go:embed openapi/canopy.swagger.json
var OpenAPI []byte
