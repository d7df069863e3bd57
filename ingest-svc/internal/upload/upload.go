// Package upload receives client-streamed images: it streams every chunk
// straight into the blob store (never holding a whole file in memory),
// hashes on the fly, reads GPS from the EXIF, and records the image as
// uploaded only after its blobs are durable.
package upload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/ingest-svc/internal/queue"
	"github.com/canopyag/canopy/platform/apierror"
	"github.com/canopyag/canopy/platform/auth"
	"github.com/canopyag/canopy/platform/blob"
	"github.com/canopyag/canopy/platform/catalog"
	"github.com/canopyag/canopy/platform/exif"
	"github.com/canopyag/canopy/platform/notify"
)

// Limits bounds what one upload may carry.
type Limits struct {
	MaxBytes    int64 // per upload, all files together
	MaxFiles    int
	MaxAttempts int // analysis attempts given to each image
}

// Service implements canopyv1.IngestServiceServer.
type Service struct {
	canopyv1.UnimplementedIngestServiceServer
	pool   *pgxpool.Pool
	blobs  blob.Store
	limits Limits
	log    *slog.Logger
	ann    *notify.Announcer
	// stored, duplicates and storedBytes are nil until RegisterMetrics.
	stored, duplicates, storedBytes prometheus.Counter
}

// RegisterMetrics exports upload counts and bytes on reg. Refused uploads
// are counted by the RPC metrics, by code.
func (s *Service) RegisterMetrics(reg prometheus.Registerer) {
	uploads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "canopy_uploads_total",
		Help: "Uploads recorded, by result: stored (a new image) or duplicate (a repeated client upload id).",
	}, []string{"result"})
	bytes := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "canopy_upload_bytes_total",
		Help: "Bytes of the files of new images stored.",
	})
	reg.MustRegister(uploads, bytes)
	s.stored, s.duplicates, s.storedBytes = uploads.WithLabelValues("stored"), uploads.WithLabelValues("duplicate"), bytes
}

func (s *Service) count(img *canopyv1.Image, dup bool) {
	switch {
	case s.stored == nil:
	case dup:
		s.duplicates.Inc()
	default:
		s.stored.Inc()
		s.storedBytes.Add(float64(img.GetSizeBytes()))
	}
}

// New returns the ingest service; ann announces each upload once recorded.
func New(pool *pgxpool.Pool, blobs blob.Store, limits Limits, log *slog.Logger, ann *notify.Announcer) *Service {
	return &Service{pool: pool, blobs: blobs, limits: limits, log: log, ann: ann}
}

// metadataPrefix is how much of a file's start is kept in memory for the
// EXIF reader; a TIFF whose tags lie further in is read back from the store.
const metadataPrefix = 256 << 10

// UploadImage receives one image or capture.
func (s *Service) UploadImage(stream grpc.ClientStreamingServer[canopyv1.UploadImageRequest, canopyv1.UploadImageResponse]) error {
	ctx := stream.Context()
	start := time.Now()
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return status.Error(codes.InvalidArgument, "empty upload: the first message must carry the metadata")
	}
	if err != nil {
		return recvError(err)
	}
	md := first.GetMetadata()
	if md == nil {
		return status.Error(codes.InvalidArgument, "the first message must carry the metadata, not a chunk")
	}
	// The image joins the caller's project. There is no field to choose
	// another: a key uploads into its own project only.
	p := auth.FromContext(ctx)
	if p == nil || p.ProjectID == "" {
		return status.Error(codes.Unauthenticated, "uploads need the key of a project")
	}
	project := p.ProjectID
	if err := s.validate(md); err != nil {
		return err
	}
	if err := s.checkPanelRef(ctx, project, md.GetAnalysis()); err != nil {
		return err
	}
	if md.GetClientUploadId() != "" {
		if img, err := s.byClientID(ctx, project, md.GetClientUploadId()); err != nil {
			return err
		} else if img != nil {
			return stream.SendAndClose(response(img, true))
		}
	}

	id := uuid.Must(uuid.NewV7()).String()
	u := &receiver{svc: s, ctx: ctx, imageID: id, specs: md.GetFiles()}
	files, err := u.receive(stream)
	if err != nil {
		u.cleanup()
		return err
	}
	img, dup, err := s.record(ctx, project, id, md, files)
	var maybe *maybeRecordedError
	if (err != nil && !errors.As(err, &maybe)) || dup {
		u.cleanup() // nothing references the blobs
	}
	if err != nil {
		return err
	}
	s.count(img, dup)
	s.log.InfoContext(ctx, "image uploaded", "image_id", img.GetId(), "project", project, "key_id", p.KeyID, "files", len(files),
		"bytes", img.GetSizeBytes(), "duplicate", dup, "duration_ms", time.Since(start).Milliseconds())
	return stream.SendAndClose(response(img, dup))
}

func response(img *canopyv1.Image, dup bool) *canopyv1.UploadImageResponse {
	r := &canopyv1.UploadImageResponse{
		ImageId: img.GetId(), SizeBytes: img.GetSizeBytes(), Status: img.GetStatus(),
		Files: img.GetFiles(), Duplicate: dup,
	}
	if len(img.GetFiles()) > 0 {
		r.Sha256 = img.GetFiles()[0].GetSha256()
	}
	return r
}

func (s *Service) validate(md *canopyv1.UploadMetadata) error {
	fs := md.GetFiles()
	if len(fs) == 0 {
		return apierror.BadField("metadata.files", "is empty: declare at least one file")
	}
	if len(fs) > s.limits.MaxFiles {
		return apierror.BadField("metadata.files", "has %d files; at most %d per upload", len(fs), s.limits.MaxFiles)
	}
	for i, f := range fs {
		if f.GetFilename() == "" || len(f.GetFilename()) > 1024 {
			return apierror.BadField(fmt.Sprintf("metadata.files[%d].filename", i), "want 1 to 1024 bytes")
		}
		// The name is stored as text (PostgreSQL text holds no NUL) and is
		// never used as a path: blob keys come from the image id.
		if strings.ContainsRune(f.GetFilename(), 0) {
			return apierror.BadField(fmt.Sprintf("metadata.files[%d].filename", i), "must not contain NUL")
		}
		// An undefined number would be stored and analysed as no role.
		if r := f.GetBandRole(); r.Descriptor().Values().ByNumber(r.Number()) == nil {
			return apierror.BadField(fmt.Sprintf("metadata.files[%d].band_role", i), "%d is not a band role (BAND_ROLE_BLUE, _GREEN, _RED, _RED_EDGE, _NIR ...)", r)
		}
	}
	if len(md.GetClientUploadId()) > 256 {
		return apierror.BadField("metadata.client_upload_id", "limited to 256 bytes, like batch_id")
	}
	if len(md.GetBatchId()) > 256 {
		return apierror.BadField("metadata.batch_id", "limited to 256 bytes")
	}
	if l := md.GetBandLayout(); l != "" {
		if len(l) > 16 || strings.Trim(strings.ToUpper(l), "RGBNEOCA") != "" {
			return apierror.BadField("metadata.band_layout", "%q: use the letters R G B N (near infrared) E (red edge) O C (other) A (alpha), like RGN or NGB", l)
		}
		// Only O and C (other) may repeat: two bands of one colour would fail
		// every index that needs it, after the upload.
		for _, c := range "RGBNEA" {
			if strings.Count(strings.ToUpper(l), string(c)) > 1 {
				return apierror.BadField("metadata.band_layout", "%q names %c twice; only O and C (other) may repeat", l, c)
			}
		}
		if len(fs) != 1 {
			return apierror.BadField("metadata.band_layout", "describes a single multi-band file; for a capture of one file per band, set files[].band_role")
		}
	}
	if err := checkAnalysisOptions(md.GetAnalysis()); err != nil {
		return err
	}
	if g := md.GetGps(); g != nil {
		// Written so NaN fails too: every comparison with NaN is false.
		if lat, lon := g.GetLatitude(), g.GetLongitude(); !(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180) {
			return apierror.BadField("metadata.gps", "(%g, %g) is out of range: latitude -90..90, longitude -180..180", lat, lon)
		}
		if g.Altitude != nil {
			// Below the Dead Sea shore to above any drone's ceiling, in metres.
			if alt := g.GetAltitude(); !(alt >= -500 && alt <= 20000) {
				return apierror.BadField("metadata.gps.altitude", "%g m is out of range: -500..20000", alt)
			}
		}
	}
	return nil
}

// byClientID finds the project's earlier upload with this idempotency key;
// the same key in another project is a different upload.
func (s *Service) byClientID(ctx context.Context, project, clientID string) (*canopyv1.Image, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT id::text FROM images WHERE project_id = $1 AND client_upload_id = $2`, project, clientID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, s.unavailable(ctx, "look up client upload id", err)
	}
	img, err := catalog.GetImage(ctx, s.pool, catalog.Project(project), id)
	if err != nil {
		return nil, s.unavailable(ctx, "load earlier upload", err)
	}
	return img, nil
}

// storedFile is one file received and durable in the blob store.
type storedFile struct {
	spec        *canopyv1.FileSpec
	key         string
	contentType string
	size        int64
	sha256      string
	prefix      []byte
}

// receiver runs one upload's stream.
type receiver struct {
	svc     *Service
	ctx     context.Context
	imageID string
	specs   []*canopyv1.FileSpec
	total   int64
	stored  []storedFile
	cur     *fileWriter
}

// fileWriter feeds one file's chunks to a blob Put running in its own
// goroutine through a pipe, so memory stays at a chunk or two per stream
// and a slow store slows the client down instead of filling memory.
type fileWriter struct {
	index  int
	key    string
	pw     *io.PipeWriter
	done   chan error
	cancel context.CancelFunc // ends the Put's own context
	hash   *chunkHasher
	size   int64
	prefix bytes.Buffer
	ctype  string
}

func (u *receiver) receive(stream grpc.ClientStreamingServer[canopyv1.UploadImageRequest, canopyv1.UploadImageResponse]) ([]storedFile, error) {
	next := 0 // the index of the next file to start
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, recvError(err)
		}
		c := msg.GetChunk()
		if c == nil {
			return nil, status.Error(codes.InvalidArgument, "metadata may only come first; later messages must be chunks")
		}
		idx := int(c.GetFileIndex())
		if idx < 0 || idx >= len(u.specs) {
			return nil, status.Errorf(codes.InvalidArgument, "chunk file_index %d: the upload declares %d files", idx, len(u.specs))
		}
		if u.cur == nil || idx != u.cur.index {
			if idx < next {
				return nil, status.Errorf(codes.InvalidArgument, "chunk for file %d after file %d: send files in order, one after the other", idx, next-1)
			}
			if idx > next {
				return nil, status.Errorf(codes.InvalidArgument, "file %d (%s) got no data", next, u.specs[next].GetFilename())
			}
			if err := u.finishFile(); err != nil {
				return nil, err
			}
			u.startFile(idx)
			next = idx + 1
		}
		if err := u.write(c.GetData()); err != nil {
			return nil, err
		}
	}
	if u.cur == nil {
		return nil, status.Error(codes.InvalidArgument, "no data: the upload ended after the metadata")
	}
	if err := u.finishFile(); err != nil {
		return nil, err
	}
	if len(u.stored) < len(u.specs) {
		return nil, status.Errorf(codes.InvalidArgument, "file %d (%s) got no data", len(u.stored), u.specs[len(u.stored)].GetFilename())
	}
	return u.stored, nil
}

func (u *receiver) startFile(idx int) {
	// Keys are ours, never the client's filename: a name like ../../etc/passwd
	// is only ever stored as metadata.
	key := fmt.Sprintf("%s%d", blob.ImagePrefix(u.imageID), idx)
	pr, pw := io.Pipe()
	// The Put is not cancelled when the client goes away: an abort comes
	// through the pipe (cleanup closes it with an error), so the store sees
	// a failed body and cleans up after requests it has answered. Cancelling
	// the requests themselves would race them: an S3 multipart upload whose
	// CreateMultipartUpload answer is lost to the cancellation, or a part
	// still being written when the abort arrives, stays behind. cleanup
	// cancels this context only if the store does not finish in putAbortWait.
	ctx, cancel := context.WithCancel(context.WithoutCancel(u.ctx))
	fw := &fileWriter{index: idx, key: key, pw: pw, done: make(chan error, 1), cancel: cancel, hash: newChunkHasher()}
	go func() {
		_, err := u.svc.blobs.Put(ctx, key, pr)
		pr.CloseWithError(err) // unblock the writer if Put gave up early
		fw.done <- err
	}()
	u.cur = fw
}

// putAbortWait bounds how long an aborted upload waits for the store to
// clean up through the failed body before its requests are cancelled.
const putAbortWait = time.Minute

func (u *receiver) write(data []byte) error {
	fw := u.cur
	if len(data) == 0 {
		return nil
	}
	u.total += int64(len(data))
	if u.total > u.svc.limits.MaxBytes {
		return status.Errorf(codes.ResourceExhausted, "upload is over the %d-byte limit", u.svc.limits.MaxBytes)
	}
	if fw.prefix.Len() < metadataPrefix {
		fw.prefix.Write(data[:min(len(data), metadataPrefix-fw.prefix.Len())])
	}
	if fw.ctype == "" && fw.prefix.Len() >= sniffLen {
		if err := fw.sniff(u.specs[fw.index].GetFilename()); err != nil {
			return err
		}
	}
	fw.hash.add(data)
	fw.size += int64(len(data))
	if _, err := fw.pw.Write(data); err != nil {
		return u.svc.unavailable(u.ctx, "store upload", err)
	}
	return nil
}

func (u *receiver) finishFile() error {
	fw := u.cur
	if fw == nil {
		return nil
	}
	name := u.specs[fw.index].GetFilename()
	if fw.size == 0 {
		return status.Errorf(codes.InvalidArgument, "file %d (%s) is empty", fw.index, name)
	}
	if fw.ctype == "" {
		if err := fw.sniff(name); err != nil {
			return err
		}
	}
	fw.pw.Close()
	err := <-fw.done
	fw.cancel()
	sum := fw.hash.sum()
	if err != nil {
		u.cur = nil
		return u.svc.unavailable(u.ctx, "store upload", err)
	}
	u.stored = append(u.stored, storedFile{
		spec: u.specs[fw.index], key: fw.key, contentType: fw.ctype, size: fw.size,
		sha256: hex.EncodeToString(sum), prefix: fw.prefix.Bytes(),
	})
	u.cur = nil
	return nil
}

// cleanup removes whatever this upload stored: a failed upload leaves
// neither a row nor a blob.
func (u *receiver) cleanup() {
	ctx := context.WithoutCancel(u.ctx)
	if fw := u.cur; fw != nil {
		fw.hash.sum() // ends its goroutine; the sum is not needed
		fw.pw.CloseWithError(errors.New("upload aborted"))
		// Put removes its partial object itself.
		t := time.NewTimer(putAbortWait)
		select {
		case <-fw.done:
		case <-t.C:
			u.svc.log.WarnContext(ctx, "blob store slow to abort an upload; cancelling its requests", "key", fw.key)
			fw.cancel()
			<-fw.done
		}
		t.Stop()
		fw.cancel()
		u.cur = nil
	}
	for _, f := range u.stored {
		if err := u.svc.blobs.Delete(ctx, f.key); err != nil {
			u.svc.log.ErrorContext(ctx, "remove blob of failed upload", "key", f.key, "error", err)
		}
	}
}

const sniffLen = 8

// chunkHasher computes a file's SHA-256 on its own goroutine, beside the
// one receiving the chunks and the one writing them to the store: hashed
// on the receiving goroutine it was a fifth of ingest-svc's CPU in a
// one-stream upload, and that stream ran at 0.63-0.70 of its speed
// without the hash (379-414 against 594-601 MB/s).
//
// It keeps the chunks it is given until it has hashed them. A chunk is
// the Data of a message gRPC unmarshalled into memory of its own (proto
// copies bytes fields unless told to alias), so nothing overwrites it;
// the queue's capacity bounds how many chunks a stream holds this way.
type chunkHasher struct {
	q      chan []byte
	result chan []byte
	once   sync.Once
	digest []byte
}

// hashQueue is how many chunks may wait for the hasher, besides the one it
// is hashing.
const hashQueue = 2

func newChunkHasher() *chunkHasher {
	h := &chunkHasher{q: make(chan []byte, hashQueue), result: make(chan []byte, 1)}
	go func() {
		d := sha256.New()
		for b := range h.q {
			d.Write(b)
		}
		h.result <- d.Sum(nil)
	}()
	return h
}

// add hands a chunk to the hasher; it must not be changed afterwards.
func (h *chunkHasher) add(b []byte) { h.q <- b }

// sum returns the SHA-256 of every chunk added and ends the goroutine;
// later calls return the same sum.
func (h *chunkHasher) sum() []byte {
	h.once.Do(func() {
		close(h.q)
		h.digest = <-h.result
	})
	return h.digest
}

// sniff decides the content type from the first bytes, whatever the client
// claims, and refuses what the analysis cannot read.
func (fw *fileWriter) sniff(name string) error {
	b := fw.prefix.Bytes()
	switch {
	case bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}):
		fw.ctype = "image/jpeg"
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")),
		bytes.HasPrefix(b, []byte("II+\x00")), bytes.HasPrefix(b, []byte("MM\x00+")):
		fw.ctype = "image/tiff"
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		fw.ctype = "image/png"
	default:
		return status.Errorf(codes.InvalidArgument, "file %d (%s) is not a JPEG, TIFF or PNG image (it starts with %q)", fw.index, name, b[:min(len(b), 8)])
	}
	return nil
}

// record writes the image rows and its "uploaded" event in one transaction.
// dup is true when a concurrent upload with the same client id won the race.
func (s *Service) record(ctx context.Context, project, id string, md *canopyv1.UploadMetadata, files []storedFile) (*canopyv1.Image, bool, error) {
	var total int64
	for _, f := range files {
		total += f.size
	}
	meta := s.readMetadata(ctx, files[0])
	captureTime := md.GetCaptureTime().AsTime()
	if md.GetCaptureTime() == nil {
		captureTime = time.Time{}
		if meta != nil {
			captureTime = meta.CaptureTime
		}
	}
	var clientID *string
	if md.GetClientUploadId() != "" {
		clientID = &md.ClientUploadId
	}
	// reachedCommit is set once every statement succeeded: an error after
	// it came from COMMIT, which the server may have carried out before the
	// connection dropped (a database restart does that).
	reachedCommit := false
	var xid string // the transaction's id, to ask its outcome by if COMMIT's answer is lost
	ev := &queue.Events{}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO images (id, batch_id, client_upload_id, filename, band_layout,
				size_bytes, status, max_attempts, capture_time, analysis_options, project_id)
			VALUES ($1, $2, $3, $4, $5, $6, 'uploaded', $7, $8, $9, $10)
			RETURNING pg_current_xact_id()::text`,
			id, md.GetBatchId(), clientID, files[0].spec.GetFilename(), strings.ToUpper(md.GetBandLayout()),
			total, s.limits.MaxAttempts, nullTime(captureTime), analysisOptionsJSON(md.GetAnalysis()), project).Scan(&xid); err != nil {
			return fmt.Errorf("insert image: %w", err)
		}
		for i, f := range files {
			if _, err := tx.Exec(ctx, `INSERT INTO image_files (image_id, file_index, filename, content_type,
					band_role, blob_key, size_bytes, sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				id, i, f.spec.GetFilename(), f.contentType, catalog.BandRoleName(f.spec.GetBandRole()),
				f.key, f.size, f.sha256); err != nil {
				return fmt.Errorf("insert image file: %w", err)
			}
		}
		if err := insertGPS(ctx, tx, id, md.GetGps(), meta); err != nil {
			return err
		}
		if err := queue.RecordEvent(ctx, tx, ev, id, catalog.StatusUploaded, 0, fmt.Sprintf("%d file(s), %d bytes", len(files), total)+gpsNote(md.GetGps(), meta)); err != nil {
			return err
		}
		reachedCommit = true
		return nil
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "images_client_upload_id" {
		img, err := s.byClientID(ctx, project, md.GetClientUploadId())
		if err != nil {
			return nil, false, err
		}
		return img, true, nil
	}
	if err != nil && reachedCommit {
		committed, cerr := s.wasCommitted(ctx, id, xid)
		switch {
		case cerr != nil:
			// Unknown: keep the blobs, since deleting them could leave a
			// recorded image without its file, which is worse than an orphan.
			s.log.ErrorContext(ctx, "upload commit outcome unknown; blobs kept", "image_id", id, "commit_error", err, "check_error", cerr)
			return nil, false, &maybeRecordedError{imageID: id}
		case committed:
			s.log.WarnContext(ctx, "upload committed although COMMIT reported an error", "image_id", id, "error", err)
			err = nil
		}
	}
	if err != nil {
		return nil, false, s.unavailable(ctx, "record upload", err)
	}
	s.ann.Announce(ev.Notes()...)
	// The answer is built from what was just committed rather than read
	// back: a read failing after the commit (say, the database restarting)
	// must not turn a stored upload into an error.
	return writtenImage(id, total, files), false, nil
}

// maybeRecordedError answers an upload whose COMMIT outcome could not be
// learned; its blobs are kept.
type maybeRecordedError struct{ imageID string }

func (e *maybeRecordedError) Error() string { return e.GRPCStatus().Message() }

// GRPCStatus makes the error the call's answer as it is.
func (e *maybeRecordedError) GRPCStatus() *status.Status {
	return status.Newf(codes.Unavailable, "the database went away while recording the upload; it may have been stored as image %s: check with GetImage, or upload again with the same client_upload_id", e.imageID)
}

// wasCommitted asks, for a few seconds (a restarting database comes back
// in about that), what became of transaction xid, which inserted image id.
// It keeps asking after the client has gone: the answer decides whether
// the blobs may be deleted. The transaction's status is asked, not whether
// the row is there yet: a COMMIT whose connection was lost may still be
// under way in its server process (deferred work, the WAL flush), and a
// row that is not there yet would have its blobs deleted before it
// appears.
func (s *Service) wasCommitted(ctx context.Context, id, xid string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	var last error
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		var st *string
		err := s.pool.QueryRow(ctx, `SELECT pg_xact_status($1::xid8)`, xid).Scan(&st)
		switch {
		case err != nil:
			last = err
		case st == nil:
			// Too old for PostgreSQL to know (not after seconds, but
			// should it be): the row says.
			var exists bool
			err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM images WHERE id = $1)`, id).Scan(&exists)
			if err == nil {
				return exists, nil
			}
			last = err
		case *st == "committed":
			return true, nil
		case *st == "aborted":
			return false, nil
		default: // "in progress": still committing, or about to be aborted
			last = fmt.Errorf("transaction %s is still in progress", xid)
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("check whether image %s was recorded: %w", id, last)
		case <-time.After(wait):
		}
	}
}

// writtenImage is the image as record inserted it.
func writtenImage(id string, total int64, files []storedFile) *canopyv1.Image {
	img := &canopyv1.Image{Id: id, Status: canopyv1.ImageStatus_IMAGE_STATUS_UPLOADED, SizeBytes: total}
	if len(files) > 0 {
		img.Filename = files[0].spec.GetFilename()
	}
	for _, f := range files {
		img.Files = append(img.Files, &canopyv1.ImageFile{
			Filename: f.spec.GetFilename(), ContentType: f.contentType, BandRole: f.spec.GetBandRole(),
			BlobKey: f.key, SizeBytes: f.size, Sha256: f.sha256,
		})
	}
	return img
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// readMetadata reads EXIF from the first file. Metadata is a nicety: a file
// without it, or with broken tags, is still a valid upload.
func (s *Service) readMetadata(ctx context.Context, f storedFile) *exif.Metadata {
	if f.contentType == "image/png" {
		return nil
	}
	r := &prefixReaderAt{ctx: ctx, prefix: f.prefix, size: f.size, store: s.blobs, key: f.key}
	meta, err := exif.Read(r, f.size)
	if errors.Is(err, exif.ErrNoMetadata) {
		return nil
	}
	if err != nil {
		s.log.WarnContext(ctx, "unreadable exif; image kept without metadata", "key", f.key, "error", err)
		return nil
	}
	for _, w := range meta.Warnings {
		s.log.WarnContext(ctx, "exif", "key", f.key, "warning", w)
	}
	return meta
}

// gpsNote explains, for the "uploaded" event, why an image whose file has
// GPS tags got no position: damaged GPS is recorded as absent, never as a
// guess such as (0, 0), and the reason stays with the image rather than only
// in the log.
func gpsNote(override *canopyv1.GPSOverride, meta *exif.Metadata) string {
	if override != nil || meta == nil || meta.GPS != nil {
		return ""
	}
	var ws []string
	for _, w := range meta.Warnings {
		if strings.HasPrefix(w, "gps") {
			ws = append(ws, w)
		}
	}
	if len(ws) == 0 {
		return ""
	}
	return "; no GPS position recorded: " + strings.Join(ws, "; ")
}

func insertGPS(ctx context.Context, tx pgx.Tx, id string, override *canopyv1.GPSOverride, meta *exif.Metadata) error {
	var (
		lat, lon float64
		alt      *float64
		source   string
		valid    bool
		warning  string
	)
	switch {
	case override != nil:
		lat, lon, source, valid = override.GetLatitude(), override.GetLongitude(), "client", true
		if override.Altitude != nil {
			a := override.GetAltitude()
			alt = &a
		}
	case meta != nil && meta.GPS != nil:
		g := meta.GPS
		lat, lon, alt, source, valid = g.Latitude, g.Longitude, g.Altitude, "exif", g.Valid
		if !g.Valid {
			warning = "the file flags its GPS fix as void (GPSStatus V); not a location"
		}
		if !g.HasRef {
			warning = strings.TrimPrefix(warning+"; no hemisphere reference tags: values kept unsigned", "; ")
		}
	default:
		return nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO image_gps (image_id, latitude, longitude, altitude, source, valid, warning)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, lat, lon, alt, source, valid, warning); err != nil {
		return fmt.Errorf("insert gps: %w", err)
	}
	return nil
}

// prefixReaderAt serves the EXIF reader from the bytes kept in memory and
// falls back to ranged reads of the stored blob beyond them.
type prefixReaderAt struct {
	ctx    context.Context
	prefix []byte
	size   int64
	store  blob.Store
	key    string
}

func (r *prefixReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= r.size {
		return 0, io.EOF
	}
	if end := off + int64(len(p)); end <= int64(len(r.prefix)) {
		return copy(p, r.prefix[off:end]), nil
	}
	want := min(int64(len(p)), r.size-off)
	rc, err := r.store.OpenRange(r.ctx, r.key, off, want)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p[:want])
	if err == nil && want < int64(len(p)) {
		err = io.EOF
	}
	return n, err
}

func recvError(err error) error {
	if st, ok := status.FromError(err); ok {
		return st.Err()
	}
	return status.Errorf(codes.Unavailable, "receive: %v", err)
}

func (s *Service) unavailable(ctx context.Context, action string, err error) error {
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	s.log.ErrorContext(ctx, action+" failed", "error", err)
	return status.Errorf(codes.Unavailable, "%s failed; nothing was stored, try again", action)
}

// checkAnalysisOptions refuses settings analysis-svc could not honour, so
// a typo is an InvalidArgument now rather than a failed image later.
func checkAnalysisOptions(o *canopyv1.AnalysisOptions) error {
	if o == nil {
		return nil
	}
	if o.SaviL != nil {
		if l := o.GetSaviL(); !(l >= 0 && l <= 1) {
			return apierror.BadField("metadata.analysis.savi_l", "%g: SAVI's soil factor L is 0..1 (0.5 suits intermediate cover)", l)
		}
	}
	if o.ReflectanceScale != nil {
		if sc := o.GetReflectanceScale(); !(sc > 0 && sc <= 1) {
			return apierror.BadField("metadata.analysis.reflectance_scale", "%g: want a factor in (0, 1], such as 0.0001 for reflectance stored as 0..10000", sc)
		}
	}
	if o.TakeoffAltitudeM != nil {
		if a := o.GetTakeoffAltitudeM(); !(a >= -500 && a <= 9000) {
			return apierror.BadField("metadata.analysis.takeoff_altitude_m", "%g m is out of range: -500..9000", a)
		}
	}
	if err := checkCalibration(o); err != nil {
		return err
	}
	if len(o.GetIndices()) > len(catalog.IndexNames) {
		return apierror.BadField("metadata.analysis.indices", "names %d indices; there are %d", len(o.GetIndices()), len(catalog.IndexNames))
	}
	named := map[string]int{} // canonical name -> where it was first named
	for i, n := range o.GetIndices() {
		c, ok := catalog.CanonicalIndexName(n)
		if !ok {
			return apierror.BadField(fmt.Sprintf("metadata.analysis.indices[%d]", i), "%q is not an index; known: %s", n, strings.Join(catalog.IndexNames, ", "))
		}
		// Refused rather than dropped: a repeat is more likely a typo for
		// another index than a wish to have one twice.
		if j, ok := named[c]; ok {
			return apierror.BadField(fmt.Sprintf("metadata.analysis.indices[%d]", i), "%q names %s again, as indices[%d] did", n, c, j)
		}
		named[c] = i
	}
	return nil
}

// analysisOptionsJSON is the images.analysis_options value: NULL when the
// upload gave none, else the options in protojson with canonical index
// names.
func analysisOptionsJSON(o *canopyv1.AnalysisOptions) []byte {
	if proto.Size(o) == 0 { // none, or every field unset (an explicit 0 is set)
		return nil
	}
	c := proto.Clone(o).(*canopyv1.AnalysisOptions)
	for i, n := range c.Indices {
		c.Indices[i], _ = catalog.CanonicalIndexName(n)
	}
	canonicalCalibration(c)
	b, err := protojson.Marshal(c)
	if err != nil {
		// Marshalling a checked message of plain fields cannot fail.
		panic(fmt.Sprintf("marshal analysis options: %v", err))
	}
	return b
}
