package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// E2EResult is scenario 2 (second half): real images uploaded through
// ingest-svc, analysed by a running analysis-svc, completion seen through
// status-svc. The burst's fields have the names and meanings of the older
// design's bench_seed.py so the two compare directly.
type E2EResult struct {
	Files          []string `json:"files"`
	N              int      `json:"n"`
	Concurrency    int      `json:"concurrency"`
	UploadSeconds  float64  `json:"upload_seconds"`
	UploadsPerS    float64  `json:"uploads_per_s"`
	EndToEndSecond float64  `json:"end_to_end_seconds"`
	ImagesPerS     float64  `json:"images_per_s"`
	// Upload response read -> the completed event read from WatchImages.
	Latency  Dist `json:"latency_ms"`
	UploadMs Dist `json:"upload_ms"`
	Failures int  `json:"failures"`
	// One upload at a time on an otherwise idle system, per file.
	Idle []IdleE2E `json:"idle"`
	// Indices asked for with each upload; empty: every index the bands allow.
	Indices []string `json:"indices,omitempty"`
}

// IdleE2E is upload-response-to-completed for one file, uploaded alone.
type IdleE2E struct {
	File    string `json:"file"`
	Latency Dist   `json:"latency_ms"`
}

// capture is one upload: one file, or the bands of one rig capture.
type capture struct {
	name   string
	layout string // band layout of a single multi-band file ("NRG"), from FILE@LAYOUT
	files  []string
	data   [][]byte
	// indices, when set, are the only indices asked for (UploadMetadata
	// analysis options); nil asks for every index the bands allow.
	indices []string
}

func loadCaptures(specs []string) ([]capture, error) {
	var cs []capture
	for _, spec := range specs {
		c := capture{}
		if i := strings.LastIndex(spec, "@"); i >= 0 {
			spec, c.layout = spec[:i], spec[i+1:]
		}
		for _, p := range strings.Split(spec, "+") {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("e2e file: %w", err)
			}
			c.files = append(c.files, filepath.Base(p))
			c.data = append(c.data, b)
		}
		c.name = c.files[0]
		if len(c.files) > 1 {
			c.name += fmt.Sprintf("+%d bands", len(c.files)-1)
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// sendCapture uploads every file of c as one image, 256 KiB chunks.
func sendCapture(ctx context.Context, cl canopyv1.IngestServiceClient, c capture, batch string) (string, error) {
	st, err := cl.UploadImage(ctx)
	if err != nil {
		return "", err
	}
	md := &canopyv1.UploadMetadata{BatchId: batch, BandLayout: c.layout}
	if c.indices != nil {
		md.Analysis = &canopyv1.AnalysisOptions{Indices: c.indices}
	}
	for _, f := range c.files {
		md.Files = append(md.Files, &canopyv1.FileSpec{Filename: f})
	}
	if err := st.Send(&canopyv1.UploadImageRequest{Payload: &canopyv1.UploadImageRequest_Metadata{Metadata: md}}); err != nil {
		_, err = st.CloseAndRecv()
		return "", err
	}
	const chunk = 256 << 10
	for fi, data := range c.data {
		for off := 0; off < len(data); off += chunk {
			ch := &canopyv1.Chunk{FileIndex: int32(fi), Data: data[off:min(off+chunk, len(data))]}
			if err := st.Send(&canopyv1.UploadImageRequest{Payload: &canopyv1.UploadImageRequest_Chunk{Chunk: ch}}); err != nil {
				_, err = st.CloseAndRecv()
				return "", fmt.Errorf("send: %w", err)
			}
		}
	}
	resp, err := st.CloseAndRecv()
	if err != nil {
		return "", err
	}
	return resp.GetImageId(), nil
}

// terminalWatch records when each image of a batch reached a terminal state.
type terminalWatch struct {
	mu   sync.Mutex
	at   map[string]time.Time
	bad  map[string]string
	kick chan struct{}
}

func watchBatch(ctx context.Context, status *grpc.ClientConn, batch string) (*terminalWatch, error) {
	w := &terminalWatch{at: map[string]time.Time{}, bad: map[string]string{}, kick: make(chan struct{}, 1)}
	s, err := canopyv1.NewStatusServiceClient(status).WatchImages(ctx, &canopyv1.WatchImagesRequest{BatchId: batch})
	if err != nil {
		return nil, fmt.Errorf("watch images: %w", err)
	}
	go func() {
		for {
			m, err := s.Recv()
			if err != nil {
				return
			}
			ev := m.GetEvent()
			switch ev.GetStatus() {
			case canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED, canopyv1.ImageStatus_IMAGE_STATUS_FAILED:
				now := time.Now()
				w.mu.Lock()
				w.at[ev.GetImageId()] = now
				if ev.GetStatus() == canopyv1.ImageStatus_IMAGE_STATUS_FAILED {
					w.bad[ev.GetImageId()] = ev.GetMessage()
				}
				w.mu.Unlock()
				select {
				case w.kick <- struct{}{}:
				default:
				}
			}
		}
	}()
	// WatchImages starts from the newest event: wait until it is past that
	// read, so the first completion cannot slip in before it.
	time.Sleep(200 * time.Millisecond)
	return w, nil
}

// waitAll waits until every id is terminal or the timeout passes.
func (w *terminalWatch) waitAll(ids []string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		n := 0
		for _, id := range ids {
			if _, ok := w.at[id]; ok {
				n++
			}
		}
		w.mu.Unlock()
		if n == len(ids) {
			return true
		}
		select {
		case <-w.kick:
		case <-deadline:
			return false
		case <-time.After(time.Second):
		}
	}
}

func runE2E(ctx context.Context, c *runConfig, ingest, status *grpc.ClientConn) (*E2EResult, error) {
	if len(c.e2eFiles) == 0 {
		return nil, fmt.Errorf("-e2e-files is empty")
	}
	caps, err := loadCaptures(c.e2eFiles)
	for i := range caps {
		caps[i].indices = c.e2eIndices
	}
	if err != nil {
		return nil, err
	}
	cl := canopyv1.NewIngestServiceClient(ingest)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &E2EResult{N: c.e2eN, Concurrency: c.e2eC, Indices: c.e2eIndices}
	for _, cp := range caps {
		r.Files = append(r.Files, cp.name)
	}

	// Idle first: one upload at a time, each waited for to completion.
	for _, cp := range caps {
		if c.e2eIdle == 0 {
			break
		}
		batch := fmt.Sprintf("bench-idle-%d", time.Now().UnixNano())
		w, err := watchBatch(ctx, status, batch)
		if err != nil {
			return nil, err
		}
		var lat []time.Duration
		for range c.e2eIdle {
			id, err := sendCapture(ctx, cl, cp, batch)
			t := time.Now()
			if err != nil {
				return nil, fmt.Errorf("idle upload %s: %w", cp.name, err)
			}
			if !w.waitAll([]string{id}, c.e2eTimeout) {
				return nil, fmt.Errorf("idle upload %s: not done in %s", cp.name, c.e2eTimeout)
			}
			w.mu.Lock()
			at, msg := w.at[id], w.bad[id]
			w.mu.Unlock()
			if msg != "" {
				return nil, fmt.Errorf("idle upload %s failed: %s", cp.name, msg)
			}
			lat = append(lat, at.Sub(t))
			time.Sleep(50 * time.Millisecond) // workers back in ClaimWork
		}
		r.Idle = append(r.Idle, IdleE2E{File: cp.name, Latency: dist(lat)})
		fmt.Fprintf(os.Stderr, "    idle %s: upload->completed p50 %.0f ms\n", cp.name, r.Idle[len(r.Idle)-1].Latency.P50)
	}
	if c.e2eN == 0 {
		return r, nil
	}

	// The burst: N uploads, files cycled, C at a time, as bench_seed.py does.
	batch := fmt.Sprintf("bench-e2e-%d", time.Now().UnixNano())
	w, err := watchBatch(ctx, status, batch)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	ids := make([]string, 0, c.e2eN)
	answered := map[string]time.Time{}
	var up []time.Duration
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	var lastAnswer time.Time
	for range c.e2eC {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				t := time.Now()
				id, err := sendCapture(ctx, cl, caps[i%len(caps)], batch)
				now := time.Now()
				mu.Lock()
				if err != nil {
					r.Failures++
					fmt.Fprintln(os.Stderr, "    upload failed:", err)
				} else {
					ids = append(ids, id)
					answered[id] = now
					up = append(up, now.Sub(t))
					lastAnswer = now
				}
				mu.Unlock()
			}
		}()
	}
	for i := range c.e2eN {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	r.UploadSeconds = round3(lastAnswer.Sub(start).Seconds())
	r.UploadsPerS = ratio(float64(len(ids)), r.UploadSeconds)
	r.UploadMs = dist(up)
	if !w.waitAll(ids, c.e2eTimeout) {
		fmt.Fprintf(os.Stderr, "    not every image finished within %s\n", c.e2eTimeout)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var lat []time.Duration
	var last time.Time
	done := 0
	for _, id := range ids {
		at, ok := w.at[id]
		if !ok || w.bad[id] != "" {
			r.Failures++
			if msg := w.bad[id]; msg != "" {
				fmt.Fprintf(os.Stderr, "    %s failed: %s\n", id, msg)
			}
			continue
		}
		done++
		lat = append(lat, at.Sub(answered[id]))
		if at.After(last) {
			last = at
		}
	}
	r.Latency = dist(lat)
	if done > 0 {
		r.EndToEndSecond = round3(last.Sub(start).Seconds())
		r.ImagesPerS = ratio(float64(done), r.EndToEndSecond)
	}
	fmt.Fprintf(os.Stderr, "    burst of %d (c=%d): %.1f uploads/s, %.2f images/s end to end, upload->completed p50 %.0f ms p99 %.0f ms, %d failures\n",
		c.e2eN, c.e2eC, r.UploadsPerS, r.ImagesPerS, r.Latency.P50, r.Latency.P99, r.Failures)
	return r, nil
}
