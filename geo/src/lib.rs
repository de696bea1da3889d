//! # ember-geo
//!
//! An in-process proximity index with the semantics of Redis `GEOADD`/`GEOSEARCH`, and what Redis
//! users keep asking for beyond them: nearest-k without a radius, polygon search, distance rings,
//! attribute filters during the search, per-member TTLs and geofences with enter/exit events (Tile38's
//! `FENCE`). Drivers near a rider, restaurants in this box, "is the courier inside the delivery zone".
//!
//! ```
//! use std::time::Duration;
//! use ember_core::ManualClock;
//! use ember_geo::{GeoIndex, Unit};
//!
//! #[derive(Default, Clone)]
//! struct Driver { free: bool }
//!
//! let clock = ManualClock::new();
//! let drivers: GeoIndex<String, Driver> = GeoIndex::builder()
//!     .default_ttl(Duration::from_secs(30)) // a driver who stops reporting disappears
//!     .clock(clock.clone())
//!     .build()
//!     .unwrap();
//! drivers.add_with("ana".into(), 2.3522, 48.8566, Driver { free: true }).unwrap();
//! drivers.add_with("bo".into(), 2.3600, 48.8600, Driver { free: false }).unwrap();
//! drivers.add_with("cy".into(), 2.2950, 48.8738, Driver { free: true }).unwrap();
//!
//! // The two nearest free drivers, at any distance.
//! let hits = drivers.search().from_point(2.355, 48.857).nearest(2)
//!     .filter(|_, d| d.free).with_dist().unit(Unit::Kilometers).run().unwrap();
//! let names: Vec<_> = hits.iter().map(|h| h.member.as_str()).collect();
//! assert_eq!(names, ["ana", "cy"]);
//!
//! clock.advance(Duration::from_secs(31));
//! assert!(drivers.is_empty());
//! ```
//!
//! ## Two modes
//!
//! - [`Mode::Exact`] (default) keeps the coordinates exactly as given and measures with geo's haversine
//!   on the GRS80 mean Earth radius (6 371 008.8 m).
//! - [`Mode::Redis`] (`builder().redis_compat()`) applies Redis's rules: each position is snapped to the
//!   centre of its 52-bit geohash cell (up to ~0.3 m away, which is what `GEOPOS` returns), distances use
//!   Redis's haversine on a 6 372 797.560856 m sphere, and boxes use Redis's test. For the same members
//!   and queries the results are Redis's: same members, same distances to 4 decimals, same order for
//!   ascending and descending searches. Unsorted results come in geohash-score order (Redis's own scan
//!   order visits up to nine cells and can differ), and `count(n).any()` may pick different members
//!   than Redis, as both only promise "the first n found".
//!
//! The two modes' distances differ by about 0.03% (the radii) plus the cell snapping, so a point right
//! at a radius's edge can be in one mode's result and not the other's.
//!
//! ## How it works
//!
//! Members live in a hash map and an R-tree ([`rstar`]) over their **unit vectors in 3D**, not over
//! lon/lat. A radius becomes a chord, a box is covered by a ball, a polygon's lon/lat bounding
//! rectangle by a 3D box; candidates are then tested exactly. There is no seam at the antimeridian and
//! no distortion at the poles, so every search finds exactly what a brute-force scan finds (the test
//! suite checks this with property tests centred on ±180° and near the poles). `geo` provides the
//! haversine and polygon containment.
//!
//! A tree node carries a copy of its member, so a search returns hits without touching the member
//! table (on a million points that is most of the cost of a query). Members are therefore stored
//! twice: prefer cheap-to-clone member types (integer ids, `Arc<str>`) for large indexes, as every
//! hit is also a clone. Reads share a read lock and run in parallel; writes take the write lock.
//!
//! ## Redis behaviours kept
//!
//! Coordinates are validated (longitude −180..180, latitude ±85.05112878 by default, NaN rejected) and
//! a bad batch adds nothing; [`AddOptions`] has `NX`, `XX` and `CH`; units are m, km, mi (1609.34 m) and
//! ft; `count(n)` forces ascending order unless `any()`; `any()` needs a count; searching from a missing
//! member is an error, an empty index gives an empty result; [`GeoIndex::distance`] is `None` for a
//! missing member; [`GeoIndex::geohash`] returns Redis's 11-character `GEOHASH`.
//!
//! Differences from Redis worth knowing: there is no key (an index is one GEO key); members are typed
//! values, not byte strings; `GEOSEARCHSTORE` is not offered (collect the hits and `add_many` them);
//! [`GeoIndex::add`] and friends need `A: Default` for the attributes of new members.
//!
//! ## Polygons across the antimeridian
//!
//! Polygon searches and fences test containment in the lon/lat plane. A zone that crosses ±180°
//! (Fiji, the Aleutians, Chukotka, a Pacific shipping lane) is given unwrapped, its longitudes running
//! past 180° (177..183): a member at 179.9° and one at −179.9° are both inside. Rings that jump across
//! the line are not guessed at; [`polygon::unwrap_antimeridian`] converts them. The exact rule, and why,
//! is in [`polygon`].
//!
//! ```
//! use ember_geo::{Fence, FenceEventKind, GeoIndex};
//! use ember_geo::geo::polygon;
//!
//! let ships: GeoIndex<&str> = GeoIndex::builder().build().unwrap();
//! let lane = polygon![(x: 175.0, y: 50.0), (x: 190.0, y: 50.0), (x: 190.0, y: 53.0), (x: 175.0, y: 53.0)];
//! ships.add_fence("lane", Fence::polygon(lane)).unwrap();
//! let events = ships.subscribe();
//! ships.add("Aurora", 179.5, 51.0).unwrap(); // enters west of the line
//! ships.add("Aurora", -175.0, 51.5).unwrap(); // still inside east of it: no event
//! ships.add("Aurora", -165.0, 51.5).unwrap(); // leaves past 190°E = 170°W
//! let kinds: Vec<_> = events.try_iter().map(|e| e.kind).collect();
//! assert_eq!(kinds, [FenceEventKind::Enter, FenceEventKind::Exit]);
//! ```
//!
//! See [`search`] for the search options, [`fence`] for geofences, [`polygon`] for polygon rules,
//! [`hash`] for geohashes.
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]

pub mod distance;
mod error;
pub mod fence;
pub mod hash;
mod index;
pub mod polygon;
pub mod search;
mod sphere;

pub use distance::{Metric, REDIS_EARTH_RADIUS_M, Unit};
pub use error::{Error, Result};
pub use fence::{Fence, FenceCause, FenceEvent, FenceEventKind};
pub use index::{AddOptions, GeoIndex, GeoIndexBuilder, GeoStats, Mode};
pub use search::{Hit, Order, Search};

/// The geometry crate ember-geo builds on, re-exported so users name the same `Polygon`.
pub use geo;
