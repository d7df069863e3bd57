// Package restupload takes an image over plain HTTP, as a raw request body
// or as a multipart/form-data form (the older Flask API's shape: a file and
// latitude/longitude/altitude fields), and streams it straight into the
// UploadImage gRPC stream chunk by chunk, so nothing is held whole in
// memory and every rule of the gRPC upload applies unchanged.
package restupload

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/canopyag/canopy/cli/client"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/auth"
)

// Uploader is the ingest API, reached over gRPC like any client.
type Uploader = canopyv1.IngestServiceClient

// Handler serves POST /v1/images:upload for raw and multipart bodies and
// passes JSON (the gateway's newline-delimited stream of UploadImageRequest
// messages) to the gateway.
type Handler struct {
	up      Uploader
	gateway http.Handler
	opt     Options
}

// Options are the upload limits the HTTP side applies itself, because
// the gRPC side cannot reach a handler blocked reading a silent body.
type Options struct {
	// MaxBytes is ingest-svc's MAX_UPLOAD_BYTES: a request that declares a
	// larger body is refused before it is read (the upload itself enforces
	// the limit on what arrives). 0 checks nothing here.
	MaxBytes int64
	// Idle is UPLOAD_IDLE_TIMEOUT: a body that sends nothing for this
	// long is answered and its connection closed (0: no limit).
	Idle time.Duration
	// Stopping ends when ingest-svc starts shutting down; an upload still
	// running Grace later (less a second to answer in) is ended with
	// Unavailable before the HTTP server closes its connection unanswered.
	Stopping context.Context
	Grace    time.Duration
}

// Wrap returns a function for server.HandleBeforeGateway.
func Wrap(up Uploader, opt Options) func(gateway http.Handler) http.Handler {
	return func(gateway http.Handler) http.Handler {
		return &Handler{up: up, gateway: gateway, opt: opt}
	}
}

// formSlack allows for a multipart form's own framing and fields.
const formSlack = 1 << 20

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mediaType, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, status.Newf(codes.Unimplemented, "%s %s: uploads are POST", r.Method, r.URL.Path).Proto())
		return
	case h.opt.MaxBytes > 0 && r.ContentLength > h.opt.MaxBytes+formSlack:
		tooLarge(w, status.Newf(codes.ResourceExhausted, "the request declares %d bytes; uploads are limited to %d (MAX_UPLOAD_BYTES)", r.ContentLength, h.opt.MaxBytes))
		return
	case mediaType == "application/json" || mediaType == "application/x-ndjson":
		// The gateway's form: newline-delimited UploadImageRequest messages.
		// A file sent with a JSON type would fail there with a parse error
		// about its first byte; say what to send instead.
		br := bufio.NewReader(r.Body)
		if b, err := br.Peek(1); err == nil && b[0] != '{' && b[0] != ' ' && b[0] != '\n' && b[0] != '\r' && b[0] != '\t' {
			writeError(w, status.Errorf(codes.InvalidArgument, "a %s body must be newline-delimited upload messages ({\"metadata\": ...} then {\"chunk\": ...}); to send the file itself, give it its own type, such as image/jpeg or image/tiff", mediaType))
			return
		}
		r.Body = struct {
			io.Reader
			io.Closer
		}{br, r.Body}
		h.gateway.ServeHTTP(w, r)
	case mediaType == "multipart/form-data":
		dr, done := h.body(w, r)
		defer done()
		h.multipart(w, r, params["boundary"], dr)
	default:
		dr, done := h.body(w, r)
		defer done()
		h.raw(w, r, dr)
	}
}

// body puts a deadlineReader in front of r.Body. The gRPC side ends a
// silent upload after the idle timeout, but this handler, blocked reading
// the body, would never know: it would hold the connection, unanswered,
// for as long as the client keeps it. So every read has the idle timeout
// as its deadline, and a shutdown still under way Grace later (less a
// second to answer in) moves it to now. done ends the watch for shutdown.
func (h *Handler) body(w http.ResponseWriter, r *http.Request) (dr *deadlineReader, done func()) {
	dr = &deadlineReader{r: r.Body, rc: http.NewResponseController(w), idle: h.opt.Idle}
	r.Body = struct {
		io.Reader
		io.Closer
	}{dr, r.Body}
	if h.opt.Stopping == nil {
		return dr, func() {}
	}
	answered := make(chan struct{})
	stop := context.AfterFunc(h.opt.Stopping, func() {
		t := time.NewTimer(max(0, h.opt.Grace-time.Second))
		defer t.Stop()
		select {
		case <-t.C:
			dr.stop()
		case <-answered:
		}
	})
	return dr, func() { stop(); close(answered) }
}

// raw takes the body as the file; metadata comes from the query string
// (or X-Canopy-* headers, for clients that cannot set a query).
func (h *Handler) raw(w http.ResponseWriter, r *http.Request, dr *deadlineReader) {
	if err := knownNames(r.URL.Query()); err != nil {
		writeError(w, err)
		return
	}
	md, err := metadata(func(name string) string {
		if v := r.URL.Query().Get(name); v != "" {
			return v
		}
		return r.Header.Get("X-Canopy-" + strings.ReplaceAll(name, "_", "-"))
	})
	if err != nil {
		writeError(w, err)
		return
	}
	if md.Files[0].Filename == "" {
		if _, p, err := mime.ParseMediaType(r.Header.Get("Content-Disposition")); err == nil {
			md.Files[0].Filename = p["filename"]
		}
	}
	if md.Files[0].Filename == "" {
		writeError(w, status.Error(codes.InvalidArgument, "filename is required: add ?filename=NAME (or a Content-Disposition header)"))
		return
	}
	md.Files[0].ContentType = r.Header.Get("Content-Type")
	h.stream(w, r, md, r.Body, dr)
}

// multipart reads the form's fields up to its file part, then streams the
// file. Fields must come before the file: reading past it would mean
// holding the whole file.
func (h *Handler) multipart(w http.ResponseWriter, r *http.Request, boundary string, dr *deadlineReader) {
	if boundary == "" {
		writeError(w, status.Error(codes.InvalidArgument, "multipart/form-data without a boundary"))
		return
	}
	mr := multipart.NewReader(r.Body, boundary)
	fields := url.Values{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			writeError(w, status.Error(codes.InvalidArgument, `the form has no file: send the image as a part named "file"`))
			return
		}
		if err != nil {
			h.fail(w, dr, status.Errorf(codes.InvalidArgument, "read form: %v", err), err)
			return
		}
		if part.FileName() == "" && part.FormName() != "file" {
			v, err := io.ReadAll(io.LimitReader(part, 4096))
			if err != nil {
				h.fail(w, dr, status.Errorf(codes.InvalidArgument, "read form field %s: %v", part.FormName(), err), err)
				return
			}
			fields.Add(part.FormName(), string(v))
			continue
		}
		if err := knownNames(r.URL.Query()); err != nil {
			writeError(w, err)
			return
		}
		if err := knownNames(fields); err != nil {
			writeError(w, err)
			return
		}
		md, err := metadata(func(name string) string {
			if _, ok := fields[name]; ok {
				return fields.Get(name)
			}
			return r.URL.Query().Get(name)
		})
		if err != nil {
			writeError(w, err)
			return
		}
		if md.Files[0].Filename == "" {
			md.Files[0].Filename = part.FileName()
		}
		if md.Files[0].Filename == "" {
			md.Files[0].Filename = "upload"
		}
		md.Files[0].ContentType = part.Header.Get("Content-Type")
		h.stream(w, r, md, &lastPart{Reader: part, form: mr}, dr)
		return
	}
}

// lastPart reads the file part and, at its end, checks that nothing
// follows: a field after the file would otherwise be silently lost, so
// the upload is abandoned (and nothing stored) instead.
type lastPart struct {
	io.Reader
	form *multipart.Reader
}

func (p *lastPart) Read(b []byte) (int, error) {
	n, err := p.Reader.Read(b)
	if !errors.Is(err, io.EOF) {
		return n, err
	}
	next, nerr := p.form.NextPart()
	switch {
	case errors.Is(nerr, io.EOF):
		return n, io.EOF
	case nerr != nil:
		return n, status.Errorf(codes.InvalidArgument, "read form: %v", nerr)
	}
	return n, status.Errorf(codes.InvalidArgument, "form part %q comes after the file: send the fields first, then one file", next.FormName())
}

// params are the names metadata reads, as query parameters or form
// fields.
var params = []string{
	"filename", "client_upload_id", "batch_id", "band_layout", "capture_time",
	"latitude", "longitude", "altitude",
	"savi_l", "reflectance_scale", "takeoff_altitude_m", "indices", "panel", "calibrate_with",
}

// knownNames refuses a name metadata does not read, or one given more
// than once: a misspelt setting (savil=0.9) was dropped without a word
// and the upload analysed with the default, and of a repeated one only
// the first counted.
func knownNames(values url.Values) error {
	for name, vs := range values {
		if !slices.Contains(params, name) {
			return status.Errorf(codes.InvalidArgument, "unknown parameter %q; the upload takes %s", name, strings.Join(params, ", "))
		}
		if len(vs) > 1 {
			return status.Errorf(codes.InvalidArgument, "parameter %q is given %d times; give it once", name, len(vs))
		}
	}
	return nil
}

// metadata builds the upload's metadata from named values; the names are
// the proto field names, with latitude/longitude/altitude as in the older
// Flask API.
func metadata(get func(string) string) (*canopyv1.UploadMetadata, error) {
	md := &canopyv1.UploadMetadata{
		Files:          []*canopyv1.FileSpec{{Filename: get("filename")}},
		ClientUploadId: get("client_upload_id"),
		BatchId:        get("batch_id"),
		BandLayout:     get("band_layout"),
	}
	if v := get("capture_time"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "capture_time %q: want RFC 3339, like 2026-06-01T10:30:00Z", v)
		}
		md.CaptureTime = timestamppb.New(t)
	}
	opts, err := analysisOptions(get)
	if err != nil {
		return nil, err
	}
	md.Analysis = opts
	lat, lon, alt := get("latitude"), get("longitude"), get("altitude")
	if lat == "" && lon == "" && alt == "" {
		return md, nil
	}
	if lat == "" || lon == "" {
		return nil, status.Error(codes.InvalidArgument, "latitude and longitude go together: send both or neither")
	}
	gps := &canopyv1.GPSOverride{}
	for _, f := range []struct {
		name, v string
		into    *float64
	}{{"latitude", lat, &gps.Latitude}, {"longitude", lon, &gps.Longitude}} {
		x, err := strconv.ParseFloat(f.v, 64)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "%s %q is not a number", f.name, f.v)
		}
		*f.into = x
	}
	if alt != "" {
		x, err := strconv.ParseFloat(alt, 64)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "altitude %q is not a number", alt)
		}
		gps.Altitude = &x
	}
	md.Gps = gps
	return md, nil
}

// analysisOptions reads savi_l, reflectance_scale, takeoff_altitude_m,
// indices (comma separated), panel (a CalibrationPanel in JSON) and
// calibrate_with (an image id); ingest-svc checks their values like those of a gRPC upload.
func analysisOptions(get func(string) string) (*canopyv1.AnalysisOptions, error) {
	o := &canopyv1.AnalysisOptions{}
	for _, f := range []struct {
		name string
		into **float64
	}{{"savi_l", &o.SaviL}, {"reflectance_scale", &o.ReflectanceScale}, {"takeoff_altitude_m", &o.TakeoffAltitudeM}} {
		if v := get(f.name); v != "" {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, status.Errorf(codes.InvalidArgument, "%s %q is not a number", f.name, v)
			}
			*f.into = &x
		}
	}
	for _, n := range strings.Split(get("indices"), ",") {
		if n = strings.TrimSpace(n); n != "" {
			o.Indices = append(o.Indices, n)
		}
	}
	o.CalibrateWith = strings.TrimSpace(get("calibrate_with"))
	if v := get("panel"); v != "" {
		// The declaration as JSON: {"bands": [{"band": "NIR", "reflectance": 0.61, "corners": [{"x": 829, "y": 658}, ...]}, ...]}.
		o.Panel = &canopyv1.CalibrationPanel{}
		if err := protojson.Unmarshal([]byte(v), o.Panel); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "panel is not a panel declaration in JSON, like {\"bands\": [{\"band\": \"NIR\", \"reflectance\": 0.61, \"corners\": [{\"x\": 829, \"y\": 658}, ...]}]}: %v", err)
		}
	}
	if proto.Size(o) == 0 { // nothing given
		return nil, nil
	}
	return o, nil
}

// stream sends md then body through the Go client's upload (the same
// chunking and early-answer handling as every other client), and answers
// with the server's reply.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, md *canopyv1.UploadMetadata, body io.Reader, dr *deadlineReader) {
	// r.Context ends when the HTTP client goes away: the stream is then
	// cancelled and ingest stores nothing.
	c := &client.Client{Ingest: h.up}
	// The caller's Authorization header goes along, so the gRPC side
	// authenticates this upload exactly like a direct one.
	resp, err := c.Upload(auth.ForwardHTTP(r.Context(), r), md, []io.Reader{body}, client.UploadOptions{})
	if err != nil {
		h.fail(w, dr, err, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// fail answers a failed upload with err, or, when reading the body failed
// (cause) because dr's deadline passed, with why: ingest-svc shutting
// down, or the client silent for the idle timeout. Either way the body
// is unread, so the connection cannot carry another request.
func (h *Handler) fail(w http.ResponseWriter, dr *deadlineReader, err, cause error) {
	switch {
	case dr.stopped():
		w.Header().Set("Connection", "close")
		writeError(w, status.Error(codes.Unavailable, "ingest-svc is shutting down; nothing was stored, upload again"))
	case errors.Is(cause, os.ErrDeadlineExceeded) || dr.timedOut():
		// Whichever side noticed first: the gRPC side's answer to the
		// same silence is ResourceExhausted, a 429 that invites a retry.
		w.Header().Set("Connection", "close")
		writeJSON(w, http.StatusRequestTimeout, status.Newf(codes.DeadlineExceeded,
			"nothing received for %s (UPLOAD_IDLE_TIMEOUT): upload ended; nothing was stored", h.opt.Idle).Proto())
	case status.Code(err) == codes.ResourceExhausted && h.opt.MaxBytes > 0 && dr.bytesRead() > h.opt.MaxBytes:
		w.Header().Set("Connection", "close")
		tooLarge(w, statusOf(err))
	default:
		writeError(w, err)
	}
}

// tooLarge answers an upload over MAX_UPLOAD_BYTES with 413: the code the
// gateway gives ResourceExhausted, 429, tells a client to try the same
// request again later, which cannot succeed.
func tooLarge(w http.ResponseWriter, st *status.Status) {
	writeJSON(w, http.StatusRequestEntityTooLarge, st.Proto())
}

// deadlineReader reads an HTTP request body with a read deadline of idle
// from each read, or one already past once stop is called.
type deadlineReader struct {
	r        io.Reader
	rc       *http.ResponseController
	idle     time.Duration
	mu       sync.Mutex
	done     bool  // stop was called
	deadline bool  // a read ended at its deadline
	n        int64 // bytes read
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	d.mu.Lock()
	if d.done {
		d.mu.Unlock()
		return 0, os.ErrDeadlineExceeded
	}
	if d.idle > 0 {
		// Not every connection supports deadlines (HTTP/2 may not); it
		// then reads as before.
		_ = d.rc.SetReadDeadline(time.Now().Add(d.idle))
	}
	d.mu.Unlock()
	n, err := d.r.Read(p)
	d.mu.Lock()
	d.n += int64(n)
	d.deadline = d.deadline || errors.Is(err, os.ErrDeadlineExceeded)
	d.mu.Unlock()
	return n, err
}

func (d *deadlineReader) bytesRead() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

func (d *deadlineReader) timedOut() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.deadline
}

func (d *deadlineReader) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done = true
	_ = d.rc.SetReadDeadline(time.Now())
}

func (d *deadlineReader) stopped() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.done
}

// writeError answers like the gateway does: the HTTP code for the gRPC code
// and a google.rpc.Status body.
func writeError(w http.ResponseWriter, err error) {
	st := statusOf(err)
	writeJSON(w, runtime.HTTPStatusFromCode(st.Code()), st.Proto())
}

// statusOf is the gRPC status err carries, not status.Convert's: that
// folds any wrapping text into the message ("upload: rpc error: code =
// ..."). An error without one is the caller's: InvalidArgument.
func statusOf(err error) *status.Status {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus()
	}
	return status.New(codes.InvalidArgument, err.Error())
}

func writeJSON(w http.ResponseWriter, code int, m proto.Message) {
	b, err := protojson.Marshal(m)
	if err != nil {
		http.Error(w, fmt.Sprintf("encode response: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
