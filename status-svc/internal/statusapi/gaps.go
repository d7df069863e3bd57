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
//
// A watcher that starts just after the newest events were deleted (with
// their images) sees thousands of holes at once, none of which will fill;
// so the sorted list and the oldest hole's time are kept between reads,
// and a read that changes nothing costs nothing per hole.
type gapTracker struct {
	wait   time.Duration
	holes  map[int64]time.Time // missing seq -> when it was first noticed
	now    func() time.Time
	sorted []int64   // the holes in order; nil when holes changed since
	oldest time.Time // no hole was noticed before this
}

func newGapTracker(wait time.Duration) *gapTracker {
	return &gapTracker{wait: wait, holes: map[int64]time.Time{}, now: time.Now}
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
	if g.sorted == nil {
		g.sorted = make([]int64, 0, len(g.holes))
		for seq := range g.holes {
			g.sorted = append(g.sorted, seq)
		}
		slices.Sort(g.sorted)
	}
	return g.sorted
}

// deliver reports whether the event seq should be sent, and records holes
// between last and seq. The reads must see every seq (the caller's events
// and the numbers of everyone else's): only then is a missing seq a hole.
func (g *gapTracker) deliver(seq, last int64) bool {
	if seq <= last {
		if _, ok := g.holes[seq]; ok {
			delete(g.holes, seq)
			g.sorted = nil
			return true
		}
		return false
	}
	now := g.now()
	for missing := last + 1; missing < seq && len(g.holes) < 10000; missing++ {
		if len(g.holes) == 0 {
			g.oldest = now
		}
		g.holes[missing] = now
		g.sorted = nil
	}
	return true
}

func (g *gapTracker) open() bool { return len(g.holes) > 0 }

// resumeAfter is where a watcher that has seen everything up to last, but
// for the open holes, can resume without losing an event: just below the
// oldest hole. It is last when no hole is open, and never 0 (which would
// mean "new events only"): a hole at seq 1 falls back to last.
func (g *gapTracker) resumeAfter(last int64) int64 {
	if h := g.openHoles(); len(h) > 0 && h[0] > 1 {
		return min(last, h[0]-1)
	}
	return last
}

// expire gives up the holes older than wait; call it after a read has been
// delivered, so that every hole it gives up was missing from that read.
func (g *gapTracker) expire() {
	now := g.now()
	if len(g.holes) > 0 && now.Sub(g.oldest) > g.wait {
		g.oldest = now
		for seq, at := range g.holes {
			if now.Sub(at) > g.wait {
				delete(g.holes, seq)
				g.sorted = nil
			} else if at.Before(g.oldest) {
				g.oldest = at
			}
		}
	}
}
