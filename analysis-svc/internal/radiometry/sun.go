package radiometry

import (
	"fmt"
	"math"
	"time"
)

// SunPosition is the sun's elevation above the horizon and its azimuth
// (clockwise from true north), both in degrees, at time t and a WGS 84
// position, from Meeus's low-order solar coordinates as NOAA's solar
// calculator uses them (about 0.01° in declination; refraction ignored,
// which matters only near the horizon).
func SunPosition(t time.Time, latDeg, lonDeg float64) (elevation, azimuth float64) {
	rad := math.Pi / 180
	j2000 := time.Date(2000, 1, 1, 12, 0, 0, 0, time.UTC)
	jc := t.Sub(j2000).Hours() / 24 / 36525 // Julian centuries since J2000.0
	l0 := math.Mod(280.46646+jc*(36000.76983+jc*0.0003032), 360)
	m := 357.52911 + jc*(35999.05029-0.0001537*jc)
	e := 0.016708634 - jc*(0.000042037+0.0000001267*jc)
	centre := math.Sin(m*rad)*(1.914602-jc*(0.004817+0.000014*jc)) + math.Sin(2*m*rad)*(0.019993-0.000101*jc) + math.Sin(3*m*rad)*0.000289
	omega := 125.04 - 1934.136*jc
	lambda := l0 + centre - 0.00569 - 0.00478*math.Sin(omega*rad) // apparent longitude
	eps := 23 + (26+(21.448-jc*(46.815+jc*(0.00059-jc*0.001813)))/60)/60 + 0.00256*math.Cos(omega*rad)
	decl := math.Asin(math.Sin(eps*rad) * math.Sin(lambda*rad))
	y := math.Pow(math.Tan(eps*rad/2), 2)
	eqTime := 4 / rad * (y*math.Sin(2*l0*rad) - 2*e*math.Sin(m*rad) + 4*e*y*math.Sin(m*rad)*math.Cos(2*l0*rad) -
		0.5*y*y*math.Sin(4*l0*rad) - 1.25*e*e*math.Sin(2*m*rad)) // minutes
	u := t.UTC()
	minutes := float64(u.Hour())*60 + float64(u.Minute()) + (float64(u.Second())+float64(u.Nanosecond())/1e9)/60
	ha := ((minutes+eqTime+4*lonDeg)/4 - 180) * rad // hour angle
	lat := latDeg * rad
	cosZen := math.Sin(lat)*math.Sin(decl) + math.Cos(lat)*math.Cos(decl)*math.Cos(ha)
	zen := math.Acos(math.Max(-1, math.Min(1, cosZen)))
	// Azimuth from the east and north components of the sun's direction.
	east := -math.Cos(decl) * math.Sin(ha)
	north := math.Cos(lat)*math.Sin(decl) - math.Sin(lat)*math.Cos(decl)*math.Cos(ha)
	az := math.Atan2(east, north) / rad
	if az < 0 {
		az += 360
	}
	return 90 - zen/rad, az
}

// Pose is the downwelling light sensor's attitude: yaw, pitch and roll in
// radians, the aircraft convention (rotations about down, then east, then
// north; zero is level, facing north), as MicaSense writes XMP DLS:Yaw,
// DLS:Pitch and DLS:Roll.
type Pose struct{ Yaw, Pitch, Roll float64 }

// Normal is the direction the sensor faces (its "up") in north-east-down
// coordinates: the body's -z axis rotated by the pose.
func (p Pose) Normal() [3]float64 {
	sy, cy := math.Sincos(p.Yaw)
	sp, cp := math.Sincos(p.Pitch)
	sr, cr := math.Sincos(p.Roll)
	// Third column of R = Rz(yaw) Ry(pitch) Rx(roll), negated.
	return [3]float64{-(cy*sp*cr + sy*sr), -(sy*sp*cr - cy*sr), -(cp * cr)}
}

// DiffuseFraction is the diffuse sky irradiance as a fraction of the direct
// beam's (on a surface facing the sun) that SunAngleCorrection assumes: a
// clear sky, where the direct beam carries about six times the diffuse.
const DiffuseFraction = 1.0 / 6

// SunAngleCorrection is the factor that turns the irradiance a tilted
// sensor measured into the irradiance on level ground. The sensor sees the
// direct beam D at angle θ to its normal plus diffuse light kD (k =
// DiffuseFraction, taken as arriving from every direction alike):
// E_sensor = D (cos θ + k); level ground sees D (sin elevation + k). So the
// factor is (sin elevation + k) / (cos θ + k). The angle θ is returned in
// degrees. The DLS diffuser's own angular response (MicaSense models it as
// Fresnel transmission) is not modelled. An error means the geometry is
// unusable: the sun below the horizon or behind the sensor.
func SunAngleCorrection(elevationDeg, azimuthDeg float64, p Pose) (factor, angleDeg float64, err error) {
	el, az := elevationDeg*math.Pi/180, azimuthDeg*math.Pi/180
	if el <= 0 {
		return 0, 0, fmt.Errorf("sun angle correction: sun %.1f° below the horizon", elevationDeg)
	}
	sun := [3]float64{math.Cos(el) * math.Cos(az), math.Cos(el) * math.Sin(az), -math.Sin(el)}
	n := p.Normal()
	cosT := sun[0]*n[0] + sun[1]*n[1] + sun[2]*n[2]
	angleDeg = math.Acos(math.Max(-1, math.Min(1, cosT))) * 180 / math.Pi
	if cosT <= 0 {
		return 0, angleDeg, fmt.Errorf("sun angle correction: the sun is %.1f° from the sensor's normal, behind it", angleDeg)
	}
	return (math.Sin(el) + DiffuseFraction) / (cosT + DiffuseFraction), angleDeg, nil
}
