// Package notify holds a process's one PostgreSQL LISTEN connection and fans
// its notifications out to any number of in-process subscribers.
//
// A notification is only a wake-up hint: the truth is in the tables. So a
// subscriber is "kicked" (a non-blocking send on a one-slot channel) and then
// reads what changed itself. A slow subscriber therefore never blocks the
// listener, and several notifications in a row collapse into one read. When
// the connection drops, notifications sent meanwhile are lost; on reconnect
// every subscriber is kicked so it re-reads and heals the gap.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// KeyFunc extracts the routing keys from a channel's payload, so a
// notification wakes only the subscribers of those keys (and those of "").
// A payload may have several: an image event is routed both by image (for
// watchers of that image) and by project (for watchers of a project).
type KeyFunc func(payload string) []string

// Listener is the LISTEN connection of one process.
type Listener struct {
	connString string
	keys       map[string]KeyFunc
	log        *slog.Logger

	mu   sync.Mutex
	subs map[string]map[string]map[*Subscription]struct{} // channel -> key -> set

	disabled    bool
	ready       chan struct{}
	readyOnce   sync.Once
	connected   atomic.Bool
	reconnects  atomic.Int64
	received    atomic.Int64
	testConnPID atomic.Uint32
}

// New returns a listener for the given channels and their key functions; a
// nil KeyFunc routes every notification of that channel to key "".
func New(connString string, channels map[string]KeyFunc, log *slog.Logger) *Listener {
	return &Listener{
		connString: connString,
		keys:       channels,
		log:        log,
		subs:       map[string]map[string]map[*Subscription]struct{}{},
		ready:      make(chan struct{}),
	}
}

// Disable makes Run hold no connection at all, for a database reached
// through a transaction pooler, where a session cannot LISTEN. Connected
// then stays false, so waiters poll, and notifications come only through
// Deliver.
func (l *Listener) Disable() *Listener {
	l.disabled = true
	return l
}

// Deliver routes a notification found some other way (by reading the
// tables) exactly as if it had arrived on the connection.
func (l *Listener) Deliver(channel, payload string) { l.dispatch(channel, payload) }

// Subscription receives kicks for one channel and key.
type Subscription struct {
	l       *Listener
	channel string
	key     string
	c       chan struct{}
}

// C is kicked when there may be something new to read.
func (s *Subscription) C() <-chan struct{} { return s.c }

// Close stops the kicks.
func (s *Subscription) Close() {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	if byKey := s.l.subs[s.channel]; byKey != nil {
		delete(byKey[s.key], s)
		if len(byKey[s.key]) == 0 {
			delete(byKey, s.key)
		}
	}
}

// Subscribe starts kicks for channel's notifications with key ("" for all).
func (l *Listener) Subscribe(channel, key string) *Subscription {
	s := &Subscription{l: l, channel: channel, key: key, c: make(chan struct{}, 1)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.subs[channel] == nil {
		l.subs[channel] = map[string]map[*Subscription]struct{}{}
	}
	if l.subs[channel][key] == nil {
		l.subs[channel][key] = map[*Subscription]struct{}{}
	}
	l.subs[channel][key][s] = struct{}{}
	return s
}

// Ready is closed once the first LISTEN is in place.
func (l *Listener) Ready() <-chan struct{} { return l.ready }

// Connected reports whether the LISTEN connection is up now.
func (l *Listener) Connected() bool { return l.connected.Load() }

// Reconnects counts how many times the connection was re-established.
func (l *Listener) Reconnects() int64 { return l.reconnects.Load() }

// Received counts notifications received.
func (l *Listener) Received() int64 { return l.received.Load() }

// BackendPID is the server process id of the current LISTEN connection, so
// fault tests can terminate it.
func (l *Listener) BackendPID() uint32 { return l.testConnPID.Load() }

// Run keeps the connection up until ctx ends, reconnecting with backoff.
func (l *Listener) Run(ctx context.Context) error {
	if l.disabled {
		l.readyOnce.Do(func() { close(l.ready) })
		l.log.InfoContext(ctx, "LISTEN is off: waiters poll the tables")
		<-ctx.Done()
		return nil
	}
	backoff := 100 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		err := l.listen(ctx, first)
		l.connected.Store(false)
		if ctx.Err() != nil {
			break
		}
		first = false
		l.reconnects.Add(1)
		l.log.WarnContext(ctx, "listen connection lost; reconnecting", "error", err, "backoff", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	return nil
}

func (l *Listener) listen(ctx context.Context, first bool) error {
	conn, err := pgx.Connect(ctx, l.connString)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for ch := range l.keys {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return fmt.Errorf("listen %s: %w", ch, err)
		}
	}
	l.testConnPID.Store(conn.PgConn().PID())
	l.connected.Store(true)
	l.readyOnce.Do(func() { close(l.ready) })
	if !first {
		l.log.InfoContext(ctx, "listen connection restored; waking every subscriber to re-read")
	}
	// Kick everyone, also the first time: a subscriber that started before
	// the LISTEN was in place may have missed a notification.
	l.kickAll()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		l.received.Add(1)
		l.dispatch(n.Channel, n.Payload)
	}
}

func (l *Listener) dispatch(channel, payload string) {
	var keys []string
	if f := l.keys[channel]; f != nil {
		keys = f(payload)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	byKey := l.subs[channel]
	for s := range byKey[""] {
		kick(s.c)
	}
	for _, key := range keys {
		if key == "" {
			continue
		}
		for s := range byKey[key] {
			kick(s.c)
		}
	}
}

func (l *Listener) kickAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, byKey := range l.subs {
		for _, set := range byKey {
			for s := range set {
				kick(s.c)
			}
		}
	}
}

func kick(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default: // already kicked; one read will see both changes
	}
}

// SecondField is a KeyFunc for payloads of the form "A B ...": it returns B.
func SecondField(payload string) []string {
	if f := strings.Fields(payload); len(f) > 1 {
		return []string{f[1]}
	}
	return nil
}
