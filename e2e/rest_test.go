package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canopyag/canopy/cli/client"
	"github.com/canopyag/canopy/cli/sample"
)

// The REST gateway serves the same data as gRPC, in protojson
// (lowerCamelCase names, enums by name, 64-bit integers as strings).
func TestREST(t *testing.T) {
	s := newStack(t, "local")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	paths, err := sample.Write(t.TempDir(), 64, 48)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.client.UploadFiles(ctx, []client.File{{Path: paths[0]}}, client.UploadOptions{BandLayout: "RGN"})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetImageId()

	var img struct {
		ID        string `json:"id"`
		Status    string `json:"status"`
		SizeBytes string `json:"sizeBytes"`
	}
	getJSON(t, "http://"+s.statusHTTP+"/v1/images/"+id, http.StatusOK, &img)
	if img.ID != id || img.Status != "IMAGE_STATUS_UPLOADED" || img.SizeBytes != "18572" {
		// 18572 = 140-byte header + 64*48*3*2 bytes of 16-bit samples
		t.Errorf("GET image: %+v", img)
	}
	getJSON(t, "http://"+s.statusHTTP+"/v1/images/00000000-0000-0000-0000-000000000000", http.StatusNotFound, nil)
	getJSON(t, "http://"+s.statusHTTP+"/v1/images/not-a-uuid", http.StatusBadRequest, nil)

	// Watch over REST: newline-delimited JSON, each message in {"result": ...}.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.statusHTTP+"/v1/images/"+id+":watch", nil)
	hr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer hr.Body.Close()
	s.startAnalysis()
	var statuses []string
	sc := bufio.NewScanner(hr.Body)
	for sc.Scan() {
		var msg struct {
			Result struct {
				Image struct{ Status string } `json:"image"`
			} `json:"result"`
		}
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
			t.Fatalf("watch line %q: %v", sc.Text(), err)
		}
		statuses = append(statuses, msg.Result.Image.Status)
	}
	if got := strings.Join(statuses, ","); got != "IMAGE_STATUS_UPLOADED,IMAGE_STATUS_PROCESSING,IMAGE_STATUS_COMPLETED" {
		t.Errorf("REST watch statuses %s", got)
	}

	var an struct {
		MapIndex string `json:"mapIndex"`
		Indices  []struct {
			Name      string  `json:"name"`
			Available bool    `json:"available"`
			Mean      float64 `json:"mean"`
		} `json:"indices"`
	}
	getJSON(t, "http://"+s.statusHTTP+"/v1/images/"+id+"/analysis", http.StatusOK, &an)
	if an.MapIndex != "NDVI" {
		t.Errorf("analysis over REST: map index %q", an.MapIndex)
	}

	// The list route sits beside /v1/images/{id}; it must reach
	// ListImages, not be redirected to GET /v1/images/ (an empty id).
	var list struct {
		Images []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"images"`
	}
	getJSON(t, "http://"+s.statusHTTP+"/v1/images?status=IMAGE_STATUS_COMPLETED", http.StatusOK, &list)
	if len(list.Images) != 1 || list.Images[0].ID != id || list.Images[0].Status != "IMAGE_STATUS_COMPLETED" {
		t.Errorf("GET /v1/images?status=IMAGE_STATUS_COMPLETED: %+v, want just %s", list.Images, id)
	}
	list.Images = nil
	getJSON(t, "http://"+s.statusHTTP+"/v1/images?batchId=no-such-batch", http.StatusOK, &list)
	if len(list.Images) != 0 {
		t.Errorf("GET /v1/images?batchId=no-such-batch: %+v, want none", list.Images)
	}

	// Not UTF-8: the gateway failed to marshal it, an HTTP 500 Internal.
	var bad struct {
		Message string `json:"message"`
	}
	for _, path := range []string{"/v1/images?batchId=%FF", "/v1/images/%FF"} {
		getJSON(t, "http://"+s.statusHTTP+path, http.StatusBadRequest, &bad)
		if !strings.Contains(bad.Message, "is not UTF-8 text") {
			t.Errorf("GET %s: %q, want it to say the text is not UTF-8", path, bad.Message)
		}
	}

	var doc struct {
		Swagger string         `json:"swagger"`
		Paths   map[string]any `json:"paths"`
	}
	getJSON(t, "http://"+s.ingestHTTP+"/openapi.json", http.StatusOK, &doc)
	if doc.Swagger != "2.0" || doc.Paths["/v1/images/{imageId}"] == nil {
		t.Errorf("openapi.json: swagger %q, %d paths", doc.Swagger, len(doc.Paths))
	}
}

func getJSON(t *testing.T, url string, wantCode int, into any) {
	t.Helper()
	// Redirects are not followed: a route must answer where it is documented.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantCode {
		t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, body, wantCode)
	}
	if into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, body)
		}
	}
}

// A REST watch open when status-svc shuts down ends with the service's own
// answer, Unavailable (14: resume with after_seq), as gRPC and Server-Sent
// Events watchers get; it ended with Canceled (1, "the client connection is
// closing") because the gateway's connection closed first.
func TestRESTWatchEndsUnavailableAtShutdown(t *testing.T) {
	s := newStack(t, "local")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := s.client.UploadFiles(ctx, []client.File{{Path: filepath.Join(sharedData(t), "webodm-fixtures", "tiny_drone_image.jpg")}}, client.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.statusHTTP+"/v1/images/"+resp.GetImageId()+":watch", nil)
	hr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer hr.Body.Close()
	sc := bufio.NewScanner(hr.Body)
	if !sc.Scan() { // the image as it is: the watch is open
		t.Fatalf("no first line: %v", sc.Err())
	}
	go s.stopAll[1]() // status-svc only (no worker runs: the image stays queued)
	var last string
	for sc.Scan() {
		last = sc.Text()
	}
	var msg struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(last), &msg); err != nil || msg.Error.Code != 14 {
		t.Errorf("last line %q: want an error with code 14 (Unavailable)", last)
	}
}
