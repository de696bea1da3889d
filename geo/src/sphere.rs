//! The spatial index's geometry: points on the unit sphere in 3D.
//!
//! A lon/lat rectangle tree cannot see that 179.9° and −179.9° are neighbours, and near the poles its
//! rectangles are badly distorted. Indexing the unit vector of each point instead makes every query a
//! plain Euclidean one: a great-circle distance `d` on a sphere of radius `R` is a chord of length
//! `2·sin(d / 2R)`, and chords grow monotonically with distance. Queries fetch candidates by chord
//! (with a tiny safety margin) and then apply the exact spherical test, so they find exactly what a
//! brute-force scan finds.

use rstar::{AABB, Envelope, PointDistance, RTreeObject, SelectionFunction};

/// A stored point: its unit vector, its (stored) lon/lat, slot and a copy of its member (48 bytes for a
/// `u32` member, like a bare rstar point with the same payload; the score is recomputed on demand).
///
/// Everything a search needs to test and return a hit lives in the tree node itself, so a search does
/// not touch the member table (a cache miss per hit on a large index) unless it filters on attributes
/// or TTLs are in use.
#[derive(Debug, Clone)]
pub(crate) struct Node<M> {
    pub(crate) xyz: [f64; 3],
    pub(crate) lon: f64,
    pub(crate) lat: f64,
    pub(crate) slot: u32,
    pub(crate) member: M,
}

impl<M> Node<M> {
    pub(crate) fn new(member: M, lon: f64, lat: f64, slot: u32) -> Self {
        Node {
            xyz: to_xyz(lon, lat),
            lon,
            lat,
            slot,
            member,
        }
    }
}

impl<M> RTreeObject for Node<M> {
    type Envelope = AABB<[f64; 3]>;

    fn envelope(&self) -> Self::Envelope {
        AABB::from_point(self.xyz)
    }
}

impl<M> PointDistance for Node<M> {
    fn distance_2(&self, point: &[f64; 3]) -> f64 {
        let dx = self.xyz[0] - point[0];
        let dy = self.xyz[1] - point[1];
        let dz = self.xyz[2] - point[2];
        dx * dx + dy * dy + dz * dz
    }
}

/// Selects the one node of a slot, at its known position, for removal.
pub(crate) struct SelectSlot {
    pub(crate) xyz: [f64; 3],
    pub(crate) slot: u32,
}

impl<M> SelectionFunction<Node<M>> for SelectSlot {
    fn should_unpack_parent(&self, envelope: &AABB<[f64; 3]>) -> bool {
        envelope.contains_point(&self.xyz)
    }

    fn should_unpack_leaf(&self, leaf: &Node<M>) -> bool {
        leaf.slot == self.slot
    }
}

/// The unit vector of `(lon, lat)` in degrees.
pub(crate) fn to_xyz(lon: f64, lat: f64) -> [f64; 3] {
    let (slat, clat) = lat.to_radians().sin_cos();
    let (slon, clon) = lon.to_radians().sin_cos();
    [clat * clon, clat * slon, slat]
}

/// The squared chord (with a safety margin) that covers every point within `meters` of a centre on a
/// sphere of `radius` meters. Infinite when the distance covers the whole sphere.
pub(crate) fn chord2_for(meters: f64, radius: f64) -> f64 {
    let angle = meters / radius;
    if angle >= std::f64::consts::PI {
        return f64::INFINITY;
    }
    let chord = 2.0 * (angle / 2.0).sin();
    // The margin absorbs rounding in the unit vectors and in the exact test; candidates are filtered
    // exactly afterwards, so a generous margin costs nothing but a few extra candidates.
    let chord = chord * (1.0 + 1e-9) + 1e-9;
    chord * chord
}

fn range_of(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// A 3D box that contains the unit vectors of every point of the lon/lat rectangle.
pub(crate) fn rect_envelope(
    lon_min: f64,
    lon_max: f64,
    lat_min: f64,
    lat_max: f64,
) -> AABB<[f64; 3]> {
    let lon_min = lon_min.max(-180.0);
    let lon_max = lon_max.min(180.0);
    let lat_min = lat_min.max(-90.0);
    let lat_max = lat_max.min(90.0);
    // cos(lat) over the latitude range: extremes at the ends, or 1 at the equator.
    let mut cos_lat = vec![lat_min.to_radians().cos(), lat_max.to_radians().cos()];
    if lat_min <= 0.0 && lat_max >= 0.0 {
        cos_lat.push(1.0);
    }
    let (clat_lo, clat_hi) = range_of(&cos_lat);
    // cos and sin of the longitude: extremes at the ends or at the multiples of 90° inside.
    let mut cos_lon = vec![lon_min.to_radians().cos(), lon_max.to_radians().cos()];
    let mut sin_lon = vec![lon_min.to_radians().sin(), lon_max.to_radians().sin()];
    for (deg, c, s) in [
        (-180.0, -1.0, 0.0),
        (-90.0, 0.0, -1.0),
        (0.0, 1.0, 0.0),
        (90.0, 0.0, 1.0),
        (180.0, -1.0, 0.0),
    ] {
        if lon_min <= deg && deg <= lon_max {
            cos_lon.push(c);
            sin_lon.push(s);
        }
    }
    let products = |(a_lo, a_hi): (f64, f64), (b_lo, b_hi): (f64, f64)| {
        range_of(&[a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi])
    };
    let (x_lo, x_hi) = products((clat_lo, clat_hi), range_of(&cos_lon));
    let (y_lo, y_hi) = products((clat_lo, clat_hi), range_of(&sin_lon));
    let z_lo = lat_min.to_radians().sin();
    let z_hi = lat_max.to_radians().sin();
    let e = 1e-9;
    AABB::from_corners(
        [x_lo - e, y_lo - e, z_lo - e],
        [x_hi + e, y_hi + e, z_hi + e],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_vectors() {
        let p = to_xyz(0.0, 0.0);
        assert!((p[0] - 1.0).abs() < 1e-15 && p[1].abs() < 1e-15 && p[2].abs() < 1e-15);
        let p = to_xyz(90.0, 90.0);
        assert!((p[2] - 1.0).abs() < 1e-15);
        let a = to_xyz(180.0, 10.0);
        let b = to_xyz(-180.0, 10.0);
        assert!((a[0] - b[0]).abs() < 1e-12 && (a[1] - b[1]).abs() < 1e-12);
    }

    #[test]
    fn chord_covers_the_whole_sphere_past_half_circumference() {
        assert!(chord2_for(3.2, 1.0).is_infinite());
        assert!((chord2_for(std::f64::consts::FRAC_PI_2, 1.0) - 2.0).abs() < 1e-6);
    }

    #[test]
    fn rect_envelope_contains_every_point_of_the_rectangle() {
        let rects = [
            (-10.0, 10.0, -5.0, 5.0),
            (170.0, 180.0, 80.0, 90.0),
            (-180.0, 180.0, -90.0, 90.0),
            (-125.0, -66.0, 24.0, 50.0),
            (95.0, 185.0, -89.0, -60.0),
        ];
        for (lo0, lo1, la0, la1) in rects {
            let env = rect_envelope(lo0, lo1, la0, la1);
            for i in 0..=40 {
                for j in 0..=40 {
                    let lon: f64 = lo0 + (lo1 - lo0) * f64::from(i) / 40.0;
                    let lat = la0 + (la1 - la0) * f64::from(j) / 40.0;
                    if lon.abs() > 180.0 {
                        continue;
                    }
                    assert!(
                        env.contains_point(&to_xyz(lon, lat)),
                        "{lon},{lat} in {lo0},{lo1},{la0},{la1}"
                    );
                }
            }
        }
    }
}
