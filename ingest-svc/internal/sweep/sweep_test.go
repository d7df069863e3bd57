package sweep

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/canopyag/canopy/platform/blob"
	"github.com/canopyag/canopy/platform/database/dbtest"
)

// fixture is an image row with its uploaded file and some output blobs.
type fixture struct {
	id string
	// status and how long ago it was processed; sweptAgo < 0: never swept.
	status                 string
	processedAgo, sweptAgo time.Duration
	uploaded, outputs      []string
}

func TestSweepRemovesOnlyOutputsOfFailedImages(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	store, err := blob.NewLocal(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	mk := func(status string, processedAgo, sweptAgo time.Duration) *fixture {
		id := uuid.NewString()
		p := blob.ImagePrefix(id)
		return &fixture{id: id, status: status, processedAgo: processedAgo, sweptAgo: sweptAgo,
			uploaded: []string{p + "0", p + "1"}, outputs: []string{p + "map-ndvi.png", p + "index-ndvi.tif", p + "thumbnail.png"}}
	}
	failedLongAgo := mk("failed", time.Hour, -1)
	failedJustNow := mk("failed", time.Second, -1)              // within the grace: a worker may still be writing
	completed := mk("completed", time.Hour, -1)                 // its outputs are its analysis
	sweptBefore := mk("failed", time.Hour, 30*time.Minute)      // swept after it failed: nothing new
	failedAgain := mk("failed", 10*time.Minute, 50*time.Minute) // swept, retried, failed again since
	all := []*fixture{failedLongAgo, failedJustNow, completed, sweptBefore, failedAgain}
	for _, f := range all {
		insert(t, ctx, pool, store, f)
	}

	s := New(pool, store, Config{Interval: time.Hour, Grace: time.Minute}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	n, err := s.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Outputs go only for failedLongAgo and failedAgain: 3 blobs each.
	if n != 6 {
		t.Errorf("deleted %d blobs, want 6", n)
	}
	for _, f := range all {
		want := append(slices.Clone(f.uploaded), f.outputs...)
		if f == failedLongAgo || f == failedAgain {
			want = slices.Clone(f.uploaded)
		}
		slices.Sort(want)
		if got := keys(t, ctx, store, f.id); !slices.Equal(got, want) {
			t.Errorf("%s image (processed %s ago): blobs %v, want %v", f.status, f.processedAgo, short(got), short(want))
		}
	}
	// A second round finds nothing more: the swept images are marked.
	if n, err := s.Sweep(ctx); err != nil || n != 0 {
		t.Errorf("second sweep: %d blobs, %v; want 0", n, err)
	}
}

// An image locked by a RetryImage in progress is left for a later round,
// never swept under the retry's feet.
func TestSweepSkipsLockedImage(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	store, err := blob.NewLocal(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	p := blob.ImagePrefix(id)
	f := &fixture{id: id, status: "failed", processedAgo: time.Hour, sweptAgo: -1, uploaded: []string{p + "0"}, outputs: []string{p + "map-ndvi.png"}}
	insert(t, ctx, pool, store, f)

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM images WHERE id = $1 FOR UPDATE`, id); err != nil {
		t.Fatal(err)
	}
	s := New(pool, store, Config{Interval: time.Hour}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if n, err := s.Sweep(ctx); err != nil || n != 0 {
		t.Errorf("sweep of a locked image: %d blobs, %v; want 0, nil", n, err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Sweep(ctx); err != nil || n != 1 {
		t.Errorf("sweep once unlocked: %d blobs, %v; want 1", n, err)
	}
}

func insert(t *testing.T, ctx context.Context, pool *pgxpool.Pool, store blob.Store, f *fixture) {
	t.Helper()
	var swept *time.Duration
	if f.sweptAgo >= 0 {
		swept = &f.sweptAgo
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO images (id, filename, size_bytes, status, max_attempts, processed_at, outputs_swept_at)
			VALUES ($1, 'x.jpg', 1, $2, 3, now() - $3::interval, now() - $4::interval)`, f.id, f.status, f.processedAgo, swept); err != nil {
			return err
		}
		for i, k := range f.uploaded {
			if _, err := tx.Exec(ctx, `INSERT INTO image_files (image_id, file_index, filename, content_type, blob_key, size_bytes, sha256)
				VALUES ($1, $2, 'x.jpg', 'image/jpeg', $3, 1, '')`, f.id, i, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range append(slices.Clone(f.uploaded), f.outputs...) {
		if _, err := store.Put(ctx, k, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
}

func keys(t *testing.T, ctx context.Context, store blob.Store, id string) []string {
	t.Helper()
	var out []string
	if err := store.List(ctx, blob.ImagePrefix(id), func(k string) error { out = append(out, k); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// short drops the image id from keys, for readable failures.
func short(ks []string) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k[strings.LastIndex(k, "/")+1:]
	}
	return out
}
