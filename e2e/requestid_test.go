package e2e

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// Every call has a request id: the caller's when it sends a plain one,
// else a fresh one; it comes back in the response headers (gRPC and REST)
// and is on the service's log lines for that call.
func TestRequestID(t *testing.T) {
	s := newStack(t, "local")
	ctx := context.Background()
	stats := func(sent string) string {
		t.Helper()
		c := ctx
		if sent != "" {
			c = metadata.AppendToOutgoingContext(ctx, "x-request-id", sent)
		}
		var hdr metadata.MD
		if _, err := s.client.Status.GetQueueStats(c, &canopyv1.GetQueueStatsRequest{}, grpc.Header(&hdr)); err != nil {
			t.Fatal(err)
		}
		if v := hdr.Get("x-request-id"); len(v) == 1 {
			return v[0]
		}
		return ""
	}
	if got := stats("station-7.flight:3"); got != "station-7.flight:3" {
		t.Errorf("sent station-7.flight:3, got back %q", got)
	}
	made := regexp.MustCompile(`^[0-9a-f]{16}$`)
	if got := stats(""); !made.MatchString(got) {
		t.Errorf("sent none, got back %q; want 16 hex digits", got)
	}
	// Not a plain token (spaces, quotes: a log-forging attempt; gRPC
	// itself refuses line breaks): replaced, never echoed.
	if got := stats(`x" level=ERROR msg="forged`); !made.MatchString(got) {
		t.Errorf("sent an id with spaces and quotes, got back %q; want a fresh id", got)
	}

	req, _ := http.NewRequest(http.MethodGet, "http://"+s.statusHTTP+"/v1/queue:stats", nil)
	req.Header.Set("X-Request-Id", "rest-call-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-Id"); got != "rest-call-1" {
		t.Errorf("REST: X-Request-Id %q, want rest-call-1 (headers %v)", got, resp.Header)
	}

	// The rpc log line of each call carries its id.
	for _, id := range []string{"station-7.flight:3", "rest-call-1"} {
		if !strings.Contains(s.logs.String(), "request_id="+id) {
			t.Errorf("no log line with request_id=%s", id)
		}
	}
	if strings.Contains(s.logs.String(), "forged") {
		t.Error("the forged id reached the log")
	}
}
