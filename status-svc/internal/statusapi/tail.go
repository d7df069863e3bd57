package statusapi

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/canopyag/canopy/platform/catalog"
)

// Deliverer routes a notification to its subscribers (notify.Listener).
type Deliverer interface {
	Deliver(channel, payload string)
}

// EventTail reads the event log for events whose notification never came
// and delivers them as if it had. Events are announced after they commit,
// by the process that wrote them; one that dies in between, or a database
// unreachable for longer than the writer's backlog, loses the notification
// but not the event. Without LISTEN (behind a transaction pooler) the tail
// is how watchers learn of anything, every interval.
//
// It costs one indexed read per interval of the events since the last one;
// events already notified are only counted, not delivered again.
type EventTail struct {
	pool     *pgxpool.Pool
	to       Deliverer
	interval time.Duration
	// gapWait is how long a missing seq is waited for before it is taken
	// for a rolled-back insert (seqs are taken at insert, seen at commit).
	gapWait time.Duration
	log     *slog.Logger

	// grace is how long an event read from the log may still be waiting
	// for its notification (which its writer sends just after the commit)
	// before the tail delivers it itself. 0 without LISTEN.
	grace time.Duration

	mu      sync.Mutex
	low     int64               // every seq <= low is accounted for
	seen    map[int64]struct{}  // seqs > low already delivered
	pending map[int64]time.Time // read from the log, not yet notified: since when
	holes   map[int64]time.Time // below the newest read, yet absent: since when
	// started is false until low is set from the log's newest seq.
	started bool

	healed atomic.Int64
}

// tailBatch bounds one read; a longer backlog is read in several at once.
const tailBatch = 5000

// NewEventTail returns a tail delivering to to every interval, waiting
// gapWait for a skipped seq (0: DefaultGapWait) as watches do. listening
// says whether notifications arrive at all (LISTEN on): then an event is
// delivered by the tail only when its notification is overdue.
func NewEventTail(pool *pgxpool.Pool, to Deliverer, interval, gapWait time.Duration, listening bool, log *slog.Logger) *EventTail {
	if gapWait <= 0 {
		gapWait = DefaultGapWait
	}
	t := &EventTail{pool: pool, to: to, interval: interval, gapWait: gapWait, log: log,
		seen: map[int64]struct{}{}, pending: map[int64]time.Time{}, holes: map[int64]time.Time{}}
	if listening {
		t.grace = min(interval, 250*time.Millisecond)
	}
	return t
}

// Healed counts events the tail delivered because no notification came.
func (t *EventTail) Healed() int64 { return t.healed.Load() }

// Keys is EventKeys that also records the event as delivered; the listener
// uses it as the events channel's KeyFunc.
func (t *EventTail) Keys(payload string) []string {
	if f, _, _ := strings.Cut(payload, " "); f != "" {
		if seq, err := strconv.ParseInt(f, 10, 64); err == nil {
			t.mu.Lock()
			if !t.started || seq > t.low {
				t.seen[seq] = struct{}{}
			}
			t.mu.Unlock()
		}
	}
	return EventKeys(payload)
}

// Run reads the log every interval until ctx ends. Events older than its
// start are not its business: every watcher reads the log itself when it
// starts or resumes.
func (t *EventTail) Run(ctx context.Context) error {
	tick := time.NewTicker(t.interval)
	defer tick.Stop()
	for {
		if err := t.poll(ctx); err != nil && ctx.Err() == nil {
			t.log.WarnContext(ctx, "reading the event log for missed notifications", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (t *EventTail) poll(ctx context.Context) error {
	t.mu.Lock()
	started := t.started
	t.mu.Unlock()
	if !started {
		latest, err := catalog.LatestSeq(ctx, t.pool)
		if err != nil {
			return err
		}
		t.mu.Lock()
		t.low, t.started = latest, true
		for seq := range t.seen {
			if seq <= latest {
				delete(t.seen, seq)
			}
		}
		t.mu.Unlock()
		return nil
	}
	for {
		t.mu.Lock()
		before := t.low
		t.mu.Unlock()
		n, err := t.readOnce(ctx)
		t.mu.Lock()
		moved := t.low > before
		t.mu.Unlock()
		if err != nil || n < tailBatch || !moved {
			return err
		}
	}
}

// readOnce reads up to tailBatch events above low, delivers those not yet
// seen, and moves low up over what is accounted for.
func (t *EventTail) readOnce(ctx context.Context) (int, error) {
	t.mu.Lock()
	from := t.low
	t.mu.Unlock()
	rows, err := t.pool.Query(ctx, `SELECT e.seq, e.image_id::text, i.project_id
		FROM image_events e JOIN images i ON i.id = e.image_id
		WHERE e.seq > $1 ORDER BY e.seq LIMIT $2`, from, tailBatch)
	if err != nil {
		return 0, fmt.Errorf("read events after %d: %w", from, err)
	}
	type row struct {
		seq            int64
		image, project string
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.seq, &r.image, &r.project); err != nil {
			rows.Close()
			return 0, fmt.Errorf("scan event: %w", err)
		}
		got = append(got, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read events after %d: %w", from, err)
	}

	var missed []row
	now := time.Now()
	t.mu.Lock()
	present := make(map[int64]bool, len(got))
	var top int64
	for _, r := range got {
		present[r.seq] = true
		top = r.seq
		if _, ok := t.seen[r.seq]; ok {
			delete(t.pending, r.seq)
			continue
		}
		since, ok := t.pending[r.seq]
		if !ok {
			since = now
			t.pending[r.seq] = now
		}
		if now.Sub(since) >= t.grace {
			delete(t.pending, r.seq)
			t.seen[r.seq] = struct{}{}
			missed = append(missed, r)
		}
	}
	for s := t.low + 1; ; s++ {
		if _, ok := t.seen[s]; ok {
			delete(t.seen, s)
			delete(t.holes, s)
			t.low = s
			continue
		}
		if s > top || present[s] {
			break // the end, or an event still within its grace
		}
		// Below the newest row read but absent: not committed yet, or
		// rolled back. Wait a while for it, then stop waiting.
		first, ok := t.holes[s]
		if !ok {
			t.holes[s] = now
			break
		}
		if now.Sub(first) < t.gapWait {
			break
		}
		delete(t.holes, s)
		t.low = s
	}
	t.mu.Unlock()

	for _, r := range missed {
		t.to.Deliver(EventsChannel, strconv.FormatInt(r.seq, 10)+" "+r.image+" "+r.project)
	}
	if len(missed) > 0 {
		t.healed.Add(int64(len(missed)))
		t.log.DebugContext(ctx, "delivered events whose notification did not come", "events", len(missed))
	}
	return len(got), nil
}
