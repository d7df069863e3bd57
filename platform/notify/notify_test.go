package notify

import (
	"io"
	"log/slog"
	"strings"
	"testing"
)

// A notification wakes the subscribers of each of its keys and of "", and
// no one else: that is what keeps a watcher of one project from even being
// woken by another project's events.
func TestDispatchRoutesByEveryKey(t *testing.T) {
	keys := func(payload string) []string {
		f := strings.Fields(payload)
		return []string{f[1], "project:" + f[2]}
	}
	l := New("", map[string]KeyFunc{"ch": keys}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	all := l.Subscribe("ch", "")
	img := l.Subscribe("ch", "img-1")
	projA := l.Subscribe("ch", "project:a")
	projB := l.Subscribe("ch", "project:b")
	otherImg := l.Subscribe("ch", "img-2")

	l.dispatch("ch", "7 img-1 a")

	for name, tc := range map[string]struct {
		s    *Subscription
		want bool
	}{
		"every key": {all, true}, "its image": {img, true}, "its project": {projA, true},
		"another project": {projB, false}, "another image": {otherImg, false},
	} {
		got := false
		select {
		case <-tc.s.C():
			got = true
		default:
		}
		if got != tc.want {
			t.Errorf("%s: kicked = %v, want %v", name, got, tc.want)
		}
	}
}
