package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress draws the upload of a whole batch as one line on a terminal:
// the current file's bar and rate, then the batch's bytes and rate. On
// anything but a terminal (logs, CI, pipes) it stays quiet and the
// per-image "uploaded" lines are enough.
//
// Rates are bytes sent over wall time: the file's since its first chunk,
// the batch's since the batch started (hashing included, so it is the
// rate the batch really goes at).
type progress struct {
	w     io.Writer
	tty   bool
	now   func() time.Time
	start time.Time
	last  time.Time

	total  int64 // bytes the batch will send
	sent   int64 // bytes of finished images
	images int   // images in the batch
	done   int   // images finished (sent, skipped or refused)

	// The image being sent: its name, file names and sizes, and the
	// file being sent now.
	name      string
	files     []string
	sizes     []int64
	file      int
	fileBase  int64 // bytes of the image before the current file
	fileStart time.Time
	phase     string // "hash" or "send"
	cur       int64  // bytes of the image sent (or hashed) so far
}

func newProgress(w io.Writer, images int, total int64) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil {
			tty = st.Mode()&os.ModeCharDevice != 0
		}
	}
	p := &progress{w: w, tty: tty, now: time.Now, images: images, total: total}
	p.start = p.now()
	return p
}

// begin starts one image of the batch: phase "hash" while its files are
// read for the resume id, then "send".
func (p *progress) begin(name, phase string, files []string, sizes []int64) {
	p.name, p.files, p.sizes, p.phase = name, files, sizes, phase
	p.file, p.fileBase, p.cur = 0, 0, 0
	p.fileStart = p.now()
	p.last = time.Time{}
}

// update records n bytes of the current image sent (or hashed) so far.
func (p *progress) update(n int64) {
	p.cur = n
	for p.file < len(p.sizes)-1 && n > p.fileBase+p.sizes[p.file] {
		p.fileBase += p.sizes[p.file]
		p.file++
		p.fileStart = p.now()
	}
	if !p.tty {
		return
	}
	now := p.now()
	if now.Sub(p.last) < 100*time.Millisecond && n < p.imageSize() {
		return
	}
	p.last = now
	fmt.Fprint(p.w, "\r"+p.line()+"\033[K")
}

// finish ends the current image; sent says whether its bytes went to the
// server (false: skipped as already uploaded, or refused), in which case
// they leave the batch total.
func (p *progress) finish(sent bool) {
	if sent {
		p.sent += p.imageSize()
	} else {
		p.total -= p.imageSize()
	}
	p.done++
	p.cur = 0
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func (p *progress) imageSize() int64 {
	var n int64
	for _, s := range p.sizes {
		n += s
	}
	return n
}

// line renders the progress line, without terminal controls.
func (p *progress) line() string {
	const width = 20
	now := p.now()
	fileSize := int64(0)
	name := p.name
	if p.file < len(p.sizes) {
		fileSize = p.sizes[p.file]
		if len(p.files) > 1 {
			name = fmt.Sprintf("%s %d/%d", p.files[p.file], p.file+1, len(p.files))
		}
	}
	fileDone := min(max(p.cur-p.fileBase, 0), fileSize)
	frac := 1.0
	if fileSize > 0 {
		frac = float64(fileDone) / float64(fileSize)
	}
	filled := int(frac * width)
	fileRate := rate(fileDone, now.Sub(p.fileStart))
	s := fmt.Sprintf("%-28.28s %s [%s%s] %5.1f%% %s", name, p.phase, strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
		frac*100, fileRate)
	batchSent := p.sent
	if p.phase == "send" {
		batchSent += p.cur
	}
	return s + fmt.Sprintf(" | image %d/%d, %s of %s, %s", p.done+1, p.images, humanBytes(batchSent), humanBytes(p.total),
		rate(batchSent, now.Sub(p.start)))
}

// rate formats n bytes over d as MiB/s.
func rate(n int64, d time.Duration) string {
	return fmt.Sprintf("%.1f MiB/s", float64(n)/max(d.Seconds(), 1e-3)/(1<<20))
}
