# Independent reference for the flight capture IMG_0001, calibrated with the panel capture IMG_0000.
# Same published model as ref.py (numpy float64); saturated DN (>= 65520) -> NaN.
# Usage: CANOPY_SHARED_DATA=/path/to/shared/data /usr/bin/python3 flight.py
import numpy as np, json
from ref import *
def stats(x):
    x = x[np.isfinite(x)]
    p = np.percentile(x, [2, 5, 25, 50, 75, 95, 98])
    return dict(n=int(x.size), mean=float(x.mean()), std=float(x.std()), min=float(x.min()), max=float(x.max()), p=[float(v) for v in p])
def nd(a, b):
    with np.errstate(all="ignore"):
        s = a + b
        return np.where(s != 0, (a - b) / s, np.nan)
fac = {}
for b in range(1, 6):
    m = meta(D + 'IMG_0000_%d.tif' % b)
    L = radiance(m, 4800.0)
    fac[b] = refl[b] / L[polymask(L.shape, corners[b])].mean()
refl_img = {}
for b in range(1, 6):
    m = meta(D + 'IMG_0001_%d.tif' % b)
    L = radiance(m, 4800.0)
    L[m['raw'] >= 65520] = np.nan
    refl_img[b] = L * fac[b]
out = {'factors': fac}
out['panel NDVI unaligned'] = stats(nd(refl_img[4], refl_img[3]))
dls = {}
for b in (3, 4):
    m = meta(D + 'IMG_0001_%d.tif' % b)
    L = radiance(m, 4800.0); L[m['raw'] >= 65520] = np.nan
    dls[b] = np.pi * L / m['irr']
out['dls NDVI unaligned'] = stats(nd(dls[4], dls[3]))
# Alignment done independently of the Go code: translation only, from phase
# correlation of np.gradient magnitudes over the whole image (Hann taper),
# integer peak + parabolic sub-pixel; NIR resampled bilinearly onto Red.
def grad(a):
    a = np.nan_to_num(a); gy, gx = np.gradient(a); return np.hypot(gx, gy)
def pc(a, b):
    h, w = a.shape; win = np.outer(np.hanning(h), np.hanning(w))
    A = np.fft.fft2((a - a.mean()) * win); B = np.fft.fft2((b - b.mean()) * win)
    R = B * np.conj(A); R /= np.maximum(np.abs(R), 1e-300)
    r = np.real(np.fft.ifft2(R)); py, px = np.unravel_index(np.argmax(r), r.shape)
    def sub(l, c, rr):
        d = l - 2 * c + rr; return 0.0 if d >= 0 else 0.5 * (l - rr) / d
    fx = px + sub(r[py, (px - 1) % w], r[py, px], r[py, (px + 1) % w])
    fy = py + sub(r[(py - 1) % h, px], r[py, px], r[(py + 1) % h, px])
    if fx > w / 2: fx -= w
    if fy > h / 2: fy -= h
    return fx, fy  # b(x) ~ a(x - d)
def shift_bilinear(img, dx, dy):
    # out(x, y) = img(x + dx, y + dy)
    h, w = img.shape; y, x = np.mgrid[0:h, 0:w].astype(np.float64); sx, sy = x + dx, y + dy
    x0 = np.floor(sx).astype(int); y0 = np.floor(sy).astype(int); fx = sx - x0; fy = sy - y0
    ok = (x0 >= 0) & (y0 >= 0) & (x0 < w - 1) & (y0 < h - 1)
    x0 = np.clip(x0, 0, w - 2); y0 = np.clip(y0, 0, h - 2)
    v = (img[y0, x0] * (1 - fx) + img[y0, x0 + 1] * fx) * (1 - fy) + (img[y0 + 1, x0] * (1 - fx) + img[y0 + 1, x0 + 1] * fx) * fy
    v[~ok] = np.nan; return v
red, nir = refl_img[3], refl_img[4]
dx, dy = pc(grad(red), grad(nir))
nir_al = shift_bilinear(nir, dx, dy)
for _ in range(2):  # refine: measure what is left and add it
    ex, ey = pc(grad(red), grad(nir_al)); dx += ex; dy += ey; nir_al = shift_bilinear(nir, dx, dy)
ex, ey = pc(grad(red), grad(nir_al))
out['numpy NIR->Red shift'] = [dx, dy]; out['numpy residual after own alignment'] = [ex, ey]
m = 16  # crop a margin wider than the shift
out['panel NDVI aligned (numpy, crop 16 px)'] = stats(nd(nir_al, red)[m:-m, m:-m])
# Affine refinement, also independent of the Go code: shifts measured by pc in
# a 4 x 3 grid of 256 px windows, least-squares affine fit (np.linalg.lstsq),
# bilinear resampling of NIR at the fitted positions, three rounds.
def warp_affine(img, A):
    h, w = img.shape; y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    sx = A[0] + A[1] * x + A[2] * y; sy = A[3] + A[4] * x + A[5] * y
    x0 = np.floor(sx).astype(int); y0 = np.floor(sy).astype(int); fx = sx - x0; fy = sy - y0
    ok = (x0 >= 0) & (y0 >= 0) & (x0 < w - 1) & (y0 < h - 1)
    x0 = np.clip(x0, 0, w - 2); y0 = np.clip(y0, 0, h - 2)
    v = (img[y0, x0] * (1 - fx) + img[y0, x0 + 1] * fx) * (1 - fy) + (img[y0 + 1, x0] * (1 - fx) + img[y0 + 1, x0 + 1] * fx) * fy
    v[~ok] = np.nan; return v
A = np.array([dx, 1.0, 0.0, dy, 0.0, 1.0])
gr = grad(red); H, W = red.shape
for _ in range(3):
    g = grad(warp_affine(nir, A)); P = []; T = []
    for cy in np.linspace(128, H - 128, 3).astype(int):
        for cx in np.linspace(128, W - 128, 4).astype(int):
            ex, ey = pc(gr[cy-128:cy+128, cx-128:cx+128], g[cy-128:cy+128, cx-128:cx+128])
            xc, yc = cx - 0.5, cy - 0.5
            X, Y = xc + ex, yc + ey
            P.append([1, xc, yc]); T.append([A[0] + A[1] * X + A[2] * Y, A[3] + A[4] * X + A[5] * Y])
    P = np.array(P); T = np.array(T)
    px = np.linalg.lstsq(P, T[:, 0], rcond=None)[0]; py = np.linalg.lstsq(P, T[:, 1], rcond=None)[0]
    A = np.array([px[0], px[1], px[2], py[0], py[1], py[2]])
nir_aff = warp_affine(nir, A)
out['numpy affine NIR->Red'] = list(A)
out['panel NDVI affine-aligned (numpy, crop 16 px)'] = stats(nd(nir_aff, red)[m:-m, m:-m])
if __name__ == "__main__": json.dump(out, __import__('sys').stdout, indent=1)
