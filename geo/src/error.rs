//! The error type of ember-geo.

/// Everything that can go wrong in ember-geo. Nothing is changed when an operation returns an error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A longitude or latitude outside the index's limits, or NaN (Redis: `ERR invalid
    /// longitude,latitude pair`).
    #[error("invalid longitude,latitude pair {lon},{lat}")]
    InvalidCoordinates {
        /// The longitude given.
        lon: f64,
        /// The latitude given.
        lat: f64,
    },
    /// A batch entry at `index` had invalid coordinates; nothing of the batch was added.
    #[error("invalid longitude,latitude pair {lon},{lat} at batch position {index}")]
    InvalidBatchEntry {
        /// Position of the bad entry in the batch.
        index: usize,
        /// The longitude given.
        lon: f64,
        /// The latitude given.
        lat: f64,
    },
    /// A search from a member that is not in the index (Redis: `ERR could not decode requested zset
    /// member`).
    #[error("member not found")]
    MemberNotFound,
    /// A negative or NaN radius, box side, distance or TTL.
    #[error("invalid {what}: {value}")]
    InvalidDistance {
        /// Which argument.
        what: &'static str,
        /// The value given.
        value: f64,
    },
    /// A unit other than m, km, mi, ft.
    #[error("unsupported unit provided, please use M, KM, FT, MI: {0}")]
    UnknownUnit(String),
    /// A search or option combination Redis rejects (two shapes, no shape, `ANY` without `COUNT`,
    /// `COUNT 0`, `NX` with `XX`…).
    #[error("syntax error: {0}")]
    Syntax(&'static str),
    /// A polygon with fewer than three exterior points, a NaN or infinite coordinate, a longitude
    /// outside −540..=540 or a ring spanning more than 360° of longitude (see [`crate::polygon`]).
    #[error("invalid polygon: {0}")]
    InvalidPolygon(&'static str),
    /// A geofence name that is already registered.
    #[error("geofence {0:?} already exists")]
    FenceExists(String),
    /// A builder setting out of range.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
}

/// ember-geo's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
