// Package align registers the bands of a multi-camera rig capture to one
// reference band, so per-pixel indices combine the same ground point from
// every band. Each band starts from the rig geometry its metadata gives (the
// lens's principal point and focal length: a ray through a reference pixel
// lands at a scaled, shifted position in another band's image, neglecting
// the centimetre baseline, which is far below a pixel from flying height).
// Phase correlation of gradient images, which compares edges rather than
// brightness (the same ground is bright in NIR and dark in red), then finds
// the remaining global shift, and an affine mapping fitted to the shifts of
// local windows takes out the small rotation and scale differences between
// the lenses. Bands are resampled bilinearly and cropped to the area every
// band covers. Lens distortion is not modelled.
package align

import (
	"errors"
	"fmt"
	"image"
	"math"
	"math/cmplx"
	"sync"
)

// Band is one band to align.
type Band struct {
	Data []float32 // width x height, NaN for no data
	// PrincipalPoint is the optical centre in pixels (column, row) and
	// Focal the focal length in pixels; 0 when the metadata does not say
	// (the image centre and the reference band's focal length are used).
	PrincipalPoint [2]float64
	Focal          float64
}

// Affine maps a reference pixel (x, y) to the band's pixel
// (A[0] + A[1] x + A[2] y, A[3] + A[4] x + A[5] y).
type Affine [6]float64

func (a Affine) at(x, y float64) (float64, float64) {
	return a[0] + a[1]*x + a[2]*y, a[3] + a[4]*x + a[5]*y
}

// Transform is how one band was registered.
type Transform struct {
	Affine Affine
	// Initial is the mapping the lens metadata predicted.
	Initial Affine
	// DX, DY are the offset of the band's pixel from the reference pixel
	// at the image centre; InitialDX, InitialDY the metadata's prediction
	// of it. Scale and RotationDeg describe the affine part.
	DX, DY, InitialDX, InitialDY float64
	Scale, RotationDeg           float64
	// ResidualDX, ResidualDY is the shift phase correlation still measures
	// over the whole central window after alignment; Residual its length.
	// ResidualMax is the largest shift left in any of the local windows
	// (a rotation or scale error shows there, not in the global shift),
	// ResidualRMS their root mean square; Windows how many windows had
	// enough structure to count.
	ResidualDX, ResidualDY, Residual float64
	ResidualMax, ResidualRMS         float64
	Windows                          int
	PeakConfidence                   float64 // global phase-correlation peak (1 perfect, ~0 noise)
	Iterations                       int
}

// Result holds the aligned bands, cropped to Crop (in reference pixels).
type Result struct {
	Bands         [][]float32
	Width, Height int
	Crop          image.Rectangle
	Transforms    []Transform
}

// ErrNoOverlap: after alignment the bands share no area.
var ErrNoOverlap = errors.New("aligned bands do not overlap")

const (
	maxIterations = 5 // at half resolution: the global step, then local fits
	// converged: an update that moves no window centre by more than this
	// (pixels) ends the refinement.
	converged = 0.1
	// localSide is the side of the local windows whose shifts fit the
	// affine mapping; minLocalPeak is the phase-correlation peak below
	// which a window is judged featureless and ignored, maxLocalShift the
	// largest local shift believed after the global step.
	localSide     = 256
	minLocalPeak  = 0.03
	maxLocalShift = 12.0
)

// Align registers every band to bands[ref].
func Align(bands []Band, width, height, ref int) (*Result, error) {
	if ref < 0 || ref >= len(bands) {
		return nil, fmt.Errorf("align: reference band %d of %d", ref, len(bands))
	}
	for i, b := range bands {
		if len(b.Data) != width*height {
			return nil, fmt.Errorf("align: band %d has %d values for %d x %d pixels", i, len(b.Data), width, height)
		}
	}
	full := newLevel(bands[ref].Data, width, height)
	if full.global.w < 64 || full.global.h < 64 {
		return nil, fmt.Errorf("align: %d x %d is too small to register", width, height)
	}
	// A half-resolution level does the coarse work at a quarter of the
	// cost; the full resolution only polishes and measures.
	var half *level
	if width >= 512 && height >= 512 {
		half = newLevel(downsample(bands[ref].Data, width, height), width/2, height/2)
	}
	pp := func(b Band) (float64, float64) {
		if b.PrincipalPoint != [2]float64{} {
			return b.PrincipalPoint[0], b.PrincipalPoint[1]
		}
		return float64(width-1) / 2, float64(height-1) / 2
	}
	rb := bands[ref]
	rx, ry := pp(rb)
	ts := make([]Transform, len(bands))
	// warped[i] is band i resampled by its final mapping over the whole
	// frame, as measuring the residuals left it: the output is its crop.
	warped := make([][]float32, len(bands))
	// Bands register independently of one another: one goroutine each.
	var wg sync.WaitGroup
	for i, b := range bands {
		if i == ref {
			ts[i] = Transform{Affine: Affine{0, 1, 0, 0, 0, 1}, Initial: Affine{0, 1, 0, 0, 0, 1}, Scale: 1, PeakConfidence: 1}
			continue
		}
		wg.Go(func() {
			px, py := pp(b)
			s := 1.0
			if b.Focal > 0 && rb.Focal > 0 {
				s = b.Focal / rb.Focal
			}
			ts[i], warped[i] = register(b.Data, width, height, Affine{px - s*rx, s, 0, py - s*ry, 0, s}, half, full)
		})
	}
	wg.Wait()

	crop := image.Rect(0, 0, width, height)
	for _, t := range ts {
		crop = crop.Intersect(cover(t.Affine, width, height))
	}
	if crop.Empty() {
		return nil, fmt.Errorf("align: %w", ErrNoOverlap)
	}
	res := &Result{Width: crop.Dx(), Height: crop.Dy(), Crop: crop, Transforms: ts}
	for i, b := range bands {
		src := warped[i]
		if i == ref {
			src = b.Data
		}
		out := make([]float32, crop.Dx()*crop.Dy())
		for y := crop.Min.Y; y < crop.Max.Y; y++ {
			copy(out[(y-crop.Min.Y)*crop.Dx():], src[y*width+crop.Min.X:y*width+crop.Max.X])
		}
		warped[i] = nil // the crop is kept; let the frame go
		res.Bands = append(res.Bands, out)
	}
	return res, nil
}

// level is the reference band at one resolution, with the spectra of its
// gradient over the global window and the local windows.
type level struct {
	w, h      int
	global    window
	refGlobal []complex128
	locals    []window
	refLocal  [][]complex128
}

func newLevel(ref []float32, w, h int) *level {
	l := &level{w: w, h: h, global: newWindow(w, h, w/2, h/2, w, h), locals: localWindows(w, h)}
	g := gradient(ref, w, h)
	l.refGlobal = l.global.spectrum(g, w)
	for _, win := range l.locals {
		l.refLocal = append(l.refLocal, win.spectrum(g, w))
	}
	return l
}

// downsample halves an image by averaging 2 x 2 blocks (NaN if any of the
// four is NaN). Half-resolution pixel (x, y) is centred on full-resolution
// (2x + 0.5, 2y + 0.5).
func downsample(v []float32, width, height int) []float32 {
	w, h := width/2, height/2
	out := make([]float32, w*h)
	for y := range h {
		r0, r1 := v[2*y*width:], v[(2*y+1)*width:]
		for x := range w {
			out[y*w+x] = (r0[2*x] + r0[2*x+1] + r1[2*x] + r1[2*x+1]) / 4
		}
	}
	return out
}

// toHalf and toFull convert a mapping between full and half resolution
// (S(x) = 2x + 0.5 maps half-resolution pixels onto full ones: the half
// mapping is S⁻¹ ∘ a ∘ S, the full one S ∘ a ∘ S⁻¹).
func toHalf(a Affine) Affine {
	return Affine{(a[0] + 0.5*(a[1]+a[2]) - 0.5) / 2, a[1], a[2], (a[3] + 0.5*(a[4]+a[5]) - 0.5) / 2, a[4], a[5]}
}

func toFull(a Affine) Affine {
	return Affine{2*a[0] - 0.5*(a[1]+a[2]) + 0.5, a[1], a[2], 2*a[3] - 0.5*(a[4]+a[5]) + 0.5, a[4], a[5]}
}

// register refines the mapping a (from the lens metadata: a ray through
// the reference principal point is the band's principal point, and angles
// scale with the focal-length ratio) of one band: the global shift and the
// coarse affine fit at half resolution when half is not nil, then the
// fine fit and the residuals at full resolution. It also returns the band
// resampled by the final mapping over the whole frame.
func register(src []float32, width, height int, a Affine, half, full *level) (Transform, []float32) {
	t := Transform{Initial: a}
	start := full
	coarse := src
	if half != nil {
		start = half
		coarse = downsample(src, width, height)
		a = toHalf(a)
	}
	tmp := make([]float32, start.w*start.h)
	// The global shift first: it can be tens of pixels, more than a local
	// window can measure reliably.
	warp(tmp, coarse, start.w, start.h, a, image.Rect(0, 0, start.w, start.h))
	dx, dy, _ := start.global.shift(start.refGlobal, gradient(tmp, start.w, start.h), start.w)
	a[0] += a[1]*dx + a[2]*dy
	a[3] += a[4]*dx + a[5]*dy
	t.Iterations = 1
	iterate := func(l *level, src []float32, a Affine, n int) Affine {
		buf := make([]float32, l.w*l.h)
		for range n {
			warp(buf, src, l.w, l.h, a, image.Rect(0, 0, l.w, l.h))
			next, moved, ok := refine(a, l.locals, l.refLocal, gradient(buf, l.w, l.h), l.w)
			t.Iterations++
			if !ok {
				break
			}
			a = next
			if moved < converged {
				break
			}
		}
		return a
	}
	if half != nil {
		a = toFull(iterate(half, coarse, a, maxIterations-2))
	}
	a = iterate(full, src, a, 1)
	t.Affine = a
	warped := t.measure(src, full)
	cx, cy := float64(width-1)/2, float64(height-1)/2
	t.InitialDX, t.InitialDY = offsetAt(t.Initial, cx, cy)
	t.DX, t.DY = offsetAt(a, cx, cy)
	t.Scale = math.Sqrt(math.Abs(a[1]*a[5] - a[2]*a[4]))
	t.RotationDeg = math.Atan2(a[4], a[1]) * 180 / math.Pi
	return t, warped
}

func offsetAt(a Affine, x, y float64) (float64, float64) {
	bx, by := a.at(x, y)
	return bx - x, by - y
}

// measure records the residual misalignment of the band warped by t, at
// full resolution, and returns the warped band.
func (t *Transform) measure(src []float32, l *level) []float32 {
	tmp := make([]float32, l.w*l.h)
	warp(tmp, src, l.w, l.h, t.Affine, image.Rect(0, 0, l.w, l.h))
	g := gradient(tmp, l.w, l.h)
	t.ResidualDX, t.ResidualDY, t.PeakConfidence = l.global.shift(l.refGlobal, g, l.w)
	t.Residual = math.Hypot(t.ResidualDX, t.ResidualDY)
	sum := 0.0
	dxs, dys, peaks := shifts(l.locals, l.refLocal, g, l.w)
	for k := range l.locals {
		dx, dy, peak := dxs[k], dys[k], peaks[k]
		if peak < minLocalPeak || math.Hypot(dx, dy) > maxLocalShift {
			continue
		}
		d := math.Hypot(dx, dy)
		t.ResidualMax = math.Max(t.ResidualMax, d)
		sum += d * d
		t.Windows++
	}
	if t.Windows > 0 {
		t.ResidualRMS = math.Sqrt(sum / float64(t.Windows))
	}
	return tmp
}

// refine measures the local shifts of the warped band's gradient g and fits
// the affine mapping that removes them (least squares, weighted by each
// window's peak). It reports how far the update moves the window centres at
// most, and false when too few windows have structure to fit six numbers.
func refine(a Affine, locals []window, refLocal [][]complex128, g []float64, width int) (Affine, float64, bool) {
	// Normal equations for X = p0 + p1 x + p2 y and Y likewise.
	var m [3][3]float64
	var vx, vy [3]float64
	type obs struct{ x, y, tx, ty float64 }
	var used []obs
	dxs, dys, peaks := shifts(locals, refLocal, g, width)
	for k, w := range locals {
		dx, dy, peak := dxs[k], dys[k], peaks[k]
		if peak < minLocalPeak || math.Hypot(dx, dy) > maxLocalShift {
			continue
		}
		// The warped band at (x, y) shows the reference at (x - d): the
		// band must be sampled at a(x + d) instead of a(x).
		x, y := w.centreX, w.centreY
		tx, ty := a.at(x+dx, y+dy)
		used = append(used, obs{x, y, tx, ty})
		row := [3]float64{1, x, y}
		for i := range 3 {
			for j := range 3 {
				m[i][j] += peak * row[i] * row[j]
			}
			vx[i] += peak * row[i] * tx
			vy[i] += peak * row[i] * ty
		}
	}
	if len(used) < 4 {
		return a, 0, false
	}
	px, okx := solve3(m, vx)
	py, oky := solve3(m, vy)
	if !okx || !oky {
		return a, 0, false
	}
	next := Affine{px[0], px[1], px[2], py[0], py[1], py[2]}
	moved := 0.0
	for _, o := range used {
		x0, y0 := a.at(o.x, o.y)
		x1, y1 := next.at(o.x, o.y)
		moved = math.Max(moved, math.Hypot(x1-x0, y1-y0))
	}
	return next, moved, true
}

// solve3 solves m p = v by Cramer's rule; false when m is singular (the
// windows are collinear).
func solve3(m [3][3]float64, v [3]float64) ([3]float64, bool) {
	det := func(a [3][3]float64) float64 {
		return a[0][0]*(a[1][1]*a[2][2]-a[1][2]*a[2][1]) - a[0][1]*(a[1][0]*a[2][2]-a[1][2]*a[2][0]) + a[0][2]*(a[1][0]*a[2][1]-a[1][1]*a[2][0])
	}
	d := det(m)
	if math.Abs(d) < 1e-12*math.Abs(m[0][0]*m[1][1]*m[2][2]) || d == 0 {
		return [3]float64{}, false
	}
	var p [3]float64
	for c := range 3 {
		mc := m
		for r := range 3 {
			mc[r][c] = v[r]
		}
		p[c] = det(mc) / d
	}
	return p, true
}

// localWindows tiles the image with windows of localSide
// pixels (fewer and smaller on small images), so that a rotation or scale
// difference shows as different shifts in different places.
func localWindows(width, height int) []window {
	side := localSide
	for side > 32 && (side*2 > width || side*2 > height) {
		side /= 2
	}
	n := func(size int) int { return max(2, size/side) }
	nx, ny := n(width), n(height)
	var out []window
	for j := range ny {
		cy := side/2 + j*(height-side)/(ny-1)
		for i := range nx {
			cx := side/2 + i*(width-side)/(nx-1)
			out = append(out, newWindow(width, height, cx, cy, side, side))
		}
	}
	return out
}

// cover is the rectangle of reference pixels that a maps inside the band's
// image. The band's image, mapped back by the inverse of a, is a
// parallelogram close to a rectangle (small rotation, scale near 1); each
// side of the result lies inside the matching side of it.
func cover(a Affine, width, height int) image.Rectangle {
	det := a[1]*a[5] - a[2]*a[4]
	if det == 0 {
		return image.Rectangle{}
	}
	inv := func(bx, by float64) (float64, float64) {
		u, v := bx-a[0], by-a[3]
		return (a[5]*u - a[2]*v) / det, (-a[4]*u + a[1]*v) / det
	}
	W, H := float64(width-1), float64(height-1)
	tlx, tly := inv(0, 0)
	trx, try := inv(W, 0)
	blx, bly := inv(0, H)
	brx, bry := inv(W, H)
	x0 := math.Ceil(math.Max(tlx, blx))
	x1 := math.Floor(math.Min(trx, brx))
	y0 := math.Ceil(math.Max(tly, try))
	y1 := math.Floor(math.Min(bly, bry))
	r := image.Rect(int(math.Max(x0, 0)), int(math.Max(y0, 0)), int(math.Min(x1, W))+1, int(math.Min(y1, H))+1)
	if x1 < x0 || y1 < y0 {
		return image.Rectangle{}
	}
	return r
}

// warp fills dst (the size of area) with src sampled at t(x, y) for the
// reference pixels of area; outside src, or next to a NaN, gives NaN.
func warp(dst, src []float32, width, height int, a Affine, area image.Rectangle) {
	nan := float32(math.NaN())
	aw := area.Dx()
	fw, fh := float64(width), float64(height)
	for y := area.Min.Y; y < area.Max.Y; y++ {
		out := dst[(y-area.Min.Y)*aw : (y-area.Min.Y+1)*aw]
		// Along a row the source point moves by (a[1], a[4]) a pixel.
		x0 := float64(area.Min.X)
		bx, by := a[0]+a[2]*float64(y), a[3]+a[5]*float64(y)
		for i := range out {
			sx, sy := bx+a[1]*(x0+float64(i)), by+a[4]*(x0+float64(i))
			// Outside [0, width) x [0, height) is no data. Inside, the
			// coordinates are not negative, so int() is their floor
			// (math.Floor is a function call on baseline amd64).
			if !(sx >= 0 && sy >= 0 && sx < fw && sy < fh) {
				out[i] = nan
				continue
			}
			ix, iy := int(sx), int(sy)
			fx, fy := sx-float64(ix), sy-float64(iy)
			p := iy*width + ix
			dx, dy := 1, width
			if ix == width-1 {
				dx = 0
			}
			if iy == height-1 {
				dy = 0
			}
			v00, v10 := float64(src[p]), float64(src[p+dx])
			v01, v11 := float64(src[p+dy]), float64(src[p+dy+dx])
			v := (v00*(1-fx)+v10*fx)*(1-fy) + (v01*(1-fx)+v11*fx)*fy
			out[i] = float32(v) // NaN in any neighbour propagates
		}
	}
}

// gradient is the Sobel gradient magnitude, 0 at the border and wherever a
// neighbour is not finite: NaN or ±Inf is no data, and adds no false edge
// (an infinite one would make every correlation it enters NaN).
func gradient(v []float32, width, height int) []float64 {
	g := make([]float64, width*height)
	for y := 1; y < height-1; y++ {
		up, mid, down := v[(y-1)*width:y*width], v[y*width:(y+1)*width], v[(y+1)*width:(y+2)*width]
		out := g[y*width : (y+1)*width]
		for x := 1; x < width-1; x++ {
			ul, u, ur := float64(up[x-1]), float64(up[x]), float64(up[x+1])
			l, r := float64(mid[x-1]), float64(mid[x+1])
			dl, d, dr := float64(down[x-1]), float64(down[x]), float64(down[x+1])
			gx := ur + 2*r + dr - ul - 2*l - dl
			gy := dl + 2*d + dr - ul - 2*u - ur
			if m := math.Sqrt(gx*gx + gy*gy); m-m == 0 { // finite
				out[x] = m
			}
		}
	}
	return g
}

// window is the central power-of-two area phase correlation looks at,
// tapered by a Hann window so the image border is no edge.
type window struct {
	x0, y0, w, h     int
	centreX, centreY float64
	taper            []float64
	pw, ph           *plan
}

// newWindow is the largest power-of-two window of at most maxW x maxH
// pixels centred near (cx, cy) that fits in the image.
func newWindow(width, height, cx, cy, maxW, maxH int) window {
	pow := func(n int) int {
		p := 1
		for p*2 <= n {
			p *= 2
		}
		return p
	}
	w, h := pow(min(width, maxW)), pow(min(height, maxH))
	x0 := min(max(cx-w/2, 0), width-w)
	y0 := min(max(cy-h/2, 0), height-h)
	win := window{x0: x0, y0: y0, w: w, h: h, taper: make([]float64, w*h),
		centreX: float64(x0) + float64(w-1)/2, centreY: float64(y0) + float64(h-1)/2,
		pw: newPlan(w), ph: newPlan(h)}
	for y := range h {
		hy := 0.5 - 0.5*math.Cos(2*math.Pi*float64(y)/float64(h))
		for x := range w {
			win.taper[y*w+x] = hy * (0.5 - 0.5*math.Cos(2*math.Pi*float64(x)/float64(w)))
		}
	}
	return win
}

// tapered is the window of g, its mean removed (the mean would only add a
// peak at zero shift) and multiplied by the taper.
func (win window) tapered(g []float64, width int) []float64 {
	sum := 0.0
	for y := range win.h {
		for x := range win.w {
			sum += g[(y+win.y0)*width+x+win.x0]
		}
	}
	m := sum / float64(win.w*win.h)
	out := make([]float64, win.w*win.h)
	for y := range win.h {
		for x := range win.w {
			out[y*win.w+x] = (g[(y+win.y0)*width+x+win.x0] - m) * win.taper[y*win.w+x]
		}
	}
	return out
}

// spectrum is the Fourier transform of the tapered window of g.
func (win window) spectrum(g []float64, width int) []complex128 {
	return win.transform(win.tapered(g, width))
}

// transform is the Fourier transform of t, a tapered window.
func (win window) transform(t []float64) []complex128 {
	out := make([]complex128, len(t))
	for i, v := range t {
		out[i] = complex(v, 0)
	}
	fft2(out, win.w, win.h, false, win.pw, win.ph)
	return out
}

// normalised is the phase-correlation cross-power c / |c| (0 where c is).
func normalised(c complex128) complex128 {
	re, im := real(c), imag(c)
	if a := math.Sqrt(re*re + im*im); a > 1e-300 {
		return complex(re/a, im/a)
	}
	return 0
}

// shift is the phase-correlation displacement (dx, dy) with
// g(x, y) ≈ ref(x - dx, y - dy), to a fraction of a pixel, and the peak's
// height.
func (win window) shift(ref []complex128, g []float64, width int) (dx, dy, peak float64) {
	return win.shiftOf(ref, win.tapered(g, width))
}

// shiftOf is shift of the tapered window t; a window with no structure
// (t all 0) has no peak.
func (win window) shiftOf(ref []complex128, t []float64) (dx, dy, peak float64) {
	if !structured(t) {
		return 0, 0, 0
	}
	s := win.transform(t)
	for i, v := range s {
		s[i] = normalised(v * cmplx.Conj(ref[i]))
	}
	fft2(s, win.w, win.h, true, win.pw, win.ph)
	return win.peak(s, false)
}

// structured reports whether a tapered window has any structure at all.
func structured(t []float64) bool {
	for _, v := range t {
		if v != 0 {
			return true
		}
	}
	return false
}

// shifts is shift for every window (all of one size) over the same g. Two
// real windows go through one complex transform each way: the first as the
// real part, the second as the imaginary part, separated by the symmetry
// of real signals' spectra (X[-f] = conj(X[f])). Only windows with
// structure are paired: separating the two leaves each with the other's
// rounding, which in a window with nothing of its own normalises to noise
// with peaks as high as a weak real one's.
func shifts(wins []window, refs [][]complex128, g []float64, width int) (dx, dy, peak []float64) {
	dx, dy, peak = make([]float64, len(wins)), make([]float64, len(wins)), make([]float64, len(wins))
	var live []int // the windows with structure, each with its taper
	tapers := make([][]float64, len(wins))
	for k, win := range wins {
		if t := win.tapered(g, width); structured(t) {
			tapers[k] = t
			live = append(live, k)
		}
	}
	for j := 0; j < len(live); j += 2 {
		k := live[j]
		if j+1 == len(live) || wins[k].w != wins[live[j+1]].w || wins[k].h != wins[live[j+1]].h {
			dx[k], dy[k], peak[k] = wins[k].shiftOf(refs[k], tapers[k])
			j--
			continue
		}
		l := live[j+1]
		a, b := wins[k], wins[l]
		ta, tb := tapers[k], tapers[l]
		z := make([]complex128, len(ta))
		for i := range z {
			z[i] = complex(ta[i], tb[i])
		}
		fft2(z, a.w, a.h, false, a.pw, a.ph)
		q := make([]complex128, len(z))
		for v := range a.h {
			mv := (a.h - v) % a.h
			for u := range a.w {
				i, mi := v*a.w+u, mv*a.w+(a.w-u)%a.w
				zc := cmplx.Conj(z[mi])
				fa := (z[i] + zc) / 2
				fb := (z[i] - zc) * -0.5i // / 2i, exactly
				pa := normalised(fa * cmplx.Conj(refs[k][i]))
				pb := normalised(fb * cmplx.Conj(refs[l][i]))
				// Both correlation surfaces are real: pack them again.
				q[i] = pa + 1i*pb
			}
		}
		fft2(q, a.w, a.h, true, a.pw, a.ph)
		dx[k], dy[k], peak[k] = a.peak(q, false)
		dx[l], dy[l], peak[l] = b.peak(q, true)
	}
	return dx, dy, peak
}

// peak finds the highest value of the correlation surface (the real part
// of s, or the imaginary part when imaginary) and places it to a fraction
// of a pixel.
func (win window) peak(s []complex128, imaginary bool) (dx, dy, height float64) {
	part := func(c complex128) float64 {
		if imaginary {
			return imag(c)
		}
		return real(c)
	}
	n := float64(win.w * win.h)
	best, bi := math.Inf(-1), 0
	for i, v := range s {
		if r := part(v); r > best {
			best, bi = r, i
		}
	}
	px, py := bi%win.w, bi/win.w
	at := func(x, y int) float64 {
		return part(s[((y+win.h)%win.h)*win.w+(x+win.w)%win.w])
	}
	// The phase-correlation peak of a fractional shift is a sampled
	// Dirichlet (periodic sinc) kernel, so the two highest samples, c at
	// the peak and n beside it, place it at n / (n + c) from the peak
	// towards n (Foroosh, Zerubia and Berthod 2002). A parabola through
	// three samples, the usual choice, would put a 0.25-pixel shift at
	// about 0.1 on this sharp peak.
	sub := func(l, c, r float64) float64 {
		switch {
		case r > l && r > 0:
			return r / (r + c)
		case l > 0:
			return -l / (l + c)
		}
		return 0
	}
	fx := float64(px) + sub(at(px-1, py), best, at(px+1, py))
	fy := float64(py) + sub(at(px, py-1), best, at(px, py+1))
	if fx > float64(win.w)/2 {
		fx -= float64(win.w)
	}
	if fy > float64(win.h)/2 {
		fy -= float64(win.h)
	}
	return fx, fy, best / n
}
