package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/canopyag/canopy/cli/client"
	"github.com/canopyag/canopy/cli/internal/capture"
	"github.com/canopyag/canopy/cli/sample"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

var errUsage = errors.New("usage")

type cli struct {
	ingestAddr, statusAddr string
	apiKey                 string
	tls                    bool
	caFile                 string
	stdout, stderr         io.Writer // terminalSafe
	rawStdout              io.Writer // for file contents (download -o -)
	rawStderr              io.Writer // for the progress bar's own control sequences
	getenv                 func(string) string
	c                      *client.Client
}

func (a *cli) connect() (*client.Client, error) {
	if a.c == nil {
		var opts []grpc.DialOption
		if a.tls {
			o, err := client.WithTLS(a.caFile)
			if err != nil {
				return nil, err
			}
			opts = append(opts, o)
		}
		if a.apiKey != "" {
			opts = append(opts, client.WithAPIKey(a.apiKey, a.tls))
		}
		c, err := client.Dial(a.ingestAddr, a.statusAddr, opts...)
		if err != nil {
			return nil, err
		}
		a.c = c
	}
	return a.c, nil
}

// describe turns a gRPC error into "Code: message", the server's own words,
// rather than a bare transport error.
func describe(err error) string {
	// status.FromError on a wrapped error puts the whole text, wrapping
	// included, into the message; take the status error itself instead.
	var se interface {
		error
		GRPCStatus() *status.Status
	}
	if errors.As(err, &se) && se.GRPCStatus().Code() != codes.OK {
		st := se.GRPCStatus()
		prefix := strings.TrimSuffix(err.Error(), se.Error())
		msg := fmt.Sprintf("%s%s: %s", prefix, st.Code(), st.Message())
		if st.Code() == codes.Unavailable {
			msg += " (is the service running? see --ingest/--status)"
		}
		return msg
	}
	return err.Error()
}

func (a *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("canopy "+name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	return fs
}

// parseFlags parses a command's arguments with its flags allowed after
// the files or ids as well as before them (canopy upload *.tif --watch):
// the flag package alone stops at the first argument that is not a flag,
// and then took --watch for a file name. Everything after "--" is an
// argument, as usual.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			rest = append(rest, arg)
			continue
		}
		flags = append(flags, arg)
		name := strings.TrimLeft(arg, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // Parse names it as unknown
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 == len(args) {
			// A value flag last: Parse alone says its value is missing
			// (before the "--" below, it took "--" for the value).
			return fs.Parse(flags)
		}
		i++
		flags = append(flags, args[i]) // the flag's value
	}
	return fs.Parse(append(append(flags, "--"), rest...))
}

// noArgs refuses arguments a command does not take, instead of ignoring
// them (canopy list extra listed everything).
func (a *cli) noArgs(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		fmt.Fprintf(a.stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	}
	return nil
}

const uploadHelp = `usage: canopy upload [flags] FILE|FOLDER|GLOB...

Uploads images; the band files of one multispectral rig capture (MicaSense
IMG_0001_1..5.tif, DJI _MS_G/_MS_R/_MS_RE/_MS_NIR, Sequoia _GRE/_RED/_REG/_NIR)
go up together as one image. Folders are searched for .jpg .jpeg .tif .tiff
.png files.

Analysis settings (--savi-l, --indices, --reflectance-scale,
--takeoff-altitude, --panel, --calibrate-with) apply to every image of the
command; a bad value is refused by the server before any file is sent.

Calibration panel: upload the panel capture with --panel panel.json (the
panel's reflectance and corners in each band's pixels, as JSON:
{"bands": [{"band": "NIR", "reflectance": 0.61, "corners": [{"x": 829,
"y": 658}, {"x": 668, "y": 659}, {"x": 668, "y": 496}, {"x": 829, "y": 496}]},
...]}), then the flight's captures with --calibrate-with PANEL_IMAGE_ID.

Resuming: each image is sent with a client upload id made from the batch,
the band layout, the analysis settings and the SHA-256 of its files' contents. Running the same
command again (say after an interrupted flight upload) sends only what the
server does not have yet; images it has are printed as "already uploaded"
and nothing new is stored. Each image's files are hashed just before they
are sent, so a new file is read twice (the second read usually comes from
the operating system's cache) and an already uploaded one once; --resume=false
skips hashing and always stores new images.

With --watch it follows every image until it is finished, prints the
results table, and exits 1 if any image failed.

Flags:
`

func (a *cli) upload(ctx context.Context, args []string) error {
	fs := a.flags("upload")
	watch := fs.Bool("watch", false, "follow the images until they are analysed, then print the results")
	batch := fs.String("batch", "", "batch (flight) name to group the images")
	layout := fs.String("layout", "", "band order of single multi-band files, e.g. RGN or NGB")
	resume := fs.Bool("resume", true, "derive each image's client upload id from its contents, so a re-run skips what is already uploaded")
	asJSON := fs.Bool("json", false, "print JSON: one upload response per image (and watch updates with --watch)")
	analysis := analysisFlags(fs)
	fs.Usage = func() { fmt.Fprint(a.stderr, uploadHelp); fs.PrintDefaults() }
	if err := parseFlags(fs, args); err != nil {
		return errUsage
	}
	paths, err := expand(fs.Args())
	if err != nil {
		return err
	}
	if len(paths) == 0 && fs.NArg() > 0 {
		return fmt.Errorf("no images (.jpg .jpeg .tif .tiff .png) in %s", strings.Join(fs.Args(), ", "))
	}
	if len(paths) == 0 {
		fmt.Fprintln(a.stderr, "canopy upload: name at least one file or folder")
		return errUsage
	}
	c, err := a.connect()
	if err != nil {
		return err
	}
	groups := capture.Split(paths)
	sizes := make([][]int64, len(groups))
	var batchBytes int64
	for i, g := range groups {
		for _, p := range g.Paths {
			st, err := os.Stat(p)
			if err != nil {
				return err
			}
			sizes[i] = append(sizes[i], st.Size())
			batchBytes += st.Size()
		}
	}
	bar := newProgress(a.rawStderr, len(groups), batchBytes)
	var ids []string
	var failed int
	for i, g := range groups {
		resp, err := a.uploadGroup(ctx, c, bar, g, sizes[i], *batch, *layout, analysis.options(), *resume)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(a.stderr, "%s: %s\n", g.Name, describe(err))
			failed++
			continue
		}
		ids = append(ids, resp.GetImageId())
		switch {
		case *asJSON:
			a.printJSON(resp)
		case resp.GetDuplicate():
			fmt.Fprintf(a.stdout, "already uploaded %s  %s  %d file(s), %s, %s\n", resp.GetImageId(), cell(g.Name), len(g.Paths),
				humanBytes(resp.GetSizeBytes()), statusName(resp.GetStatus()))
		default:
			fmt.Fprintf(a.stdout, "uploaded %s  %s  %d file(s), %s\n", resp.GetImageId(), cell(g.Name), len(g.Paths), humanBytes(resp.GetSizeBytes()))
		}
	}
	if *watch && len(ids) > 0 {
		if err := a.watchIDs(ctx, ids, *asJSON); err != nil && !errors.Is(err, errFailed) {
			return err
		} else if err != nil {
			failed++
		}
		if !*asJSON {
			fmt.Fprintln(a.stdout)
			if err := a.printResults(ctx, ids, "table"); err != nil {
				return err
			}
		}
	}
	if failed > 0 {
		return errFailed
	}
	return nil
}

// uploadGroup hashes one image's files (when resuming) and uploads them.
// Hashing right before sending keeps the file in the operating system's
// cache for the upload's read, instead of hashing the whole batch first.
func (a *cli) uploadGroup(ctx context.Context, c *client.Client, bar *progress, g capture.Group, sizes []int64,
	batch, layout string, analysis *canopyv1.AnalysisOptions, resume bool) (*canopyv1.UploadImageResponse, error) {
	names := make([]string, len(g.Paths))
	files := make([]client.File, len(g.Paths))
	for i, p := range g.Paths {
		names[i] = filepath.Base(p)
		files[i] = client.File{Path: p}
	}
	opt := client.UploadOptions{BatchID: batch, Analysis: analysis}
	if len(files) == 1 {
		opt.BandLayout = layout
	}
	var sums []string
	if resume {
		bar.begin(g.Name, "hash", names, sizes)
		var done int64
		for _, p := range g.Paths {
			sum, err := client.HashFile(ctx, p, func(n int64) { bar.update(done + n) })
			if err != nil {
				bar.finish(false)
				return nil, err
			}
			st, err := os.Stat(p)
			if err != nil {
				bar.finish(false)
				return nil, err
			}
			done += st.Size()
			sums = append(sums, sum)
		}
		opt.ClientUploadID = client.UploadIDWithOptions(batch, opt.BandLayout, analysis, sums)
	}
	bar.begin(g.Name, "send", names, sizes)
	opt.Progress = bar.update
	resp, err := c.UploadFiles(ctx, files, opt)
	if err != nil {
		bar.finish(false)
		return nil, err
	}
	bar.finish(!resp.GetDuplicate())
	if resp.GetDuplicate() && sums != nil {
		// The id is ours only if the image holds these very files.
		got := resp.GetFiles()
		ok := len(got) == len(sums)
		for i := 0; ok && i < len(sums); i++ {
			ok = strings.EqualFold(got[i].GetSha256(), sums[i])
		}
		if !ok {
			return nil, fmt.Errorf("client upload id %s belongs to image %s, whose files differ from these; upload with --resume=false",
				opt.ClientUploadID, resp.GetImageId())
		}
	}
	return resp, nil
}

// regular refuses what is not a regular file. A pipe or device cannot be
// read twice, once for the checksum that makes the upload resumable and
// again to send it: a FIFO hung the CLI beyond Ctrl-C (in open, waiting
// for a writer), and a spent pipe sent nothing.
func regular(path string, st os.FileInfo) error {
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (a pipe, device or socket): save the image to a file and name that", path)
	}
	return nil
}

// expand turns folders into the image files inside them.
//
// A file named twice (or found through two arguments) is kept once, so it
// cannot pose as two bands of one capture.
func expand(args []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		key := filepath.Clean(p)
		if abs, err := filepath.Abs(p); err == nil {
			key = abs
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, p)
		}
	}
	for _, arg := range args {
		matches, err := filepath.Glob(arg)
		if err != nil || len(matches) == 0 {
			matches = []string{arg}
		}
		for _, m := range matches {
			if m == "-" {
				return nil, errors.New("-: images are not read from standard input; save the image to a file and name that")
			}
			st, err := os.Stat(m)
			if err != nil {
				return nil, err
			}
			if !st.IsDir() {
				if err := regular(m, st); err != nil {
					return nil, err
				}
				add(m)
				continue
			}
			err = filepath.WalkDir(m, func(p string, d os.DirEntry, err error) error {
				if err != nil {
					return err
				}
				switch strings.ToLower(filepath.Ext(p)) {
				case ".jpg", ".jpeg", ".tif", ".tiff", ".png":
					if d.IsDir() {
						return nil
					}
					// Stat follows a symbolic link to what it names.
					st, err := os.Stat(p)
					if err != nil {
						return err
					}
					if err := regular(p, st); err != nil {
						return err
					}
					add(p)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func (a *cli) watch(ctx context.Context, args []string) error {
	fs := a.flags("watch")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil || fs.NArg() == 0 {
		fmt.Fprintln(a.stderr, "usage: canopy watch [--json] ID...")
		return errUsage
	}
	return a.watchIDs(ctx, fs.Args(), *asJSON)
}

// watchIDs follows every image concurrently and prints each transition.
func (a *cli) watchIDs(ctx context.Context, ids []string, asJSON bool) error {
	c, err := a.connect()
	if err != nil {
		return err
	}
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		errs   []error
		failed bool
	)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.Watch(ctx, id, func(m *canopyv1.WatchImageResponse) {
				mu.Lock()
				defer mu.Unlock()
				if asJSON {
					a.printJSON(m)
					return
				}
				img := m.GetImage()
				line := fmt.Sprintf("%s  %-10s  %s", happenedAt(m).Local().Format("15:04:05.000"), statusName(img.GetStatus()), img.GetId())
				if msg := m.GetEvent().GetMessage(); msg != "" {
					line += "  " + cell(msg)
				} else if img.GetStatus() == canopyv1.ImageStatus_IMAGE_STATUS_FAILED {
					line += "  " + cell(img.GetLastError())
				}
				fmt.Fprintln(a.stdout, line)
				if img.GetStatus() == canopyv1.ImageStatus_IMAGE_STATUS_FAILED {
					failed = true
				}
			})
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if failed {
		return errFailed
	}
	return nil
}

func (a *cli) status(ctx context.Context, args []string) error {
	fs := a.flags("status")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(a.stderr, "usage: canopy status [--json] ID")
		return errUsage
	}
	c, err := a.connect()
	if err != nil {
		return err
	}
	img, err := c.Status.GetImage(ctx, &canopyv1.GetImageRequest{ImageId: fs.Arg(0)})
	if err != nil {
		return err
	}
	if *asJSON {
		a.printJSON(img)
		return nil
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "id\t%s\n", img.GetId())
	fmt.Fprintf(w, "status\t%s\n", statusName(img.GetStatus()))
	fmt.Fprintf(w, "file\t%s (%d file(s), %s)\n", cell(img.GetFilename()), len(img.GetFiles()), humanBytes(img.GetSizeBytes()))
	fmt.Fprintf(w, "gps\t%s\n", gpsText(img.GetGps()))
	fmt.Fprintf(w, "attempts\t%d\n", img.GetAttempts())
	if img.GetLastError() != "" {
		fmt.Fprintf(w, "error\t%s\n", cell(img.GetLastError()))
	}
	fmt.Fprintf(w, "uploaded\t%s\n", img.GetUploadedAt().AsTime().Format(time.RFC3339Nano))
	if img.GetProcessedAt() != nil {
		fmt.Fprintf(w, "processed\t%s\n", img.GetProcessedAt().AsTime().Format(time.RFC3339Nano))
	}
	return w.Flush()
}

func (a *cli) result(ctx context.Context, args []string) error {
	fs := a.flags("result")
	asJSON := fs.Bool("json", false, "print the whole analysis as JSON")
	if err := parseFlags(fs, args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(a.stderr, "usage: canopy result [--json] ID")
		return errUsage
	}
	c, err := a.connect()
	if err != nil {
		return err
	}
	an, err := c.Status.GetAnalysis(ctx, &canopyv1.GetAnalysisRequest{ImageId: fs.Arg(0)})
	if err != nil {
		return err
	}
	if *asJSON {
		a.printJSON(an)
		return nil
	}
	fmt.Fprintf(a.stdout, "image %s  %dx%d  calibration %s  bands %s (%s)  map %s\n", an.GetImageId(), an.GetWidth(), an.GetHeight(),
		an.GetCalibrationMode(), strings.Join(an.GetBandRoles(), ","), an.GetBandRolesSource(), an.GetMapBlobKey())
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "index\tvalid px\tmean\tstd\tmin\tp50\tmax\tveg frac\tnote")
	for _, ix := range an.GetIndices() {
		if !ix.GetAvailable() {
			fmt.Fprintf(w, "%s\t-\t-\t-\t-\t-\t-\t-\t%s\n", ix.GetName(), cell(ix.GetReason()))
			continue
		}
		note := ""
		if ix.GetUnreliable() {
			note = "unreliable on raw DN"
		}
		fmt.Fprintf(w, "%s\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.3f\t%s\n", ix.GetName(), ix.GetValidPixels(), ix.GetMean(), ix.GetStd(),
			ix.GetMin(), ix.GetPercentiles().GetP50(), ix.GetMax(), ix.GetVegetationFraction(), note)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if al := an.GetBandAlignment(); len(al) > 0 {
		// How far each band was moved onto the reference, and how far off
		// it may still be: what to look at before trusting per-pixel
		// values near edges.
		fmt.Fprintln(a.stdout)
		w = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "band\tfile\toffset x,y px\tscale\trotation deg\tresidual px\tmax px\tpeak")
		for _, b := range al {
			if b.GetReference() {
				fmt.Fprintf(w, "%s\t%s\treference\t\t\t\t\t\n", cell(b.GetBand()), cell(b.GetFilename()))
				continue
			}
			fmt.Fprintf(w, "%s\t%s\t%.2f,%.2f\t%.4f\t%.3f\t%.2f\t%.2f\t%.3f\n", cell(b.GetBand()), cell(b.GetFilename()), b.GetOffsetX(), b.GetOffsetY(),
				b.GetScale(), b.GetRotationDeg(), b.GetResidualPx(), b.GetResidualMaxPx(), b.GetPeak())
		}
		if err := w.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(a.stdout)
	}
	w = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	for _, warn := range an.GetWarnings() {
		fmt.Fprintf(w, "warning\t%s\n", cell(warn))
	}
	return w.Flush()
}

func (a *cli) list(ctx context.Context, args []string) error {
	fs := a.flags("list")
	st := fs.String("status", "", "only images in this status: uploaded, processing, completed, failed")
	batch := fs.String("batch", "", "only this batch")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return errUsage
	}
	if err := a.noArgs(fs); err != nil {
		return err
	}
	req := &canopyv1.ListImagesRequest{BatchId: *batch}
	if *st != "" {
		v, ok := canopyv1.ImageStatus_value["IMAGE_STATUS_"+strings.ToUpper(*st)]
		if !ok {
			fmt.Fprintf(a.stderr, "canopy list: unknown status %q: use uploaded, processing, completed or failed\n", *st)
			return errUsage
		}
		req.Status = canopyv1.ImageStatus(v)
	}
	imgs, err := a.listAll(ctx, req)
	if err != nil {
		return err
	}
	if *asJSON {
		a.printJSON(&canopyv1.ListImagesResponse{Images: imgs})
		return nil
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "id\tstatus\tfile\tfiles\tsize\tuploaded")
	for _, img := range imgs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", img.GetId(), statusName(img.GetStatus()), cell(img.GetFilename()),
			len(img.GetFiles()), humanBytes(img.GetSizeBytes()), img.GetUploadedAt().AsTime().Local().Format("2006-01-02 15:04:05"))
	}
	return w.Flush()
}

func (a *cli) listAll(ctx context.Context, req *canopyv1.ListImagesRequest) ([]*canopyv1.Image, error) {
	c, err := a.connect()
	if err != nil {
		return nil, err
	}
	var out []*canopyv1.Image
	req.PageSize = 500
	for {
		resp, err := c.Status.ListImages(ctx, req)
		if err != nil {
			return nil, err
		}
		out = append(out, resp.GetImages()...)
		if resp.GetNextPageToken() == "" {
			return out, nil
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

func (a *cli) stats(ctx context.Context, args []string) error {
	fs := a.flags("stats")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return errUsage
	}
	if err := a.noArgs(fs); err != nil {
		return err
	}
	c, err := a.connect()
	if err != nil {
		return err
	}
	st, err := c.Status.GetQueueStats(ctx, &canopyv1.GetQueueStatsRequest{})
	if err != nil {
		return err
	}
	if *asJSON {
		a.printJSON(st)
		return nil
	}
	fmt.Fprintf(a.stdout, "uploaded %d  processing %d  completed %d  failed %d  (oldest waiting %.1fs)\n",
		st.GetUploaded(), st.GetProcessing(), st.GetCompleted(), st.GetFailed(), st.GetOldestUploadedAgeSeconds())
	return nil
}

func (a *cli) sample(args []string) error {
	fs := a.flags("sample")
	fs.Usage = func() { fmt.Fprintln(a.stderr, "usage: canopy sample DIR") }
	if err := parseFlags(fs, args); err != nil || fs.NArg() != 1 {
		if err == nil {
			fs.Usage()
		}
		return errUsage
	}
	paths, err := sample.Write(fs.Arg(0), 640, 480)
	if err != nil {
		return err
	}
	sort.Strings(paths)
	for _, p := range paths {
		fmt.Fprintln(a.stdout, p)
	}
	return nil
}

func (a *cli) printJSON(m proto.Message) {
	b, err := protojson.MarshalOptions{Multiline: false}.Marshal(m)
	if err != nil {
		fmt.Fprintln(a.stderr, "encode json:", err)
		return
	}
	// Re-encode through encoding/json for stable, compact output.
	var v any
	if json.Unmarshal(b, &v) == nil {
		b, _ = json.Marshal(v)
	}
	if err := a.writeJSON(b); err != nil {
		fmt.Fprintln(a.stderr, "write json:", err)
	}
}

func statusName(s canopyv1.ImageStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "IMAGE_STATUS_"))
}

func gpsText(g *canopyv1.GPS) string {
	if g == nil {
		return "none"
	}
	s := fmt.Sprintf("%.7f, %.7f", g.GetLatitude(), g.GetLongitude())
	if g.Altitude != nil {
		s += fmt.Sprintf(", %.1f m", g.GetAltitude())
	}
	s += " (" + g.GetSource() + ")"
	if !g.GetValid() {
		s += " INVALID"
	}
	if g.GetWarning() != "" {
		s += ": " + g.GetWarning()
	}
	return s
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// uploadAnalysis holds upload's analysis flags; each is sent only when given,
// so analysis-svc's defaults apply otherwise.
type uploadAnalysis struct {
	saviL, scale, takeoff *float64
	indices               []string
	panel                 *canopyv1.CalibrationPanel
	calibrateWith         string
}

func analysisFlags(fs *flag.FlagSet) *uploadAnalysis {
	u := &uploadAnalysis{}
	number := func(dst **float64) func(string) error {
		return func(v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("%q is not a number", v)
			}
			*dst = &f
			return nil
		}
	}
	fs.Func("savi-l", "SAVI soil factor L, 0..1 (default: the server's, 0.5)", number(&u.saviL))
	fs.Func("reflectance-scale", "factor that turns stored values into reflectance, e.g. 0.0001 for 0..10000", number(&u.scale))
	fs.Func("takeoff-altitude", "the take-off point's altitude in metres (the GPS altitude's datum), for areas when the camera records no relative altitude", number(&u.takeoff))
	fs.Func("indices", "compute only these indices, comma-separated, e.g. NDVI,SAVI (default: all the bands allow)", func(v string) error {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				u.indices = append(u.indices, n)
			}
		}
		return nil
	})
	fs.Func("panel", "mark the capture as a calibration-panel capture: a JSON file of the panel's reflectance and corners per band (see the README)", func(path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		u.panel = &canopyv1.CalibrationPanel{}
		if err := protojson.Unmarshal(b, u.panel); err != nil {
			return fmt.Errorf("%s is not a panel declaration: %v", path, err)
		}
		return nil
	})
	fs.StringVar(&u.calibrateWith, "calibrate-with", "", "calibrate with this panel capture: the image id of an upload made with --panel (calibration mode panel)")
	return u
}

// options is what the flags ask for, or nil when none was given.
func (u *uploadAnalysis) options() *canopyv1.AnalysisOptions {
	o := &canopyv1.AnalysisOptions{SaviL: u.saviL, ReflectanceScale: u.scale, TakeoffAltitudeM: u.takeoff, Indices: u.indices,
		Panel: u.panel, CalibrateWith: u.calibrateWith}
	if proto.Size(o) == 0 {
		return nil
	}
	return o
}

// happenedAt is when a watch update's change happened, not when it arrived
// (a watch resumed after a restart, or of a finished image, gets old news):
// the event's time, or for the current state the time of its status.
func happenedAt(m *canopyv1.WatchImageResponse) time.Time {
	if t := m.GetEvent().GetTime(); t != nil {
		return t.AsTime()
	}
	img := m.GetImage()
	t := img.GetUploadedAt()
	switch img.GetStatus() {
	case canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED, canopyv1.ImageStatus_IMAGE_STATUS_FAILED:
		t = img.GetProcessedAt()
	case canopyv1.ImageStatus_IMAGE_STATUS_PROCESSING:
		t = img.GetProcessingStartedAt()
	}
	if t == nil {
		return time.Now()
	}
	return t.AsTime()
}
