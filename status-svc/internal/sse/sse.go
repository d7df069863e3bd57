// Package sse serves the watch streams as Server-Sent Events, so a browser's
// EventSource can follow an image: GET /v1/images/{id}:watch and
// GET /v1/images:watch with "Accept: text/event-stream". Other requests on
// those paths (newline-delimited JSON) go to the gateway unchanged.
//
// Each update is an "update" event whose data is the JSON message and whose
// id is where to resume (an image's watch: the event's sequence number; a
// project's or batch's: resume_after_seq, which stays below an event not
// yet committed); EventSource sends it back as Last-Event-ID when it
// reconnects, and the stream resumes after it. A resumed project or batch
// stream can repeat events already received: drop them by their seq. A
// finished stream sends an "end" event (EventSource would otherwise
// reconnect forever); a failure mid-stream sends an "error" event with a
// google.rpc.Status. A stream that fails before its first message (an
// unknown id) is a plain HTTP error, like the gateway's.
package sse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/auth"
)

// keepAlive is how often an idle stream sends a comment line, so proxies
// and load balancers do not cut a watch that is waiting for a slow job.
const keepAlive = 15 * time.Second

// Watcher is the status API, reached over gRPC like any client.
type Watcher = canopyv1.StatusServiceClient

// Wrap returns a function for server.HandleBeforeGateway.
func Wrap(w Watcher) func(gateway http.Handler) http.Handler {
	return func(gateway http.Handler) http.Handler {
		return &handler{w: w, gateway: gateway}
	}
}

type handler struct {
	w       Watcher
	gateway http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		h.gateway.ServeHTTP(w, r)
		return
	}
	after, err := afterSeq(r)
	if err != nil {
		writeStatus(w, status.Error(codes.InvalidArgument, err.Error()))
		return
	}
	// Relay the caller's Authorization header: the watch is authorised by
	// the gRPC side, like every gateway call.
	ctx := auth.ForwardHTTP(r.Context(), r)
	switch {
	case r.URL.Path == "/v1/images:watch":
		st, err := h.w.WatchImages(ctx, &canopyv1.WatchImagesRequest{BatchId: r.URL.Query().Get("batch_id"), AfterSeq: after})
		if err != nil {
			writeStatus(w, err)
			return
		}
		serve(ctx, w, st.Recv, func(m *canopyv1.WatchImagesResponse) int64 {
			// Where to resume, not the event's seq: events come in commit
			// order, and an id past a late one would skip it on reconnect.
			if r := m.GetResumeAfterSeq(); r > 0 {
				return r
			}
			return m.GetEvent().GetSeq()
		})
	case strings.HasPrefix(r.URL.Path, "/v1/images/") && strings.HasSuffix(r.URL.Path, ":watch"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/images/"), ":watch")
		st, err := h.w.WatchImage(ctx, &canopyv1.WatchImageRequest{ImageId: id, AfterSeq: after})
		if err != nil {
			writeStatus(w, err)
			return
		}
		serve(ctx, w, st.Recv, func(m *canopyv1.WatchImageResponse) int64 {
			if m.GetEvent() != nil {
				return m.GetEvent().GetSeq()
			}
			return m.GetImage().GetLastEventSeq()
		})
	default:
		h.gateway.ServeHTTP(w, r)
	}
}

// afterSeq is where to resume: EventSource's Last-Event-ID on a reconnect,
// else the after_seq query parameter.
func afterSeq(r *http.Request) (int64, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("after_seq")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("resume point %q is not an event sequence number", v)
	}
	return n, nil
}

// endEvent closes a finished stream: without it EventSource would reconnect.
const endEvent = "event: end\ndata: {}\n\n"

// serve relays one gRPC stream as events.
func serve[M proto.Message](ctx context.Context, w http.ResponseWriter, recv func() (M, error), seq func(M) int64) {
	first, err := recv()
	empty := errors.Is(err, io.EOF) // a resume after the last event: nothing left to send
	if err != nil && !empty {
		writeStatus(w, err)
		return
	}
	flusher, _ := w.(http.Flusher)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	// Tells nginx-style proxies not to buffer the stream.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if empty {
		_, _ = io.WriteString(w, endEvent)
		return
	}

	// Recv blocks, so it runs beside the keep-alive ticker.
	type item struct {
		m   M
		err error
	}
	next := make(chan item)
	go func() {
		for {
			m, err := recv()
			select {
			case next <- item{m, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	write := func(s string) bool {
		if _, err := io.WriteString(w, s); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	if !write(event("update", seq(first), first)) {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if !write(": keep-alive\n\n") {
				return
			}
		case it := <-next:
			switch {
			case errors.Is(it.err, io.EOF):
				write(endEvent)
				return
			case it.err != nil:
				write(event("error", 0, status.Convert(it.err).Proto()))
				return
			}
			if !write(event("update", seq(it.m), it.m)) {
				return
			}
		}
	}
}

// event formats one event; protojson output is a single line, as SSE's
// data field needs.
func event(name string, id int64, m proto.Message) string {
	b, err := protojson.Marshal(m)
	if err != nil {
		b = []byte(`{"code":13,"message":"encode event"}`)
		name = "error"
	}
	var sb strings.Builder
	if id > 0 {
		fmt.Fprintf(&sb, "id: %d\n", id)
	}
	fmt.Fprintf(&sb, "event: %s\ndata: %s\n\n", name, b)
	return sb.String()
}

// writeStatus answers like the gateway: the HTTP code for the gRPC code and
// a google.rpc.Status body.
func writeStatus(w http.ResponseWriter, err error) {
	st := status.Convert(err)
	b, _ := protojson.Marshal(st.Proto())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(runtime.HTTPStatusFromCode(st.Code()))
	_, _ = w.Write(b)
}
