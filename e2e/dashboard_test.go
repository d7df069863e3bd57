package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/canopyag/canopy/cli/client"
	"github.com/canopyag/canopy/cli/sample"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// Every metric the sample Grafana dashboard queries is exported by a
// running service once an image has gone through, so the dashboard cannot
// silently refer to a metric that was renamed or never existed.
func TestGrafanaDashboardMetricsExist(t *testing.T) {
	b, err := os.ReadFile("../deploy/grafana/canopy-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	metric := regexp.MustCompile(`canopy_[a-z_]+`)
	wanted := map[string][]string{} // metric family -> panels
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range metric.FindAllString(tg.Expr, -1) {
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					m = strings.TrimSuffix(m, suffix)
				}
				wanted[m] = append(wanted[m], p.Title)
			}
		}
	}
	if len(wanted) == 0 {
		t.Fatal("the dashboard queries no canopy metric")
	}

	// analysis-svc's HTTP port is only known once chosen: take a free one.
	analysisHTTP := freePortAddr(t)
	s := newStack(t, "local", map[string]string{"ANALYSIS_HTTP_ADDR": analysisHTTP})
	s.startAnalysis()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	paths, err := sample.Write(t.TempDir(), 64, 48)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.client.UploadFiles(ctx, []client.File{{Path: paths[0]}}, client.UploadOptions{BandLayout: "RGN"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.client.Watch(ctx, resp.GetImageId(), func(*canopyv1.WatchImageResponse) {}); err != nil {
		t.Fatal(err)
	}

	exported := map[string]bool{}
	for _, addr := range []string{s.ingestHTTP, s.statusHTTP, analysisHTTP} {
		r, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			// "# TYPE name kind" names each exported family.
			if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
				exported[f[2]] = true
			}
		}
		r.Body.Close()
	}
	for m, panels := range wanted {
		if !exported[m] {
			t.Errorf("dashboard panels %q query %s, which no service exports", panels, m)
		}
	}
}
