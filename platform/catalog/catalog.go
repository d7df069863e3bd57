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
	"unicode/utf8"

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
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
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

// Scope is the set of images a caller may see: one project's, or (for the
// work queue and the service's own bookkeeping) every project's. The zero
// Scope matches no image at all, so a handler that forgot to set one fails
// closed: it finds nothing rather than everything.
type Scope struct {
	project string
	all     bool
}

// Project is the scope of one project's images.
func Project(id string) Scope { return Scope{project: id} }

// AllProjects is the scope of every image. Only internal callers use it:
// the work queue, and code that has already checked the image's project.
var AllProjects = Scope{all: true}

// Arg is the scope as a query parameter: NULL for every project, else the
// project id ("" for the zero scope, which no project has: ids are
// non-empty by the projects table's CHECK).
func (s Scope) Arg() *string {
	if s.all {
		return nil
	}
	return &s.project
}

// String names the scope for logs.
func (s Scope) String() string {
	if s.all {
		return "*"
	}
	return s.project
}

// scopeClause filters images aliased i by the scope given as parameter $n.
func scopeClause(n int) string {
	return fmt.Sprintf("($%d::text IS NULL OR i.project_id = $%d::text)", n, n)
}

// Abbrev shortens a caller's value for an error message: a 100,000-byte
// "id" would otherwise come back whole, twice (message and details), and
// fill a log line.
func Abbrev(s string) string {
	const keep = 64
	if len(s) <= keep {
		return s
	}
	cut := keep
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", s[:cut], len(s))
}

// ParseID checks an image id is a UUID, so a malformed one is an
// InvalidArgument rather than a database error.
func ParseID(id string) (string, error) {
	id = strings.TrimSpace(id)
	if len(id) != 36 || strings.Count(id, "-") != 4 {
		return "", invalid("image_id", "%q is not a UUID", Abbrev(id))
	}
	for _, c := range strings.ReplaceAll(id, "-", "") {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return "", invalid("image_id", "%q is not a UUID", Abbrev(id))
		}
	}
	return strings.ToLower(id), nil
}

const imageColumns = `i.id::text, i.status, i.batch_id, coalesce(i.client_upload_id, ''), i.filename,
	i.size_bytes, i.band_layout, i.attempts, i.last_error, i.uploaded_at, i.processing_started_at,
	i.processed_at, i.capture_time, i.last_event_seq, i.analysis_options,
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
		options                     []byte
	)
	err := row.Scan(&img.Id, &status, &img.BatchId, &img.ClientUploadId, &img.Filename,
		&img.SizeBytes, &img.BandLayout, &img.Attempts, &img.LastError, &uploaded, &started,
		&processed, &capture, &img.LastEventSeq, &options,
		&lat, &lon, &alt, &source, &valid, &warning)
	if err != nil {
		return nil, err
	}
	if options != nil {
		img.AnalysisOptions = &canopyv1.AnalysisOptions{}
		// Unknown fields are a newer writer's; the ones this reader knows still apply.
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(options, img.AnalysisOptions); err != nil {
			return nil, fmt.Errorf("image %s: analysis options %s: %w", img.Id, options, err)
		}
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

// GetImage loads one image of the scope with its files. An image of another
// project is ErrNotFound, exactly like a missing one, so ids of other
// tenants' images cannot be confirmed by probing.
func GetImage(ctx context.Context, q Querier, scope Scope, id string) (*canopyv1.Image, error) {
	imgs, err := GetImages(ctx, q, scope, []string{id})
	if err != nil {
		return nil, err
	}
	return imgs[0], nil
}

// GetImages returns the images with ids, in that order; an id that is not
// an image of scope is ErrNotFound. The rows and their files are read in one
// round trip.
func GetImages(ctx context.Context, q Querier, scope Scope, ids []string) ([]*canopyv1.Image, error) {
	b := &pgx.Batch{}
	read, err := QueueGetImages(b, scope, ids)
	if err != nil {
		return nil, err
	}
	br := q.SendBatch(ctx, b)
	defer br.Close()
	return read(br)
}

// QueueGetImages adds GetImages' statements to b, so that they can go in
// the same round trip as statements before them (whose effects they see,
// in the same transaction). read returns what GetImages would; call it
// with b's results once those of the statements queued before are read.
func QueueGetImages(b *pgx.Batch, scope Scope, ids []string) (read func(pgx.BatchResults) ([]*canopyv1.Image, error), err error) {
	ids, err = parseIDs(ids)
	if err != nil {
		return nil, err
	}
	queueImagesByID(b, scope, ids)
	return func(br pgx.BatchResults) ([]*canopyv1.Image, error) {
		byID, err := readImages(br)
		if err != nil {
			return nil, err
		}
		out := make([]*canopyv1.Image, len(ids))
		for i, id := range ids {
			if out[i] = byID[id]; out[i] == nil {
				return nil, fmt.Errorf("image %s: %w", id, ErrNotFound)
			}
		}
		return out, nil
	}, nil
}

// QueueFindImages is QueueGetImages for a caller that answers each id on
// its own: read returns the images of scope found, by id, and leaves out
// the ids that are not.
func QueueFindImages(b *pgx.Batch, scope Scope, ids []string) (read func(pgx.BatchResults) (map[string]*canopyv1.Image, error), err error) {
	ids, err = parseIDs(ids)
	if err != nil {
		return nil, err
	}
	queueImagesByID(b, scope, ids)
	return readImages, nil
}

// parseIDs is ParseID of each of ids, in a new slice.
func parseIDs(ids []string) ([]string, error) {
	out := make([]string, len(ids))
	for i, id := range ids {
		var err error
		if out[i], err = ParseID(id); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// queueImagesByID adds the statements readImages reads: the images with
// (parsed) ids within scope, and their files.
func queueImagesByID(b *pgx.Batch, scope Scope, ids []string) {
	b.Queue(`SELECT `+imageColumns+` `+imageFrom+` WHERE i.id = ANY($1::uuid[]) AND `+scopeClause(2), ids, scope.Arg())
	b.Queue(filesSQL, ids)
}

// QueueGetLeasedImages adds to b the statements that read the images
// leased with tokens, for a claim that leases and reads its images in one
// round trip: the claim's statement chooses the images, so their ids are
// not known when the batch is sent, but the lease tokens it hands out
// are. read returns them by id; a token no image holds is left out.
func QueueGetLeasedImages(b *pgx.Batch, tokens []string) (read func(pgx.BatchResults) (map[string]*canopyv1.Image, error)) {
	b.Queue(`SELECT `+imageColumns+` `+imageFrom+` WHERE i.lease_token = ANY($1::uuid[])`, tokens)
	b.Queue(filesSelect+` WHERE image_id IN (SELECT id FROM images WHERE lease_token = ANY($1::uuid[]))`+filesOrder, tokens)
	return readImages
}

// readImages reads the next two results of br, images and their files (as
// QueueGetImages queues them), by id.
func readImages(br pgx.BatchResults) (map[string]*canopyv1.Image, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("get images: %w", err)
	}
	byID := map[string]*canopyv1.Image{}
	for rows.Next() {
		img, err := scanImage(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("get images: %w", err)
		}
		byID[img.Id] = img
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get images: %w", err)
	}
	if err := scanFiles(br, byID); err != nil {
		return nil, err
	}
	return byID, nil
}

const (
	filesSelect = `SELECT image_id::text, filename, content_type, band_role, blob_key, size_bytes, sha256
		FROM image_files`
	filesOrder = ` ORDER BY image_id, file_index`
	filesSQL   = filesSelect + ` WHERE image_id = ANY($1::uuid[])` + filesOrder
)

// scanFiles attaches the files read by filesSQL, the next result of br, to
// their images in byID (files of images not there are skipped).
func scanFiles(br pgx.BatchResults, byID map[string]*canopyv1.Image) error {
	rows, err := br.Query()
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
		if img := byID[id]; img != nil {
			img.Files = append(img.Files, f)
		}
	}
	return rows.Err()
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
	b := &pgx.Batch{}
	b.Queue(filesSQL, ids)
	br := q.SendBatch(ctx, b)
	defer br.Close()
	return scanFiles(br, byID)
}

// ListFilter selects images for ListImages. Paging is keyed on
// (uploaded_at, id), so pages stay stable while new images arrive.
type ListFilter struct {
	Status    string
	BatchID   string
	PageSize  int
	PageToken string
}

// ListImages returns one page of the scope's images, oldest first, and the
// token of the next page.
func ListImages(ctx context.Context, q Querier, scope Scope, f ListFilter) ([]*canopyv1.Image, string, error) {
	if f.PageSize < 0 {
		return nil, "", invalid("page_size", "%d is negative; 0 means the default, 100", f.PageSize)
	}
	if f.PageSize == 0 {
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
		  AND (i.uploaded_at, i.id) > ($3, $4::uuid) AND `+scopeClause(6)+`
		ORDER BY i.uploaded_at, i.id LIMIT $5`,
		f.Status, f.BatchID, after, afterID, f.PageSize+1, scope.Arg())
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

// GetAnalysis loads the analysis of a completed image of the scope.
func GetAnalysis(ctx context.Context, q Querier, scope Scope, id string) (*canopyv1.Analysis, error) {
	id, err := ParseID(id)
	if err != nil {
		return nil, err
	}
	var raw []byte
	err = q.QueryRow(ctx, `SELECT a.result FROM analyses a JOIN images i ON i.id = a.image_id
		WHERE a.image_id = $1 AND `+scopeClause(2), id, scope.Arg()).Scan(&raw)
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
// batch, or of all images, always within Scope.
type EventFilter struct {
	Scope    Scope
	ImageID  string
	BatchID  string
	AfterSeq int64
	Limit    int
	// Holes are seqs at or below AfterSeq to read as well, if they are
	// there now: a watcher's holes (seqs it saw skipped, whose
	// transactions may still commit). Read by number, so that an open hole
	// does not make every read start below it again.
	Holes []int64
}

// Events returns the filter's events in sequence order.
func Events(ctx context.Context, q Querier, f EventFilter) ([]*canopyv1.ImageEvent, error) {
	seqs, err := events(ctx, q, f, false)
	evs := make([]*canopyv1.ImageEvent, len(seqs))
	for i, se := range seqs {
		evs[i] = se.Event
	}
	return evs, err
}

// SeqEvent is one sequence number of the event log, with its event when
// the reader may see it (nil for another project's or batch's).
type SeqEvent struct {
	Seq   int64
	Event *canopyv1.ImageEvent
}

// EventsWithSeqs is Events for a watcher of a whole project or batch: every
// sequence number in the range, with the event only where it is the
// reader's (not another project's or batch's).
// Only the numbers, which say nothing of those images; a watcher needs them
// to tell a hole in the sequence (a transaction not yet committed, worth
// waiting for) from an event that simply is not its own.
func EventsWithSeqs(ctx context.Context, q Querier, f EventFilter) ([]SeqEvent, error) {
	return events(ctx, q, f, true)
}

func events(ctx context.Context, q Querier, f EventFilter, withForeign bool) ([]SeqEvent, error) {
	sql, args := eventsQuery(f, withForeign)
	if len(f.Holes) == 0 {
		rows, err := q.Query(ctx, sql, args...)
		if err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		return scanEvents(rows)
	}
	b := &pgx.Batch{}
	hsql, hargs := holesQuery(f, withForeign)
	b.Queue(hsql, hargs...)
	b.Queue(sql, args...)
	br := q.SendBatch(ctx, b)
	defer br.Close()
	var out []SeqEvent
	for range 2 {
		rows, err := br.Query()
		if err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		got, err := scanEvents(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	// The holes are all below the page, and each part is in seq order.
	return out, br.Close()
}

// EventPage is how many events one read returns when the filter sets no
// Limit; a reader that got a full page has more to read at once.
const EventPage = 1000

// eventsQuery is the statement events runs.
func eventsQuery(f EventFilter, withForeign bool) (string, []any) {
	cols, filter, args := eventsParts(f, withForeign)
	return `SELECT ` + cols + `
		FROM image_events e JOIN images i ON i.id = e.image_id
		WHERE e.seq > $1` + filter + ` ORDER BY e.seq LIMIT $2`, args
}

// holesQuery is eventsQuery for the events numbered f.Holes, read as runs
// of consecutive numbers: a watcher that starts after the newest events
// were deleted (their images removed) sees thousands of holes in a row,
// which as one range cost one index probe instead of thousands. A
// statement of its own, pipelined with the page: joined into one with
// UNION, the planner gave the page a hash join over every image (23 ms a
// read, not 0.03). Each run is its own index range scan (LATERAL, kept
// from being flattened by its LIMIT): as a plain join, the generic plan
// scanned every event up to $1 and filtered it against the runs, 13 ms a
// read.
func holesQuery(f EventFilter, withForeign bool) (string, []any) {
	cols, filter, args := eventsParts(f, withForeign)
	lo, hi := seqRuns(f.Holes)
	n := len(args)
	return fmt.Sprintf(`SELECT %s
		FROM unnest($%d::bigint[], $%d::bigint[]) AS r(lo, hi)
		CROSS JOIN LATERAL (SELECT * FROM image_events h
			WHERE h.seq BETWEEN r.lo AND r.hi AND h.seq <= $1 ORDER BY h.seq LIMIT $2) e
		JOIN images i ON i.id = e.image_id
		WHERE TRUE%s ORDER BY e.seq LIMIT $2`, cols, n+1, n+2, filter), append(args, lo, hi)
}

// eventsParts are what eventsQuery and holesQuery share: the select list,
// the filter's conditions (each after " AND "), and the arguments, $1 the
// seq the reader is past and $2 the page size.
func eventsParts(f EventFilter, withForeign bool) (cols, filter string, args []any) {
	if f.Limit <= 0 {
		f.Limit = EventPage
	}
	// visible is computed in SQL so other projects' rows carry nothing but
	// their seq out of the database.
	const colsFmt = `e.seq, ` + `(%s) AS visible,
		CASE WHEN (%[1]s) THEN e.image_id::text ELSE '' END,
		CASE WHEN (%[1]s) THEN e.status ELSE '' END,
		CASE WHEN (%[1]s) THEN e.attempt ELSE 0 END,
		CASE WHEN (%[1]s) THEN e.message ELSE '' END,
		e.created_at`
	args = []any{f.AfterSeq, f.Limit, f.Scope.Arg()}
	scope := scopeClause(3)
	switch {
	case f.ImageID != "":
		filter += " AND e.image_id = $4"
		args = append(args, f.ImageID)
	case f.BatchID != "" && withForeign:
		// Another batch's events are foreign too: numbers only.
		scope = "(" + scope + " AND i.batch_id = $4)"
		args = append(args, f.BatchID)
	case f.BatchID != "":
		filter += " AND i.batch_id = $4"
		args = append(args, f.BatchID)
	}
	if !withForeign {
		filter += " AND " + scope
	}
	return fmt.Sprintf(colsFmt, scope), filter, args
}

// seqRuns turns sorted, distinct seqs into runs of consecutive numbers,
// each from lo[i] to hi[i].
func seqRuns(seqs []int64) (lo, hi []int64) {
	for i, s := range seqs {
		if i > 0 && s == hi[len(hi)-1]+1 {
			hi[len(hi)-1] = s
			continue
		}
		lo, hi = append(lo, s), append(hi, s)
	}
	return lo, hi
}

func scanEvents(rows pgx.Rows) ([]SeqEvent, error) {
	defer rows.Close()
	var out []SeqEvent
	for rows.Next() {
		var (
			ev      canopyv1.ImageEvent
			status  string
			at      time.Time
			visible bool
		)
		if err := rows.Scan(&ev.Seq, &visible, &ev.ImageId, &status, &ev.Attempt, &ev.Message, &at); err != nil {
			return nil, fmt.Errorf("scan event: %w", err)
		}
		if !visible {
			out = append(out, SeqEvent{Seq: ev.Seq})
			continue
		}
		ev.Status = StatusToProto(status)
		ev.Time = timestamppb.New(at)
		out = append(out, SeqEvent{Seq: ev.Seq, Event: &ev})
	}
	return out, rows.Err()
}

// ImageEvents is one image's events after afterSeq and the image as it is
// now, read in one round trip: a watcher of one image needs both on every
// change. The image is nil (and no error) when it has no such event.
func ImageEvents(ctx context.Context, q Querier, scope Scope, id string, afterSeq int64) (*canopyv1.Image, []*canopyv1.ImageEvent, error) {
	id, err := ParseID(id)
	if err != nil {
		return nil, nil, err
	}
	sql, args := eventsQuery(EventFilter{Scope: scope, ImageID: id, AfterSeq: afterSeq}, false)
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	b.Queue(`SELECT `+imageColumns+` `+imageFrom+` WHERE i.id = $1 AND `+scopeClause(2), id, scope.Arg())
	b.Queue(filesSQL, []string{id})
	br := q.SendBatch(ctx, b)
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return nil, nil, fmt.Errorf("read events: %w", err)
	}
	seqs, err := scanEvents(rows)
	if err != nil {
		return nil, nil, err
	}
	img, err := scanImage(br.QueryRow())
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, fmt.Errorf("image %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("get image %s: %w", id, err)
	}
	if err := scanFiles(br, map[string]*canopyv1.Image{id: img}); err != nil {
		return nil, nil, err
	}
	if len(seqs) == 0 {
		return nil, nil, nil
	}
	evs := make([]*canopyv1.ImageEvent, len(seqs))
	for i, se := range seqs {
		evs[i] = se.Event
	}
	return img, evs, nil
}

// LatestSeq is the newest event's sequence number (0 with none).
func LatestSeq(ctx context.Context, q Querier) (int64, error) {
	var seq int64
	if err := q.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM image_events`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("latest event: %w", err)
	}
	return seq, nil
}

// AllocatedSeq is the highest event seq ever handed out, committed or not,
// deleted or not: no watcher can have seen a later one.
func AllocatedSeq(ctx context.Context, q Querier) (int64, error) {
	var seq int64
	if err := q.QueryRow(ctx, `SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM image_events_seq_seq`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("allocated event seq: %w", err)
	}
	return seq, nil
}

// QueueStats counts the scope's images per status.
func QueueStats(ctx context.Context, q Querier, scope Scope) (*canopyv1.GetQueueStatsResponse, error) {
	rows, err := q.Query(ctx, `SELECT i.status, count(*),
		coalesce(extract(epoch FROM now() - min(i.uploaded_at)), 0)::float8
		FROM images i WHERE `+scopeClause(1)+` GROUP BY i.status`, scope.Arg())
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

// IndexNames are the vegetation indices analysis-svc computes, as the API
// names them (AnalysisOptions.indices, Analysis.indices). ingest-svc checks
// requested names against it; analysis-svc's tests keep it equal to its
// index definitions.
var IndexNames = []string{"NDVI", "SAVI", "OSAVI", "MSAVI2", "GNDVI", "NDRE", "EVI", "EVI2", "VARI", "ExG", "GLI", "NGRDI"}

// CanonicalIndexName returns the API spelling of an index name given in
// any case, or false when there is no such index.
func CanonicalIndexName(name string) (string, bool) {
	for _, n := range IndexNames {
		if strings.EqualFold(n, name) {
			return n, true
		}
	}
	return "", false
}
