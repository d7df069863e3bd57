package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/google/uuid"

	"github.com/canopyag/canopy/cli/client"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// A wrong field is named in google.rpc.BadRequest and ErrorInfo, over gRPC
// and in the gateway's JSON alike.
func TestFieldErrorDetails(t *testing.T) {
	s := newStack(t, "local")
	ctx := context.Background()
	work := dialWork(t, s)

	for _, c := range []struct {
		name  string
		call  func() error
		field string
	}{
		{"GetImage", func() error {
			_, err := s.client.Status.GetImage(ctx, &canopyv1.GetImageRequest{ImageId: "plot-7"})
			return err
		}, "image_id"},
		{"ListImages", func() error {
			_, err := s.client.Status.ListImages(ctx, &canopyv1.ListImagesRequest{PageToken: "%%%"})
			return err
		}, "page_token"},
		{"CancelImage", func() error {
			_, err := s.client.Ingest.CancelImage(ctx, &canopyv1.CancelImageRequest{ImageId: "plot-7"})
			return err
		}, "image_id"},
		{"ClaimWork", func() error {
			_, err := work.ClaimWork(ctx, &canopyv1.ClaimWorkRequest{MaxItems: -1})
			return err
		}, "max_items"},
		{"ClaimWork with a negative wait", func() error {
			_, err := work.ClaimWork(ctx, &canopyv1.ClaimWorkRequest{Wait: durationpb.New(-5 * time.Second)})
			return err
		}, "wait"},
		// Unknown, the status would mean no filter at all.
		{"ListImages by an unknown status", func() error {
			_, err := s.client.Status.ListImages(ctx, &canopyv1.ListImagesRequest{Status: canopyv1.ImageStatus(99)})
			return err
		}, "status"},
		{"ListImages with a negative page size", func() error {
			_, err := s.client.Status.ListImages(ctx, &canopyv1.ListImagesRequest{PageSize: -1})
			return err
		}, "page_size"},
		// A worker's empty result would be stored and shown as a blank one.
		{"CompleteWork without an algorithm version", func() error {
			_, err := work.CompleteWork(ctx, &canopyv1.CompleteWorkRequest{ImageId: uuid.NewString(), LeaseToken: uuid.NewString(),
				Analysis: &canopyv1.Analysis{}})
			return err
		}, "analysis.algorithm_version"},
		{"CompleteWork of 0 x 0 pixels", func() error {
			_, err := work.CompleteWork(ctx, &canopyv1.CompleteWorkRequest{ImageId: uuid.NewString(), LeaseToken: uuid.NewString(),
				Analysis: &canopyv1.Analysis{AlgorithmVersion: "v", Width: 0, Height: 10}})
			return err
		}, "analysis.width"},
		{"CompleteWork of 10 x 0 pixels", func() error {
			_, err := work.CompleteWork(ctx, &canopyv1.CompleteWorkRequest{ImageId: uuid.NewString(), LeaseToken: uuid.NewString(),
				Analysis: &canopyv1.Analysis{AlgorithmVersion: "v", Width: 10, Height: 0}})
			return err
		}, "analysis.height"},
		// PostgreSQL stores no NUL: refused up front, for every request,
		// not answered "database unavailable, try again".
		{"ListImages by a batch with a NUL", func() error {
			_, err := s.client.Status.ListImages(ctx, &canopyv1.ListImagesRequest{BatchId: "x\x00y"})
			return err
		}, "batch_id"},
		{"ListImages by a batch id longer than any upload's", func() error {
			_, err := s.client.Status.ListImages(ctx, &canopyv1.ListImagesRequest{BatchId: strings.Repeat("b", 257)})
			return err
		}, "batch_id"},
		{"WatchImages of a batch id longer than any upload's", func() error {
			stream, err := s.client.Status.WatchImages(ctx, &canopyv1.WatchImagesRequest{BatchId: strings.Repeat("b", 257)})
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}, "batch_id"},
		{"ListImages by a batch id that is not UTF-8", func() error {
			_, err := s.client.Status.ListImages(ctx, &canopyv1.ListImagesRequest{BatchId: "b\xff"})
			return err
		}, "batch_id"},
		{"UploadImage with a batch id that is not UTF-8", func() error {
			md := &canopyv1.UploadMetadata{BatchId: "b\xff", Files: []*canopyv1.FileSpec{{Filename: "a.jpg"}}}
			_, err := s.client.Upload(ctx, md, []io.Reader{strings.NewReader("\xff\xd8\xff")}, client.UploadOptions{})
			return err
		}, "metadata.batch_id"},
		{"ClaimWork by a worker with a NUL", func() error {
			_, err := work.ClaimWork(ctx, &canopyv1.ClaimWorkRequest{WorkerId: "a\x00b"})
			return err
		}, "worker_id"},
		{"UploadImage with a NUL in its batch id", func() error {
			md := &canopyv1.UploadMetadata{BatchId: "x\x00y", Files: []*canopyv1.FileSpec{{Filename: "a.jpg"}}}
			_, err := s.client.Upload(ctx, md, []io.Reader{strings.NewReader("\xff\xd8\xff")}, client.UploadOptions{})
			return err
		}, "metadata.batch_id"},
		{"FailWork with a NUL in its error", func() error {
			_, err := work.FailWork(ctx, &canopyv1.FailWorkRequest{ImageId: uuid.NewString(), LeaseToken: uuid.NewString(), Error: "disk\x00full"})
			return err
		}, "error"},
	} {
		st := status.Convert(c.call())
		if st.Code() != codes.InvalidArgument {
			t.Errorf("%s: code %v, want InvalidArgument", c.name, st.Code())
			continue
		}
		var field, reason string
		for _, d := range st.Details() {
			switch d := d.(type) {
			case *errdetails.BadRequest:
				if len(d.GetFieldViolations()) == 1 {
					field = d.GetFieldViolations()[0].GetField()
				}
			case *errdetails.ErrorInfo:
				reason = d.GetReason()
			}
		}
		if field != c.field || reason != "INVALID_FIELD" {
			t.Errorf("%s: BadRequest field %q, ErrorInfo reason %q; want %q, INVALID_FIELD", c.name, field, reason, c.field)
		}
	}

	resp, err := http.Get("http://" + s.statusHTTP + "/v1/images/plot-7")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Code    int `json:"code"`
		Details []struct {
			Type            string `json:"@type"`
			FieldViolations []struct {
				Field string `json:"field"`
			} `json:"fieldViolations"`
		} `json:"details"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range body.Details {
		if d.Type == "type.googleapis.com/google.rpc.BadRequest" && len(d.FieldViolations) == 1 && d.FieldViolations[0].Field == "image_id" {
			found = true
		}
	}
	if resp.StatusCode != http.StatusBadRequest || body.Code != int(codes.InvalidArgument) || !found {
		t.Errorf("REST: HTTP %d %+v; want 400 with a BadRequest detail naming image_id", resp.StatusCode, body)
	}
}
