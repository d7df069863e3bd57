package index

import (
	"slices"
	"testing"

	"github.com/canopyag/canopy/platform/catalog"
)

// ingest-svc checks requested index names against catalog.IndexNames; it
// must name exactly the indices defined here.
func TestCatalogIndexNamesMatchDefs(t *testing.T) {
	var names []string
	for _, d := range Defs() {
		names = append(names, d.Name)
	}
	if !slices.Equal(names, catalog.IndexNames) {
		t.Errorf("catalog.IndexNames = %v, index.Defs = %v", catalog.IndexNames, names)
	}
}
