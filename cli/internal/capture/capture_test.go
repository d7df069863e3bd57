package capture

import (
	"reflect"
	"testing"
)

func TestSplit(t *testing.T) {
	in := []string{
		"f/IMG_0001_1.tif", "f/IMG_0001_2.tif", "f/DJI_0061.JPG", "f/IMG_0001_3.tif",
		"f/IMG_0002_1.tif",
		"s/IMG_180413_080658_0000_NIR.TIF", "s/IMG_180413_080658_0000_RED.TIF", "s/IMG_180413_080658_0000_RGB.JPG",
		"d/DJI_0011_MS_NIR.TIF", "d/DJI_0011_MS_R.TIF",
	}
	want := []Group{
		{Name: "IMG_0001", Paths: []string{"f/IMG_0001_1.tif", "f/IMG_0001_2.tif", "f/IMG_0001_3.tif"}},
		{Name: "DJI_0061.JPG", Paths: []string{"f/DJI_0061.JPG"}},
		{Name: "IMG_0002", Paths: []string{"f/IMG_0002_1.tif"}},
		{Name: "IMG_180413_080658_0000", Paths: []string{"s/IMG_180413_080658_0000_NIR.TIF", "s/IMG_180413_080658_0000_RED.TIF"}},
		{Name: "IMG_180413_080658_0000_RGB.JPG", Paths: []string{"s/IMG_180413_080658_0000_RGB.JPG"}},
		{Name: "DJI_0011", Paths: []string{"d/DJI_0011_MS_NIR.TIF", "d/DJI_0011_MS_R.TIF"}},
	}
	if got := Split(in); !reflect.DeepEqual(got, want) {
		t.Errorf("Split:\n got %+v\nwant %+v", got, want)
	}
}
