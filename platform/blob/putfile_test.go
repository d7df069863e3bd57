package blob_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/canopyag/canopy/platform/blob"
)

// PutFile takes the file over: from the store's own file system by a
// rename, from another (tmpfs /dev/shm here, when it is one) by a copy.
// Either way the object has the file's bytes, the file is gone, and a
// bad key stores nothing and leaves the file.
func TestLocalPutFile(t *testing.T) {
	root := t.TempDir()
	s, err := blob.NewLocal(filepath.Join(root, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]string{"same file system": root}
	if shm, err := os.MkdirTemp("/dev/shm", "canopy-putfile-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(shm) })
		var a, b syscall.Stat_t
		if syscall.Stat(shm, &a) == nil && syscall.Stat(root, &b) == nil && a.Dev != b.Dev {
			dirs["another file system"] = shm
		}
	}
	if len(dirs) == 1 {
		t.Log("no second file system: only the rename is tried")
	}
	ctx := context.Background()
	// A directory where the object would go: the error names the key and
	// the cause, not the server's folders.
	blocked := filepath.Join(root, "blocked.tif")
	if err := os.WriteFile(blocked, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "blobs", "images", "y", "index-gli.tif", "z"), 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutFile(ctx, "images/y/index-gli.tif", blocked); err == nil || strings.Contains(err.Error(), root) || !strings.Contains(err.Error(), "images/y/index-gli.tif") {
		t.Errorf("PutFile onto a directory: %v; want an error naming the key and no server path", err)
	}
	for name, dir := range dirs {
		path := filepath.Join(dir, "ndvi.tif")
		want := []byte("a GeoTIFF from " + name)
		if err := os.WriteFile(path, want, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutFile(ctx, "../escape", path); err == nil {
			t.Errorf("%s: a bad key was accepted", name)
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s: the file went with a refused key: %v", name, err)
		}
		key := "images/x/index-ndvi-" + filepath.Base(dir) + ".tif"
		n, err := s.PutFile(ctx, key, path)
		if err != nil || n != int64(len(want)) {
			t.Fatalf("%s: PutFile = %d, %v; want %d bytes", name, n, err, len(want))
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("%s: the file is still at %s (%v)", name, path, err)
		}
		rc, err := s.Open(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if string(got) != string(want) {
			t.Errorf("%s: stored %q, want %q", name, got, want)
		}
	}
}
