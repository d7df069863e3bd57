package statusapi

import (
	"testing"
	"time"
)

// A watcher reads seqs 1, 3 (2 is a hole: taken, not yet committed), then
// falls behind and reads again only after more than gapWait: seq 2 has
// committed meanwhile and must still be delivered. A hole still missing
// from a read made after gapWait is given up.
func TestGapTrackerKeepsHolesUntilAReadMissesThem(t *testing.T) {
	clock := time.Unix(0, 0)
	g := newGapTracker(10 * time.Second)
	g.now = func() time.Time { return clock }
	var last int64
	read := func(seqs ...int64) (delivered []int64) {
		for _, s := range seqs {
			if g.deliver(s, last) {
				delivered = append(delivered, s)
			}
			last = max(last, s)
		}
		g.expire()
		return delivered
	}
	if got := read(1, 3); len(got) != 2 {
		t.Fatalf("first read delivered %v", got)
	}
	if h := g.openHoles(); len(h) != 1 || h[0] != 2 {
		t.Fatalf("holes %v, want [2]", h)
	}
	clock = clock.Add(11 * time.Second) // behind: the next read comes late
	if h := g.openHoles(); len(h) != 1 || h[0] != 2 {
		t.Fatalf("holes of a late read %v, want [2]: the hole must not be given up unread", h)
	}
	// The late read: the hole, now committed, and what came after 3.
	if got := read(2, 4); len(got) != 2 || got[0] != 2 || got[1] != 4 {
		t.Fatalf("late read delivered %v, want [2 4]", got)
	}
	if h := g.openHoles(); len(h) != 0 {
		t.Fatalf("holes %v after the hole was read", h)
	}
	// A new hole at 5, missing from a read made after gapWait: given up.
	read(6)
	clock = clock.Add(11 * time.Second)
	read()
	if h := g.openHoles(); len(h) != 0 {
		t.Errorf("holes %v after the hole at 5 was missing for 11 s, want none", h)
	}
}

// A filled hole is delivered once, an old seq that was never a hole not
// at all, and the sorted holes follow every change.
func TestGapTrackerDeliversAFilledHoleOnce(t *testing.T) {
	g := newGapTracker(time.Hour)
	if !g.deliver(5, 1) { // 2, 3 and 4 are missing
		t.Fatal("seq 5 after 1 not delivered")
	}
	if h := g.openHoles(); len(h) != 3 || h[0] != 2 || h[2] != 4 {
		t.Fatalf("holes %v, want [2 3 4]", h)
	}
	if !g.deliver(3, 5) || g.deliver(3, 5) {
		t.Error("the filled hole 3 was not delivered exactly once")
	}
	if g.deliver(1, 5) {
		t.Error("seq 1, delivered before the holes, was delivered again")
	}
	if h := g.openHoles(); len(h) != 2 || h[0] != 2 || h[1] != 4 {
		t.Errorf("holes %v after 3 came, want [2 4]", h)
	}
}
