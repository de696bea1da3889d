//! Geohashes: Redis's 52-bit integer score and the standard base-32 string.
//!
//! Redis stores every GEO member as a sorted-set score: 26 bits of longitude and 26 bits of latitude,
//! interleaved with longitude in the higher bit of each pair, over longitude −180..180 and latitude
//! −85.05112878..85.05112878 (the Web Mercator limits). [`encode`] and [`decode`] reproduce that
//! bit for bit; [`decode`] returns the centre of the cell, as `GEOPOS` does.
//!
//! `GEOHASH` is a different, *standard* geohash: the cell centre re-encoded over latitude −90..90 and
//! written as 11 base-32 characters, the last of which is always `'0'` because 52 bits cannot fill 55.
//! [`redis_geohash`] reproduces it. [`encode_str`] and [`decode_str`] are the general standard
//! geohash (any precision, full bits).
//!
//! ```
//! use ember_geo::hash;
//!
//! let score = hash::encode(13.361389, 38.115556).unwrap();
//! assert_eq!(score, 3479099956230698); // Palermo's score in Redis
//! let (lon, lat) = hash::decode(score);
//! assert_eq!(format!("{lon:.17} {lat:.17}"), "13.36138933897018433 38.11555639549629859");
//! assert_eq!(hash::redis_geohash(lon, lat), "sqc8b49rny0");
//! assert_eq!(hash::encode_str(13.361389, 38.115556, 5).unwrap(), "sqc8b");
//! ```

/// Bits per axis in Redis's score.
pub const STEP: u32 = 26;
/// Smallest longitude Redis accepts.
pub const LON_MIN: f64 = -180.0;
/// Largest longitude Redis accepts.
pub const LON_MAX: f64 = 180.0;
/// Smallest latitude Redis accepts (the Web Mercator limit).
pub const LAT_MIN: f64 = -85.051_128_78;
/// Largest latitude Redis accepts (the Web Mercator limit).
pub const LAT_MAX: f64 = 85.051_128_78;

const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// Spreads the 32 bits of `v` into the even bit positions of a `u64`.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// Gathers the even bit positions of `x` into a `u32`.
fn squash(x: u64) -> u32 {
    let mut x = x & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    ((x | (x >> 16)) & 0x0000_0000_FFFF_FFFF) as u32
}

/// Interleaves with `lat` in the even bits and `lon` in the odd ones.
fn interleave(lat: u32, lon: u32) -> u64 {
    spread(lat) | (spread(lon) << 1)
}

fn encode_ranges(lon: f64, lat: f64, lat_min: f64, lat_max: f64, step: u32) -> Option<u64> {
    if !(LON_MIN..=LON_MAX).contains(&lon) || !(lat_min..=lat_max).contains(&lat) {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (lat - lat_min) / (lat_max - lat_min) * scale;
    let lon_offset = (lon - LON_MIN) / (LON_MAX - LON_MIN) * scale;
    // Truncation towards zero, as the C cast to uint32_t does.
    Some(interleave(lat_offset as u32, lon_offset as u32))
}

/// Redis's 52-bit score of a position, or `None` outside Redis's limits (or NaN).
///
/// ```
/// assert_eq!(ember_geo::hash::encode(15.087269, 37.502669), Some(3479447370796909));
/// assert_eq!(ember_geo::hash::encode(0.0, 86.0), None);
/// ```
#[must_use]
pub fn encode(lon: f64, lat: f64) -> Option<u64> {
    encode_ranges(lon, lat, LAT_MIN, LAT_MAX, STEP)
}

/// The score stored for `(lon, lat)`: latitudes beyond Redis's limits (possible in exact mode with a
/// wider latitude limit) saturate at the nearest limit. Stable under [`decode`]: re-encoding a cell
/// centre gives back its score, so the score need not be stored next to the position.
pub(crate) fn score_of(lon: f64, lat: f64) -> u64 {
    encode(lon, lat.clamp(LAT_MIN, LAT_MAX)).unwrap_or(0)
}

/// The centre of the cell a Redis score denotes, clamped to Redis's limits: what `GEOPOS` returns.
///
/// ```
/// let (lon, lat) = ember_geo::hash::decode(3479447370796909);
/// assert_eq!(format!("{lon:.6} {lat:.6}"), "15.087267 37.502668");
/// ```
#[must_use]
pub fn decode(score: u64) -> (f64, f64) {
    let ilat = squash(score);
    let ilon = squash(score >> 1);
    let scale = (1u64 << STEP) as f64;
    let lat_scale = LAT_MAX - LAT_MIN;
    let lon_scale = LON_MAX - LON_MIN;
    let lat_lo = LAT_MIN + (f64::from(ilat) / scale) * lat_scale;
    let lat_hi = LAT_MIN + ((f64::from(ilat) + 1.0) / scale) * lat_scale;
    let lon_lo = LON_MIN + (f64::from(ilon) / scale) * lon_scale;
    let lon_hi = LON_MIN + ((f64::from(ilon) + 1.0) / scale) * lon_scale;
    let lon = ((lon_lo + lon_hi) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((lat_lo + lat_hi) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// The position Redis would store for `(lon, lat)`: the centre of its 52-bit cell.
///
/// `None` outside Redis's limits.
#[must_use]
pub fn snap(lon: f64, lat: f64) -> Option<(f64, f64)> {
    encode(lon, lat).map(decode)
}

/// The 11-character geohash Redis's `GEOHASH` returns for a stored position (pass the cell centre,
/// as [`decode`] gives it, to match Redis exactly).
///
/// Latitude is re-encoded over −90..90 with 26 bits per axis; the eleventh character is always `'0'`.
/// Positions outside −180..180 / −90..90 give an empty string.
///
/// ```
/// use ember_geo::hash;
/// let (lon, lat) = hash::snap(15.087269, 37.502669).unwrap();
/// assert_eq!(hash::redis_geohash(lon, lat), "sqdtr74hyu0");
/// ```
#[must_use]
pub fn redis_geohash(lon: f64, lat: f64) -> String {
    let Some(bits) = encode_ranges(lon, lat, -90.0, 90.0, STEP) else {
        return String::new();
    };
    (0..11)
        .map(|i| {
            let idx = if i == 10 {
                0
            } else {
                ((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize
            };
            ALPHABET[idx] as char
        })
        .collect()
}

/// The standard geohash of `(lon, lat)` with `precision` characters (1..=12), at full precision
/// (unlike Redis's, the last character is not forced to `'0'`).
///
/// `None` for NaN, out-of-range coordinates (−180..180, −90..90) or a precision outside 1..=12.
///
/// ```
/// assert_eq!(ember_geo::hash::encode_str(-5.6, 42.6, 5).as_deref(), Some("ezs42"));
/// ```
#[must_use]
pub fn encode_str(lon: f64, lat: f64, precision: usize) -> Option<String> {
    if !(1..=12).contains(&precision)
        || !(-180.0..=180.0).contains(&lon)
        || !(-90.0..=90.0).contains(&lat)
    {
        return None;
    }
    let (mut lon_lo, mut lon_hi) = (-180.0f64, 180.0f64);
    let (mut lat_lo, mut lat_hi) = (-90.0f64, 90.0f64);
    let mut out = String::with_capacity(precision);
    let mut even = true;
    for _ in 0..precision {
        let mut idx = 0usize;
        for _ in 0..5 {
            let (lo, hi, v) = if even {
                (&mut lon_lo, &mut lon_hi, lon)
            } else {
                (&mut lat_lo, &mut lat_hi, lat)
            };
            let mid = (*lo + *hi) / 2.0;
            idx <<= 1;
            if v >= mid {
                idx |= 1;
                *lo = mid;
            } else {
                *hi = mid;
            }
            even = !even;
        }
        out.push(ALPHABET[idx] as char);
    }
    Some(out)
}

/// The centre `(lon, lat)` of a standard geohash cell, or `None` if `hash` is empty, longer than 12
/// characters or has a character outside the geohash alphabet.
///
/// ```
/// let (lon, lat) = ember_geo::hash::decode_str("ezs42").unwrap();
/// assert!((lon - -5.603).abs() < 0.03 && (lat - 42.605).abs() < 0.03);
/// ```
#[must_use]
pub fn decode_str(hash: &str) -> Option<(f64, f64)> {
    if hash.is_empty() || hash.len() > 12 {
        return None;
    }
    let (mut lon_lo, mut lon_hi) = (-180.0f64, 180.0f64);
    let (mut lat_lo, mut lat_hi) = (-90.0f64, 90.0f64);
    let mut even = true;
    for c in hash.bytes() {
        let idx = ALPHABET.iter().position(|&a| a == c.to_ascii_lowercase())?;
        for bit in (0..5).rev() {
            let set = (idx >> bit) & 1 == 1;
            let (lo, hi) = if even {
                (&mut lon_lo, &mut lon_hi)
            } else {
                (&mut lat_lo, &mut lat_hi)
            };
            let mid = (*lo + *hi) / 2.0;
            if set {
                *lo = mid;
            } else {
                *hi = mid;
            }
            even = !even;
        }
    }
    Some(((lon_lo + lon_hi) / 2.0, (lat_lo + lat_hi) / 2.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_and_squash_are_inverse() {
        for v in [0u32, 1, 2, 0x3ff_ffff, 0xdead_beef, u32::MAX] {
            assert_eq!(squash(spread(v)), v);
        }
        assert_eq!(interleave(0, 1), 0b10);
        assert_eq!(interleave(1, 0), 0b01);
    }

    #[test]
    fn sicily_scores_and_positions() {
        assert_eq!(encode(13.361389, 38.115556), Some(3_479_099_956_230_698));
        assert_eq!(encode(15.087269, 37.502669), Some(3_479_447_370_796_909));
        let (lon, lat) = decode(3_479_447_370_796_909);
        assert_eq!(
            format!("{lon:.17} {lat:.17}"),
            "15.08726745843887329 37.50266842333162032"
        );
    }

    #[test]
    fn limits_and_edges() {
        assert!(encode(180.0, LAT_MAX).is_some());
        assert!(encode(-180.0, LAT_MIN).is_some());
        assert!(encode(180.000001, 0.0).is_none());
        assert!(encode(0.0, f64::NAN).is_none());
        let (lon, lat) = decode(encode(180.0, LAT_MAX).unwrap());
        assert_eq!((lon, lat), (180.0, LAT_MAX));
        let (lon, lat) = decode(encode(-180.0, LAT_MIN).unwrap());
        assert!(lon > -180.0 && lon < -179.9999);
        assert!(lat > LAT_MIN && lat < LAT_MIN + 0.0001);
    }

    #[test]
    fn re_encoding_a_cell_centre_gives_the_same_score() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let lon = (x % 3_600_001) as f64 / 10_000.0 - 180.0;
            let lat = ((x >> 24) % 1_701_023) as f64 / 10_000.0 - 85.05112878;
            let score = score_of(lon, lat);
            let (clon, clat) = decode(score);
            assert_eq!(score_of(clon, clat), score, "{lon},{lat}");
        }
        for (lon, lat) in [
            (180.0, LAT_MAX),
            (-180.0, LAT_MIN),
            (180.0, LAT_MIN),
            (0.0, 0.0),
        ] {
            let score = score_of(lon, lat);
            let (clon, clat) = decode(score);
            assert_eq!(score_of(clon, clat), score);
        }
    }

    #[test]
    fn decode_stays_within_half_a_cell() {
        let lon_cell = 360.0 / (1u64 << STEP) as f64;
        let lat_cell = (LAT_MAX - LAT_MIN) / (1u64 << STEP) as f64;
        for i in 0..1000 {
            let lon = -179.9 + i as f64 * 0.3597;
            let lat = -85.0 + i as f64 * 0.17;
            let (dlon, dlat) = decode(encode(lon, lat).unwrap());
            assert!((dlon - lon).abs() <= lon_cell);
            assert!((dlat - lat).abs() <= lat_cell);
        }
    }

    #[test]
    fn standard_geohash_round_trip() {
        assert_eq!(encode_str(-5.6, 42.6, 5).as_deref(), Some("ezs42"));
        assert_eq!(encode_str(0.0, 0.0, 12).as_deref(), Some("s00000000000"));
        assert_eq!(encode_str(0.0, 0.0, 0), None);
        assert_eq!(encode_str(0.0, 91.0, 5), None);
        assert_eq!(decode_str(""), None);
        assert_eq!(decode_str("abc"), None); // 'a' is not in the alphabet
        let (lon, lat) = decode_str("sqc8b49rny").unwrap();
        assert!((lon - 13.361389).abs() < 1e-4 && (lat - 38.115556).abs() < 1e-4);
        assert_eq!(decode_str("SQC8B"), decode_str("sqc8b"));
    }

    #[test]
    fn redis_geohash_ends_in_zero() {
        let (lon, lat) = decode(encode(13.361389, 38.115556).unwrap());
        assert_eq!(redis_geohash(lon, lat), "sqc8b49rny0");
        assert_eq!(redis_geohash(200.0, 0.0), "");
    }
}
