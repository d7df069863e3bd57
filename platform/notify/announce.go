package notify

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Note is one notification to send.
type Note struct {
	Channel, Payload string
}

// Announcer sends a process's notifications after the transactions they
// announce have committed.
//
// Why not NOTIFY inside the transaction (from a trigger, say)? PostgreSQL
// takes one database-wide lock in the pre-commit of every notifying
// transaction and holds it through that commit's WAL flush, so notifying
// commits stop sharing flushes (group commit) and queue up one fsync at a
// time. Here the data commits as usual, flushed and durable, and only then
// is it announced, from one goroutine, many notes to one small transaction
// with synchronous_commit off: that transaction writes no data, so nothing
// is lost if it is not flushed, and it holds the lock only for a moment.
//
// A note is lost if the process dies between the commit and the send (or
// the database is unreachable for longer than the backlog holds). Listeners
// must therefore heal from the tables: status-svc tails the event log, and
// a waiting claim re-checks at the end of its wait.
type Announcer struct {
	connString string
	log        *slog.Logger
	max        int
	conn       *pgx.Conn // Run's own; nil until connected

	mu      sync.Mutex
	pending []Note
	kick    chan struct{}

	sent    atomic.Int64
	batches atomic.Int64
	dropped atomic.Int64
}

// batchGap is the least time between two sends. At idle a note goes out at
// once; under load the notes of about a millisecond share one transaction,
// so a thousand commits a second cost at most a thousand small notifying
// transactions, and usually far fewer.
const batchGap = time.Millisecond

// MaxBacklog is how many unsent notes an Announcer keeps while the database
// is unreachable; older ones are dropped first (listeners heal anyway).
const MaxBacklog = 100_000

// NewAnnouncer returns an announcer that sends, once Run is started, on a
// connection of its own to connString.
func NewAnnouncer(connString string, log *slog.Logger) *Announcer {
	return &Announcer{connString: connString, log: log, max: MaxBacklog, kick: make(chan struct{}, 1)}
}

// Announce queues notes to be sent soon; it never blocks. Call it after
// the transaction the notes describe has committed, never before.
func (a *Announcer) Announce(notes ...Note) {
	if a == nil || len(notes) == 0 {
		return
	}
	a.mu.Lock()
	a.pending = append(a.pending, notes...)
	if over := len(a.pending) - a.max; over > 0 {
		a.pending = append(a.pending[:0], a.pending[over:]...)
		a.dropped.Add(int64(over))
	}
	a.mu.Unlock()
	kick(a.kick)
}

// Sent counts notes sent; Batches the transactions that carried them.
func (a *Announcer) Sent() int64    { return a.sent.Load() }
func (a *Announcer) Batches() int64 { return a.batches.Load() }

// Dropped counts notes given up on while the database was unreachable.
func (a *Announcer) Dropped() int64 { return a.dropped.Load() }

// Run sends queued notes until ctx ends, then sends what is still queued
// (for up to a second) so a graceful stop announces its last commits.
func (a *Announcer) Run(ctx context.Context) error {
	defer func() {
		if a.conn != nil {
			_ = a.conn.Close(context.WithoutCancel(ctx))
		}
	}()
	backoff := 50 * time.Millisecond
	var lastSend time.Time
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
			if notes := a.take(); len(notes) > 0 {
				if err := a.send(fctx, notes); err != nil {
					a.log.Warn("notifications not sent at shutdown; listeners will heal from the tables", "notes", len(notes), "error", err)
				}
			}
			return nil
		case <-a.kick:
		}
		if wait := time.Until(lastSend.Add(batchGap)); wait > 0 {
			time.Sleep(wait) // at most batchGap; notes gather meanwhile
		}
		notes := a.take()
		if len(notes) == 0 {
			continue
		}
		lastSend = time.Now()
		if err := a.send(ctx, notes); err != nil {
			if ctx.Err() != nil {
				a.putBack(notes)
				continue
			}
			a.log.WarnContext(ctx, "sending notifications failed; retrying", "notes", len(notes), "error", err, "backoff", backoff)
			a.putBack(notes)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 2*time.Second)
			kick(a.kick)
			continue
		}
		backoff = 50 * time.Millisecond
	}
}

func (a *Announcer) take() []Note {
	a.mu.Lock()
	defer a.mu.Unlock()
	notes := a.pending
	a.pending = nil
	return notes
}

// putBack requeues notes that could not be sent ahead of newer ones.
func (a *Announcer) putBack(notes []Note) {
	a.mu.Lock()
	a.pending = append(notes, a.pending...)
	if over := len(a.pending) - a.max; over > 0 {
		a.pending = a.pending[over:]
		a.dropped.Add(int64(over))
	}
	a.mu.Unlock()
}

// send delivers notes in one statement, so one transaction and one round
// trip, in order.
func (a *Announcer) send(ctx context.Context, notes []Note) error {
	if a.conn == nil || a.conn.IsClosed() {
		conn, err := pgx.Connect(ctx, a.connString)
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		// The notes describe data already flushed; their own commit need
		// not wait for a flush, which is what keeps the notify lock short.
		if _, err := conn.Exec(ctx, `SET synchronous_commit = off`); err != nil {
			_ = conn.Close(context.WithoutCancel(ctx))
			return fmt.Errorf("set synchronous_commit: %w", err)
		}
		a.conn = conn
	}
	channels := make([]string, len(notes))
	payloads := make([]string, len(notes))
	for i, n := range notes {
		channels[i], payloads[i] = n.Channel, n.Payload
	}
	if _, err := a.conn.Exec(ctx, `SELECT count(pg_notify(c, p)) FROM unnest($1::text[], $2::text[]) AS n(c, p)`, channels, payloads); err != nil {
		_ = a.conn.Close(context.WithoutCancel(ctx))
		a.conn = nil
		return fmt.Errorf("notify: %w", err)
	}
	a.sent.Add(int64(len(notes)))
	a.batches.Add(1)
	return nil
}
