// Package catalog reads images, their analyses and their event log from
// PostgreSQL and turns rows into API messages. Both the write side
// (ingest-svc, to answer with the stored image) and the read side
// (status-svc) use it, so an image looks the same whichever service returns it.
package catalog

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// ErrNotFound means no image (or analysis) has that id.
var ErrNotFound = errors.New("not found")

// ErrInvalid means a request value cannot be used (a malformed id or token).
// The errors that wrap it are *FieldError, naming the field.
var ErrInvalid = errors.New("invalid argument")

// FieldError says which request field is wrong and why.
type FieldError struct {
	Field  string // the proto field name, e.g. "image_id"
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Querier is what the queries need: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Status names as stored in the images.status column.
const (
	StatusUploaded   = "uploaded"
	StatusProcessing = "processing"
	StatusCompleted  = "completed"
	StatusFailed     = "failed"
)

// StatusToProto maps a stored status to the API enum.
func StatusToProto(s string) canopyv1.ImageStatus {
	switch s {
	case StatusUploaded:
		return canopyv1.ImageStatus_IMAGE_STATUS_UPLOADED
	case StatusProcessing:
		return canopyv1.ImageStatus_IMAGE_STATUS_PROCESSING
	case StatusCompleted:
		return canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED
	case StatusFailed:
		return canopyv1.ImageStatus_IMAGE_STATUS_FAILED
	}
	return canopyv1.ImageStatus_IMAGE_STATUS_UNSPECIFIED
}

// StatusFromProto maps the API enum to the stored status ("" for unspecified).
func StatusFromProto(s canopyv1.ImageStatus) string {
	switch s {
	case canopyv1.ImageStatus_IMAGE_STATUS_UPLOADED:
		return StatusUploaded
	case canopyv1.ImageStatus_IMAGE_STATUS_PROCESSING:
		return StatusProcessing
	case canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED:
		return StatusCompleted
	case canopyv1.ImageStatus_IMAGE_STATUS_FAILED:
		return StatusFailed
	}
	return ""
}

// IsTerminal reports whether no transition can follow s.
func IsTerminal(s canopyv1.ImageStatus) bool {
	return s == canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED || s == canopyv1.ImageStatus_IMAGE_STATUS_FAILED
}

// BandRoleName is the stored name of a band role ("" for unspecified).
func BandRoleName(r canopyv1.BandRole) string {
	if r == canopyv1.BandRole_BAND_ROLE_UNSPECIFIED {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(r.String(), "BAND_ROLE_"))
}

// BandRoleFromName is the inverse of BandRoleName.
func BandRoleFromName(s string) canopyv1.BandRole {
	if s == "" {
		return canopyv1.BandRole_BAND_ROLE_UNSPECIFIED
	}
	return canopyv1.BandRole(canopyv1.BandRole_value["BAND_ROLE_"+strings.ToUpper(s)])
}

// ParseID checks an image id is a UUID, so a malformed one is an
// InvalidArgument rather than a database error.
func ParseID(id string) (string, error) {
	id = strings.TrimSpace(id)
	if len(id) != 36 || strings.Count(id, "-") != 4 {
		return "", invalid("image_id", "%q is not a UUID", id)
	}
	for _, c := range strings.ReplaceAll(id, "-", "") {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return "", invalid("image_id", "%q is not a UUID", id)
		}
	}
	return strings.ToLower(id), nil
}

const imageColumns = `i.id::text, i.status, i.batch_id, coalesce(i.client_upload_id, ''), i.filename,
	i.size_bytes, i.band_layout, i.attempts, i.last_error, i.uploaded_at, i.processing_started_at,
	i.processed_at, i.capture_time, i.last_event_seq,
	g.latitude, g.longitude, g.altitude, g.source, g.valid, g.warning`

const imageFrom = `FROM images i LEFT JOIN image_gps g ON g.image_id = i.id`

func scanImage(row pgx.Row) (*canopyv1.Image, error) {
	var (
		img                         canopyv1.Image
		status                      string
		uploaded                    time.Time
		started, processed, capture *time.Time
		lat, lon, alt               *float64
		source, warning             *string
		valid                       *bool
	)
	err := row.Scan(&img.Id, &status, &img.BatchId, &img.ClientUploadId, &img.Filename,
		&img.SizeBytes, &img.BandLayout, &img.Attempts, &img.LastError, &uploaded, &started,
		&processed, &capture, &img.LastEventSeq,
		&lat, &lon, &alt, &source, &valid, &warning)
	if err != nil {
		return nil, err
	}
	img.Status = StatusToProto(status)
	img.UploadedAt = timestamppb.New(uploaded)
	img.ProcessingStartedAt = ts(started)
	img.ProcessedAt = ts(processed)
	img.CaptureTime = ts(capture)
	if lat != nil {
		img.Gps = &canopyv1.GPS{Latitude: *lat, Longitude: *lon, Altitude: alt, Source: *source, Valid: *valid, Warning: *warning}
	}
	return &img, nil
}

func ts(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

// GetImage loads one image with its files.
func GetImage(ctx context.Context, q Querier, id string) (*canopyv1.Image, error) {
	id, err := ParseID(id)
	if err != nil {
		return nil, err
	}
	img, err := scanImage(q.QueryRow(ctx, `SELECT `+imageColumns+` `+imageFrom+` WHERE i.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("image %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get image %s: %w", id, err)
	}
	if err := attachFiles(ctx, q, []*canopyv1.Image{img}); err != nil {
		return nil, err
	}
	return img, nil
}

func attachFiles(ctx context.Context, q Querier, imgs []*canopyv1.Image) error {
	if len(imgs) == 0 {
		return nil
	}
	ids := make([]string, len(imgs))
	byID := make(map[string]*canopyv1.Image, len(imgs))
	for i, img := range imgs {
		ids[i] = img.Id
		byID[img.Id] = img
	}
	rows, err := q.Query(ctx, `SELECT image_id::text, filename, content_type, band_role, blob_key, size_bytes, sha256
		FROM image_files WHERE image_id = ANY($1::uuid[]) ORDER BY image_id, file_index`, ids)
	if err != nil {
		return fmt.Errorf("load image files: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, role string
		f := &canopyv1.ImageFile{}
		if err := rows.Scan(&id, &f.Filename, &f.ContentType, &role, &f.BlobKey, &f.SizeBytes, &f.Sha256); err != nil {
			return fmt.Errorf("scan image file: %w", err)
		}
		f.BandRole = BandRoleFromName(role)
		byID[id].Files = append(byID[id].Files, f)
	}
	return rows.Err()
}

// ListFilter selects images for ListImages. Paging is keyed on
// (uploaded_at, id), so pages stay stable while new images arrive.
type ListFilter struct {
	Status    string
	BatchID   string
	PageSize  int
	PageToken string
}

// ListImages returns one page of images, oldest first, and the token of the next page.
func ListImages(ctx context.Context, q Querier, f ListFilter) ([]*canopyv1.Image, string, error) {
	if f.PageSize <= 0 {
		f.PageSize = 100
	}
	if f.PageSize > 1000 {
		return nil, "", invalid("page_size", "%d is over 1000", f.PageSize)
	}
	var after time.Time
	afterID := "00000000-0000-0000-0000-000000000000"
	if f.PageToken != "" {
		var err error
		if after, afterID, err = decodePageToken(f.PageToken); err != nil {
			return nil, "", err
		}
	}
	rows, err := q.Query(ctx, `SELECT `+imageColumns+` `+imageFrom+`
		WHERE ($1 = '' OR i.status = $1) AND ($2 = '' OR i.batch_id = $2)
		  AND (i.uploaded_at, i.id) > ($3, $4::uuid)
		ORDER BY i.uploaded_at, i.id LIMIT $5`,
		f.Status, f.BatchID, after, afterID, f.PageSize+1)
	if err != nil {
		return nil, "", fmt.Errorf("list images: %w", err)
	}
	var imgs []*canopyv1.Image
	for rows.Next() {
		img, err := scanImage(rows)
		if err != nil {
			rows.Close()
			return nil, "", fmt.Errorf("scan image: %w", err)
		}
		imgs = append(imgs, img)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list images: %w", err)
	}
	next := ""
	if len(imgs) > f.PageSize {
		imgs = imgs[:f.PageSize]
		last := imgs[len(imgs)-1]
		next = encodePageToken(last.UploadedAt.AsTime(), last.Id)
	}
	if err := attachFiles(ctx, q, imgs); err != nil {
		return nil, "", err
	}
	return imgs, next, nil
}

func encodePageToken(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixMicro(), 10) + "|" + id))
}

func decodePageToken(tok string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return time.Time{}, "", invalid("page_token", "malformed; pass next_page_token as it was given")
	}
	us, id, ok := strings.Cut(string(b), "|")
	micros, err := strconv.ParseInt(us, 10, 64)
	if !ok || err != nil {
		return time.Time{}, "", invalid("page_token", "malformed; pass next_page_token as it was given")
	}
	if id, err = ParseID(id); err != nil {
		return time.Time{}, "", invalid("page_token", "malformed; pass next_page_token as it was given")
	}
	return time.UnixMicro(micros), id, nil
}

// GetAnalysis loads the analysis of a completed image.
func GetAnalysis(ctx context.Context, q Querier, id string) (*canopyv1.Analysis, error) {
	id, err := ParseID(id)
	if err != nil {
		return nil, err
	}
	var raw []byte
	err = q.QueryRow(ctx, `SELECT result FROM analyses WHERE image_id = $1`, id).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("analysis of image %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get analysis %s: %w", id, err)
	}
	a := &canopyv1.Analysis{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, a); err != nil {
		return nil, fmt.Errorf("decode analysis %s: %w", id, err)
	}
	return a, nil
}

// EventFilter selects events after a sequence number: of one image, of one
// batch, or of all images.
type EventFilter struct {
	ImageID  string
	BatchID  string
	AfterSeq int64
	Limit    int
}

// Events returns events in sequence order.
func Events(ctx context.Context, q Querier, f EventFilter) ([]*canopyv1.ImageEvent, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	var (
		rows pgx.Rows
		err  error
	)
	const cols = `e.seq, e.image_id::text, e.status, e.attempt, e.message, e.created_at`
	switch {
	case f.ImageID != "":
		rows, err = q.Query(ctx, `SELECT `+cols+` FROM image_events e
			WHERE e.image_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3`, f.ImageID, f.AfterSeq, f.Limit)
	case f.BatchID != "":
		rows, err = q.Query(ctx, `SELECT `+cols+` FROM image_events e JOIN images i ON i.id = e.image_id
			WHERE i.batch_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3`, f.BatchID, f.AfterSeq, f.Limit)
	default:
		rows, err = q.Query(ctx, `SELECT `+cols+` FROM image_events e
			WHERE e.seq > $1 ORDER BY e.seq LIMIT $2`, f.AfterSeq, f.Limit)
	}
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var evs []*canopyv1.ImageEvent
	for rows.Next() {
		var (
			ev     canopyv1.ImageEvent
			status string
			at     time.Time
		)
		if err := rows.Scan(&ev.Seq, &ev.ImageId, &status, &ev.Attempt, &ev.Message, &at); err != nil {
			return nil, fmt.Errorf("scan event: %w", err)
		}
		ev.Status = StatusToProto(status)
		ev.Time = timestamppb.New(at)
		evs = append(evs, &ev)
	}
	return evs, rows.Err()
}

// MarkedEvent is one event of the whole sequence, and whether it belongs
// to the batch asked for.
type MarkedEvent struct {
	Event   *canopyv1.ImageEvent
	InBatch bool
}

// SequenceForBatch returns every event after afterSeq in sequence order,
// marking those of batch (others carry no message). A batch watcher needs
// the whole sequence: a seq missing from the batch's events alone may be
// another batch's or one of its own whose transaction has not committed
// yet, and only the unfiltered sequence tells the two apart.
func SequenceForBatch(ctx context.Context, q Querier, batch string, afterSeq int64, limit int) ([]MarkedEvent, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := q.Query(ctx, `SELECT e.seq, i.batch_id = $1, e.image_id::text, e.status, e.attempt,
			CASE WHEN i.batch_id = $1 THEN e.message ELSE '' END, e.created_at
		FROM image_events e JOIN images i ON i.id = e.image_id
		WHERE e.seq > $2 ORDER BY e.seq LIMIT $3`, batch, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var evs []MarkedEvent
	for rows.Next() {
		var (
			ev     canopyv1.ImageEvent
			mine   bool
			status string
			at     time.Time
		)
		if err := rows.Scan(&ev.Seq, &mine, &ev.ImageId, &status, &ev.Attempt, &ev.Message, &at); err != nil {
			return nil, fmt.Errorf("scan event: %w", err)
		}
		ev.Status = StatusToProto(status)
		ev.Time = timestamppb.New(at)
		evs = append(evs, MarkedEvent{Event: &ev, InBatch: mine})
	}
	return evs, rows.Err()
}

// LatestSeq is the newest event's sequence number (0 with none).
func LatestSeq(ctx context.Context, q Querier) (int64, error) {
	var seq int64
	if err := q.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM image_events`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("latest event: %w", err)
	}
	return seq, nil
}

// QueueStats counts images per status.
func QueueStats(ctx context.Context, q Querier) (*canopyv1.GetQueueStatsResponse, error) {
	rows, err := q.Query(ctx, `SELECT status, count(*),
		coalesce(extract(epoch FROM now() - min(uploaded_at)), 0)::float8
		FROM images GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("queue stats: %w", err)
	}
	defer rows.Close()
	out := &canopyv1.GetQueueStatsResponse{}
	for rows.Next() {
		var (
			status string
			n      int64
			age    float64
		)
		if err := rows.Scan(&status, &n, &age); err != nil {
			return nil, fmt.Errorf("scan queue stats: %w", err)
		}
		switch status {
		case StatusUploaded:
			out.Uploaded, out.OldestUploadedAgeSeconds = n, age
		case StatusProcessing:
			out.Processing = n
		case StatusCompleted:
			out.Completed = n
		case StatusFailed:
			out.Failed = n
		}
	}
	return out, rows.Err()
}
