package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"text/tabwriter"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/blob"
	"github.com/canopyag/canopy/platform/config"
)

const downloadHelp = `usage: canopy download [--kind colormap|geotiff|thumbnail] [--index NAME] [-o PATH] ID
       canopy download --list [--json] ID

Saves one output of an image's analysis: the colour map PNG (default, of
the index the analysis mapped unless --index names another), a float32
GeoTIFF of one index's values (NDVI unless --index says otherwise, or the
mapped index when there is no NDVI), or the thumbnail PNG. --list shows
what the analysis wrote.

LIMITATION: the services have no download call yet, so this command reads
the blob store itself and works only where the blob store is reachable and
configured in the environment, exactly as for the services:
  BLOB_STORE=local BLOB_DIR=/path/to/blobs       (a store on this machine)
  BLOB_STORE=s3 S3_BUCKET=... [S3_ENDPOINT=... S3_REGION=... S3_PREFIX=...
      S3_ACCESS_KEY_ID=... S3_SECRET_ACCESS_KEY=...]   (read access suffices)
Without BLOB_STORE, BLOB_DIR or S3_BUCKET set it refuses rather than guess.

-o PATH writes there (a folder keeps the default name, "-" is stdout); the
default is ID-KIND[-INDEX].EXT in the current folder. A file is written
whole or not at all.

Flags:
`

func (a *cli) download(ctx context.Context, args []string) error {
	fs := a.flags("download")
	kind := fs.String("kind", "colormap", "colormap, geotiff or thumbnail")
	index := fs.String("index", "", "the index of the colour map or GeoTIFF (NDVI, VARI, ...)")
	out := fs.String("o", "", "output file, folder, or - for stdout")
	list := fs.Bool("list", false, "list the outputs instead of downloading one")
	asJSON := fs.Bool("json", false, "print JSON (the list, or what was written)")
	fs.Usage = func() { fmt.Fprint(a.stderr, downloadHelp); fs.PrintDefaults() }
	if err := parseFlags(fs, args); err != nil {
		return errUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	id := fs.Arg(0)
	c, err := a.connect()
	if err != nil {
		return err
	}
	an, err := c.Status.GetAnalysis(ctx, &canopyv1.GetAnalysisRequest{ImageId: id})
	if err != nil {
		return err
	}
	outs := outputsOf(an)
	if *list {
		if *asJSON {
			a.printJSON(&canopyv1.Analysis{ImageId: an.GetImageId(), Outputs: outs})
			return nil
		}
		w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "kind\tindex\tsize\ttype\tblob key")
		for _, o := range outs {
			fmt.Fprintf(w, "%s\t%s\t%dx%d\t%s\t%s\n", o.GetKind(), dash(o.GetIndex()), o.GetWidth(), o.GetHeight(), o.GetContentType(), o.GetBlobKey())
		}
		return w.Flush()
	}
	o, err := pickOutput(an, outs, *kind, *index)
	if err != nil {
		return err
	}
	store, err := openBlobStore(ctx, a.getenv)
	if err != nil {
		return err
	}
	r, err := store.Open(ctx, o.GetBlobKey())
	if errors.Is(err, blob.ErrNotFound) {
		return fmt.Errorf("%s is not in the configured blob store (%s): is BLOB_DIR/S3_BUCKET the one the services use?", o.GetBlobKey(), describeStore(a.getenv))
	}
	if err != nil {
		return err
	}
	defer r.Close()

	name := defaultOutputName(an.GetImageId(), o)
	dest := *out
	switch {
	case dest == "-":
		_, err := io.Copy(a.rawStdout, r)
		return err
	case dest == "":
		dest = name
	default:
		if st, err := os.Stat(dest); err == nil && st.IsDir() {
			dest = filepath.Join(dest, name)
		}
	}
	n, err := writeWhole(dest, r)
	if err != nil {
		return err
	}
	if *asJSON {
		a.printJSON(&canopyv1.Output{Kind: o.GetKind(), Index: o.GetIndex(), BlobKey: o.GetBlobKey(), ContentType: o.GetContentType(),
			Width: o.GetWidth(), Height: o.GetHeight(), Min: o.GetMin(), Max: o.GetMax()})
		return nil
	}
	fmt.Fprintf(a.stdout, "wrote %s (%s%s, %s)\n", dest, o.GetKind(), strings.TrimSuffix(" "+o.GetIndex(), " "), humanBytes(n))
	return nil
}

// outputsOf lists an analysis's outputs; an analysis from before outputs
// were listed has only its colour map.
func outputsOf(an *canopyv1.Analysis) []*canopyv1.Output {
	if len(an.GetOutputs()) > 0 || an.GetMapBlobKey() == "" {
		return an.GetOutputs()
	}
	return []*canopyv1.Output{{Kind: "colormap", Index: an.GetMapIndex(), BlobKey: an.GetMapBlobKey(), ContentType: "image/png",
		Width: an.GetWidth(), Height: an.GetHeight()}}
}

// pickOutput finds the output of kind (and index; "" means the default:
// the mapped index for a colour map, NDVI or else the mapped index for a
// GeoTIFF).
func pickOutput(an *canopyv1.Analysis, outs []*canopyv1.Output, kind, index string) (*canopyv1.Output, error) {
	kind = strings.ToLower(kind)
	switch kind {
	case "colormap", "geotiff", "thumbnail":
	default:
		return nil, fmt.Errorf("unknown --kind %q: use colormap, geotiff or thumbnail", kind)
	}
	want := []string{strings.ToUpper(index)}
	if index == "" {
		switch kind {
		case "colormap":
			want = []string{strings.ToUpper(an.GetMapIndex())}
		case "geotiff":
			want = []string{"NDVI", strings.ToUpper(an.GetMapIndex())}
		}
	}
	for _, w := range want {
		for _, o := range outs {
			if o.GetKind() == kind && (kind == "thumbnail" || strings.EqualFold(o.GetIndex(), w)) {
				return o, nil
			}
		}
	}
	var have []string
	for _, o := range outs {
		have = append(have, strings.TrimSuffix(o.GetKind()+" "+o.GetIndex(), " "))
	}
	what := kind
	if kind != "thumbnail" {
		what += " of " + strings.Join(want, " or ")
	}
	if len(have) == 0 {
		return nil, fmt.Errorf("image %s has no %s: its analysis lists no outputs", an.GetImageId(), what)
	}
	return nil, fmt.Errorf("image %s has no %s; it has: %s", an.GetImageId(), what, strings.Join(have, ", "))
}

func defaultOutputName(imageID string, o *canopyv1.Output) string {
	ext := path.Ext(o.GetBlobKey())
	if ext == "" {
		switch o.GetContentType() {
		case "image/png":
			ext = ".png"
		case "image/tiff":
			ext = ".tif"
		}
	}
	name := imageID + "-" + o.GetKind()
	if o.GetIndex() != "" {
		name += "-" + strings.ToLower(o.GetIndex())
	}
	return name + ext
}

// openBlobStore opens the blob store named by the services' variables
// (platform/config), read-only in spirit: it never creates a folder or a
// bucket.
func openBlobStore(ctx context.Context, getenv func(string) string) (blob.Store, error) {
	if getenv("BLOB_STORE") == "" && getenv("BLOB_DIR") == "" && getenv("S3_BUCKET") == "" && getenv("S3_BUCKET_NAME") == "" {
		return nil, errors.New("download reads the blob store directly (there is no download call yet): set BLOB_STORE=local and BLOB_DIR, " +
			"or BLOB_STORE=s3 and the S3_* variables, as for the services (see canopy download -h)")
	}
	r := config.NewReader(getenv)
	cfg := r.Blob()
	if err := r.Err(); err != nil {
		return nil, err
	}
	if cfg.Kind == "s3" {
		return blob.NewS3(ctx, cfg.S3)
	}
	st, err := os.Stat(cfg.LocalDir)
	if err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("blob store: BLOB_DIR %s is not a folder", cfg.LocalDir)
	}
	return blob.NewLocal(cfg.LocalDir)
}

func describeStore(getenv func(string) string) string {
	r := config.NewReader(getenv)
	return r.Blob().Describe()
}

// writeWhole copies r to dest through a temporary file in dest's folder,
// renamed into place only when complete.
func writeWhole(dest string, r io.Reader) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".part-*")
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(tmp, r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dest)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return 0, fmt.Errorf("write %s: %w", dest, err)
	}
	return n, nil
}
