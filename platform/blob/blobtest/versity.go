package blobtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/canopyag/canopy/platform/blob"
	"github.com/canopyag/canopy/platform/shareddata"
	"github.com/canopyag/canopy/platform/testnet"
)

const (
	versityAccessKey = "canopytest"
	versitySecretKey = "canopytest-secret"
	versityReadyWait = 10 * time.Second
)

// StartVersity starts a versitygw server on a free local port with a fresh
// data directory, stops it when the test ends, and returns a config for a
// fresh, not yet created bucket on it.
//
// The binary is looked up on PATH, then at <repo root>/.bin/versitygw. If
// it is missing the test is skipped, or fails when CANOPY_REQUIRE_S3=1 (as
// in CI), so S3 coverage cannot silently disappear there.
func StartVersity(t *testing.T) blob.S3Config {
	t.Helper()
	bin, err := findVersity()
	if err != nil {
		msg := fmt.Sprintf("versitygw not found (%v): run `make tools` to install it into .bin", err)
		if os.Getenv("CANOPY_REQUIRE_S3") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	addr := testnet.FreeAddr(t)
	dataDir := t.TempDir()
	var out syncBuffer
	cmd := exec.Command(bin, "--port", addr, "--quiet", "posix", dataDir)
	cmd.Env = append(os.Environ(),
		"ROOT_ACCESS_KEY="+versityAccessKey,
		"ROOT_SECRET_KEY="+versitySecretKey,
	)
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() && out.Len() > 0 {
			t.Logf("versitygw output:\n%s", out.String())
		}
	})

	endpoint := "http://" + addr
	if err := waitReady(endpoint, exited); err != nil {
		t.Fatalf("versitygw at %s: %v\noutput:\n%s", endpoint, err, out.String())
	}
	return blob.S3Config{
		Bucket:          NewBucketName(),
		Region:          "us-east-1",
		Endpoint:        endpoint,
		UsePathStyle:    true,
		AccessKeyID:     versityAccessKey,
		SecretAccessKey: versitySecretKey,
	}
}

// NewBucketName returns a unique, valid bucket name.
func NewBucketName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "canopy-test-" + hex.EncodeToString(b)
}

func findVersity() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	root, err := shareddata.RepoRoot()
	if err != nil {
		return "", fmt.Errorf("not on PATH, and %w", err)
	}
	p := filepath.Join(root, ".bin", "versitygw")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("not on PATH nor at %s", p)
	}
	return p, nil
}

// waitReady polls until an anonymous GET is refused with 403, which
// versitygw only answers once it is serving S3 requests.
func waitReady(endpoint string, exited <-chan error) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(versityReadyWait)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited before ready: %v", err)
		default:
		}
		resp, err := client.Get(endpoint + "/")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusForbidden {
				return nil
			}
			err = fmt.Errorf("anonymous GET answered %s, want 403", resp.Status)
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v: %v", versityReadyWait, last)
}

// syncBuffer collects the server's output, written from exec's copying
// goroutine and read from the test's.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}
