package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canopyag/canopy/cli/sample"
)

// readmeExamples returns the command lines of the README's grpcurl block.
func readmeExamples(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "<!-- grpcurl-examples")
	end := strings.Index(text, "<!-- end grpcurl-examples -->")
	if start < 0 || end < start {
		t.Fatal("README.md has no grpcurl-examples block")
	}
	var cmds []string
	for _, line := range strings.Split(text[start:end], "\n") {
		if strings.HasPrefix(line, "grpcurl ") || strings.HasPrefix(line, "(echo ") {
			cmds = append(cmds, line)
		}
	}
	return cmds
}

// The README's grpcurl lines work as written against running services.
func TestGRPCurlREADME(t *testing.T) {
	grpcurl, err := filepath.Abs("../.bin/grpcurl")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(grpcurl); err != nil {
		t.Fatalf("grpcurl is not built (%v): run make tools", err)
	}
	cmds := readmeExamples(t)
	if len(cmds) != 7 {
		t.Fatalf("found %d commands in the README block, want 7: %q", len(cmds), cmds)
	}
	// With real keys, as the README tells users to run them.
	s, k, _ := newAuthStack(t, "local")
	dir := t.TempDir()
	paths, err := sample.Write(dir, 64, 48)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(paths[1], filepath.Join(dir, "photo.jpg")); err != nil {
		t.Fatal(err)
	}

	var id, token string
	run := func(cmd string) map[string]any {
		t.Helper()
		cmd = strings.NewReplacer("localhost:7001", s.ingestAddr, "localhost:7002", s.statusAddr, "ID", id, "TOKEN", token).Replace(cmd)
		c := exec.Command("bash", "-c", cmd)
		c.Dir = dir
		c.Env = append(os.Environ(), "PATH="+filepath.Dir(grpcurl)+":"+os.Getenv("PATH"),
			"CANOPY_API_KEY="+k.adminA, "CANOPY_WORKER_KEY="+k.workerAll)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		// grpcurl prints one JSON document per message; keep the last.
		var last map[string]any
		dec := json.NewDecoder(strings.NewReader(string(out)))
		for dec.More() {
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				return map[string]any{"text": string(out)}
			}
			last = m
		}
		return last
	}

	if out := run(cmds[0]); !strings.Contains(out["text"].(string), "canopy.v1.IngestService") {
		t.Errorf("list: %v", out)
	}
	if out := run(cmds[1]); out["status"] != "SERVING" {
		t.Errorf("health: %v", out)
	}
	up := run(cmds[2])
	id, _ = up["imageId"].(string)
	if up["status"] != "IMAGE_STATUS_UPLOADED" || id == "" {
		t.Fatalf("upload: %v", up)
	}
	if img := run(cmds[3]); img["id"] != id || img["filename"] != "photo.jpg" {
		t.Errorf("get: %v", img)
	}
	claim := run(cmds[4])
	items, _ := claim["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("claim: %v", claim)
	}
	item := items[0].(map[string]any)
	token, _ = item["leaseToken"].(string)
	if item["image"].(map[string]any)["id"] != id || token == "" {
		t.Fatalf("claimed %v", item)
	}
	if rel := run(cmds[5]); rel["image"].(map[string]any)["status"] != "IMAGE_STATUS_UPLOADED" {
		t.Errorf("release: %v", rel)
	}
	s.startAnalysis()
	if w := run(cmds[6]); w["image"].(map[string]any)["status"] != "IMAGE_STATUS_COMPLETED" {
		t.Errorf("watch ended with %v", w)
	}
}
