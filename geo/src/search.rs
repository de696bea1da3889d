//! Searching an index: Redis `GEOSEARCH` and what its users ask for beyond it.
//!
//! A [`Search`] takes one origin ([`from_member`](Search::from_member) or
//! [`from_point`](Search::from_point)), one shape ([`radius`](Search::radius), [`by_box`](Search::by_box),
//! [`ring`](Search::ring), [`polygon`](Search::polygon) or [`nearest`](Search::nearest)), and Redis's
//! options:
//!
//! - order: unsorted by default (the tree's order; in Redis mode, geohash-score order), [`asc`](Search::asc)
//!   or [`desc`](Search::desc) by distance;
//! - [`count(n)`](Search::count) keeps the `n` nearest, which forces ascending order unless
//!   [`desc`](Search::desc) is asked; [`any`](Search::any) with a count stops at the first `n`
//!   matches found, which need not be the nearest (and are then sorted only if an order is asked);
//! - [`with_dist`](Search::with_dist), [`with_coord`](Search::with_coord), [`with_hash`](Search::with_hash)
//!   fill the matching fields of each [`Hit`]; distances are in the shape's unit.
//!
//! Redis's rules for bad searches hold: two origins or two shapes, `any` without `count`, `count(0)`, a
//! negative radius or box side are errors; searching from a missing member is
//! [`Error::MemberNotFound`]; an empty index or no hits is an empty result.
//!
//! ```
//! use ember_geo::{GeoIndex, Unit};
//!
//! let index: GeoIndex<&str> = GeoIndex::builder().redis_compat().build().unwrap();
//! index.add("Palermo", 13.361389, 38.115556).unwrap();
//! index.add("Catania", 15.087269, 37.502669).unwrap();
//! index.add("edge1", 12.758489, 38.788135).unwrap();
//! index.add("edge2", 17.241510, 38.788135).unwrap();
//!
//! let hits = index.search().from_point(15.0, 37.0).by_box(400.0, 400.0, Unit::Kilometers)
//!     .asc().with_dist().run().unwrap();
//! let got: Vec<_> = hits.iter().map(|h| format!("{} {:.4}", h.member, h.distance.unwrap())).collect();
//! assert_eq!(got, ["Catania 56.4413", "Palermo 190.4424", "edge2 279.7403", "edge1 279.7405"]);
//!
//! // COUNT 1 forces ascending order: the nearest one.
//! let hits = index.search().from_member(&"Palermo").radius(500.0, Unit::Kilometers).count(1).run().unwrap();
//! assert_eq!(hits[0].member, "Palermo");
//! ```

use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::atomic::Ordering as AtomicOrdering;

use geo::Polygon;

use crate::distance::Unit;
use crate::error::{Error, Result};
use crate::hash::score_of;
use crate::index::{GeoIndex, Mode};
use crate::polygon::Area;
use crate::sphere::{Node, chord2_for, to_xyz};

/// One search result. Optional fields are filled when the search asked for them.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Hit<M> {
    /// The member.
    pub member: M,
    /// Distance from the search's origin in the shape's unit ([`Search::with_dist`]).
    pub distance: Option<f64>,
    /// Stored `(lon, lat)` ([`Search::with_coord`]).
    pub position: Option<(f64, f64)>,
    /// The 52-bit Redis score ([`Search::with_hash`]).
    pub hash: Option<u64>,
}

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// No particular order (Redis's default).
    #[default]
    Unsorted,
    /// Nearest first.
    Asc,
    /// Farthest first.
    Desc,
}

enum Origin<'a, Q: ?Sized> {
    Member(&'a Q),
    Point(f64, f64),
}

#[derive(Debug, Clone)]
enum Shape {
    Radius {
        max: f64,
    },
    Ring {
        min: f64,
        max: f64,
    },
    Box {
        width: f64,
        height: f64,
    },
    Polygon(Box<Polygon<f64>>),
    /// A polygon once validated by `run`.
    Area(Box<Area>),
    Nearest(usize),
}

type Filter<'a, M, A> = Box<dyn Fn(&M, &A) -> bool + 'a>;

/// A search being configured; from [`GeoIndex::search`]. Nothing runs until [`run`](Search::run).
#[must_use = "a search does nothing until run"]
pub struct Search<'a, M, A, Q: ?Sized = M> {
    index: &'a GeoIndex<M, A>,
    origin: Option<Origin<'a, Q>>,
    shape: Option<Shape>,
    unit: Unit,
    syntax: Option<&'static str>,
    order: Order,
    count: Option<usize>,
    any: bool,
    with_dist: bool,
    with_coord: bool,
    with_hash: bool,
    filter: Option<Filter<'a, M, A>>,
}

impl<'a, M, A> Search<'a, M, A, M> {
    pub(crate) fn new(index: &'a GeoIndex<M, A>) -> Self {
        Search {
            index,
            origin: None,
            shape: None,
            unit: Unit::Meters,
            syntax: None,
            order: Order::Unsorted,
            count: None,
            any: false,
            with_dist: false,
            with_coord: false,
            with_hash: false,
            filter: None,
        }
    }
}

impl<'a, M, A, Q: ?Sized> Search<'a, M, A, Q> {
    fn set_origin(mut self, origin: Origin<'a, Q>) -> Self {
        if self.origin.is_some() {
            self.syntax = Some("exactly one of FROMMEMBER or FROMLONLAT can be specified");
        }
        self.origin = Some(origin);
        self
    }

    fn set_shape(mut self, shape: Shape, unit: Unit) -> Self {
        if self.shape.is_some() {
            self.syntax =
                Some("exactly one of BYRADIUS, BYBOX, ring, polygon or nearest can be specified");
        }
        self.shape = Some(shape);
        self.unit = unit;
        self
    }

    /// Searches around a stored member (`FROMMEMBER`); the member may be given borrowed (`&str` for a
    /// `String` member).
    pub fn from_member<R: ?Sized>(self, member: &'a R) -> Search<'a, M, A, R> {
        let syntax = if self.origin.is_some() {
            Some("exactly one of FROMMEMBER or FROMLONLAT can be specified")
        } else {
            self.syntax
        };
        Search {
            index: self.index,
            origin: Some(Origin::Member(member)),
            shape: self.shape,
            unit: self.unit,
            syntax,
            order: self.order,
            count: self.count,
            any: self.any,
            with_dist: self.with_dist,
            with_coord: self.with_coord,
            with_hash: self.with_hash,
            filter: self.filter,
        }
    }

    /// Searches around `(lon, lat)` (`FROMLONLAT`).
    pub fn from_point(self, lon: f64, lat: f64) -> Self {
        self.set_origin(Origin::Point(lon, lat))
    }

    /// Members within `radius` of the origin (`BYRADIUS`); distances are reported in `unit`.
    pub fn radius(self, radius: f64, unit: Unit) -> Self {
        self.set_shape(
            Shape::Radius {
                max: unit.to_meters(radius),
            },
            unit,
        )
    }

    /// Members in the ring `min ≤ distance ≤ max` around the origin.
    pub fn ring(self, min: f64, max: f64, unit: Unit) -> Self {
        self.set_shape(
            Shape::Ring {
                min: unit.to_meters(min),
                max: unit.to_meters(max),
            },
            unit,
        )
    }

    /// Members in a `width` × `height` box centred on the origin (`BYBOX`), with Redis's semantics:
    /// within `height/2` north–south and within `width/2` measured along each point's own latitude.
    pub fn by_box(self, width: f64, height: f64, unit: Unit) -> Self {
        self.set_shape(
            Shape::Box {
                width: unit.to_meters(width),
                height: unit.to_meters(height),
            },
            unit,
        )
    }

    /// Members strictly inside `polygon` (x = longitude, y = latitude; holes excluded), as geo's
    /// `Contains` decides in the lon/lat plane. The origin is optional: distances are measured from it,
    /// or from the polygon's centroid without one.
    ///
    /// A polygon may cross the antimeridian when given **unwrapped**, its longitudes running past 180°
    /// (Fiji as 177..183; each ring within −540..=540 and spanning at most 360°): members on both
    /// sides of the line are found. A ring that jumps from 177° to −177° is read in the plane as
    /// written (a band round the globe); convert it with
    /// [`unwrap_antimeridian`](crate::polygon::unwrap_antimeridian). The [`polygon`](crate::polygon)
    /// module states the rule.
    ///
    /// ```
    /// use ember_geo::GeoIndex;
    /// use ember_geo::geo::polygon;
    ///
    /// let index: GeoIndex<u32> = GeoIndex::builder().build().unwrap();
    /// index.add(1, 179.9, -17.0).unwrap();
    /// index.add(2, -179.9, -17.0).unwrap();
    /// index.add(3, 0.0, -17.0).unwrap();
    /// let zone = polygon![(x: 177.0, y: -20.0), (x: 183.0, y: -20.0), (x: 183.0, y: -15.0), (x: 177.0, y: -15.0)];
    /// let mut ids: Vec<u32> = index.search().polygon(zone).run().unwrap().iter().map(|h| h.member).collect();
    /// ids.sort();
    /// assert_eq!(ids, [1, 2]);
    /// ```
    pub fn polygon(self, polygon: Polygon<f64>) -> Self {
        self.set_shape(Shape::Polygon(Box::new(polygon)), Unit::Meters)
    }

    /// The `k` members nearest to the origin, nearest first, at any distance (no radius).
    pub fn nearest(self, k: usize) -> Self {
        let unit = self.unit;
        self.set_shape(Shape::Nearest(k), unit)
    }

    /// The unit distances are reported in. The shape sets it (radius and box in their own unit, `nearest`
    /// and `polygon` in meters); calling this afterwards changes only the reported distances.
    pub fn unit(mut self, unit: Unit) -> Self {
        self.unit = unit;
        self
    }

    /// Nearest first (`ASC`).
    pub fn asc(mut self) -> Self {
        self.order = Order::Asc;
        self
    }

    /// Farthest first (`DESC`).
    pub fn desc(mut self) -> Self {
        self.order = Order::Desc;
        self
    }

    /// Sets the order.
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// At most `n` results (`COUNT n`): the `n` nearest unless [`any`](Search::any).
    pub fn count(mut self, n: usize) -> Self {
        self.count = Some(n);
        self
    }

    /// With [`count`](Search::count): stop at the first `n` matches found (`ANY`).
    pub fn any(mut self) -> Self {
        self.any = true;
        self
    }

    /// Report distances (`WITHDIST`).
    pub fn with_dist(mut self) -> Self {
        self.with_dist = true;
        self
    }

    /// Report positions (`WITHCOORD`).
    pub fn with_coord(mut self) -> Self {
        self.with_coord = true;
        self
    }

    /// Report 52-bit scores (`WITHHASH`).
    pub fn with_hash(mut self) -> Self {
        self.with_hash = true;
        self
    }

    /// Keeps only members for which `keep(member, attributes)` is true, tested during the search (so
    /// `count` and `nearest` count only members that pass).
    pub fn filter(mut self, keep: impl Fn(&M, &A) -> bool + 'a) -> Self {
        self.filter = Some(Box::new(keep));
        self
    }
}

/// A match found during the scan.
struct Found<'t, M> {
    dist_m: f64,
    node: &'t Node<M>,
}

/// Feeds tree entries to `test`, keeping those it accepts, until `limit` matches are found.
fn scan<'t, M: 't>(
    nodes: impl Iterator<Item = &'t Node<M>>,
    test: &mut impl FnMut(&Node<M>) -> Option<f64>,
    found: &mut Vec<Found<'t, M>>,
    limit: Option<usize>,
) {
    for node in nodes {
        if let Some(dist_m) = test(node) {
            found.push(Found { dist_m, node });
            if limit.is_some_and(|n| found.len() >= n) {
                return;
            }
        }
    }
}

fn check_distance(what: &'static str, value: f64) -> Result<f64> {
    if value >= 0.0 && value.is_finite() {
        Ok(value)
    } else {
        Err(Error::InvalidDistance { what, value })
    }
}

impl<M, A, Q> Search<'_, M, A, Q>
where
    M: Hash + Eq + Clone + Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    /// Runs the search.
    ///
    /// # Errors
    /// [`Error::Syntax`] for a missing or repeated origin or shape, `any` without `count`, `count(0)`
    /// or `nearest(0)`; [`Error::InvalidDistance`] for a negative or NaN radius or side;
    /// [`Error::InvalidCoordinates`] for a bad origin point; [`Error::InvalidPolygon`];
    /// [`Error::MemberNotFound`] when searching from a missing member.
    pub fn run(mut self) -> Result<Vec<Hit<M>>> {
        if let Some(msg) = self.syntax {
            return Err(Error::Syntax(msg));
        }
        let Some(shape) = self.shape.take() else {
            return Err(Error::Syntax(
                "exactly one of BYRADIUS and BYBOX can be specified",
            ));
        };
        if self.any && self.count.is_none() {
            return Err(Error::Syntax("the ANY argument requires COUNT argument"));
        }
        if self.count == Some(0) || matches!(shape, Shape::Nearest(0)) {
            return Err(Error::Syntax("COUNT must be > 0"));
        }
        // Validate the shape (already in meters).
        let shape = match shape {
            Shape::Radius { max } => Shape::Radius {
                max: check_distance("radius", max)?,
            },
            Shape::Ring { min, max } => {
                let (min, max) = (
                    check_distance("ring min", min)?,
                    check_distance("ring max", max)?,
                );
                if min > max {
                    return Err(Error::InvalidDistance {
                        what: "ring min above max",
                        value: min,
                    });
                }
                Shape::Ring { min, max }
            }
            Shape::Box { width, height } => Shape::Box {
                width: check_distance("width", width)?,
                height: check_distance("height", height)?,
            },
            Shape::Polygon(p) => Shape::Area(Box::new(Area::new(*p)?)),
            s @ (Shape::Nearest(_) | Shape::Area(_)) => s,
        };
        if let Some(Origin::Point(lon, lat)) = self.origin {
            self.index.check(lon, lat)?;
        }
        if self.origin.is_none() && !matches!(shape, Shape::Area(_)) {
            return Err(Error::Syntax(
                "exactly one of FROMMEMBER or FROMLONLAT can be specified",
            ));
        }

        let index = self.index;
        let metric = index.metric;
        let mut inner = index.inner.read();
        let mut now = index.now_if_ttl(&inner);
        if let (Some(t), Some(&(first, _))) = (now, inner.expiry.first()) {
            if first <= t {
                // Something is due: purge it (emitting fence exits) before searching.
                drop(inner);
                index.purge_due();
                inner = index.inner.read();
                now = index.now_if_ttl(&inner);
            }
        }
        let centre = match (&self.origin, &shape) {
            (Some(Origin::Point(lon, lat)), _) => (*lon, *lat),
            (Some(Origin::Member(m)), _) => {
                let slot = inner.lookup(*m, now).ok_or(Error::MemberNotFound)?;
                (slot.lon, slot.lat)
            }
            (None, Shape::Area(a)) => a.centroid(),
            (None, _) => unreachable!("checked above"),
        };
        let centre_xyz = to_xyz(centre.0, centre.1);
        let limit = if self.any { self.count } else { None };
        let mut found: Vec<Found<'_, M>> = Vec::with_capacity(16);
        // The member table is only consulted when TTLs or a filter need it.
        let check_slot = now.is_some() || self.filter.is_some();
        let mut examined = 0u64;

        // Tests one tree entry (shape, then liveness and filter): its distance if it matches.
        let mut test = |node: &Node<M>| -> Option<f64> {
            examined += 1;
            let (lon, lat) = (node.lon, node.lat);
            let dist = match &shape {
                Shape::Radius { max } => {
                    let d = metric.distance(centre, (lon, lat));
                    if d > *max {
                        return None;
                    }
                    d
                }
                Shape::Ring { min, max } => {
                    let d = metric.distance(centre, (lon, lat));
                    if d > *max || d < *min {
                        return None;
                    }
                    d
                }
                Shape::Box { width, height } => {
                    metric.in_box(*width, *height, centre, (lon, lat))?
                }
                Shape::Area(a) => {
                    if !a.contains(lon, lat) {
                        return None;
                    }
                    metric.distance(centre, (lon, lat))
                }
                Shape::Nearest(_) => metric.distance(centre, (lon, lat)),
                Shape::Polygon(_) => unreachable!("validated into an area"),
            };
            if check_slot {
                let slot = inner.live(node.slot, now)?;
                if let Some(keep) = &self.filter {
                    if !keep(&slot.member, &slot.attrs) {
                        return None;
                    }
                }
            }
            Some(dist)
        };

        match &shape {
            Shape::Radius { max } | Shape::Ring { max, .. } => {
                let r2 = chord2_for(*max, metric.radius());
                if r2.is_infinite() {
                    scan(inner.tree.iter(), &mut test, &mut found, limit);
                } else {
                    scan(
                        inner.tree.locate_within_distance(centre_xyz, r2),
                        &mut test,
                        &mut found,
                        limit,
                    );
                }
            }
            Shape::Box { width, height } => {
                // Every point of the box is within h/2 + w/2 of the centre (triangle inequality).
                let r2 = chord2_for(width / 2.0 + height / 2.0, metric.radius());
                if r2.is_infinite() {
                    scan(inner.tree.iter(), &mut test, &mut found, limit);
                } else {
                    scan(
                        inner.tree.locate_within_distance(centre_xyz, r2),
                        &mut test,
                        &mut found,
                        limit,
                    );
                }
            }
            Shape::Area(a) => {
                // Without a crossing this is the bounding rectangle's box, as always; across the
                // antimeridian one box around both pieces (the 3D boxes have no seam).
                let env = a.envelope();
                scan(
                    inner.tree.locate_in_envelope(&env),
                    &mut test,
                    &mut found,
                    limit,
                );
            }
            Shape::Polygon(_) => unreachable!("validated into an area"),
            Shape::Nearest(k) => {
                // Chord order is distance order: the first k live members that pass are the nearest.
                let k = self.count.map_or(*k, |c| c.min(*k));
                scan(
                    inner.tree.nearest_neighbor_iter(&centre_xyz),
                    &mut test,
                    &mut found,
                    Some(k),
                );
            }
        }

        // Order and count, as Redis does: COUNT without ANY keeps the nearest n (ascending unless DESC).
        let nearest_shape = matches!(shape, Shape::Nearest(_));
        let mut order = self.order;
        if (self.count.is_some() && !self.any && order == Order::Unsorted)
            || (nearest_shape && order == Order::Unsorted)
        {
            order = Order::Asc;
        }
        let by_dist = |a: &Found<'_, M>, b: &Found<'_, M>| a.dist_m.total_cmp(&b.dist_m);
        match (self.count, self.any) {
            (Some(n), false) if found.len() > n => {
                if order == Order::Desc {
                    // Redis partially sorts descending: the n farthest, farthest first.
                    found.select_nth_unstable_by(n - 1, |a, b| by_dist(b, a));
                    found.truncate(n);
                    found.sort_by(|a, b| by_dist(b, a));
                } else {
                    found.select_nth_unstable_by(n - 1, by_dist);
                    found.truncate(n);
                    found.sort_by(by_dist);
                }
                found.truncate(n);
            }
            _ => match order {
                Order::Asc => found.sort_by(by_dist),
                Order::Desc => found.sort_by(|a, b| by_dist(b, a)),
                Order::Unsorted => {
                    if index.mode() == Mode::Redis && !self.any {
                        found.sort_by_cached_key(|f| score_of(f.node.lon, f.node.lat));
                    }
                }
            },
        }

        index
            .counters
            .searches
            .fetch_add(1, AtomicOrdering::Relaxed);
        index
            .counters
            .candidates
            .fetch_add(examined, AtomicOrdering::Relaxed);
        index
            .counters
            .results
            .fetch_add(found.len() as u64, AtomicOrdering::Relaxed);
        let unit = self.unit;
        Ok(found
            .into_iter()
            .map(|f| {
                let node = f.node;
                Hit {
                    member: node.member.clone(),
                    distance: self.with_dist.then(|| unit.from_meters(f.dist_m)),
                    position: self.with_coord.then_some((node.lon, node.lat)),
                    hash: self.with_hash.then(|| score_of(node.lon, node.lat)),
                }
            })
            .collect())
    }
}
