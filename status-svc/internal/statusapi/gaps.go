package statusapi

import (
	"slices"
	"time"
)

// gapTracker lets a watcher read events in seq order without
// missing any. Sequence numbers are handed out when a row is inserted but
// become visible at commit, so seq 11 can be visible before seq 10. When a
// read shows such a hole, the missing seqs are remembered and read again
// until they appear or gapWait passes (a rolled-back insert never fills its
// hole). A hole is given up only after a read that still misses it: a
// watcher that fell behind, and read again only after gapWait, must not
// give up holes that have long been filled.
type gapTracker struct {
	wait  time.Duration
	holes map[int64]time.Time // missing seq -> when it was first noticed
	sent  map[int64]bool      // seqs above the oldest hole already delivered
	now   func() time.Time
}

func newGapTracker(wait time.Duration) *gapTracker {
	return &gapTracker{wait: wait, holes: map[int64]time.Time{}, sent: map[int64]bool{}, now: time.Now}
}

// open holes, to read again by number (catalog.EventFilter.Holes) beside
// what comes after the last seq seen. Reading from below the oldest hole
// instead re-read everything since it on every read, and once more than a
// page had come since, the same page again and again until the hole was
// given up: a rolled-back insert held a firehose up to gapWait behind.
func (g *gapTracker) openHoles() []int64 {
	if len(g.holes) == 0 {
		return nil
	}
	out := make([]int64, 0, len(g.holes))
	for seq := range g.holes {
		out = append(out, seq)
	}
	slices.Sort(out)
	return out
}

// deliver reports whether the event seq should be sent, and records holes
// between last and seq. The reads must see every seq (the caller's events
// and the numbers of everyone else's): only then is a missing seq a hole.
func (g *gapTracker) deliver(seq, last int64) bool {
	if seq <= last {
		if _, ok := g.holes[seq]; ok {
			delete(g.holes, seq)
			g.sent[seq] = true
			return true
		}
		return false
	}
	if g.sent[seq] {
		return false
	}
	now := g.now()
	for missing := last + 1; missing < seq && len(g.holes) < 10000; missing++ {
		if !g.sent[missing] {
			g.holes[missing] = now
		}
	}
	if len(g.holes) > 0 {
		g.sent[seq] = true
	}
	return true
}

func (g *gapTracker) open() bool { return len(g.holes) > 0 }

// expire gives up the holes older than wait; call it after a read has been
// delivered, so that every hole it gives up was missing from that read.
func (g *gapTracker) expire() {
	now := g.now()
	for seq, at := range g.holes {
		if now.Sub(at) > g.wait {
			delete(g.holes, seq)
		}
	}
	if len(g.holes) == 0 {
		clear(g.sent)
	}
}
