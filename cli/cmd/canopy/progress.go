package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress draws one file's upload bar on a terminal; elsewhere (logs, CI)
// it stays quiet and the final "uploaded" line is enough.
type progress struct {
	w     io.Writer
	name  string
	total int64
	start time.Time
	last  time.Time
	tty   bool
}

func newProgress(w io.Writer, name string, total int64) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil {
			tty = st.Mode()&os.ModeCharDevice != 0
		}
	}
	return &progress{w: w, name: name, total: total, start: time.Now(), tty: tty}
}

func (p *progress) update(sent int64) {
	if !p.tty || (time.Since(p.last) < 100*time.Millisecond && sent < p.total) {
		return
	}
	p.last = time.Now()
	const width = 30
	frac := 1.0
	if p.total > 0 {
		frac = float64(sent) / float64(p.total)
	}
	filled := int(frac * width)
	rate := float64(sent) / max(time.Since(p.start).Seconds(), 1e-3) / (1 << 20)
	fmt.Fprintf(p.w, "\r%-28.28s [%s%s] %5.1f%% %7.1f MiB/s", p.name, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100, rate)
}

func (p *progress) done() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
