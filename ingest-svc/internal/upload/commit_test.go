package upload

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/canopyag/canopy/platform/database/dbtest"
)

// wasCommitted answers by the recording transaction's outcome, not by
// whether its row can be seen yet. Asked while the transaction is still
// open (as a COMMIT whose connection was lost may still be under way in
// its server process), it waits: true once it commits, false once it
// rolls back. Looking for the row answered false at once, and the
// upload's blobs were deleted before the row appeared.
func TestWasCommittedWaitsForATransactionInProgress(t *testing.T) {
	pool := dbtest.NewPool(t)
	s := &Service{pool: pool, log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, commit := range []bool{true, false} {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var xid string
		if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&xid); err != nil {
			t.Fatal(err)
		}
		type answer struct {
			committed bool
			err       error
		}
		got := make(chan answer, 1)
		go func() {
			c, err := s.wasCommitted(ctx, uuid.NewString(), xid)
			got <- answer{c, err}
		}()
		// Usually asked at least once while the transaction is open; if
		// not, the answer must still be right.
		time.Sleep(300 * time.Millisecond)
		if commit {
			err = tx.Commit(ctx)
		} else {
			err = tx.Rollback(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		if a := <-got; a.err != nil || a.committed != commit {
			t.Errorf("transaction committed %v: wasCommitted said %v (%v)", commit, a.committed, a.err)
		}
	}
}
