//! Geofences: named polygons or circles that report members entering and leaving them.
//!
//! Like Tile38's `FENCE DETECT enter,exit`: when [`add`](crate::GeoIndex::add) moves a member across a
//! fence's boundary (or a new member appears inside one) every subscriber receives a
//! [`FenceEvent`]. A member that is removed, or expires, while inside a fence produces an
//! [`Exit`](FenceEventKind::Exit) too. Events are sent synchronously by the write that caused them, in
//! order, to every receiver from [`subscribe`](crate::GeoIndex::subscribe).
//!
//! Containment: a circle contains the points at a distance ≤ its radius (measured with the index's
//! [`Metric`]); a polygon contains the points strictly inside it and not in a hole, in the lon/lat plane,
//! as geo's [`Contains`](geo::Contains) decides (a point exactly on the boundary is outside). A polygon
//! fence may cross the antimeridian when its longitudes are given unwrapped (177..183): see
//! [`crate::polygon`] for the rule.
//!
//! ```
//! use ember_geo::{Fence, FenceEventKind, GeoIndex, Unit};
//! use geo::{polygon, Polygon};
//!
//! let index: GeoIndex<&str> = GeoIndex::builder().build().unwrap();
//! let zone: Polygon = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 1.0)];
//! index.add_fence("zone", Fence::polygon(zone)).unwrap();
//! index.add_fence("depot", Fence::circle(5.0, 5.0, 10.0, Unit::Kilometers)).unwrap();
//! let events = index.subscribe();
//!
//! index.add("courier", -0.5, 0.5).unwrap(); // outside everything
//! index.add("courier", 0.5, 0.5).unwrap();  // enters the zone
//! index.add("courier", 1.5, 0.5).unwrap();  // leaves it
//! let seen: Vec<_> = events.try_iter().map(|e| (e.fence, e.kind)).collect();
//! assert_eq!(seen, [("zone".to_string(), FenceEventKind::Enter), ("zone".to_string(), FenceEventKind::Exit)]);
//! ```

use geo::Polygon;

use crate::distance::{Metric, Unit};
use crate::error::{Error, Result};
use crate::polygon::Area;

/// The shape of a geofence.
#[derive(Debug, Clone, PartialEq)]
pub enum Fence {
    /// A circle: centre `(lon, lat)` in degrees and a radius in meters.
    Circle {
        /// Centre longitude.
        lon: f64,
        /// Centre latitude.
        lat: f64,
        /// Radius in meters.
        radius_m: f64,
    },
    /// A polygon in lon/lat degrees (x = longitude, y = latitude), holes allowed.
    Polygon(Polygon<f64>),
}

impl Fence {
    /// A circle of `radius` `unit`s around `(lon, lat)`.
    #[must_use]
    pub fn circle(lon: f64, lat: f64, radius: f64, unit: Unit) -> Self {
        Fence::Circle {
            lon,
            lat,
            radius_m: unit.to_meters(radius),
        }
    }

    /// A polygon (x = longitude, y = latitude), holes allowed; validated by
    /// [`add_fence`](crate::GeoIndex::add_fence) ([`Error::InvalidPolygon`]).
    ///
    /// To fence an area across the antimeridian, give its longitudes unwrapped (running past 180°);
    /// members on either side then enter and leave it (the [`polygon`](crate::polygon) module states
    /// the rule):
    ///
    /// ```
    /// use ember_geo::{Fence, FenceEventKind, GeoIndex};
    /// use ember_geo::geo::polygon;
    ///
    /// let index: GeoIndex<&str> = GeoIndex::builder().build().unwrap();
    /// // The Bering Strait, 168°E to 168°W, written as 168..192.
    /// let strait = polygon![(x: 168.0, y: 60.0), (x: 192.0, y: 60.0), (x: 192.0, y: 67.0), (x: 168.0, y: 67.0)];
    /// index.add_fence("strait", Fence::polygon(strait)).unwrap();
    /// let events = index.subscribe();
    /// index.add("trawler", -170.0, 64.0).unwrap(); // east of the line: inside
    /// index.add("trawler", -160.0, 64.0).unwrap(); // past 192°E = 168°W: outside
    /// let kinds: Vec<_> = events.try_iter().map(|e| e.kind).collect();
    /// assert_eq!(kinds, [FenceEventKind::Enter, FenceEventKind::Exit]);
    /// ```
    #[must_use]
    pub fn polygon(polygon: Polygon<f64>) -> Self {
        Fence::Polygon(polygon)
    }
}

/// Whether a member entered or left a fence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum FenceEventKind {
    /// The member was outside the fence (or not in the index) and now is inside.
    Enter,
    /// The member was inside and now is outside, removed or expired.
    Exit,
}

/// What made a member cross a fence boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum FenceCause {
    /// An `add` placed or moved the member.
    Moved,
    /// The member was removed.
    Removed,
    /// The member's TTL ran out.
    Expired,
}

/// A member crossed a fence boundary.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FenceEvent<M> {
    /// The fence's name.
    pub fence: String,
    /// The member.
    pub member: M,
    /// Entered or left.
    pub kind: FenceEventKind,
    /// Why.
    pub cause: FenceCause,
    /// The member's position after the event (its last position for removal and expiry), `(lon, lat)`.
    pub position: (f64, f64),
}

pub(crate) struct FenceEntry {
    pub(crate) name: String,
    pub(crate) fence: Fence,
    /// The validated polygon of a polygon fence.
    area: Option<Area>,
}

impl FenceEntry {
    /// Validates `fence` (coordinates within the index's latitude limit, a finite radius, a valid
    /// polygon) and prepares it for containment tests.
    pub(crate) fn new(name: String, fence: Fence, lat_limit: f64) -> Result<Self> {
        let area = match &fence {
            Fence::Circle { lon, lat, radius_m } => {
                if !(-180.0..=180.0).contains(lon) || !(-lat_limit..=lat_limit).contains(lat) {
                    return Err(Error::InvalidCoordinates {
                        lon: *lon,
                        lat: *lat,
                    });
                }
                if radius_m.is_nan() || *radius_m < 0.0 || radius_m.is_infinite() {
                    return Err(Error::InvalidDistance {
                        what: "fence radius",
                        value: *radius_m,
                    });
                }
                None
            }
            Fence::Polygon(p) => Some(Area::new(p.clone())?),
        };
        Ok(FenceEntry { name, fence, area })
    }

    pub(crate) fn contains(&self, metric: Metric, lon: f64, lat: f64) -> bool {
        match (&self.fence, &self.area) {
            (
                Fence::Circle {
                    lon: clon,
                    lat: clat,
                    radius_m,
                },
                _,
            ) => metric.distance((*clon, *clat), (lon, lat)) <= *radius_m,
            (Fence::Polygon(_), Some(area)) => area.contains(lon, lat),
            (Fence::Polygon(_), None) => false,
        }
    }
}
