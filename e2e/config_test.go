package e2e

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	analysisapp "github.com/canopyag/canopy/analysis-svc/app"
	ingestapp "github.com/canopyag/canopy/ingest-svc/app"
	"github.com/canopyag/canopy/platform/config"
	statusapp "github.com/canopyag/canopy/status-svc/app"
)

// readNames returns every environment variable a service's configuration
// reads.
func readNames(load func(config.Getenv) error) map[string]bool {
	names := map[string]bool{}
	_ = load(func(k string) string { names[k] = true; return "" })
	return names
}

func serviceNames() map[string]map[string]bool {
	return map[string]map[string]bool{
		"ingest-svc":   readNames(func(g config.Getenv) error { _, err := ingestapp.LoadConfig(g); return err }),
		"status-svc":   readNames(func(g config.Getenv) error { _, err := statusapp.LoadConfig(g); return err }),
		"analysis-svc": readNames(func(g config.Getenv) error { _, err := analysisapp.LoadConfig(g); return err }),
	}
}

// The README's configuration table lists every variable a service reads,
// and nothing that none reads.
func TestREADMEConfigTable(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "## Configuration")
	if start < 0 {
		t.Fatal("README.md has no Configuration section")
	}
	section := text[start:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("`([A-Z][A-Z0-9_]+)`").FindAllStringSubmatch(section, -1) {
		documented[m[1]] = true
	}
	read := map[string]bool{}
	for _, names := range serviceNames() {
		for n := range names {
			read[n] = true
		}
	}
	var missing, stale []string
	for n := range read {
		if !documented[n] {
			missing = append(missing, n)
		}
	}
	for n := range documented {
		if !read[n] {
			stale = append(stale, n)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("read by a service but not in the README's configuration table: %v", missing)
	}
	if len(stale) > 0 {
		t.Errorf("in the README's configuration table but read by no service: %v", stale)
	}
}

// docker-compose.yml cannot run here (no Docker engine), so check what can
// be checked: its shape, and that every variable it sets is one the
// service reads (a typo would be silently ignored at run time).
func TestComposeFile(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Build       map[string]string `yaml:"build"`
			Command     any               `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Healthcheck *struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
			DependsOn map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	names := serviceNames()
	for _, want := range []string{"postgres", "minio", "migrate", "ingest-svc", "status-svc", "analysis-svc"} {
		svc, ok := compose.Services[want]
		if !ok {
			t.Errorf("no %s service", want)
			continue
		}
		if want != "migrate" && svc.Healthcheck == nil {
			t.Errorf("%s has no health check", want)
		}
		for dep, d := range svc.DependsOn {
			if _, ok := compose.Services[dep]; !ok {
				t.Errorf("%s depends on unknown service %s", want, dep)
			}
			if d.Condition == "service_healthy" && compose.Services[dep].Healthcheck == nil {
				t.Errorf("%s waits for %s to be healthy, but it has no health check", want, dep)
			}
		}
		binary := want
		if want == "migrate" {
			binary = "ingest-svc"
			if cmd, _ := svc.Command.([]any); len(cmd) != 1 || cmd[0] != "migrate" {
				t.Errorf("migrate runs %v, want [migrate]", svc.Command)
			}
		}
		if read, ours := names[binary]; ours {
			if svc.Build["target"] != binary {
				t.Errorf("%s builds target %q, want %q", want, svc.Build["target"], binary)
			}
			for k := range svc.Environment {
				if !read[k] {
					t.Errorf("%s sets %s, which %s does not read", want, k, binary)
				}
			}
		}
		// Secure by default: the compose file never runs without keys.
		if want == "ingest-svc" || want == "status-svc" {
			if m := svc.Environment["AUTH_MODE"]; m != "keys" {
				t.Errorf("%s runs with AUTH_MODE=%q, want keys", want, m)
			}
		}
		if want == "analysis-svc" && svc.Environment["API_KEY"] == "" {
			t.Error("analysis-svc gets no API_KEY: it could not claim work from ingest-svc")
		}
	}
}

// The services' healthcheck subcommand (the compose health checks) reports
// a running service as healthy, and a missing one as not.
func TestHealthcheckCommand(t *testing.T) {
	s := newStack(t, "local")
	ctx := context.Background()
	if err := statusapp.Healthcheck(ctx, func(k string) string {
		if k == "STATUS_GRPC_ADDR" {
			return s.statusAddr
		}
		return ""
	}); err != nil {
		t.Errorf("status-svc healthcheck: %v", err)
	}
	if err := ingestapp.Healthcheck(ctx, func(k string) string {
		if k == "INGEST_GRPC_ADDR" {
			return "0.0.0.0:" + s.ingestAddr[strings.LastIndex(s.ingestAddr, ":")+1:]
		}
		return ""
	}); err != nil {
		t.Errorf("ingest-svc healthcheck on a wildcard address: %v", err)
	}
	if err := ingestapp.Healthcheck(ctx, func(k string) string {
		if k == "INGEST_GRPC_ADDR" {
			return "127.0.0.1:1"
		}
		return ""
	}); err == nil {
		t.Error("healthcheck of a port nobody listens on succeeded")
	}
}

// A mangled worker key stops analysis-svc at start-up, saying so without
// repeating it, instead of a healthy-looking service whose every claim is
// refused.
func TestAnalysisRefusesMalformedKey(t *testing.T) {
	env := map[string]string{"API_KEY": "cnp_bogus"}
	_, err := analysisapp.LoadConfig(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "API_KEY is not a Canopy key") || strings.Contains(err.Error(), "bogus") {
		t.Errorf("API_KEY=cnp_bogus: %v", err)
	}
	if _, err := analysisapp.LoadConfig(func(string) string { return "" }); err != nil {
		t.Errorf("no API_KEY (dev mode, or a server without keys): %v", err)
	}
}

// A WORK_DIR that does not exist stops analysis-svc at start-up, naming
// it, instead of a healthy-looking service that fails every image it
// claims.
func TestAnalysisRefusesMissingWorkDir(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no", "such")
	env := map[string]string{
		"WORK_DIR": missing, "BLOB_DIR": t.TempDir(),
		"ANALYSIS_GRPC_ADDR": "127.0.0.1:0", "INGEST_ADDR": "127.0.0.1:1",
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := analysisapp.Run(ctx, func(k string) string { return env[k] }, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "WORK_DIR "+missing) {
		t.Errorf("WORK_DIR=%s: %v", missing, err)
	}
}

// A misspelt LOG_LEVEL or LOG_FORMAT stops every service at start-up,
// naming the variable, instead of logging at info as if nothing were
// asked; any case of a known value is taken.
func TestServicesRefuseUnknownLogSettings(t *testing.T) {
	loads := map[string]func(config.Getenv) error{
		"ingest-svc":   func(g config.Getenv) error { _, err := ingestapp.LoadConfig(g); return err },
		"status-svc":   func(g config.Getenv) error { _, err := statusapp.LoadConfig(g); return err },
		"analysis-svc": func(g config.Getenv) error { _, err := analysisapp.LoadConfig(g); return err },
	}
	for svc, load := range loads {
		for _, c := range []struct {
			env  map[string]string
			want string // "" for no error
		}{
			{map[string]string{"LOG_LEVEL": "verbose"}, `LOG_LEVEL="verbose": want debug, info, warn or error`},
			{map[string]string{"LOG_FORMAT": "xml"}, `LOG_FORMAT="xml": want text or json`},
			{map[string]string{"LOG_LEVEL": "DEBUG", "LOG_FORMAT": "JSON"}, ""},
			{map[string]string{"LOG_LEVEL": "warn"}, ""},
		} {
			err := load(func(k string) string { return c.env[k] })
			switch {
			case c.want == "" && err != nil:
				t.Errorf("%s with %v: %v", svc, c.env, err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("%s with %v: %v, want an error saying %s", svc, c.env, err, c.want)
			}
		}
	}
}
