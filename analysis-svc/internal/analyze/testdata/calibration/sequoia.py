# Independent reference for the Parrot Sequoia capture parrot-sequoia/0077
# (PROVENANCE.md section 2) in sunshine mode, written from the formulas
# (Parrot SEQ-AN-01 as quoted on forum.developer.parrot.com; the sunshine
# record layout from the same forum), not from the Go code:
#   L = f^2 (p - B) / (A t ISO + C) / V(x/w, y/h), V = sum c x^i y^j
#   E = CH0 / (g * ms), g relative to gain index 1 from
#       Camera:IrradianceCalibrationMeasurement, for the IrradianceList
#       record nearest EXIF DateTimeDigitized + SubSecTimeDigitized
#   value = L / E; pixels with p >= 65472 (10-bit saturation x 64) are NaN.
# Run: CANOPY_SHARED_DATA=../../../../../../shared/data /usr/bin/python3 sequoia.py
import base64, json, os, re, struct
import numpy as np
from osgeo import gdal

D = os.environ['CANOPY_SHARED_DATA'] + '/parrot-sequoia/0077/IMG_180413_080658_0000_%s.TIF'

def xmp(path):
    s = open(path, 'rb').read().decode('latin1')
    s = s[s.index('<x:xmpmeta'):s.index('</x:xmpmeta>')]
    attrs = dict(re.findall(r'Camera:(\w+)="([^"]*)"', s))
    for k, v in re.findall(r'<Camera:(\w+)>\s*<rdf:Seq>\s*<rdf:li>([^<]*)</rdf:li>', s):
        attrs[k] = v
    attrs['IrradianceList'] = re.search(r'<Camera:IrradianceList>\s*([^<]*?)\s*</Camera:IrradianceList>', s).group(1)
    return attrs

def nums(s):
    return [float(v) for v in s.split(',')]

def band(name):
    path = D % name
    x = xmp(path)
    ds = gdal.Open(path)
    md = ds.GetMetadata('EXIF') or ds.GetMetadata()
    p = ds.GetRasterBand(1).ReadAsArray().astype(np.float64)
    h, w = p.shape
    A, B, C = nums(x['SensorModel'])
    f = float(md['EXIF_FNumber'].strip('() '))
    t = float(md['EXIF_ExposureTime'].strip('() '))
    iso = float(md['EXIF_ISOSpeedRatings'].strip('() '))
    pw = nums(x['VignettingPolynomial2DName']); co = nums(x['VignettingPolynomial2D'])
    xx, yy = np.meshgrid(np.arange(w) / w, np.arange(h) / h)
    V = sum(c * xx ** pw[2 * k] * yy ** pw[2 * k + 1] for k, c in enumerate(co))
    L = f * f * (p - B) / (A * t * iso + C) / V
    L = np.maximum(L, 0)
    L[p >= 65472] = np.nan
    raw = base64.b64decode(x['IrradianceList'])
    recs = [struct.unpack('<QHHHHfff', raw[i:i + 28]) for i in range(0, len(raw), 28)]
    hh, mm, ss = md['EXIF_DateTimeDigitized'].split(' ')[1].split(':')
    at = (int(hh) * 3600 + int(mm) * 60 + int(ss)) * 1e6 + float('0.' + md['EXIF_SubSecTime_Digitized']) * 1e6
    r = min(recs, key=lambda r: abs(r[0] - at))
    cal = nums(x['IrradianceCalibrationMeasurement'])
    rate = {int(cal[i]): cal[i + 2] / cal[i + 1] for i in range(0, len(cal), 4) if 0 < cal[i + 2] < 65535}
    g = rate[r[3]] / rate[1]
    E = r[1] / (g * r[4])
    return dict(L=L, E=E, t=t, iso=iso, f=f, V=V, rec=r[:5])

def stats(v):
    v = v[np.isfinite(v)]
    p = np.percentile(v, [2, 5, 25, 50, 75, 95, 98])
    return dict(n=int(v.size), mean=float(v.mean()), std=float(v.std()), min=float(v.min()), max=float(v.max()), p=[float(q) for q in p])

bands = {n: band(n) for n in ('GRE', 'RED', 'REG', 'NIR')}
out = {}
for n, b in bands.items():
    out[n] = dict(E=b['E'], record=b['rec'], exposure=b['t'], iso=b['iso'], fnumber=b['f'],
                  V_centre=float(b['V'][480, 640]), V_corner=float(b['V'][0, 0]),
                  mean=float(np.nanmean(b['L'] / b['E'])))
nir, red = bands['NIR']['L'] / bands['NIR']['E'], bands['RED']['L'] / bands['RED']['E']
with np.errstate(all='ignore'):
    s = nir + red
    ndvi = np.where(s != 0, (nir - red) / s, np.nan)
out['sunshine NDVI'] = stats(ndvi)
print(json.dumps(out, indent=1))
