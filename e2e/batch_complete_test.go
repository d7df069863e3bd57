package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/canopyag/canopy/cli/client"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// uploadPlainJPEGs uploads n small JPEGs of different colours and returns
// their image ids.
func uploadPlainJPEGs(ctx context.Context, t *testing.T, s *stack, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		img := image.NewRGBA(image.Rect(0, 0, 8, 8))
		for p := range img.Pix {
			img.Pix[p] = uint8(40*i + p)
		}
		img.Set(0, 0, color.RGBA{uint8(i), 1, 2, 255})
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, nil); err != nil {
			t.Fatal(err)
		}
		md := &canopyv1.UploadMetadata{BatchId: "batch-complete", Files: []*canopyv1.FileSpec{{Filename: fmt.Sprintf("plot-%d.jpg", i)}}}
		resp, err := s.client.Upload(ctx, md, []io.Reader{&buf}, client.UploadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.GetImageId())
	}
	return ids
}

// BatchCompleteWork stores the completions that hold their lease and
// answers each of the others with the code CompleteWork would have given
// it, over gRPC and REST.
func TestBatchCompleteWork(t *testing.T) {
	s := newStack(t, "local")
	ctx := context.Background()
	work := dialWork(t, s)

	ids := uploadPlainJPEGs(ctx, t, s, 5)
	claim, err := work.ClaimWork(ctx, &canopyv1.ClaimWorkRequest{WorkerId: "batcher", MaxItems: 5})
	if err != nil || len(claim.GetItems()) != 5 {
		t.Fatalf("claim: %v, %d items", err, len(claim.GetItems()))
	}
	token := map[string]string{}
	for _, it := range claim.GetItems() {
		token[it.GetImage().GetId()] = it.GetLeaseToken()
	}
	done := func(id, tok string, a *canopyv1.Analysis) *canopyv1.CompleteWorkRequest {
		return &canopyv1.CompleteWorkRequest{ImageId: id, LeaseToken: tok, Analysis: a}
	}
	ok := func(w int32) *canopyv1.Analysis {
		return &canopyv1.Analysis{AlgorithmVersion: "batch-test", Width: w, Height: 8, CalibrationMode: "none"}
	}
	reqs := []*canopyv1.CompleteWorkRequest{
		done(ids[0], token[ids[0]], ok(8)),
		done(ids[1], token[ids[1]], &canopyv1.Analysis{Width: 8, Height: 8}), // no algorithm version
		done(ids[0], token[ids[0]], ok(8)),                                   // ids[0] again
		done(ids[2], uuid.NewString(), ok(8)),                                // not its lease
		done(uuid.NewString(), uuid.NewString(), ok(8)),                      // no such image
		done(ids[3], "not-a-token", ok(8)),
		done(strings.ToUpper(ids[0]), token[ids[0]], ok(8)), // ids[0] again, in capitals
	}
	resp, err := work.BatchCompleteWork(ctx, &canopyv1.BatchCompleteWorkRequest{Requests: reqs})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"", "INVALID_ARGUMENT", "INVALID_ARGUMENT", "FAILED_PRECONDITION", "NOT_FOUND", "INVALID_ARGUMENT", "INVALID_ARGUMENT"}
	if len(resp.GetResults()) != len(want) {
		t.Fatalf("%d results for %d requests", len(resp.GetResults()), len(want))
	}
	for i, r := range resp.GetResults() {
		if r.GetErrorCode() != want[i] {
			t.Errorf("request %d: code %q (%s), want %q", i, r.GetErrorCode(), r.GetErrorMessage(), want[i])
		}
		if (r.GetImage() != nil) != (want[i] == "") {
			t.Errorf("request %d: image %v with code %q", i, r.GetImage(), r.GetErrorCode())
		}
	}
	if img := resp.GetResults()[0].GetImage(); img.GetId() != ids[0] || img.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED {
		t.Errorf("stored image: %s %v, want %s completed", img.GetId(), img.GetStatus(), ids[0])
	}
	if msg := resp.GetResults()[1].GetErrorMessage(); !strings.Contains(msg, "analysis.algorithm_version") {
		t.Errorf("request 1 answered %q, which does not name the field", msg)
	}
	// PostgreSQL stores no NUL: a request holding one is malformed, refused
	// as a whole and named, before anything is stored.
	_, err = work.BatchCompleteWork(ctx, &canopyv1.BatchCompleteWorkRequest{Requests: []*canopyv1.CompleteWorkRequest{
		done(ids[4], token[ids[4]], ok(8)),
		done(ids[4], token[ids[4]], &canopyv1.Analysis{AlgorithmVersion: "v\x00", Width: 8, Height: 8}),
	}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "requests[1].analysis.algorithm_version") {
		t.Errorf("a batch with a NUL: %v, want InvalidArgument naming requests[1].analysis.algorithm_version", err)
	}
	// What the status service reads back: only ids[0] is completed.
	for i, id := range ids {
		img, err := s.client.Status.GetImage(ctx, &canopyv1.GetImageRequest{ImageId: id})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus := canopyv1.ImageStatus_IMAGE_STATUS_PROCESSING
		if i == 0 {
			wantStatus = canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED
		}
		if img.GetStatus() != wantStatus {
			t.Errorf("image %d: %v, want %v", i, img.GetStatus(), wantStatus)
		}
	}

	// An empty batch is refused as a whole.
	if _, err := work.BatchCompleteWork(ctx, &canopyv1.BatchCompleteWorkRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("empty batch: %v, want InvalidArgument", err)
	}

	// REST: the remaining leases, in the gateway's JSON names.
	body, _ := json.Marshal(map[string]any{"requests": []map[string]any{
		{"imageId": ids[1], "leaseToken": token[ids[1]], "analysis": map[string]any{"algorithmVersion": "batch-test", "width": 8, "height": 8}},
		{"imageId": ids[2], "leaseToken": token[ids[2]], "analysis": map[string]any{"algorithmVersion": "batch-test", "width": 8, "height": 8}},
	}})
	hr, err := http.Post("http://"+s.ingestHTTP+"/v1/work:batchComplete", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer hr.Body.Close()
	raw, _ := io.ReadAll(hr.Body)
	var out struct {
		Results []struct {
			Image *struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"image"`
			ErrorCode string `json:"errorCode"`
		} `json:"results"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || hr.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/work:batchComplete: %d %s (%v)", hr.StatusCode, raw, err)
	}
	if len(out.Results) != 2 {
		t.Fatalf("REST: %s", raw)
	}
	for i, r := range out.Results {
		if r.ErrorCode != "" || r.Image == nil || r.Image.ID != ids[1+i] || r.Image.Status != "IMAGE_STATUS_COMPLETED" {
			t.Errorf("REST result %d: %s", i, raw)
		}
	}
}
