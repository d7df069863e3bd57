package upload

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/canopyag/canopy/platform/blob"
	"github.com/canopyag/canopy/platform/exif"
	"github.com/canopyag/canopy/platform/shareddata"
)

// The parsers ingest runs on what a client sends: the content sniffer, and
// the EXIF reader fed through prefixReaderAt (the first bytes from memory,
// the rest from the blob store). Seeds are the real drone files, cut to
// their first 64 KiB (all the metadata of every JPEG there, and the headers
// of the TIFFs), plus the magic numbers alone.
//
//	go test -run='^$' -fuzz=FuzzSniff -fuzztime=10s ./ingest-svc/internal/upload/
const seedLen = 64 << 10

func addSeeds(f seeder) {
	f.Add([]byte{})
	for _, m := range []string{"\xFF\xD8\xFF", "II*\x00", "MM\x00*", "II+\x00", "MM\x00+", "\x89PNG\r\n\x1a\n", "GIF89a", "these are notes"} {
		f.Add([]byte(m))
	}
	dir, err := shareddata.Find()
	if err != nil {
		f.Logf("shared data not found (%v); synthetic seeds only", err)
		return
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) == ".md" {
			return err
		}
		fh, err := os.Open(p)
		if err != nil {
			return err
		}
		defer fh.Close()
		b := make([]byte, seedLen)
		n, err := io.ReadFull(fh, b)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return err
		}
		f.Add(b[:n])
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
}

// FuzzSniff: the sniffer accepts exactly the JPEG, TIFF/BigTIFF and PNG
// signatures (worked out here from the formats, not from the code), and
// refuses everything else with InvalidArgument and a printable message.
func FuzzSniff(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fw := &fileWriter{index: 0}
		fw.prefix.Write(data)
		err := fw.sniff("upload.jpg")
		want := ""
		switch {
		case len(data) >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF:
			want = "image/jpeg"
		case len(data) >= 4 && (string(data[:4]) == "II*\x00" || string(data[:4]) == "MM\x00*" ||
			string(data[:4]) == "II+\x00" || string(data[:4]) == "MM\x00+"):
			want = "image/tiff"
		case len(data) >= 8 && string(data[:8]) == "\x89PNG\r\n\x1a\n":
			want = "image/png"
		}
		if want != "" {
			if err != nil || fw.ctype != want {
				t.Fatalf("sniff(% x) = %q, %v; want %s", data[:min(len(data), 8)], fw.ctype, err, want)
			}
			return
		}
		if status.Code(err) != codes.InvalidArgument || fw.ctype != "" {
			t.Fatalf("sniff(% x) = %q, %v; want InvalidArgument", data[:min(len(data), 8)], fw.ctype, err)
		}
		if msg := status.Convert(err).Message(); !bytes.Equal([]byte(msg), bytes.ToValidUTF8([]byte(msg), nil)) || len(msg) > 2048 {
			t.Fatalf("message %q", msg)
		}
	})
}

// FuzzReadMetadata: EXIF read through prefixReaderAt, with any split between
// the bytes kept in memory and those left in the store, reads exactly what
// it reads from the whole file in memory, and never panics.
func FuzzReadMetadata(f *testing.F) {
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x02}, uint16(0))
	f.Add([]byte("II*\x00\x08\x00\x00\x00\x00\x00"), uint16(5))
	addSeedsWithSplit(f)
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		keep := min(int(split), len(data))
		r := &prefixReaderAt{ctx: context.Background(), prefix: data[:keep], size: int64(len(data)), store: memStore(data), key: "images/x/0"}
		got, gotErr := exif.Read(r, int64(len(data)))
		want, wantErr := exif.Read(bytes.NewReader(data), int64(len(data)))
		if (gotErr == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("through the store (split %d of %d): %+v, %v; in memory: %+v, %v", keep, len(data), got, gotErr, want, wantErr)
		}
	})
}

func addSeedsWithSplit(f *testing.F) {
	tmp := &seedCollector{}
	addSeeds(tmp)
	for _, s := range tmp.seeds {
		f.Add(s, uint16(len(s)/2))
		f.Add(s, uint16(0))
	}
}

// FuzzPrefixReaderAt: ReadAt agrees with bytes.Reader on any data, split,
// offset and length.
func FuzzPrefixReaderAt(f *testing.F) {
	f.Add([]byte("0123456789"), uint16(4), int64(2), uint16(6))
	f.Add([]byte("0123456789"), uint16(4), int64(9), uint16(6))
	f.Add([]byte("0123456789"), uint16(10), int64(10), uint16(1))
	f.Add([]byte{}, uint16(0), int64(0), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, split uint16, off int64, n uint16) {
		keep := min(int(split), len(data))
		r := &prefixReaderAt{ctx: context.Background(), prefix: data[:keep], size: int64(len(data)), store: memStore(data), key: "images/x/0"}
		got := make([]byte, n)
		gn, gerr := r.ReadAt(got, off)
		if off < 0 {
			if gerr == nil {
				t.Fatalf("ReadAt at %d: no error", off)
			}
			return
		}
		want := make([]byte, n)
		wn, _ := bytes.NewReader(data).ReadAt(want, off)
		if gn != wn || !bytes.Equal(got[:gn], want[:wn]) {
			t.Fatalf("ReadAt(%d bytes at %d) of %d (prefix %d) = %d %q; want %d %q", n, off, len(data), keep, gn, got[:gn], wn, want[:wn])
		}
		// io.ReaderAt: a short read has an error; a full one may only
		// report io.EOF, at the end of the data.
		if (gn < int(n) && gerr == nil) || (gn == int(n) && gerr != nil && !errors.Is(gerr, io.EOF)) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", n, off, gn, gerr)
		}
	})
}

type seedCollector struct{ seeds [][]byte }

func (c *seedCollector) Add(args ...any)     { c.seeds = append(c.seeds, args[0].([]byte)) }
func (c *seedCollector) Logf(string, ...any) {}
func (c *seedCollector) Fatal(args ...any)   { panic(args) }

type seeder interface {
	Add(args ...any)
	Logf(format string, args ...any)
	Fatal(args ...any)
}

// memStore is a blob.Store holding one object (whatever the key): enough
// for prefixReaderAt, which only calls OpenRange.
type memStore []byte

var _ blob.Store = memStore(nil)

func (m memStore) OpenRange(_ context.Context, _ string, off, n int64) (io.ReadCloser, error) {
	if off < 0 || off > int64(len(m)) {
		return nil, errors.New("offset out of range")
	}
	end := int64(len(m))
	if n >= 0 {
		end = min(end, off+n)
	}
	return io.NopCloser(bytes.NewReader(m[off:end])), nil
}
func (m memStore) Put(context.Context, string, io.Reader) (int64, error) { panic("unused") }
func (m memStore) Open(ctx context.Context, k string) (io.ReadCloser, error) {
	return m.OpenRange(ctx, k, 0, -1)
}
func (m memStore) Size(context.Context, string) (int64, error) { return int64(len(m)), nil }
func (m memStore) Delete(context.Context, string) error        { panic("unused") }
func (m memStore) List(context.Context, string, func(string) error) error {
	panic("unused")
}
