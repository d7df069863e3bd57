package notify

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/canopyag/canopy/platform/database/dbtest"
)

// Every note announced from concurrent writers arrives exactly once, each
// writer's in the order it announced them, in fewer transactions than notes
// when writers outpace a round trip.
func TestAnnouncerDeliversEveryNoteInOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := dbtest.NewPool(t)
	conn, err := pgx.Connect(ctx, pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `LISTEN announce_test`); err != nil {
		t.Fatal(err)
	}
	a := NewAnnouncer(pool.Config().ConnString(), slog.New(slog.DiscardHandler))
	actx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(actx) }()

	const writers, each = 4, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				a.Announce(Note{Channel: "announce_test", Payload: fmt.Sprintf("%d %d", w, i)})
			}
		}()
	}
	wg.Wait()
	next := make([]int, writers)
	for range writers * each {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", next, err)
		}
		w, i, _ := strings.Cut(n.Payload, " ")
		wi, _ := strconv.Atoi(w)
		ii, _ := strconv.Atoi(i)
		if ii != next[wi] {
			t.Fatalf("writer %d: note %d arrived when %d was due", wi, ii, next[wi])
		}
		next[wi]++
	}
	stop()
	<-done
	if a.Sent() != writers*each || a.Dropped() != 0 {
		t.Errorf("sent %d, dropped %d; want %d and 0", a.Sent(), a.Dropped(), writers*each)
	}
	if a.Batches() >= a.Sent() {
		t.Errorf("%d notes in %d transactions: nothing was batched", a.Sent(), a.Batches())
	}
}

// While nothing sends (the database away), the backlog is capped and the
// oldest notes go first.
func TestAnnouncerBacklogIsCapped(t *testing.T) {
	a := NewAnnouncer("", slog.New(slog.DiscardHandler))
	a.max = 3
	for i := range 5 {
		a.Announce(Note{Channel: "c", Payload: strconv.Itoa(i)})
	}
	got := a.take()
	if len(got) != 3 || got[0].Payload != "2" || got[2].Payload != "4" || a.Dropped() != 2 {
		t.Errorf("kept %v, dropped %d; want notes 2..4 and 2 dropped", got, a.Dropped())
	}
	a.putBack(got)
	a.Announce(Note{Channel: "c", Payload: "5"})
	if got := a.take(); len(got) != 3 || got[0].Payload != "3" || got[2].Payload != "5" {
		t.Errorf("after a failed send and a new note: %v, want 3..5", got)
	}
}
