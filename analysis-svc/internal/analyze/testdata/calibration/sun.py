# Independent check of the sun position (Astronomical Almanac low-precision formulas,
# Michalsky 1988, not NOAA's series) and of the DLS tilt geometry (numpy rotation matrices).
import numpy as np, datetime as dt
def sun(t, lat, lon):
    jd = (t - dt.datetime(2000, 1, 1, 12)).total_seconds() / 86400.0  # days from J2000.0
    L = np.radians((280.460 + 0.9856474 * jd) % 360); g = np.radians((357.528 + 0.9856003 * jd) % 360)
    lam = L + np.radians(1.915) * np.sin(g) + np.radians(0.020) * np.sin(2 * g)
    eps = np.radians(23.439 - 0.0000004 * jd)
    ra = np.arctan2(np.cos(eps) * np.sin(lam), np.cos(lam)); dec = np.arcsin(np.sin(eps) * np.sin(lam))
    gmst = (18.697374558 + 24.06570982441908 * jd) % 24  # hours, jd from J2000.0 with the day fraction
    lmst = np.radians((gmst * 15 + lon) % 360); ha = lmst - ra
    la = np.radians(lat)
    el = np.arcsin(np.sin(dec) * np.sin(la) + np.cos(dec) * np.cos(la) * np.cos(ha))
    az = np.arctan2(-np.sin(ha), np.tan(dec) * np.cos(la) - np.sin(la) * np.cos(ha))
    return np.degrees(el), np.degrees(az) % 360
def Rz(a): return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
def Ry(a): return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
def Rx(a): return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
for name, t, lat, lon, pose in [
    ('IMG_0000', dt.datetime(2017, 10, 19, 20, 40, 39, 200174), 36.576096, -119.4352689, (-3.0702229923362689, -0.18812839845718335, -0.013387829297356699)),
    ('IMG_0001', dt.datetime(2017, 10, 19, 20, 42, 10, 200159), 36.5760815, -119.4352604, (-0.36845451174720734, -0.0096490459051939252, -0.026797847159366964)),
]:
    el, az = sun(t, lat, lon)
    n = Rz(pose[0]) @ Ry(pose[1]) @ Rx(pose[2]) @ np.array([0, 0, -1.0])
    s = np.array([np.cos(np.radians(el)) * np.cos(np.radians(az)), np.cos(np.radians(el)) * np.sin(np.radians(az)), -np.sin(np.radians(el))])
    ang = np.degrees(np.arccos(n @ s)); k = 1 / 6
    f = (np.sin(np.radians(el)) + k) / (np.cos(np.radians(ang)) + k)
    print(name, 'elevation %.3f azimuth %.3f normal %s angle %.3f factor %.5f' % (el, az, np.round(n, 6), ang, f))
