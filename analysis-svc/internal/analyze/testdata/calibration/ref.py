# Independent reference: MicaSense's published radiance model, numpy + GDAL, run once.
# Usage: CANOPY_SHARED_DATA=/path/to/shared/data /usr/bin/python3 ref.py
import numpy as np, os, re, sys
from osgeo import gdal
D=os.environ.get('CANOPY_SHARED_DATA', '../shared/data')+'/micasense-rededge/0000SET/000/'
def meta(path):
    ds=gdal.Open(path); xmp=ds.GetMetadata('xml:XMP')[0]; ex=ds.GetMetadata('EXIF')
    def seq(tag):
        m=re.search(r'<%s>(.*?)</%s>'%(tag,tag),xmp,re.S); return [float(v) for v in re.findall(r'<rdf:li>(.*?)</rdf:li>',m.group(1))]
    def one(tag): return float(re.search(r'<%s>(.*?)</%s>'%(tag,tag),xmp).group(1))
    exp=float(ex['EXIF_ExposureTime'].strip('()')); gain=float(ex['EXIF_ISOSpeed'])/100
    return dict(raw=ds.ReadAsArray().astype(np.float64), cal=seq('MicaSense:RadiometricCalibration'), dark=np.mean(seq('MicaSense:DarkRowValue')),
      vc=seq('Camera:VignettingCenter'), vp=seq('Camera:VignettingPolynomial'), exp=exp, gain=gain, irr=one('Camera:Irradiance'))
def radiance(m, black):
    raw=m['raw']; h,w=raw.shape; y,x=np.mgrid[0:h,0:w].astype(np.float64)
    r=np.hypot(x-m['vc'][0], y-m['vc'][1])
    poly=list(reversed(m['vp']))+[1.0]; V=1.0/np.polyval(poly,r)
    a1,a2,a3=m['cal']; R=1.0/(1.0+a2*y/m['exp']-a3*y)
    L=V*R*(raw-black); L[L<0]=0
    return L/(m['gain']*m['exp'])*a1/65536.0
def polymask(shape, corners):
    # pixel (col=x,row=y) inside convex polygon, boundary included (cross products all same sign)
    h,w=shape; y,x=np.mgrid[0:h,0:w].astype(np.float64); n=len(corners); s=[]
    for i in range(n):
        x0,y0=corners[i]; x1,y1=corners[(i+1)%n]
        s.append((x1-x0)*(y-y0)-(y1-y0)*(x-x0))
    s=np.array(s); return np.all(s>=0,axis=0)|np.all(s<=0,axis=0)
corners={1:[[809,613],[648,615],[646,454],[808,452]],2:[[772,623],[613,625],[610,464],[770,462]],3:[[771,651],[611,653],[610,492],[770,490]],4:[[829,658],[668,659],[668,496],[829,496]],5:[[807,632],[648,634],[645,473],[805,471]]}
refl={1:0.67,2:0.69,3:0.68,4:0.61,5:0.67}
if __name__=='__main__':
 for black_name in ['exif4800','dark']:
  print('black', black_name)
  for b in range(1,6):
    m=meta(D+'IMG_0000_%d.tif'%b); black=4800.0 if black_name=='exif4800' else m['dark']
    L=radiance(m,black); mk=polymask(L.shape,corners[b])
    rad=L[mk].mean(); print(b,'count',mk.sum(),'rawmean %.2f'%m['raw'][mk].mean(),'rad %.6f'%rad,'irr %.6f'%(rad*np.pi/refl[b]), 'dls %.6f'%m['irr'], 'dark %.1f'%m['dark'])
    if b==4:
      reg=L[490:670,660:840]; f=0.61/reg.mean(); R=reg*f
      print('  NIR rect mean rad %.6f factor %.4f refl min %.4f max %.4f mean %.4f std %.5f'%(reg.mean(),f,R.min(),R.max(),R.mean(),R.std()))
