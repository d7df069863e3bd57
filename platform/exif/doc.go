// Package exif reads the few pieces of camera metadata that ingest needs
// (make, model, capture time, orientation and GPS position) from JPEG and
// TIFF/BigTIFF drone images.
//
// It exists because ingest-svc must stay pure Go: GDAL (and its cgo
// toolchain) lives only in analysis-svc, yet ingest has to record where and
// when an upload was taken before any analysis runs. Only the standard
// library is used.
//
// Read runs on untrusted uploads, so it is written defensively: every count
// and offset in the file is checked against the file size before anything is
// allocated or read, an IFD is never read twice (so cyclic offsets cannot
// loop), and only IFD0, the Exif sub-IFD and the GPS sub-IFD are visited (a
// GPS pointer misplaced in the Exif IFD is accepted). The IFD0 "next IFD"
// chain (thumbnails, further pages) is not followed.
//
// Damage that affects one field only (a GPS latitude with one rational
// instead of three, a 0/0 denominator, a missing hemisphere reference, an
// unparseable date) is not an error: the field is dropped or kept as
// described on Metadata and GPS, a line is added to Metadata.Warnings, and
// the rest of the metadata is still returned. Read returns an error only
// when the container itself (JPEG segments, TIFF header, IFD0) is unusable.
package exif
