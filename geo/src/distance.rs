//! Distance units and the two ways of measuring a distance on the Earth.
//!
//! ```
//! use ember_geo::{hash, Metric, Unit};
//!
//! // Redis measures between the centres of the stored cells, with its own radius.
//! let palermo = hash::snap(13.361389, 38.115556).unwrap();
//! let catania = hash::snap(15.087269, 37.502669).unwrap();
//! let d = Metric::Redis.distance(palermo, catania);
//! assert_eq!(format!("{d:.4}"), "166274.1516");
//! assert_eq!(format!("{:.4}", Unit::Kilometers.from_meters(d)), "166.2742");
//! // geo's haversine on its mean Earth radius is about 0.03% shorter.
//! assert!(Metric::Haversine.distance(palermo, catania) < d);
//! ```

use std::fmt;
use std::str::FromStr;

use geo::{Distance, Haversine, Point};

use crate::error::Error;

/// The Earth radius Redis uses, in meters.
pub const REDIS_EARTH_RADIUS_M: f64 = 6_372_797.560_856;

/// A unit of distance, as Redis spells them: `m`, `km`, `mi`, `ft`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Unit {
    /// Meters (`m`).
    #[default]
    Meters,
    /// Kilometers (`km`): 1000 m.
    Kilometers,
    /// Miles (`mi`): 1609.34 m, Redis's rounded figure.
    Miles,
    /// Feet (`ft`): 0.3048 m.
    Feet,
}

impl Unit {
    /// How many meters one of this unit is (Redis's conversion factors).
    #[must_use]
    pub fn meters(self) -> f64 {
        match self {
            Unit::Meters => 1.0,
            Unit::Kilometers => 1000.0,
            Unit::Miles => 1609.34,
            Unit::Feet => 0.3048,
        }
    }

    /// `value` of this unit in meters.
    #[must_use]
    pub fn to_meters(self, value: f64) -> f64 {
        value * self.meters()
    }

    /// `meters` expressed in this unit (a division, as Redis does it).
    ///
    /// ```
    /// use ember_geo::Unit;
    /// assert_eq!(Unit::Kilometers.from_meters(1500.0), 1.5);
    /// ```
    #[must_use]
    pub fn from_meters(self, meters: f64) -> f64 {
        meters / self.meters()
    }

    /// The Redis spelling: `m`, `km`, `mi` or `ft`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Meters => "m",
            Unit::Kilometers => "km",
            Unit::Miles => "mi",
            Unit::Feet => "ft",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Unit {
    type Err = Error;

    /// Parses `m`, `km`, `mi` or `ft`, case-insensitively, as Redis does.
    ///
    /// ```
    /// use ember_geo::Unit;
    /// assert_eq!("KM".parse::<Unit>().unwrap(), Unit::Kilometers);
    /// assert!("yd".parse::<Unit>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "m" => Ok(Unit::Meters),
            "km" => Ok(Unit::Kilometers),
            "mi" => Ok(Unit::Miles),
            "ft" => Ok(Unit::Feet),
            _ => Err(Error::UnknownUnit(s.to_string())),
        }
    }
}

/// How distances are measured: the index's mode decides which one it uses.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Metric {
    /// geo's [`Haversine`] on the GRS80 mean Earth radius (6 371 008.8 m). The default mode.
    #[default]
    Haversine,
    /// Redis's haversine on a sphere of [`REDIS_EARTH_RADIUS_M`], with its shortcut `R·|Δlat|` when
    /// `sin(Δlon/2)` is exactly zero. The Redis compatibility mode.
    Redis,
}

impl Metric {
    /// The radius of the sphere this metric measures on, in meters.
    #[must_use]
    pub fn radius(self) -> f64 {
        match self {
            Metric::Haversine => Haversine.radius(),
            Metric::Redis => REDIS_EARTH_RADIUS_M,
        }
    }

    /// The great-circle distance in meters between two `(lon, lat)` positions in degrees.
    #[must_use]
    pub fn distance(self, a: (f64, f64), b: (f64, f64)) -> f64 {
        match self {
            Metric::Haversine => Haversine.distance(Point::new(a.0, a.1), Point::new(b.0, b.1)),
            Metric::Redis => redis_distance(a.0, a.1, b.0, b.1),
        }
    }

    /// The north–south distance in meters between two latitudes in degrees.
    #[must_use]
    pub fn lat_distance(self, lat1: f64, lat2: f64) -> f64 {
        self.radius() * (lat2.to_radians() - lat1.to_radians()).abs()
    }

    /// Redis's box test: `Some(distance from centre)` if `point` lies within `height/2` of `centre`
    /// north–south and within `width/2` measured along the point's own latitude; meters throughout.
    #[must_use]
    pub fn in_box(
        self,
        width: f64,
        height: f64,
        centre: (f64, f64),
        point: (f64, f64),
    ) -> Option<f64> {
        if self.lat_distance(point.1, centre.1) > height / 2.0 {
            return None;
        }
        if self.distance((point.0, point.1), (centre.0, point.1)) > width / 2.0 {
            return None;
        }
        Some(self.distance(centre, point))
    }
}

fn deg_rad(d: f64) -> f64 {
    d * (std::f64::consts::PI / 180.0)
}

/// Redis's `geohashGetDistance`, operation for operation.
fn redis_distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return REDIS_EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs();
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * REDIS_EARTH_RADIUS_M * a.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_match_redis() {
        assert_eq!(Unit::Miles.meters(), 1609.34);
        assert_eq!(Unit::Feet.to_meters(10.0), 3.048);
        for u in [Unit::Meters, Unit::Kilometers, Unit::Miles, Unit::Feet] {
            assert_eq!(u.as_str().parse::<Unit>().unwrap(), u);
            assert_eq!(u.to_string().to_uppercase().parse::<Unit>().unwrap(), u);
        }
        assert!(matches!("".parse::<Unit>(), Err(Error::UnknownUnit(_))));
    }

    #[test]
    fn same_longitude_uses_latitude_shortcut() {
        let d = Metric::Redis.distance((10.0, 0.0), (10.0, 1.0));
        assert_eq!(d, REDIS_EARTH_RADIUS_M * deg_rad(1.0));
        assert_eq!(Metric::Redis.distance((10.0, 5.0), (10.0, 5.0)), 0.0);
    }

    #[test]
    fn distances_wrap_at_the_antimeridian() {
        for m in [Metric::Haversine, Metric::Redis] {
            let across = m.distance((179.9, 0.0), (-179.9, 0.0));
            let along = m.distance((0.0, 0.0), (0.2, 0.0));
            assert!((across - along).abs() < 1e-6, "{m:?}");
        }
    }

    #[test]
    fn box_test_uses_the_points_latitude() {
        let m = Metric::Redis;
        let centre = (15.0, 37.0);
        // 200 km wide box: a point 99 km east on the centre's latitude is in, 101 km is out.
        let deg_per_km = 1.0 / (m.radius() / 1000.0 * deg_rad(1.0) * deg_rad(37.0).cos());
        assert!(
            m.in_box(
                200_000.0,
                10_000.0,
                centre,
                (15.0 + 99.0 * deg_per_km, 37.0)
            )
            .is_some()
        );
        assert!(
            m.in_box(
                200_000.0,
                10_000.0,
                centre,
                (15.0 + 101.0 * deg_per_km, 37.0)
            )
            .is_none()
        );
        assert!(
            m.in_box(200_000.0, 10_000.0, centre, (15.0, 37.1))
                .is_none()
        );
    }
}
