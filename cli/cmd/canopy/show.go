package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// show prints one image with its analysis: what a person at the ground
// station wants to see about one photo.
func (a *cli) show(ctx context.Context, args []string) error {
	fs := a.flags("show")
	asJSON := fs.Bool("json", false, `print {"image": ..., "analysis": ...} (analysis null until the image is completed)`)
	if err := parseFlags(fs, args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(a.stderr, "usage: canopy show [--json] ID")
		return errUsage
	}
	c, err := a.connect()
	if err != nil {
		return err
	}
	id := fs.Arg(0)
	img, err := c.Status.GetImage(ctx, &canopyv1.GetImageRequest{ImageId: id})
	if err != nil {
		return err
	}
	var an *canopyv1.Analysis
	if img.GetStatus() == canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED {
		an, err = c.Status.GetAnalysis(ctx, &canopyv1.GetAnalysisRequest{ImageId: id})
		if err != nil && status.Code(err) != codes.NotFound {
			return err
		}
	}
	if *asJSON {
		out := struct {
			Image    json.RawMessage `json:"image"`
			Analysis json.RawMessage `json:"analysis"`
		}{Image: protoJSON(img), Analysis: json.RawMessage("null")}
		if an != nil {
			out.Analysis = protoJSON(an)
		}
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		return a.writeJSON(b)
	}

	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "id\t%s\n", img.GetId())
	fmt.Fprintf(w, "file\t%s (%d file(s), %s)\n", cell(img.GetFilename()), len(img.GetFiles()), humanBytes(img.GetSizeBytes()))
	if img.GetBatchId() != "" {
		fmt.Fprintf(w, "batch\t%s\n", cell(img.GetBatchId()))
	}
	fmt.Fprintf(w, "status\t%s (attempts %d)\n", statusName(img.GetStatus()), img.GetAttempts())
	if img.GetLastError() != "" {
		fmt.Fprintf(w, "error\t%s\n", cell(img.GetLastError()))
	}
	fmt.Fprintf(w, "gps\t%s\n", gpsText(img.GetGps()))
	if img.GetCaptureTime() != nil {
		fmt.Fprintf(w, "captured\t%s\n", img.GetCaptureTime().AsTime().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "uploaded\t%s\n", img.GetUploadedAt().AsTime().Format(time.RFC3339))
	if an == nil {
		return w.Flush()
	}
	cam := strings.TrimSpace(an.GetCapture().GetMake() + " " + an.GetCapture().GetModel())
	if cam != "" {
		fmt.Fprintf(w, "camera\t%s\n", cam)
	}
	fmt.Fprintf(w, "size\t%d x %d px, bands %s (%s), calibration %s\n", an.GetWidth(), an.GetHeight(),
		strings.Join(an.GetBandRoles(), ","), an.GetBandRolesSource(), an.GetCalibrationMode())
	if an.GsdM != nil {
		fmt.Fprintf(w, "gsd\t%.3f m/px (%s)\n", an.GetGsdM(), an.GetGsdSource())
	}
	if err := w.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(a.stdout)
	w = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "index\tmean\tp50\tveg frac\tbare/water\tstressed\tmoderate\thealthy\tnote")
	for _, ix := range an.GetIndices() {
		if !ix.GetAvailable() {
			fmt.Fprintf(w, "%s\t-\t-\t-\t-\t-\t-\t-\t%s\n", ix.GetName(), cell(ix.GetReason()))
			continue
		}
		shares := map[string]string{}
		for _, hc := range ix.GetHealthClasses() {
			shares[hc.GetName()] = fmt.Sprintf("%.1f%%", hc.GetFraction()*100)
		}
		cell := func(name string) string {
			if s, ok := shares[name]; ok {
				return s
			}
			return "-"
		}
		note := ""
		if ix.GetUnreliable() {
			note = "unreliable: " + ix.GetReason()
		}
		if ix.GetName() == an.GetMapIndex() {
			note = strings.TrimSpace("colour map " + note)
		}
		fmt.Fprintf(w, "%s\t%.4f\t%.4f\t%.3f\t%s\t%s\t%s\t%s\t%s\n", ix.GetName(), ix.GetMean(), ix.GetPercentiles().GetP50(),
			ix.GetVegetationFraction(), cell("bare_or_water"), cell("stressed"), cell("moderate"), cell("healthy"), note)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(an.GetWarnings()) > 0 {
		fmt.Fprintln(a.stdout)
		for _, warn := range an.GetWarnings() {
			fmt.Fprintf(a.stdout, "warning: %s\n", cell(warn))
		}
	}
	if outs := outputsOf(an); len(outs) > 0 {
		// One line per kind; `canopy download --list ID` has the keys.
		var kinds []string
		byKind := map[string][]string{}
		for _, o := range outs {
			if _, ok := byKind[o.GetKind()]; !ok {
				kinds = append(kinds, o.GetKind())
			}
			byKind[o.GetKind()] = append(byKind[o.GetKind()], o.GetIndex())
		}
		fmt.Fprintln(a.stdout)
		w = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		for _, k := range kinds {
			ix := strings.Join(byKind[k], " ")
			if strings.TrimSpace(ix) == "" {
				// Not of an index (the thumbnail): say how many there are,
				// where "-" read as none.
				ix = fmt.Sprintf("%d file(s)", len(byKind[k]))
			}
			fmt.Fprintf(w, "output %s\t%s\n", k, ix)
		}
		fmt.Fprintf(w, "\t(canopy download [--kind KIND] [--index INDEX] %s; --list for the blob keys)\n", an.GetImageId())
		return w.Flush()
	}
	return nil
}

// protoJSON encodes m with the proto JSON names (lowerCamelCase, 64-bit
// integers as strings), as the REST API does.
func protoJSON(m proto.Message) json.RawMessage {
	b, err := protojson.Marshal(m)
	if err != nil {
		return json.RawMessage("null")
	}
	return json.RawMessage(b)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
