package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	analysisapp "github.com/canopyag/canopy/analysis-svc/app"
	"github.com/canopyag/canopy/cli/client"
	"github.com/canopyag/canopy/cli/sample"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/auth"
)

// keys are the API keys of the auth tests: projects "alpha" and "bravo".
type keys struct {
	adminA, uploaderA, viewerA string
	workerAll, workerB         string
	adminB, viewerB            string
	revokedA                   string
}

// newAuthStack starts ingest-svc and status-svc with AUTH_MODE=keys and
// creates keys straight in the database, as "canopy admin key create" does.
func newAuthStack(t *testing.T, store string, extra ...map[string]string) (*stack, keys, *pgxpool.Pool) {
	t.Helper()
	env := map[string]string{"AUTH_MODE": "keys"}
	for _, m := range extra {
		for k, v := range m {
			env[k] = v
		}
	}
	s := newStack(t, store, env)
	pool := openPool(t, s.env["DATABASE_URL"])
	ctx := context.Background()
	mk := func(project string, role auth.Role) string {
		t.Helper()
		k, _, err := auth.CreateKey(ctx, pool, project, role, "test "+string(role))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	ks := keys{
		adminA: mk("alpha", auth.Admin), uploaderA: mk("alpha", auth.Uploader), viewerA: mk("alpha", auth.Viewer),
		workerAll: mk("", auth.Worker), workerB: mk("bravo", auth.Worker),
		adminB: mk("bravo", auth.Admin), viewerB: mk("bravo", auth.Viewer),
	}
	// Revoked before its first use, so no service has it cached.
	k, p, err := auth.CreateKey(ctx, pool, "alpha", auth.Admin, "revoked")
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.RevokeKey(ctx, pool, p.KeyID); err != nil {
		t.Fatal(err)
	}
	ks.revokedA = k
	s.env["API_KEY"] = ks.workerAll
	return s, ks, pool
}

// runAnalysis runs analysis-svc until the returned function stops it.
func (s *stack) runAnalysis() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := analysisapp.Run(ctx, s.getenv, &testLog{t: s.t, tee: s.logs}, func(string) { ready <- struct{}{} }); err != nil {
			s.t.Errorf("analysis-svc: %v", err)
		}
	}()
	select {
	case <-ready:
	case <-done:
		s.t.Fatal("analysis-svc exited before it was ready")
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	s.t.Cleanup(stop)
	return stop
}

func withKey(ctx context.Context, key string) context.Context {
	if key == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

// rawClients are unauthenticated connections; each call carries its key.
func rawClients(t *testing.T, s *stack) (canopyv1.IngestServiceClient, canopyv1.WorkServiceClient, canopyv1.StatusServiceClient) {
	ic, err := grpc.NewClient(s.ingestAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := grpc.NewClient(s.statusAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ic.Close(); sc.Close() })
	return canopyv1.NewIngestServiceClient(ic), canopyv1.NewWorkServiceClient(ic), canopyv1.NewStatusServiceClient(sc)
}

func uploadAs(ctx context.Context, t *testing.T, in canopyv1.IngestServiceClient, key, path, batch string) string {
	t.Helper()
	c := &client.Client{Ingest: in}
	resp, err := c.UploadFiles(withKey(ctx, key), []client.File{{Path: path}}, client.UploadOptions{BatchID: batch, BandLayout: "RGN"})
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	return resp.GetImageId()
}

// waitStatus follows one image with key until it reaches want.
func waitStatus(ctx context.Context, t *testing.T, st canopyv1.StatusServiceClient, key, id string, want canopyv1.ImageStatus) {
	t.Helper()
	w, err := st.WatchImage(withKey(ctx, key), &canopyv1.WatchImageRequest{ImageId: id})
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, err := w.Recv()
		if err != nil {
			t.Fatalf("watch %s for %s: %v", id, want, err)
		}
		if m.GetImage().GetStatus() == want {
			return
		}
	}
}

// Every RPC and every REST route, called with no key, a malformed key, a
// revoked key, a key of another project, a key of the wrong role and the
// right key. The codes expected follow from the policy (platform/auth
// DefaultPolicy) and the tenancy rule that another project's image is
// NotFound; for calls that name no image, another project's key works but
// sees only its own project (checked after the table).
func TestAuthMatrix(t *testing.T) {
	s, k, _ := newAuthStack(t, "local")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tctx := ctx // without a key, for checks made inside a call
	ingest, work, st := rawClients(t, s)
	paths, err := sample.Write(t.TempDir(), 64, 48)
	if err != nil {
		t.Fatal(err)
	}
	tif := paths[0]

	// imgA and imgB are completed, one per project; imgC (alpha) waits in
	// the queue with no worker running, for cancel, retry and the work RPCs.
	imgA := uploadAs(ctx, t, ingest, k.uploaderA, tif, "shared-batch")
	imgB := uploadAs(ctx, t, ingest, k.adminB, tif, "shared-batch")
	stopAnalysis := s.runAnalysis()
	waitStatus(ctx, t, st, k.viewerA, imgA, canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED)
	waitStatus(ctx, t, st, k.viewerB, imgB, canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED)
	stopAnalysis()
	imgC := uploadAs(ctx, t, ingest, k.adminA, tif, "")

	type caseName string
	const (
		none, malformed, revoked, otherProject, wrongRole, right caseName = "no key", "malformed key", "revoked key", "other project", "wrong role", "right key"
	)
	order := []caseName{none, malformed, revoked, otherProject, wrongRole, right}
	keyOf := func(c caseName, rightKey, wrongKey, otherKey string) string {
		switch c {
		case malformed:
			return "not-a-canopy-key"
		case revoked:
			return k.revokedA
		case otherProject:
			return otherKey
		case wrongRole:
			return wrongKey
		case right:
			return rightKey
		}
		return ""
	}
	authFail := map[caseName]codes.Code{none: codes.Unauthenticated, malformed: codes.Unauthenticated, revoked: codes.Unauthenticated, wrongRole: codes.PermissionDenied}

	var current caseName // the case being run, for calls that check more than the code

	// The lease the work RPCs use: claimed by the right-key ClaimWork case.
	var lease *canopyv1.WorkItem
	leaseID := func() string {
		if lease == nil {
			return imgC
		}
		return lease.GetImage().GetId()
	}
	leaseToken := func() string {
		if lease == nil {
			return "00000000-0000-0000-0000-000000000001"
		}
		return lease.GetLeaseToken()
	}
	drain := func(recv func() error) error {
		for {
			if err := recv(); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
		}
	}

	type rpc struct {
		name                   string
		rightKey, wrong, other string
		otherCode, rightCode   codes.Code
		call                   func(ctx context.Context) error
	}
	rpcs := []rpc{
		{"UploadImage", k.uploaderA, k.viewerA, k.adminB, codes.OK, codes.OK, func(ctx context.Context) error {
			_, err := (&client.Client{Ingest: ingest}).UploadFiles(ctx, []client.File{{Path: tif}}, client.UploadOptions{BandLayout: "RGN"})
			return err
		}},
		// Cancel, then retry, the queued imgC: both succeed with the right key.
		{"CancelImage", k.adminA, k.uploaderA, k.adminB, codes.NotFound, codes.OK, func(ctx context.Context) error {
			_, err := ingest.CancelImage(ctx, &canopyv1.CancelImageRequest{ImageId: imgC, Reason: "matrix"})
			return err
		}},
		{"RetryImage", k.adminA, k.viewerA, k.adminB, codes.NotFound, codes.OK, func(ctx context.Context) error {
			_, err := ingest.RetryImage(ctx, &canopyv1.RetryImageRequest{ImageId: imgC})
			return err
		}},
		{"GetImage", k.viewerA, k.workerAll, k.viewerB, codes.NotFound, codes.OK, func(ctx context.Context) error {
			_, err := st.GetImage(ctx, &canopyv1.GetImageRequest{ImageId: imgA})
			return err
		}},
		{"ListImages", k.viewerA, k.workerAll, k.viewerB, codes.OK, codes.OK, func(ctx context.Context) error {
			_, err := st.ListImages(ctx, &canopyv1.ListImagesRequest{})
			return err
		}},
		{"GetAnalysis", k.uploaderA, k.workerAll, k.viewerB, codes.NotFound, codes.OK, func(ctx context.Context) error {
			_, err := st.GetAnalysis(ctx, &canopyv1.GetAnalysisRequest{ImageId: imgA})
			return err
		}},
		{"WatchImage", k.viewerA, k.workerAll, k.viewerB, codes.NotFound, codes.OK, func(ctx context.Context) error {
			w, err := st.WatchImage(ctx, &canopyv1.WatchImageRequest{ImageId: imgA})
			if err != nil {
				return err
			}
			return drain(func() error { _, err := w.Recv(); return err })
		}},
		{"WatchImages", k.viewerA, k.workerAll, k.viewerB, codes.OK, codes.OK, func(ctx context.Context) error {
			// Replayed from the start, so the first message comes at once.
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			w, err := st.WatchImages(ctx, &canopyv1.WatchImagesRequest{AfterSeq: 1})
			if err != nil {
				return err
			}
			_, err = w.Recv()
			return err
		}},
		{"GetQueueStats", k.viewerA, k.workerAll, k.viewerB, codes.OK, codes.OK, func(ctx context.Context) error {
			_, err := st.GetQueueStats(ctx, &canopyv1.GetQueueStatsRequest{})
			return err
		}},
		// A worker key of bravo claims nothing of alpha's: imgC is alpha's
		// and the only image in the queue.
		{"ClaimWork", k.workerAll, k.adminA, k.workerB, codes.OK, codes.OK, func(ctx context.Context) error {
			r, err := work.ClaimWork(ctx, &canopyv1.ClaimWorkRequest{WorkerId: "matrix", MaxItems: 1})
			if err != nil {
				return err
			}
			for _, it := range r.GetItems() {
				if current != right {
					// Only bravo's own image (the other-project upload above).
					if _, err := st.GetImage(withKey(tctx, k.viewerB), &canopyv1.GetImageRequest{ImageId: it.GetImage().GetId()}); err != nil {
						return fmt.Errorf("claimed %s, not bravo's, with the %s: %v", it.GetImage().GetId(), current, err)
					}
					continue
				}
				lease = it
			}
			return nil
		}},
		{"RenewLease", k.workerAll, k.uploaderA, k.workerB, codes.NotFound, codes.OK, func(ctx context.Context) error {
			_, err := work.RenewLease(ctx, &canopyv1.RenewLeaseRequest{ImageId: leaseID(), LeaseToken: leaseToken()})
			return err
		}},
		{"CompleteWork", k.workerAll, k.viewerA, k.workerB, codes.NotFound, codes.OK, func(ctx context.Context) error {
			_, err := work.CompleteWork(ctx, &canopyv1.CompleteWorkRequest{ImageId: leaseID(), LeaseToken: leaseToken(),
				Analysis: &canopyv1.Analysis{AlgorithmVersion: "matrix", Width: 1, Height: 1}})
			return err
		}},
		// The lease ended with CompleteWork: the right key reaches the
		// queue, which says so.
		{"FailWork", k.workerAll, k.adminA, k.workerB, codes.NotFound, codes.FailedPrecondition, func(ctx context.Context) error {
			_, err := work.FailWork(ctx, &canopyv1.FailWorkRequest{ImageId: leaseID(), LeaseToken: leaseToken(), Error: "matrix"})
			return err
		}},
	}

	type result struct{ rpc, c, got string }
	var matrix []result
	for _, r := range rpcs {
		for _, c := range order {
			want, ok := authFail[c]
			switch {
			case c == otherProject:
				want = r.otherCode
			case c == right:
				want = r.rightCode
			case !ok:
				t.Fatalf("no expectation for %s", c)
			}
			current = c
			err := r.call(withKey(ctx, keyOf(c, r.rightKey, r.wrong, r.other)))
			got := status.Code(err)
			matrix = append(matrix, result{r.name, string(c), got.String()})
			if got != want {
				t.Errorf("%s with %s: got %s (%v), want %s", r.name, c, got, err, want)
			}
		}
		if r.name == "ClaimWork" && lease == nil {
			t.Fatal("the right worker key claimed nothing; imgC should have been queued")
		}
	}

	// Another project's key works on calls naming no image, but sees only
	// its own project.
	for _, tc := range []struct {
		key  string
		want []string
	}{{k.viewerA, []string{imgA}}, {k.viewerB, []string{imgB}}} {
		resp, err := st.ListImages(withKey(ctx, tc.key), &canopyv1.ListImagesRequest{BatchId: "shared-batch"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, img := range resp.GetImages() {
			got = append(got, img.GetId())
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("ListImages(batch shared-batch): got %v, want %v", got, tc.want)
		}
	}

	restMatrix(ctx, t, s, k, imgA, imgC)

	var b strings.Builder
	for _, m := range matrix {
		fmt.Fprintf(&b, "%-14s %-14s %s\n", m.rpc, m.c, m.got)
	}
	t.Logf("gRPC matrix:\n%s", b.String())
}

// restMatrix checks every REST route the same way: the gateway's routes and
// the hand-written ones (raw upload, Server-Sent Events).
func restMatrix(ctx context.Context, t *testing.T, s *stack, k keys, imgA, imgC string) {
	t.Helper()
	in, sv := "http://"+s.ingestHTTP, "http://"+s.statusHTTP
	tif, err := os.ReadFile(mustSample(t))
	if err != nil {
		t.Fatal(err)
	}
	const bogusToken = `{"leaseToken":"00000000-0000-0000-0000-000000000001","error":"x","analysis":{"algorithmVersion":"x","width":1,"height":1}}`
	type route struct {
		method, url, body, ctype, accept string
		rightKey, wrong, other           string
		otherCode, rightCode             int
	}
	routes := []route{
		{"POST", in + "/v1/images:upload?band_layout=RGN&filename=field.tif", string(tif), "image/tiff", "", k.uploaderA, k.viewerA, k.adminB, 200, 200},
		{"POST", in + "/v1/images/" + imgA + ":retry", "{}", "application/json", "", k.adminA, k.uploaderA, k.adminB, 404, 400},
		{"POST", in + "/v1/images/" + imgA + ":cancel", "{}", "application/json", "", k.adminA, k.viewerA, k.adminB, 404, 400},
		{"GET", sv + "/v1/images/" + imgA, "", "", "", k.viewerA, k.workerAll, k.viewerB, 404, 200},
		{"GET", sv + "/v1/images", "", "", "", k.viewerA, k.workerAll, k.viewerB, 200, 200},
		{"GET", sv + "/v1/images/" + imgA + "/analysis", "", "", "", k.viewerA, k.workerAll, k.viewerB, 404, 200},
		{"GET", sv + "/v1/images/" + imgA + ":watch", "", "", "", k.viewerA, k.workerAll, k.viewerB, 404, 200},
		{"GET", sv + "/v1/images/" + imgA + ":watch", "", "", "text/event-stream", k.viewerA, k.workerAll, k.viewerB, 404, 200},
		{"GET", sv + "/v1/images:watch?after_seq=1", "", "", "", k.viewerA, k.workerAll, k.viewerB, 200, 200},
		{"GET", sv + "/v1/images:watch?after_seq=1", "", "", "text/event-stream", k.viewerA, k.workerAll, k.viewerB, 200, 200},
		{"GET", sv + "/v1/queue:stats", "", "", "", k.viewerA, k.workerAll, k.viewerB, 200, 200},
		{"POST", in + "/v1/work:claim", `{"workerId":"rest"}`, "application/json", "", k.workerAll, k.adminA, k.workerB, 200, 200},
		// A lease token nobody holds: the right key reaches the queue (400,
		// FailedPrecondition); bravo's worker is told imgC does not exist.
		{"POST", in + "/v1/work/" + imgC + ":renew", bogusToken, "application/json", "", k.workerAll, k.viewerA, k.workerB, 404, 400},
		{"POST", in + "/v1/work/" + imgC + ":complete", bogusToken, "application/json", "", k.workerAll, k.viewerA, k.workerB, 404, 400},
		{"POST", in + "/v1/work/" + imgC + ":fail", bogusToken, "application/json", "", k.workerAll, k.viewerA, k.workerB, 404, 400},
	}
	cases := []struct {
		name string
		key  func(r route) string
		code func(r route) int
	}{
		{"no key", func(route) string { return "" }, func(route) int { return 401 }},
		{"malformed key", func(route) string { return "Bearer cnp_short" }, func(route) int { return 401 }},
		{"revoked key", func(route) string { return "Bearer " + k.revokedA }, func(route) int { return 401 }},
		{"other project", func(r route) string { return "Bearer " + r.other }, func(r route) int { return r.otherCode }},
		{"wrong role", func(r route) string { return "Bearer " + r.wrong }, func(route) int { return 403 }},
		{"right key", func(r route) string { return "Bearer " + r.rightKey }, func(r route) int { return r.rightCode }},
	}
	var b strings.Builder
	for _, r := range routes {
		for _, c := range cases {
			got := restCode(ctx, t, r.method, r.url, r.body, r.ctype, r.accept, c.key(r))
			fmt.Fprintf(&b, "%-4s %-60s %-18s %-14s %d\n", r.method, strings.TrimPrefix(strings.TrimPrefix(r.url, in), sv), r.accept, c.name, got)
			if want := c.code(r); got != want {
				t.Errorf("%s %s (Accept %q) with %s: got HTTP %d, want %d", r.method, r.url, r.accept, c.name, got, want)
			}
		}
	}
	t.Logf("REST matrix:\n%s", b.String())
}

func mustSample(t *testing.T) string {
	paths, err := sample.Write(t.TempDir(), 32, 24)
	if err != nil {
		t.Fatal(err)
	}
	return paths[0]
}

// restCode makes one REST call and returns its HTTP status. Streams are
// read up to their first message: for a watch of every image the stream
// stays open, and the status is known by then.
func restCode(ctx context.Context, t *testing.T, method, url, body, ctype, accept, authz string) int {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadBytes('\n')
	// A stream that fails before its first message may still answer 200
	// with an error chunk; count that as the error's code.
	if resp.StatusCode == 200 && bytes.Contains(line, []byte(`"error"`)) {
		t.Logf("%s %s: 200 with error chunk %s", method, url, line)
		return -1
	}
	if resp.StatusCode >= 400 {
		t.Logf("%s %s: %d %s", method, url, resp.StatusCode, bytes.TrimSpace(line))
	}
	return resp.StatusCode
}

// A watcher with project alpha's key sees no event of bravo's images: not
// live, not replayed from the start, not by naming bravo's batch (both
// projects use the same batch name), not by guessing bravo's image id.
func TestWatchIsolation(t *testing.T) {
	s, k, _ := newAuthStack(t, "local")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ingest, _, st := rawClients(t, s)
	tif := mustSample(t)
	s.runAnalysis()

	live, err := st.WatchImages(withKey(ctx, k.viewerA), &canopyv1.WatchImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	byBatch, err := st.WatchImages(withKey(ctx, k.viewerA), &canopyv1.WatchImagesRequest{BatchId: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	// Bravo's image first and to the end: its events all precede alpha's
	// in the sequence, so a watcher that would leak them meets them before
	// alpha's completion, where the reads below stop.
	imgB := uploadAs(ctx, t, ingest, k.adminB, tif, "shared")
	waitStatus(ctx, t, st, k.viewerB, imgB, canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED)
	imgA := uploadAs(ctx, t, ingest, k.uploaderA, tif, "shared")

	for _, id := range []string{imgB} {
		if _, err := st.GetImage(withKey(ctx, k.viewerA), &canopyv1.GetImageRequest{ImageId: id}); status.Code(err) != codes.NotFound {
			t.Errorf("GetImage of bravo's image with alpha's key: %v, want NotFound", err)
		}
		w, err := st.WatchImage(withKey(ctx, k.viewerA), &canopyv1.WatchImageRequest{ImageId: id, AfterSeq: 1})
		if err == nil {
			_, err = w.Recv()
		}
		if status.Code(err) != codes.NotFound {
			t.Errorf("WatchImage of bravo's image with alpha's key: %v, want NotFound", err)
		}
	}

	replay, err := st.WatchImages(withKey(ctx, k.viewerA), &canopyv1.WatchImagesRequest{AfterSeq: 1})
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range map[string]grpc.ServerStreamingClient[canopyv1.WatchImagesResponse]{"live": live, "batch shared": byBatch, "replay": replay} {
		var statuses []string
		for {
			m, err := w.Recv()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			ev := m.GetEvent()
			if ev.GetImageId() != imgA {
				t.Fatalf("%s: alpha's watcher got an event of %s (bravo's is %s): %v", name, ev.GetImageId(), imgB, ev)
			}
			statuses = append(statuses, ev.GetStatus().String())
			if ev.GetStatus() == canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED {
				break
			}
		}
		// The replay starts before alpha's upload, so it has every event;
		// a live watch starts where the sequence stood when its call
		// reached the server, which may be after the first.
		want := "[IMAGE_STATUS_UPLOADED IMAGE_STATUS_PROCESSING IMAGE_STATUS_COMPLETED]"
		got := fmt.Sprint(statuses)
		if name == "replay" && got != want || !strings.HasSuffix(want, strings.TrimPrefix(got, "[")) {
			t.Errorf("%s: statuses %v, want %s", name, statuses, want)
		}
	}
}

// Per-key caps on concurrent streams answer ResourceExhausted and log the
// key's id, never the key.
func TestPerKeyStreamLimits(t *testing.T) {
	s, k, _ := newAuthStack(t, "local", map[string]string{"MAX_WATCHERS_PER_KEY": "2", "MAX_UPLOADS_PER_KEY": "1"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ingest, _, st := rawClients(t, s)
	// Events to replay after seq 1, so a watch answers at once: once its
	// first message arrives, the stream holds its slot.
	uploadAs(ctx, t, ingest, k.uploaderA, mustSample(t), "")
	uploadAs(ctx, t, ingest, k.uploaderA, mustSample(t), "")
	watch := func(key string) error {
		w, err := st.WatchImages(withKey(ctx, key), &canopyv1.WatchImagesRequest{AfterSeq: 1})
		if err == nil {
			_, err = w.Recv()
		}
		return err
	}
	for range 2 {
		if err := watch(k.viewerA); err != nil {
			t.Fatal(err)
		}
	}
	if err := watch(k.viewerA); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("third watch of one key: %v, want ResourceExhausted", err)
	}
	// Another key of the same project has its own allowance.
	if err := watch(k.adminA); err != nil {
		t.Errorf("watch with a second key: %v", err)
	}

	// One upload held open (metadata sent, no chunks yet) and a second one
	// beside it: one of the two must be refused. Which one depends on which
	// reaches the server first (a client stream's headers go out lazily);
	// if the held one was, the second one went through and the held one
	// reports ResourceExhausted when closed.
	upload := func() error {
		_, err := (&client.Client{Ingest: ingest}).UploadFiles(withKey(ctx, k.uploaderA), []client.File{{Path: mustSample(t)}}, client.UploadOptions{})
		return err
	}
	for attempt := 0; ; attempt++ {
		up, err := ingest.UploadImage(withKey(ctx, k.uploaderA))
		if err != nil {
			t.Fatal(err)
		}
		if err := up.Send(&canopyv1.UploadImageRequest{Payload: &canopyv1.UploadImageRequest_Metadata{Metadata: &canopyv1.UploadMetadata{
			Files: []*canopyv1.FileSpec{{Filename: "held.tif"}}}}}); err != nil {
			t.Fatal(err)
		}
		second := upload()
		_, held := up.CloseAndRecv() // no data: InvalidArgument if it was let in
		if status.Code(second) == codes.ResourceExhausted || status.Code(held) == codes.ResourceExhausted {
			break
		}
		// Both let in: the held stream reached the server only after the
		// second upload had finished, so they never overlapped. Try again.
		if second != nil || status.Code(held) != codes.InvalidArgument || attempt == 20 {
			t.Fatalf("two uploads of one key with MAX_UPLOADS_PER_KEY=1: %v and %v; want one ResourceExhausted", second, held)
		}
	}

	logs := s.logs.String()
	if !strings.Contains(logs, "per-key limit reached") {
		t.Error("no log line for the refused streams")
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "per-key limit reached") && !strings.Contains(line, "key_id=") {
			t.Errorf("limit log line without the key id: %s", line)
		}
	}
	for _, key := range []string{k.viewerA, k.uploaderA} {
		if strings.Contains(logs, key) {
			t.Error("a key appears in the logs")
		}
	}
}

// client_upload_id is idempotent within a project only: the same id in
// another project is another upload, and does not reveal the first.
func TestClientUploadIDPerProject(t *testing.T) {
	s, k, _ := newAuthStack(t, "local")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ingest, _, _ := rawClients(t, s)
	c := &client.Client{Ingest: ingest}
	tif := mustSample(t)
	up := func(key string) (string, bool) {
		t.Helper()
		r, err := c.UploadFiles(withKey(ctx, key), []client.File{{Path: tif}}, client.UploadOptions{ClientUploadID: "flight-7/img-1", BandLayout: "RGN"})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetImageId(), r.GetDuplicate()
	}
	a1, dup1 := up(k.uploaderA)
	a2, dup2 := up(k.adminA)
	b1, dupB := up(k.adminB)
	if dup1 || !dup2 || a1 != a2 {
		t.Errorf("alpha: %s (duplicate %v) then %s (duplicate %v); want the second to be the first again", a1, dup1, a2, dup2)
	}
	if dupB || b1 == a1 {
		t.Errorf("bravo with alpha's client_upload_id got %s (duplicate %v); want a new image", b1, dupB)
	}
}

// An upload whose client goes quiet is ended with ResourceExhausted after
// UPLOAD_IDLE_TIMEOUT, logged with the key's id; one that keeps sending is
// not affected.
func TestIdleUploadEnded(t *testing.T) {
	s, k, pool := newAuthStack(t, "local", map[string]string{"UPLOAD_IDLE_TIMEOUT": "300ms"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ingest, _, _ := rawClients(t, s)
	uploadAs(ctx, t, ingest, k.uploaderA, mustSample(t), "")

	up, err := ingest.UploadImage(withKey(ctx, k.uploaderA))
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Send(&canopyv1.UploadImageRequest{Payload: &canopyv1.UploadImageRequest_Metadata{Metadata: &canopyv1.UploadMetadata{
		Files: []*canopyv1.FileSpec{{Filename: "stalled.tif"}}}}}); err != nil {
		t.Fatal(err)
	}
	// Wait for the server's answer without ending our side of the stream.
	if err := up.RecvMsg(new(canopyv1.UploadImageResponse)); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("stalled upload: %v, want ResourceExhausted", err)
	}
	var keyID string
	if err := pool.QueryRow(ctx, `SELECT id::text FROM api_keys WHERE prefix = $1`, k.uploaderA[:12]).Scan(&keyID); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(line, "upload idle too long") && strings.Contains(line, "key_id="+keyID) {
			found = true
		}
	}
	if !found {
		t.Error("no log line naming the key id of the stalled upload")
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM images`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d images stored, want 1 (the stalled upload stores nothing)", n)
	}
}
