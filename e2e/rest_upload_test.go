package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/canopyag/canopy/cli/sample"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/database/dbtest"
)

type uploadReply struct {
	ImageID   string `json:"imageId"`
	SizeBytes string `json:"sizeBytes"`
	Sha256    string `json:"sha256"`
	Status    string `json:"status"`
	Code      int    `json:"code"`
	Message   string `json:"message"`
}

func postUpload(t *testing.T, url, contentType string, body io.Reader) (int, uploadReply) {
	t.Helper()
	resp, err := http.Post(url, contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r uploadReply
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("POST %s: %d %q is not JSON: %v", url, resp.StatusCode, b, err)
	}
	return resp.StatusCode, r
}

// Uploading over plain HTTP: a raw body with metadata in the query, and the
// older Flask API's multipart form (file plus latitude/longitude/altitude).
func TestRESTUpload(t *testing.T) {
	s := newStack(t, "local", map[string]string{"MAX_UPLOAD_BYTES": "100000"})
	paths, err := sample.Write(t.TempDir(), 64, 48)
	if err != nil {
		t.Fatal(err)
	}
	jpeg, err := os.ReadFile(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(jpeg)
	wantSHA := hex.EncodeToString(sum[:])
	base := "http://" + s.ingestHTTP + "/v1/images:upload"

	code, raw := postUpload(t, base+"?filename=field.jpg&batch_id=rest&latitude=39.90896&longitude=-122.09125", "image/jpeg", bytes.NewReader(jpeg))
	if code != http.StatusOK || raw.Status != "IMAGE_STATUS_UPLOADED" || raw.Sha256 != wantSHA || raw.SizeBytes != fmt.Sprint(len(jpeg)) {
		t.Fatalf("raw upload: HTTP %d %+v; want 200, uploaded, sha %s, %d bytes", code, raw, wantSHA, len(jpeg))
	}

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	for k, v := range map[string]string{"latitude": "-33.5", "longitude": "151.25", "altitude": "80"} {
		_ = mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "plot 7.jpg")
	_, _ = fw.Write(jpeg)
	_ = mw.Close()
	code, mp := postUpload(t, base, mw.FormDataContentType(), &form)
	if code != http.StatusOK || mp.Sha256 != wantSHA || mp.ImageID == raw.ImageID {
		t.Fatalf("multipart upload: HTTP %d %+v", code, mp)
	}

	// Analysis options as query parameters, index names in any case.
	code, opt := postUpload(t, base+"?filename=opts.jpg&batch_id=rest-opts&savi_l=0.25&indices=NDVI,gndvi", "image/jpeg", bytes.NewReader(jpeg))
	if code != http.StatusOK || opt.ImageID == "" {
		t.Fatalf("upload with options: HTTP %d %+v", code, opt)
	}

	// What was recorded: the names and positions the requests gave.
	db, err := pgx.Connect(context.Background(), s.env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	var stored struct {
		SaviL   *float64 `json:"saviL"`
		Indices []string `json:"indices"`
	}
	if err := db.QueryRow(context.Background(), `SELECT analysis_options FROM images WHERE id = $1`, opt.ImageID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored.SaviL == nil || *stored.SaviL != 0.25 || strings.Join(stored.Indices, ",") != "NDVI,GNDVI" {
		t.Errorf("stored analysis options %+v, want savi_l 0.25 and NDVI,GNDVI", stored)
	}
	for _, c := range []struct {
		id, filename, source string
		lat, lon             float64
		alt                  *float64
	}{
		{raw.ImageID, "field.jpg", "client", 39.90896, -122.09125, nil},
		{mp.ImageID, "plot 7.jpg", "client", -33.5, 151.25, ptr(80.0)},
	} {
		var filename, source string
		var lat, lon float64
		var alt *float64
		err := db.QueryRow(context.Background(), `SELECT i.filename, g.source, g.latitude, g.longitude, g.altitude
			FROM images i JOIN image_gps g ON g.image_id = i.id WHERE i.id = $1`, c.id).Scan(&filename, &source, &lat, &lon, &alt)
		if err != nil {
			t.Fatalf("%s: %v", c.id, err)
		}
		if filename != c.filename || source != c.source || lat != c.lat || lon != c.lon || (alt == nil) != (c.alt == nil) || (alt != nil && *alt != *c.alt) {
			t.Errorf("recorded %q %s (%v, %v, %v); want %q %s (%v, %v, %v)", filename, source, lat, lon, alt, c.filename, c.source, c.lat, c.lon, c.alt)
		}
	}

	// Refusals carry the gRPC reason, with the matching HTTP code.
	var late bytes.Buffer
	mw = multipart.NewWriter(&late)
	fw, _ = mw.CreateFormFile("file", "a.jpg")
	_, _ = fw.Write(jpeg)
	_ = mw.WriteField("latitude", "1")
	_ = mw.Close()
	for _, c := range []struct {
		name, url, ctype string
		body             io.Reader
		want             int
		inMessage        string
	}{
		{"no filename", base, "image/jpeg", bytes.NewReader(jpeg), 400, "filename is required"},
		{"half a position", base + "?filename=a.jpg&latitude=1", "image/jpeg", bytes.NewReader(jpeg), 400, "latitude and longitude go together"},
		{"latitude NaN", base + "?filename=a.jpg&latitude=NaN&longitude=1", "image/jpeg", bytes.NewReader(jpeg), 400, "(NaN, 1) is out of range"},
		{"latitude 91", base + "?filename=a.jpg&latitude=91&longitude=1", "image/jpeg", bytes.NewReader(jpeg), 400, "(91, 1) is out of range"},
		{"altitude NaN", base + "?filename=a.jpg&latitude=1&longitude=1&altitude=NaN", "image/jpeg", bytes.NewReader(jpeg), 400, "NaN m is out of range"},
		{"altitude in space", base + "?filename=a.jpg&latitude=1&longitude=1&altitude=400000", "image/jpeg", bytes.NewReader(jpeg), 400, "400000 m is out of range"},
		{"text posing as an image", base + "?filename=a.jpg", "image/jpeg", strings.NewReader("hello, this is not a picture"), 400, "not a JPEG, TIFF or PNG"},
		{"over the size limit", base + "?filename=big.jpg", "image/jpeg", io.MultiReader(bytes.NewReader(jpeg), bytes.NewReader(make([]byte, 200000))), 413, "limit"},
		{"a field after the file", base, mw.FormDataContentType(), &late, 400, "comes after the file"},
		{"form without a file", base, "multipart/form-data; boundary=xyz", strings.NewReader("--xyz--\r\n"), 400, "no file"},
		{"L not a number", base + "?filename=a.jpg&savi_l=half", "image/jpeg", bytes.NewReader(jpeg), 400, `savi_l "half" is not a number`},
		{"L above 1", base + "?filename=a.jpg&savi_l=2", "image/jpeg", bytes.NewReader(jpeg), 400, "soil factor L is 0..1"},
		{"unknown index", base + "?filename=a.jpg&indices=NDVI,NDWI", "image/jpeg", bytes.NewReader(jpeg), 400, `"NDWI" is not an index`},
		// Misspelt, a setting was dropped without a word.
		{"misspelt setting", base + "?filename=a.jpg&savil=0.9", "image/jpeg", bytes.NewReader(jpeg), 400, `unknown parameter "savil"`},
		// Repeated, only the first counted, without a word.
		{"a setting twice", base + "?filename=a.jpg&savi_l=0.9&savi_l=0.2", "image/jpeg", bytes.NewReader(jpeg), 400, `"savi_l" is given 2 times`},
		// Not UTF-8: they failed to marshal, as HTTP 500 Internal.
		{"a file name that is not UTF-8", base + "?filename=%FF%FE.jpg", "image/jpeg", bytes.NewReader(jpeg), 400, "metadata.files[0].filename: is not UTF-8 text"},
		{"a batch id that is not UTF-8", base + "?filename=a.jpg&batch_id=%FF", "image/jpeg", bytes.NewReader(jpeg), 400, "metadata.batch_id: is not UTF-8 text"},
	} {
		code, r := postUpload(t, c.url, c.ctype, c.body)
		if code != c.want || !strings.Contains(r.Message, c.inMessage) {
			t.Errorf("%s: HTTP %d %q; want %d with %q", c.name, code, r.Message, c.want, c.inMessage)
		}
		// The status's own message, not a Go error's text around it
		// (a fresh-user test found "upload: rpc error: code = ..." on 413).
		if strings.Contains(r.Message, "rpc error") {
			t.Errorf("%s: message %q carries a wrapped Go error's text", c.name, r.Message)
		}
	}
	// A JPEG sent as JSON is told what to send instead.
	if code, r := postUpload(t, base+"?filename=a.jpg", "application/json", bytes.NewReader(jpeg)); code != 400 || !strings.Contains(r.Message, "give it its own type, such as image/jpeg") {
		t.Errorf("JPEG as application/json: HTTP %d %q", code, r.Message)
	}
	// A GET of the upload route is 405 with Allow: POST, not the gateway's 501.
	if resp, err := http.Get(base); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Errorf("GET %s: HTTP %d, Allow %q; want 405, POST", base, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	// A body declared far beyond MAX_UPLOAD_BYTES is refused before any of
	// it is read (raw socket: Go's client will not send a length it lacks).
	conn, err := net.Dial("tcp", s.ingestHTTP)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "POST /v1/images:upload?filename=huge.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 99999999999999\r\n\r\n\xff\xd8\xff")
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 413") {
		t.Errorf("declared 99999999999999 bytes: %q, %v; want an immediate 413", line, err)
	}

	// Only the three good uploads were recorded.
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM images`).Scan(&n); err != nil || n != 3 {
		t.Errorf("%d images recorded (err %v), want 3", n, err)
	}
}

func ptr[T any](v T) *T { return &v }

// JSON cannot carry 64-bit integers exactly as numbers; the API sends them
// as strings, so a size of 2^53+1 bytes survives the trip.
func TestRESTInt64AsString(t *testing.T) {
	s := newStack(t, "local")
	db, err := pgx.Connect(context.Background(), s.env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	id := uuid.NewString()
	if _, err := db.Exec(context.Background(), `INSERT INTO images (id, filename, size_bytes, status, max_attempts)
		VALUES ($1, 'huge.tif', 9007199254740993, 'failed', 1)`, id); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + s.statusHTTP + "/v1/images/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var img map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&img); err != nil {
		t.Fatal(err)
	}
	if img["sizeBytes"] != "9007199254740993" {
		t.Errorf("sizeBytes = %#v, want the string \"9007199254740993\"", img["sizeBytes"])
	}
}

// Watching in a browser: Server-Sent Events with the sequence number as the
// event id, resumable with Last-Event-ID, closed by an "end" event.
func TestSSEWatch(t *testing.T) {
	s := newStack(t, "local")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	paths, err := sample.Write(t.TempDir(), 64, 48)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	code, up := postUpload(t, "http://"+s.ingestHTTP+"/v1/images:upload?filename="+filepath.Base(paths[1]), "image/jpeg", f)
	if code != http.StatusOK {
		t.Fatalf("upload: %d %+v", code, up)
	}

	open := func(id, lastEventID string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.statusHTTP+"/v1/images/"+id+":watch", nil)
		req.Header.Set("Accept", "text/event-stream")
		if lastEventID != "" {
			req.Header.Set("Last-Event-ID", lastEventID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// An unknown id is a 404 before any event.
	if r := open(uuid.NewString(), ""); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown id: HTTP %d, want 404", r.StatusCode)
	} else {
		r.Body.Close()
	}

	r := open(up.ImageID, "")
	defer r.Body.Close()
	if ct := r.Header.Get("Content-Type"); r.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("HTTP %d, Content-Type %q", r.StatusCode, ct)
	}
	s.startAnalysis()
	events := readSSE(t, r.Body)
	var got []string
	var ids []string
	for _, e := range events {
		if e.name == "update" {
			var m struct {
				Image struct{ Status string } `json:"image"`
			}
			if err := json.Unmarshal([]byte(e.data), &m); err != nil {
				t.Fatalf("event data %q: %v", e.data, err)
			}
			got = append(got, m.Image.Status)
			ids = append(ids, e.id)
		} else {
			got = append(got, e.name)
		}
	}
	if strings.Join(got, ",") != "IMAGE_STATUS_UPLOADED,IMAGE_STATUS_PROCESSING,IMAGE_STATUS_COMPLETED,end" {
		t.Fatalf("events %v", got)
	}
	// Resuming after the first event replays the two that followed it.
	r2 := open(up.ImageID, ids[0])
	defer r2.Body.Close()
	var resumed []string
	for _, e := range readSSE(t, r2.Body) {
		resumed = append(resumed, e.id)
	}
	if strings.Join(resumed, ",") != strings.Join(append(ids[1:], ""), ",") {
		t.Errorf("resumed after %s: event ids %v, want %v then the end", ids[0], resumed, ids[1:])
	}

	// The services' /metrics tell the same story: one upload, picked up
	// once and completed; one watch refused for an unknown id.
	for url, want := range map[string][]string{
		"http://" + s.ingestHTTP + "/metrics": {
			`canopy_images{status="completed"} 1`,
			`canopy_images{status="uploaded"} 0`,
			`canopy_claim_pickup_seconds_count 1`,
			`canopy_uploads_total{result="stored"} 1`,
			"canopy_upload_bytes_total " + up.SizeBytes,
			`canopy_rpc_handled_total{code="OK",method="/canopy.v1.IngestService/UploadImage"} 1`,
			`canopy_rpc_handled_total{code="OK",method="/canopy.v1.WorkService/CompleteWork"} 1`,
			`canopy_listen_connected 1`,
		},
		"http://" + s.statusHTTP + "/metrics": {
			`canopy_rpc_handled_total{code="NotFound",method="/canopy.v1.StatusService/WatchImage"} 1`,
			`canopy_rpc_handled_total{code="OK",method="/canopy.v1.StatusService/WatchImage"} 2`,
			`canopy_listen_connected 1`,
		},
	} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range want {
			if !strings.Contains(string(body), "\n"+line+"\n") {
				t.Errorf("%s lacks the line %q", url, line)
			}
		}
	}

	// A browser reconnecting right after the terminal event gets the end
	// at once, not a stream that waits forever; gRPC likewise. A sequence
	// number this image never had is refused.
	last := ids[len(ids)-1]
	r3 := open(up.ImageID, last)
	defer r3.Body.Close()
	if evs := readSSE(t, r3.Body); len(evs) != 1 || evs[0].name != "end" {
		t.Errorf("resumed after the terminal event %s: %v, want just the end", last, evs)
	}
	lastSeq, _ := strconv.ParseInt(last, 10, 64)
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	st, err := s.client.Status.WatchImage(wctx, &canopyv1.WatchImageRequest{ImageId: up.ImageID, AfterSeq: lastSeq})
	if err != nil {
		t.Fatal(err)
	}
	if msg, err := st.Recv(); err != io.EOF {
		t.Errorf("gRPC watch after the terminal event: %v, %v; want the stream to end at once", msg, err)
	}
	st, err = s.client.Status.WatchImage(wctx, &canopyv1.WatchImageRequest{ImageId: up.ImageID, AfterSeq: lastSeq + 1000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("gRPC watch after a sequence number beyond the image's: %v, want InvalidArgument", err)
	}
	// The same for a project's stream: a number no event ever had (a
	// database made again since) is refused, not waited on for good.
	ws, err := s.client.Status.WatchImages(wctx, &canopyv1.WatchImagesRequest{AfterSeq: lastSeq + 1000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("WatchImages after a sequence number no event had: %v, want InvalidArgument", err)
	}
}

type sseEvent struct{ id, name, data string }

func readSSE(t *testing.T, body io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.name != "" {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		}
	}
	return out
}

// Request bodies take proto names (lease_token) and JSON names (leaseToken)
// alike, so clients written against either spelling work.
func TestRESTAcceptsBothFieldNames(t *testing.T) {
	s := newStack(t, "local")
	paths, err := sample.Write(t.TempDir(), 64, 48)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if code, up := postUpload(t, "http://"+s.ingestHTTP+"/v1/images:upload?filename=a.jpg", "image/jpeg", f); code != http.StatusOK {
		t.Fatalf("upload: %d %+v", code, up)
	}
	post := func(path, body string) map[string]any {
		t.Helper()
		resp, err := http.Post("http://"+s.ingestHTTP+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s %s: HTTP %d %v %v", path, body, resp.StatusCode, m, err)
		}
		return m
	}
	for i, names := range [][2]string{{"worker_id", "lease_token"}, {"workerId", "leaseToken"}} {
		claim := post("/v1/work:claim", fmt.Sprintf(`{%q: "w%d", "max_items": 1, "wait": "2s"}`, names[0], i))
		items, _ := claim["items"].([]any)
		if len(items) != 1 {
			t.Fatalf("claim with %s: %v", names[0], claim)
		}
		item := items[0].(map[string]any)
		img := item["image"].(map[string]any)
		if img["leaseOwner"] != nil && img["leaseOwner"] != fmt.Sprintf("w%d", i) {
			t.Errorf("claimed by %v, want w%d", img["leaseOwner"], i)
		}
		id, token := img["id"].(string), item["leaseToken"].(string)
		rel := post("/v1/work/"+id+":fail", fmt.Sprintf(`{%q: %q, "error": "just looking", "release": true}`, names[1], token))
		if got := rel["image"].(map[string]any)["status"]; got != "IMAGE_STATUS_UPLOADED" {
			t.Errorf("release with %s: status %v", names[1], got)
		}
	}
}

// A REST upload whose client stops sending mid-body is answered once the
// idle timeout passes (408, saying so) and its connection closed, as a
// gRPC upload is ended: the handler used to stay blocked reading the body,
// holding the connection unanswered for as long as the client kept it.
func TestRESTUploadStalledMidBody(t *testing.T) {
	s := newStack(t, "local", map[string]string{"UPLOAD_IDLE_TIMEOUT": "300ms"})
	for _, c := range []struct {
		name, contentType, head string
	}{
		{"raw body", "image/jpeg", ""},
		{"form field", "multipart/form-data; boundary=XX", "--XX\r\nContent-Disposition: form-data; name=\"latitude\"\r\n\r\n12"},
	} {
		conn, err := net.Dial("tcp", s.ingestHTTP)
		if err != nil {
			t.Fatal(err)
		}
		body := c.head
		if body == "" {
			body = "\xff\xd8\xff" + strings.Repeat("x", 100000)
		}
		fmt.Fprintf(conn, "POST /v1/images:upload?filename=stall.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: 300000\r\n\r\n%s", c.contentType, body)
		// A hang guard only: the answer comes after the 300 ms idle timeout.
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: no answer to a stalled upload: %v", c.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "UPLOAD_IDLE_TIMEOUT") || !resp.Close {
			t.Errorf("%s: HTTP %d %s (close %v); want 408 naming UPLOAD_IDLE_TIMEOUT, connection closed", c.name, resp.StatusCode, b, resp.Close)
		}
		conn.Close()
	}
}

// A REST upload still arriving when ingest-svc is told to stop is answered
// 503 (upload again) within the grace period, where the HTTP server used
// to close its connection at the end of the grace with no answer at all.
func TestRESTUploadAnsweredAtShutdown(t *testing.T) {
	s := newServices(t, dbtest.NewDatabase(t), map[string]string{"BLOB_STORE": "local", "BLOB_DIR": t.TempDir()})
	httpAddr := freePortAddr(t)
	ingest := s.startIngest(map[string]string{"INGEST_HTTP_ADDR": httpAddr, "SHUTDOWN_GRACE": "3s"})
	conn, err := net.Dial("tcp", httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/images:upload?filename=slow.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 10000000\r\n\r\n\xff\xd8\xff")
	stop := make(chan struct{})
	defer close(stop)
	go func() { // a slow client: a byte every 50 ms, never idle
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := conn.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	// Before or after the handler has begun, the answer is the same: an
	// upload that starts once shutdown has begun is refused as well.
	time.Sleep(200 * time.Millisecond)
	ingest.signal(syscall.SIGTERM)
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // a hang guard
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to an upload cut by shutdown: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "shutting down") {
		t.Errorf("HTTP %d %s; want 503 saying ingest-svc is shutting down", resp.StatusCode, b)
	}
	if code := ingest.wait(30 * time.Second); code != 0 {
		t.Errorf("ingest-svc exited %d", code)
	}
}
