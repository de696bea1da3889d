//! Polygons in lon/lat, including polygons that cross the antimeridian (±180°).
//!
//! [`Search::polygon`](crate::Search::polygon) and [`Fence::polygon`](crate::Fence::polygon) take a
//! [`geo::Polygon`] with x = longitude and y = latitude in degrees, holes allowed. Containment is
//! decided in the lon/lat plane, as geo's `Contains` decides it: a point is inside when it is strictly
//! inside the exterior ring and not inside or on a hole (a point exactly on a boundary is outside).
//!
//! ## Crossing the antimeridian
//!
//! A zone around Fiji, the Aleutians or Chukotka is given **unwrapped**: its longitudes run on past
//! 180° (or below −180°) instead of jumping, e.g. from 177° to 183° rather than from 177° to −177°, as
//! many GIS tools and GeoJSON producers write such shapes. The rule:
//!
//! - every ring's longitudes lie within −540..=540 (one turn either side of −180..=180), and each
//!   ring spans at most 360° of longitude;
//! - a point `(lon, lat)` (stored within −180..=180) is inside when one of its copies `lon`,
//!   `lon − 360` or `lon + 360` is strictly inside the exterior ring, and no copy is inside or on a
//!   hole. Each ring is read modulo 360° on its own, so a hole of a 177..183 zone may be written in
//!   the exterior's unwrapped range (180.2..180.6) or in the ordinary one (−179.8..−179.4): the same
//!   place either way.
//!
//! A polygon whose rings all lie within −180..=180 is tested exactly as before, with no extra work;
//! only a ring that leaves that range takes the copies into account. A polygon search then fetches its
//! candidates from both sides of the line (one 3D box around the whole longitude range, which has no
//! seam), and without an origin it measures distances from the polygon's centroid brought back into
//! −180..=180. The shifts are computed in `f64`, so a point within about 1e-13° of a shifted copy's
//! boundary may fall either way.
//!
//! Rejected with [`Error::InvalidPolygon`]: fewer than three exterior points, a NaN or infinite
//! coordinate, a longitude outside −540..=540, a ring spanning more than 360°. Latitudes are not
//! limited (the planar test simply finds no members beyond the poles).
//!
//! ## Rings given in wrapped form
//!
//! A ring written with longitudes in −180..=180 that jumps across the line (177° → −177°) is **not**
//! reinterpreted automatically: read in the plane, such a ring is a valid polygon spanning almost the
//! whole globe (the band from −177° to 177°), and that is what it meant before and what geo decides,
//! so guessing would silently change the meaning of valid input. RFC 7946 (GeoJSON, §3.1.9) advises
//! producers to cut such geometries in two at the antimeridian; ember-geo accepts both that (search
//! each half, or register two fences) and the unwrapped form. To convert a wrapped ring explicitly,
//! call [`unwrap_antimeridian`], which reads every edge as the shorter way round the globe.
//!
//! ```
//! use ember_geo::GeoIndex;
//! use ember_geo::geo::polygon;
//!
//! let index: GeoIndex<&str> = GeoIndex::builder().build().unwrap();
//! index.add("Suva", 178.44, -18.14).unwrap();
//! index.add("Taveuni", -179.97, -16.85).unwrap(); // east of the line
//! index.add("Auckland", 174.76, -36.85).unwrap();
//!
//! // Fiji, unwrapped: 177°E to 177°W written as 177..183.
//! let fiji = polygon![(x: 177.0, y: -21.0), (x: 183.0, y: -21.0), (x: 183.0, y: -15.0), (x: 177.0, y: -15.0)];
//! let mut names: Vec<_> = index.search().polygon(fiji).run().unwrap().into_iter().map(|h| h.member).collect();
//! names.sort();
//! assert_eq!(names, ["Suva", "Taveuni"]);
//!
//! // The same ring as most data stores hold it, jumping from 180 to -180: unwrap it first.
//! let wrapped = polygon![(x: 177.0, y: -21.0), (x: -177.0, y: -21.0), (x: -177.0, y: -15.0), (x: 177.0, y: -15.0)];
//! let fiji = ember_geo::polygon::unwrap_antimeridian(&wrapped).unwrap();
//! assert_eq!(index.search().polygon(fiji).run().unwrap().len(), 2);
//! ```

use geo::coordinate_position::{CoordPos, CoordinatePosition};
use geo::{BoundingRect, Centroid, Contains, Coord, LineString, Point, Polygon};
use rstar::{AABB, Envelope};

use crate::error::{Error, Result};
use crate::sphere::rect_envelope;

/// Converts a polygon whose rings jump across the antimeridian (longitudes within −180..=180, an edge
/// from 177° to −177°) into the unwrapped form ember-geo reads (177° to 183°).
///
/// Every edge is read as the shorter way round: an edge whose longitudes differ by more than 180° is
/// taken to cross the line (an edge of exactly 180° is ambiguous: avoid it). Each ring starts at its own
/// first point; a hole is then moved by whole turns next to the exterior. A polygon whose edges are
/// all shorter than 180° comes back unchanged.
///
/// ```
/// use ember_geo::geo::{polygon, BoundingRect};
/// use ember_geo::polygon::unwrap_antimeridian;
///
/// let ring = polygon![(x: 170.0, y: 50.0), (x: -170.0, y: 50.0), (x: -170.0, y: 60.0), (x: 170.0, y: 60.0)];
/// let unwrapped = unwrap_antimeridian(&ring).unwrap();
/// let rect = unwrapped.bounding_rect().unwrap();
/// assert_eq!((rect.min().x, rect.max().x), (170.0, 190.0));
/// ```
///
/// # Errors
/// [`Error::InvalidPolygon`] when the polygon is invalid (see the [module docs](self)), or when a ring
/// winds once around a pole (its longitudes do not come back to the start: such a cap has no planar
/// lon/lat ring; write it with explicit edges along the ±180° meridians and the pole's latitude).
pub fn unwrap_antimeridian(polygon: &Polygon<f64>) -> Result<Polygon<f64>> {
    check_finite(polygon)?;
    let exterior = unwrap_ring(polygon.exterior())?;
    let centre = ring_range(&exterior).map_or(0.0, |(lo, hi)| (lo + hi) / 2.0);
    let mut holes = Vec::with_capacity(polygon.interiors().len());
    for hole in polygon.interiors() {
        let mut hole = unwrap_ring(hole)?;
        if let Some((lo, hi)) = ring_range(&hole) {
            let turns = ((centre - (lo + hi) / 2.0) / 360.0).round();
            if turns != 0.0 {
                hole.0.iter_mut().for_each(|c| c.x += turns * 360.0);
            }
        }
        holes.push(hole);
    }
    let unwrapped = Polygon::new(exterior, holes);
    Area::new(unwrapped.clone())?;
    Ok(unwrapped)
}

fn unwrap_ring(ring: &LineString<f64>) -> Result<LineString<f64>> {
    let mut out: Vec<Coord<f64>> = Vec::with_capacity(ring.0.len());
    for c in &ring.0 {
        let x = match out.last() {
            None => c.x,
            Some(prev) => {
                // `prev.x` is already unwrapped; compare against the original longitude's class.
                let mut d = (c.x - prev.x) % 360.0;
                if d > 180.0 {
                    d -= 360.0;
                } else if d < -180.0 {
                    d += 360.0;
                }
                prev.x + d
            }
        };
        out.push(Coord { x, y: c.y });
    }
    if let (Some(first), Some(last)) = (out.first(), out.last()) {
        if (last.x - first.x).abs() > 1e-9 {
            return Err(Error::InvalidPolygon(
                "a ring winds around a pole: its longitudes do not return to the start",
            ));
        }
    }
    Ok(LineString::new(out))
}

fn ring_range(ring: &LineString<f64>) -> Option<(f64, f64)> {
    let mut it = ring.0.iter().map(|c| c.x);
    let first = it.next()?;
    Some(it.fold((first, first), |(lo, hi), x| (lo.min(x), hi.max(x))))
}

fn check_finite(p: &Polygon<f64>) -> Result<()> {
    let finite = std::iter::once(p.exterior())
        .chain(p.interiors())
        .flat_map(|r| r.0.iter())
        .all(|c| c.x.is_finite() && c.y.is_finite());
    if finite {
        Ok(())
    } else {
        Err(Error::InvalidPolygon("coordinates must be finite"))
    }
}

/// One ring of a polygon that leaves −180..=180, as a hole-free polygon with its bounds.
#[derive(Debug, Clone)]
struct Ring {
    polygon: Polygon<f64>,
    lon: (f64, f64),
    lat: (f64, f64),
}

impl Ring {
    fn new(ring: &LineString<f64>) -> Option<Ring> {
        let polygon = Polygon::new(ring.clone(), Vec::new());
        let rect = polygon.bounding_rect()?;
        Some(Ring {
            polygon,
            lon: (rect.min().x, rect.max().x),
            lat: (rect.min().y, rect.max().y),
        })
    }

    /// Whether a copy of `(lon, lat)` (shifted by −360, 0 or +360) is inside the ring: strictly, or
    /// inside or on the boundary.
    fn hit(&self, lon: f64, lat: f64, strict: bool) -> bool {
        if lat < self.lat.0 || lat > self.lat.1 {
            return false;
        }
        [lon, lon - 360.0, lon + 360.0].into_iter().any(|x| {
            if x < self.lon.0 || x > self.lon.1 {
                return false;
            }
            let pos = self.polygon.coordinate_position(&Coord { x, y: lat });
            if strict {
                pos == CoordPos::Inside
            } else {
                pos != CoordPos::Outside
            }
        })
    }
}

#[derive(Debug, Clone)]
struct Wrapped {
    exterior: Ring,
    holes: Vec<Ring>,
}

/// A validated polygon ready for containment tests and candidate boxes.
#[derive(Debug, Clone)]
pub(crate) struct Area {
    polygon: Polygon<f64>,
    /// Present only when a ring leaves −180..=180 (the plain path does no extra work).
    wrapped: Option<Box<Wrapped>>,
}

impl Area {
    /// Validates `polygon` (see the module docs).
    pub(crate) fn new(polygon: Polygon<f64>) -> Result<Area> {
        // geo closes every ring, so three distinct points make four coordinates.
        if polygon.exterior().0.len() < 4 {
            return Err(Error::InvalidPolygon(
                "the exterior ring needs at least 3 points",
            ));
        }
        check_finite(&polygon)?;
        if polygon.bounding_rect().is_none() {
            return Err(Error::InvalidPolygon("empty polygon"));
        }
        let mut crosses = false;
        for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
            let Some((lo, hi)) = ring_range(ring) else {
                continue;
            };
            if lo < -540.0 || hi > 540.0 {
                return Err(Error::InvalidPolygon(
                    "longitudes must lie within -540..=540 (unwrapped at most one turn past ±180)",
                ));
            }
            if hi - lo > 360.0 {
                return Err(Error::InvalidPolygon(
                    "a ring spans more than 360 degrees of longitude",
                ));
            }
            crosses |= lo < -180.0 || hi > 180.0;
        }
        let wrapped = if crosses {
            let exterior = Ring::new(polygon.exterior()).expect("exterior has points");
            let holes = polygon.interiors().iter().filter_map(Ring::new).collect();
            Some(Box::new(Wrapped { exterior, holes }))
        } else {
            None
        };
        Ok(Area { polygon, wrapped })
    }

    /// Whether the point (stored within −180..=180) is inside.
    #[inline]
    pub(crate) fn contains(&self, lon: f64, lat: f64) -> bool {
        match &self.wrapped {
            None => self.polygon.contains(&Point::new(lon, lat)),
            Some(w) => {
                w.exterior.hit(lon, lat, true) && !w.holes.iter().any(|h| h.hit(lon, lat, false))
            }
        }
    }

    /// A 3D box around the unit vectors of every point that can be inside.
    pub(crate) fn envelope(&self) -> AABB<[f64; 3]> {
        match &self.wrapped {
            None => {
                let rect = self.polygon.bounding_rect().expect("validated polygon");
                rect_envelope(rect.min().x, rect.max().x, rect.min().y, rect.max().y)
            }
            Some(w) => {
                // The exterior's longitude range, cut into its pieces within -180..=180.
                let ((lo, hi), (lat_lo, lat_hi)) = (w.exterior.lon, w.exterior.lat);
                let mut env: Option<AABB<[f64; 3]>> = None;
                for shift in [-360.0, 0.0, 360.0] {
                    let (a, b) = ((lo + shift).max(-180.0), (hi + shift).min(180.0));
                    if a <= b {
                        let piece = rect_envelope(a, b, lat_lo, lat_hi);
                        env = Some(env.map_or(piece, |e| e.merged(&piece)));
                    }
                }
                env.expect("a ring within -540..540 meets -180..180")
            }
        }
    }

    /// The polygon's centroid as `(lon, lat)` with the longitude within −180..=180.
    pub(crate) fn centroid(&self) -> (f64, f64) {
        let Some(w) = &self.wrapped else {
            return self
                .polygon
                .centroid()
                .map(|c: Point<f64>| (c.x(), c.y()))
                .unwrap_or((0.0, 0.0));
        };
        // Bring each hole next to the exterior (rings are read modulo 360 on their own) first.
        let (lo, hi) = w.exterior.lon;
        let centre = (lo + hi) / 2.0;
        let holes = self
            .polygon
            .interiors()
            .iter()
            .map(|hole| {
                let mut hole = hole.clone();
                if let Some((a, b)) = ring_range(&hole) {
                    let turns = ((centre - (a + b) / 2.0) / 360.0).round();
                    hole.0.iter_mut().for_each(|c| c.x += turns * 360.0);
                }
                hole
            })
            .collect();
        let framed = Polygon::new(self.polygon.exterior().clone(), holes);
        let (x, y) = framed
            .centroid()
            .map_or((centre, 0.0), |c: Point<f64>| (c.x(), c.y()));
        let x = if x > 180.0 {
            x - 360.0
        } else if x < -180.0 {
            x + 360.0
        } else {
            x
        };
        (x, y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    #[test]
    fn plain_polygons_take_the_plain_path() {
        let p = polygon![(x: -180.0, y: -10.0), (x: 180.0, y: -10.0), (x: 180.0, y: 10.0), (x: -180.0, y: 10.0)];
        assert!(Area::new(p).unwrap().wrapped.is_none());
        let p = polygon![(x: 170.0, y: -10.0), (x: 190.0, y: -10.0), (x: 190.0, y: 10.0)];
        assert!(Area::new(p).unwrap().wrapped.is_some());
    }

    #[test]
    fn envelope_covers_both_sides() {
        let p = polygon![(x: 177.0, y: -21.0), (x: 183.0, y: -21.0), (x: 183.0, y: -15.0), (x: 177.0, y: -15.0)];
        let env = Area::new(p).unwrap().envelope();
        for lon in [177.5, 179.9, 180.0, -180.0, -179.9, -177.5] {
            assert!(
                env.contains_point(&crate::sphere::to_xyz(lon, -18.0)),
                "{lon}"
            );
        }
        assert!(!env.contains_point(&crate::sphere::to_xyz(0.0, -18.0)));
    }

    #[test]
    fn centroid_is_normalised() {
        let p = polygon![(x: 178.0, y: 0.0), (x: 186.0, y: 0.0), (x: 186.0, y: 2.0), (x: 178.0, y: 2.0)];
        let (x, y) = Area::new(p).unwrap().centroid();
        assert!(
            (x - -178.0).abs() < 1e-9 && (y - 1.0).abs() < 1e-9,
            "{x},{y}"
        );
    }

    #[test]
    fn unwrap_rejects_a_ring_around_a_pole() {
        let cap = polygon![(x: 0.0, y: 80.0), (x: 120.0, y: 80.0), (x: -120.0, y: 80.0)];
        assert!(matches!(
            unwrap_antimeridian(&cap),
            Err(Error::InvalidPolygon(_))
        ));
    }
}
