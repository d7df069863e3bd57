package e2e

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/database/dbtest"
)

// A whole run (uploads over gRPC and REST, analysis on S3, watches, refused
// calls with bad and revoked keys) leaves no secret in any service's logs,
// in the errors clients get, or in /metrics: not the database password,
// not the S3 keys, not an API key.
func TestSecretsStayOutOfLogsAndMetrics(t *testing.T) {
	const dbPassword = "Pw-9f3c1e7a-never-log-me"
	u, err := url.Parse(dbtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	// Trust authentication accepts any password, so the run works with it.
	u.User = url.UserPassword(u.User.Username(), dbPassword)
	analysisHTTP := freePortAddr(t)
	s, k, _ := newAuthStack(t, "s3", map[string]string{
		"DATABASE_URL": u.String(), "ANALYSIS_HTTP_ADDR": analysisHTTP, "LOG_LEVEL": "debug",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ingest, work, st := rawClients(t, s)
	s.runAnalysis()

	tif := mustSample(t)
	id := uploadAs(ctx, t, ingest, k.uploaderA, tif, "secrets")
	waitStatus(ctx, t, st, k.viewerA, id, canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED)
	if _, err := st.GetAnalysis(withKey(ctx, k.viewerA), &canopyv1.GetAnalysisRequest{ImageId: id}); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(tif)
	if err != nil {
		t.Fatal(err)
	}
	restCode(ctx, t, "POST", "http://"+s.ingestHTTP+"/v1/images:upload?filename=a.tif&band_layout=RGN", string(body), "image/tiff", "", "Bearer "+k.uploaderA)

	// Refused calls: the errors they get back are checked too.
	wellFormedUnknown := "cnp_" + strings.Repeat("Z", 43)
	var errs []string
	for _, key := range []string{k.revokedA, wellFormedUnknown, k.workerAll} {
		_, err := st.GetImage(withKey(ctx, key), &canopyv1.GetImageRequest{ImageId: id})
		if err == nil {
			t.Fatalf("GetImage with a bad key succeeded")
		}
		errs = append(errs, err.Error())
		_, err = work.ClaimWork(withKey(ctx, key), &canopyv1.ClaimWorkRequest{})
		if err != nil {
			errs = append(errs, err.Error())
		}
	}

	var metrics []string
	for _, addr := range []string{s.ingestHTTP, s.statusHTTP, analysisHTTP} {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) == 0 {
			t.Fatalf("GET %s/metrics: %d", addr, resp.StatusCode)
		}
		metrics = append(metrics, string(b))
	}

	logs := s.logs.String()
	if !strings.Contains(logs, "image uploaded") || !strings.Contains(logs, "rejected API key") {
		t.Fatal("the logs lack the run's expected lines; is the log capture working?")
	}
	secrets := map[string]string{
		"database password": dbPassword,
		"S3 secret key":     s.env["S3_SECRET_ACCESS_KEY"],
		"S3 access key":     s.env["S3_ACCESS_KEY_ID"],
		"unknown API key":   wellFormedUnknown,
	}
	for name, key := range map[string]string{"admin": k.adminA, "uploader": k.uploaderA, "viewer": k.viewerA, "worker": k.workerAll, "revoked": k.revokedA} {
		secrets[name+" API key"] = key
		// The part after the shown prefix must not leak either.
		secrets[name+" API key (secret part)"] = key[12:]
	}
	for name, secret := range secrets {
		if secret == "" {
			t.Fatalf("%s is empty: the test would prove nothing", name)
		}
		if strings.Contains(logs, secret) {
			t.Errorf("%s appears in the logs", name)
		}
		for i, m := range metrics {
			if strings.Contains(m, secret) {
				t.Errorf("%s appears in /metrics of service %d", name, i)
			}
		}
		for _, e := range errs {
			if strings.Contains(e, secret) {
				t.Errorf("%s appears in an error returned to a client: %s", name, e)
			}
		}
	}
}
