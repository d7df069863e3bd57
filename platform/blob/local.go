package blob

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// tempPrefix starts the name of every file Put has not yet renamed into
// place. '~' is outside the key alphabet, so no key can name a temp file and
// List can tell them apart without a registry.
const tempPrefix = ".~tmp-"

// Local is a Store on a local file system: each key is a file under root,
// each '/' in a key a directory.
//
// Because keys become paths, a key cannot also be a "directory" of other
// keys: with "a/b" stored, Put("a") fails, and the other way round. S3 allows
// both; server-generated keys never need it. Directories are never removed,
// since pruning them would race with a concurrent Put into the same
// directory.
//
// A crash during Put can leave a temp file behind; it is invisible to every
// method and can be removed by hand (its name starts with ".~tmp-").
type Local struct {
	root string
}

var _ Store = (*Local)(nil)

// NewLocal returns a store rooted at root, creating it (0o750) if missing.
func NewLocal(root string) (*Local, error) {
	if root == "" {
		return nil, errors.New("new local blob store: empty root")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("new local blob store %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("new local blob store: %w", err)
	}
	return &Local{root: abs}, nil
}

func (l *Local) path(key string) string {
	return filepath.Join(l.root, filepath.FromSlash(key))
}

// Put implements Store.
func (l *Local) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := ValidateKey(key); err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	n, err := l.put(ctx, key, r)
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	return n, nil
}

func (l *Local) put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	final := l.path(key)
	dir := filepath.Dir(final)
	if err := l.mkdirs(dir); err != nil {
		return 0, err
	}
	// Same directory as the final path, so the rename is atomic. The name
	// leaves out the key's own name so a MaxSegmentLen name still fits.
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if errors.Is(err, fs.ErrNotExist) {
		// A Delete of the folder's last object pruned it in between.
		if err := l.mkdirs(dir); err != nil {
			return 0, err
		}
		f, err = os.CreateTemp(dir, tempPrefix+"*")
	}
	if err != nil {
		return 0, err
	}
	renamed := false
	defer func() {
		if !renamed {
			_ = f.Close()
			_ = os.Remove(f.Name())
			l.pruneEmpty(dir)
		}
	}()

	// One read per upload chunk (the CLI sends 256 KiB), not io.Copy's
	// 32 KiB: an upload hands its chunks over a synchronous pipe, so each
	// small read here was one more write the sender waited for, and
	// receiving never overlapped with writing.
	n, err := io.CopyBuffer(&flushingWriter{f: f}, &ctxReader{ctx: ctx, r: r}, make([]byte, copyBufferSize))
	if err != nil {
		return 0, fmt.Errorf("write: %w", err)
	}
	// CreateTemp makes files 0o600; match the group-readable directories.
	if err := f.Chmod(0o640); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	// Last chance to honour a cancellation: after the rename the object is
	// visible.
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return 0, err
	}
	renamed = true
	// Without this the rename itself may not survive a crash. Failing here
	// must still leave nothing behind, as the contract promises.
	if err := syncDir(dir); err != nil {
		_ = os.Remove(final)
		return 0, err
	}
	return n, nil
}

// PutFile stores the file at path under key, as Put would, by moving it:
// made durable where it is and renamed into place, which saves copying
// it when path is on the same file system as the store (an analysis's
// outputs are tens of MB per image). From another file system it is
// copied with Put. Either way path is gone once PutFile returns nil. On
// an error nothing is under key, and path may be gone too: it is meant
// for a file the caller would delete anyway.
func (l *Local) PutFile(ctx context.Context, key, path string) (int64, error) {
	if err := ValidateKey(key); err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	n, err := l.moveIn(ctx, key, path)
	err = withoutPaths(err)
	if errors.Is(err, syscall.EXDEV) {
		f, oerr := os.Open(path)
		if oerr != nil {
			return 0, fmt.Errorf("put %s: %w", key, oerr)
		}
		defer f.Close()
		if n, err = l.put(ctx, key, f); err == nil {
			_ = os.Remove(path)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	return n, nil
}

// withoutPaths drops the file paths from err's message (keeping the
// operation and the cause, which errors.Is still sees): a failed store
// reaches an image's last_error, which every viewer of the project reads,
// and the server's folders are none of theirs.
func withoutPaths(err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &le):
		return fmt.Errorf("%s: %w", le.Op, le.Err)
	case errors.As(err, &pe):
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

func (l *Local) moveIn(ctx context.Context, key, path string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	st, err := f.Stat()
	if err == nil {
		err = f.Chmod(0o640)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	final := l.path(key)
	dir := filepath.Dir(final)
	if err := l.mkdirs(dir); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := os.Rename(path, final); err != nil {
		return 0, err
	}
	if err := syncDir(dir); err != nil {
		// As Put: nothing is left under key, even if that loses the file.
		_ = os.Remove(final)
		return 0, err
	}
	return st.Size(), nil
}

// copyBufferSize is the largest write Put makes to a file.
const copyBufferSize = 1 << 20

// flushingWriter writes to f and starts the disk writes of every
// flushEvery bytes as soon as they are written, so the fsync at the end
// of a large object has little left to do: the disk works while the rest
// arrives instead of after it. It also hides *os.File's ReaderFrom, which
// would copy 32 KiB at a time whatever buffer io.CopyBuffer is given.
type flushingWriter struct {
	f            *os.File
	off, pending int64
}

const flushEvery = 8 << 20

func (w *flushingWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	w.pending += int64(n)
	if w.pending >= flushEvery {
		startWriteback(w.f, w.off-w.pending, w.pending)
		w.pending = 0
	}
	return n, err
}

// mkdirs is os.MkdirAll that also syncs the parent of every directory it
// creates, so a durable object never sits in a directory that could vanish
// in a crash.
func (l *Local) mkdirs(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	rel, err := filepath.Rel(l.root, dir)
	if err != nil {
		return err
	}
	parent := l.root
	for seg := range strings.SplitSeq(rel, string(filepath.Separator)) {
		d := filepath.Join(parent, seg)
		switch err := os.Mkdir(d, 0o750); {
		case err == nil:
			if err := syncDir(parent); err != nil {
				return err
			}
		case errors.Is(err, fs.ErrExist):
			// Made by an earlier or concurrent Put; if it is a file,
			// CreateTemp reports that below.
		default:
			return err
		}
		parent = d
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return d.Close()
}

// Open implements Store.
func (l *Local) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	f, _, err := l.open(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	return f, nil
}

// OpenRange implements Store.
func (l *Local) OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("open %s at %d: negative offset", key, offset)
	}
	f, size, err := l.open(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("open %s at %d: %w", key, offset, err)
	}
	n := max(size-offset, 0)
	if length >= 0 {
		n = min(n, length)
	}
	return readCloser{Reader: io.NewSectionReader(f, offset, n), Closer: f}, nil
}

func (l *Local) open(ctx context.Context, key string) (*os.File, int64, error) {
	if err := ValidateKey(key); err != nil {
		return nil, 0, err
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	f, err := os.Open(l.path(key))
	if err != nil {
		return nil, 0, notFound(err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		// A directory holding longer keys, not an object.
		_ = f.Close()
		return nil, 0, ErrNotFound
	}
	return f, fi.Size(), nil
}

// Size implements Store.
func (l *Local) Size(ctx context.Context, key string) (int64, error) {
	if err := ValidateKey(key); err != nil {
		return 0, fmt.Errorf("size %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("size %s: %w", key, err)
	}
	fi, err := os.Stat(l.path(key))
	if err != nil {
		return 0, fmt.Errorf("size %s: %w", key, notFound(err))
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("size %s: %w", key, ErrNotFound)
	}
	return fi.Size(), nil
}

// Delete implements Store.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	p := l.path(key)
	fi, err := os.Lstat(p)
	if err != nil {
		if errors.Is(notFound(err), ErrNotFound) {
			return nil
		}
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if fi.IsDir() {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	l.pruneEmpty(filepath.Dir(p))
	return nil
}

// pruneEmpty removes dir and its parents while they are empty, up to the
// root, so deleting an image's blobs (or a failed upload) leaves no empty
// folders behind. A folder that is not empty stops it: os.Remove refuses.
func (l *Local) pruneEmpty(dir string) {
	for dir != l.root && strings.HasPrefix(dir, l.root+string(filepath.Separator)) {
		if os.Remove(dir) != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}

// List implements Store.
func (l *Local) List(ctx context.Context, prefix string, fn func(key string) error) error {
	if err := validatePrefix(prefix); err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	// Start at the deepest directory the prefix names in full; nothing
	// outside it can match.
	rel := prefix[:strings.LastIndexByte(prefix, '/')+1]
	if err := l.walk(ctx, l.path(rel), rel, prefix, fn); err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	return nil
}

// walk calls fn for the keys under dir, whose key prefix is rel ("" or
// ending in '/'). os.ReadDir sorts by name, but that is not key order: in
// "a/b" vs "a.b", the directory "a" sorts before "a.b" while its key "a/b"
// sorts after ('.' < '/'). So entries are sorted by name+"/" for directories,
// which keeps the walk streaming yet yields keys in lexical order.
func (l *Local) walk(ctx context.Context, dir, rel, prefix string, fn func(string) error) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(notFound(err), ErrNotFound) {
			return nil
		}
		return err
	}
	type item struct {
		key string // for a directory, its key prefix ending in '/'
		dir bool
	}
	items := make([]item, 0, len(entries))
	for _, e := range entries {
		key := rel + e.Name()
		switch {
		case e.IsDir():
			key += "/"
			if !strings.HasPrefix(key, prefix) && !strings.HasPrefix(prefix, key) {
				continue
			}
		case e.Type().IsRegular():
			// Invalid keys are temp files or strangers; neither is an
			// object.
			if !strings.HasPrefix(key, prefix) || ValidateKey(key) != nil {
				continue
			}
		default:
			continue
		}
		items = append(items, item{key: key, dir: e.IsDir()})
	}
	slices.SortFunc(items, func(a, b item) int { return cmp.Compare(a.key, b.key) })

	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		if it.dir {
			if err := l.walk(ctx, l.path(it.key), it.key, prefix, fn); err != nil {
				return err
			}
			continue
		}
		if err := fn(it.key); err != nil {
			return err
		}
	}
	return nil
}

// notFound wraps ErrNotFound around errors meaning "no such file", including
// ENOTDIR: "a/b" when "a" is a file.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
