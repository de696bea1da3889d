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
//! as geo's [`Contains`] decides (a point exactly on the boundary is outside).
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

use geo::{BoundingRect, Contains, Point, Polygon};

use crate::distance::{Metric, Unit};
use crate::error::{Error, Result};

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

    /// A polygon (x = longitude, y = latitude), holes allowed.
    #[must_use]
    pub fn polygon(polygon: Polygon<f64>) -> Self {
        Fence::Polygon(polygon)
    }

    pub(crate) fn validate(&self, lat_limit: f64) -> Result<()> {
        match self {
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
                Ok(())
            }
            Fence::Polygon(p) => validate_polygon(p),
        }
    }

    pub(crate) fn contains(&self, metric: Metric, lon: f64, lat: f64) -> bool {
        match self {
            Fence::Circle {
                lon: clon,
                lat: clat,
                radius_m,
            } => metric.distance((*clon, *clat), (lon, lat)) <= *radius_m,
            Fence::Polygon(p) => p.contains(&Point::new(lon, lat)),
        }
    }
}

pub(crate) fn validate_polygon(p: &Polygon<f64>) -> Result<()> {
    if p.exterior().0.len() < 3 {
        return Err(Error::InvalidPolygon(
            "the exterior ring needs at least 3 points",
        ));
    }
    let finite = std::iter::once(p.exterior())
        .chain(p.interiors())
        .flat_map(|r| r.0.iter())
        .all(|c| c.x.is_finite() && c.y.is_finite());
    if !finite {
        return Err(Error::InvalidPolygon("coordinates must be finite"));
    }
    if p.bounding_rect().is_none() {
        return Err(Error::InvalidPolygon("empty polygon"));
    }
    Ok(())
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
}
