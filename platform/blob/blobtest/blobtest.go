// Package blobtest holds the conformance suite every blob.Store must pass,
// and starts a real S3-compatible server (versitygw) for the S3 store's
// tests.
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/canopyag/canopy/platform/blob"
)

// Run checks that the stores newStore makes honour the blob.Store contract.
// newStore is called once per subtest and must return an empty store; the
// subtests run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Empty", testEmpty},
		{"Overwrite", testOverwrite},
		{"OpenRange", testOpenRange},
		{"Missing", testMissing},
		{"Delete", testDelete},
		{"FailingReader", testFailingReader},
		{"CancelledBefore", testCancelledBefore},
		{"CancelledDuring", testCancelledDuring},
		{"List", testList},
		{"InvalidKeys", testInvalidKeys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// NonSeeker hides every method of the wrapped reader but Read, so stores
// cannot learn the size up front or rewind: the shape of an HTTP upload
// body.
type NonSeeker struct{ R io.Reader }

func (n NonSeeker) Read(p []byte) (int, error) { return n.R.Read(p) }

// RandomBytes returns n reproducible pseudo-random bytes.
func RandomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// ErrReader is the error FailingReader returns.
var ErrReader = errors.New("blobtest: reader failed on purpose")

// FailingReader yields the first n bytes of data and then ErrReader.
func FailingReader(data []byte, n int) io.Reader {
	return io.MultiReader(bytes.NewReader(data[:n]), errorReader{})
}

type errorReader struct{}

func (errorReader) Read([]byte) (int, error) { return 0, ErrReader }

// CancellingReader yields data, calling cancel once it has yielded n bytes
// and carrying on reading after that, the way a client keeps sending while
// its request is being cancelled.
type CancellingReader struct {
	data   []byte
	n      int
	cancel context.CancelFunc
	off    int
}

// NewCancellingReader returns a CancellingReader over data.
func NewCancellingReader(data []byte, n int, cancel context.CancelFunc) *CancellingReader {
	return &CancellingReader{data: data, n: n, cancel: cancel}
}

func (c *CancellingReader) Read(p []byte) (int, error) {
	if c.off >= len(c.data) {
		return 0, io.EOF
	}
	end := min(c.off+len(p), len(c.data))
	if c.off < c.n {
		end = min(end, c.n) // stop exactly at n so cancel happens there
	}
	k := copy(p, c.data[c.off:end])
	c.off += k
	if c.off >= c.n {
		c.cancel()
	}
	return k, nil
}

// Read returns the whole object under key, failing the test on any error.
func Read(t *testing.T, s blob.Store, key string) []byte {
	t.Helper()
	rc, err := s.Open(t.Context(), key)
	return readAll(t, rc, err)
}

// ReadRange returns s.OpenRange's bytes, failing the test on any error.
func ReadRange(t *testing.T, s blob.Store, key string, offset, length int64) []byte {
	t.Helper()
	rc, err := s.OpenRange(t.Context(), key, offset, length)
	return readAll(t, rc, err)
}

func readAll(t *testing.T, rc io.ReadCloser, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer func() { _ = rc.Close() }()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return b
}

// MustPut stores data under key, failing the test on any error.
func MustPut(t *testing.T, s blob.Store, key string, data []byte) {
	t.Helper()
	n, err := s.Put(t.Context(), key, NonSeeker{bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	if n != int64(len(data)) {
		t.Fatalf("Put(%q) = %d bytes, want %d", key, n, len(data))
	}
}

// Keys lists prefix, failing the test on any error.
func Keys(t *testing.T, s blob.Store, prefix string) []string {
	t.Helper()
	var keys []string
	err := s.List(t.Context(), prefix, func(key string) error {
		keys = append(keys, key)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return keys
}

// AssertAbsent checks that key cannot be opened or sized and that the store
// lists nothing at all: a failed Put must leave no trace.
func AssertAbsent(t *testing.T, s blob.Store, key string) {
	t.Helper()
	ctx := t.Context()
	if rc, err := s.Open(ctx, key); !errors.Is(err, blob.ErrNotFound) {
		if err == nil {
			_ = rc.Close()
		}
		t.Errorf("Open(%q) after failed Put: err = %v, want ErrNotFound", key, err)
	}
	if _, err := s.Size(ctx, key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Size(%q) after failed Put: err = %v, want ErrNotFound", key, err)
	}
	if keys := Keys(t, s, ""); len(keys) != 0 {
		t.Errorf("List after failed Put = %q, want nothing", keys)
	}
}

func testRoundTrip(t *testing.T, s blob.Store) {
	const key = "fields/f1/images/IMG_0001.TIF"
	data := RandomBytes(3<<20+12345, 1) // odd size: no part or buffer boundary lines up
	MustPut(t, s, key, data)

	got := Read(t, s, key)
	if !bytes.Equal(got, data) {
		t.Fatalf("Open returned %d bytes that differ from the %d put", len(got), len(data))
	}
	size, err := s.Size(t.Context(), key)
	if err != nil || size != int64(len(data)) {
		t.Errorf("Size = %d, %v; want %d, nil", size, err, len(data))
	}
}

func testEmpty(t *testing.T, s blob.Store) {
	const key = "empty"
	MustPut(t, s, key, nil)
	if got := Read(t, s, key); len(got) != 0 {
		t.Errorf("Open = %d bytes, want 0", len(got))
	}
	if got := ReadRange(t, s, key, 0, -1); len(got) != 0 {
		t.Errorf("OpenRange(0, -1) = %d bytes, want 0", len(got))
	}
	if size, err := s.Size(t.Context(), key); err != nil || size != 0 {
		t.Errorf("Size = %d, %v; want 0, nil", size, err)
	}
	if keys := Keys(t, s, ""); !slices.Equal(keys, []string{key}) {
		t.Errorf("List = %q, want [%q]", keys, key)
	}
}

func testOverwrite(t *testing.T, s blob.Store) {
	const key = "k"
	MustPut(t, s, key, []byte("first version, longer"))
	MustPut(t, s, key, []byte("second"))
	if got := Read(t, s, key); string(got) != "second" {
		t.Errorf("Open = %q, want %q", got, "second")
	}
}

func testOpenRange(t *testing.T, s blob.Store) {
	const key = "r/obj.bin"
	data := RandomBytes(100_000, 2)
	size := int64(len(data))
	MustPut(t, s, key, data)

	tests := []struct {
		name           string
		offset, length int64
		want           []byte
	}{
		{"whole", 0, -1, data},
		{"head", 0, 10, data[:10]},
		{"middle", 4096, 1000, data[4096:5096]},
		{"exact tail", size - 10, 10, data[size-10:]},
		{"tail past end", size - 10, 100, data[size-10:]},
		{"to end", 50_000, -1, data[50_000:]},
		{"last byte to end", size - 1, -1, data[size-1:]},
		{"zero length", 100, 0, nil},
		{"at end", size, 10, nil},
		{"at end to end", size, -1, nil},
		{"beyond end", size + 1000, 10, nil},
		{"beyond end to end", size + 1000, -1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ReadRange(t, s, key, tc.offset, tc.length)
			if !bytes.Equal(got, tc.want) {
				t.Errorf("OpenRange(%d, %d) = %d bytes, want %d (equal lengths: contents differ)",
					tc.offset, tc.length, len(got), len(tc.want))
			}
		})
	}
	if _, err := s.OpenRange(t.Context(), "r/missing", 0, 10); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("OpenRange(missing) err = %v, want ErrNotFound", err)
	}
	if _, err := s.OpenRange(t.Context(), "r/missing", 0, 0); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("OpenRange(missing, length 0) err = %v, want ErrNotFound", err)
	}
	if _, err := s.OpenRange(t.Context(), key, -1, 10); err == nil {
		t.Error("OpenRange(-1, 10) succeeded, want an error")
	}
}

func testMissing(t *testing.T, s blob.Store) {
	ctx := t.Context()
	MustPut(t, s, "dir/present", []byte("x"))
	for _, key := range []string{"missing", "dir/missing", "dir", "dir/present/below"} {
		if rc, err := s.Open(ctx, key); !errors.Is(err, blob.ErrNotFound) {
			if err == nil {
				_ = rc.Close()
			}
			t.Errorf("Open(%q) err = %v, want ErrNotFound", key, err)
		}
		if _, err := s.Size(ctx, key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Size(%q) err = %v, want ErrNotFound", key, err)
		}
	}
}

func testDelete(t *testing.T, s blob.Store) {
	ctx := t.Context()
	const key = "d/doomed"
	MustPut(t, s, key, []byte("bye"))
	MustPut(t, s, "d/kept", []byte("stay"))
	for i := range 2 {
		if err := s.Delete(ctx, key); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if _, err := s.Open(ctx, key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open after Delete err = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "never/existed"); err != nil {
		t.Errorf("Delete(never existed): %v", err)
	}
	if keys := Keys(t, s, ""); !slices.Equal(keys, []string{"d/kept"}) {
		t.Errorf("List after Delete = %q, want [d/kept]", keys)
	}
}

func testFailingReader(t *testing.T, s blob.Store) {
	const key = "fail/half"
	data := RandomBytes(2<<20, 3)
	_, err := s.Put(t.Context(), key, FailingReader(data, len(data)/2))
	if !errors.Is(err, ErrReader) {
		t.Fatalf("Put with failing reader: err = %v, want it to wrap ErrReader", err)
	}
	AssertAbsent(t, s, key)
}

func testCancelledBefore(t *testing.T, s blob.Store) {
	const key = "cancel/before"
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Put(ctx, key, NonSeeker{bytes.NewReader([]byte("never stored"))})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with cancelled ctx: err = %v, want context.Canceled", err)
	}
	AssertAbsent(t, s, key)
}

func testCancelledDuring(t *testing.T, s blob.Store) {
	const key = "cancel/during"
	data := RandomBytes(2<<20, 4)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, err := s.Put(ctx, key, NewCancellingReader(data, len(data)/2, cancel))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put cancelled half-way: err = %v, want context.Canceled", err)
	}
	AssertAbsent(t, s, key)
}

func testList(t *testing.T, s blob.Store) {
	// Chosen so that directory order and key order disagree: '-' and '.'
	// sort before '/', so "a-c" and "a.b" come before "a/b".
	all := []string{
		"a-c", "a.b", "a/b", "a/b.c", "a/c/d", "a/c/e", "a0", "ab/y", "b/x", "z",
	}
	shuffled := slices.Clone(all)
	rand.New(rand.NewPCG(5, 5)).Shuffle(len(shuffled), func(i, j int) {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	})
	for _, key := range shuffled {
		MustPut(t, s, key, []byte(key))
	}

	tests := []struct {
		prefix string
		want   []string
	}{
		{"", all},
		{"a", []string{"a-c", "a.b", "a/b", "a/b.c", "a/c/d", "a/c/e", "a0", "ab/y"}},
		{"a/", []string{"a/b", "a/b.c", "a/c/d", "a/c/e"}},
		{"a/b", []string{"a/b", "a/b.c"}},
		{"a/c", []string{"a/c/d", "a/c/e"}},
		{"a/c/", []string{"a/c/d", "a/c/e"}},
		{"a/c/d", []string{"a/c/d"}},
		{"ab", []string{"ab/y"}},
		{"b/x", []string{"b/x"}},
		{"nope", nil},
		{"nope/", nil},
		{"z/", nil},
	}
	for _, tc := range tests {
		if got := Keys(t, s, tc.prefix); !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}

	stop := errors.New("stop")
	var seen []string
	err := s.List(t.Context(), "", func(key string) error {
		seen = append(seen, key)
		if len(seen) == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || !slices.Equal(seen, all[:3]) {
		t.Errorf("List stopping after 3: err = %v, saw %q; want stop, %q", err, seen, all[:3])
	}
}

func testInvalidKeys(t *testing.T, s blob.Store) {
	ctx := t.Context()
	keys := []string{
		"", "../x", "a/../../x", "..", ".", "/abs", "a//b", "a/", "a/./b",
		"sp ace", "back\\slash", "pct%2F", "tilde~", "nul\x00", "é",
		strings.Repeat("k", blob.MaxSegmentLen+1),
		strings.Repeat("k/", blob.MaxKeyLen/2) + "k",
	}
	for _, key := range keys {
		if _, err := s.Put(ctx, key, strings.NewReader("x")); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Put(%q) err = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Open(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Open(%q) err = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.OpenRange(ctx, key, 0, 1); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("OpenRange(%q) err = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Size(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Size(%q) err = %v, want ErrInvalidKey", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Delete(%q) err = %v, want ErrInvalidKey", key, err)
		}
	}
	for _, prefix := range []string{"../", "/abs", "a//", "sp ace"} {
		err := s.List(ctx, prefix, func(string) error { return nil })
		if !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("List(%q) err = %v, want ErrInvalidKey", prefix, err)
		}
	}
	// The longest valid key, with the longest valid segments, must work end
	// to end (S3 prefix included).
	seg := strings.Repeat("k", blob.MaxSegmentLen)
	long := seg + "/" + seg[:blob.MaxKeyLen-blob.MaxSegmentLen-3] + "/k"
	if len(long) != blob.MaxKeyLen {
		t.Fatalf("test bug: long key is %d bytes", len(long))
	}
	MustPut(t, s, long, []byte("long"))
	if keys := Keys(t, s, ""); !slices.Equal(keys, []string{long}) {
		t.Errorf("List = %q, want only the %d-byte key", keys, blob.MaxKeyLen)
	}
}
