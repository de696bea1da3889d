//! Every search against a brute-force scan over the same random points, with centres on the
//! antimeridian and near the poles (where a lon/lat rectangle tree misses points).

use ember_geo::geo::{Contains, LineString, Point, Polygon};
use ember_geo::{AddOptions, GeoIndex, Metric, Mode, Unit};
use proptest::prelude::*;

/// Wraps a longitude into -180..=180.
fn wrap(lon: f64) -> f64 {
    let mut l = (lon + 180.0).rem_euclid(360.0) - 180.0;
    if l < -180.0 {
        l = -180.0;
    }
    l
}

/// A centre: anywhere, on the antimeridian, or near a pole.
fn centre(lat_limit: f64) -> impl Strategy<Value = (f64, f64)> {
    prop_oneof![
        (-180.0..=180.0f64, -lat_limit..=lat_limit),
        (
            prop_oneof![
                Just(180.0),
                Just(-180.0),
                179.0..=180.0f64,
                -180.0..=-179.0f64
            ],
            -60.0..=60.0f64
        ),
        (
            -180.0..=180.0f64,
            prop_oneof![
                (lat_limit - 3.0)..=lat_limit,
                -lat_limit..=(-lat_limit + 3.0)
            ]
        ),
    ]
}

/// Points scattered around a centre (within `spread` degrees), wrapped and clamped to the limits.
fn points_near(c: (f64, f64), lat_limit: f64, n: usize) -> impl Strategy<Value = Vec<(f64, f64)>> {
    let spread = prop_oneof![Just(0.5), Just(5.0), Just(40.0)];
    spread.prop_flat_map(move |s| {
        prop::collection::vec((-s..=s, -s..=s), n).prop_map(move |offs| {
            offs.into_iter()
                .map(|(dx, dy): (f64, f64)| {
                    (wrap(c.0 + dx), (c.1 + dy).clamp(-lat_limit, lat_limit))
                })
                .collect()
        })
    })
}

#[derive(Debug)]
struct Case {
    mode: Mode,
    lat_limit: f64,
    centre: (f64, f64),
    points: Vec<(f64, f64)>,
}

fn case() -> impl Strategy<Value = Case> {
    prop_oneof![
        Just((Mode::Exact, 90.0)),
        Just((Mode::Exact, 85.05112878)),
        Just((Mode::Redis, 85.05112878)),
    ]
    .prop_flat_map(|(mode, lat_limit)| {
        centre(lat_limit).prop_flat_map(move |c| {
            points_near(c, lat_limit, 200).prop_map(move |points| Case {
                mode,
                lat_limit,
                centre: c,
                points,
            })
        })
    })
}

fn build(case: &Case) -> GeoIndex<u32> {
    let index = GeoIndex::builder()
        .mode(case.mode)
        .latitude_limit(case.lat_limit)
        .build()
        .unwrap();
    // Half by bulk load, half one at a time: both tree paths.
    let (a, b) = case.points.split_at(case.points.len() / 2);
    index
        .add_many(
            a.iter()
                .enumerate()
                .map(|(i, &(lon, lat))| (i as u32, lon, lat)),
            AddOptions::new(),
        )
        .unwrap();
    for (i, &(lon, lat)) in b.iter().enumerate() {
        index.add((a.len() + i) as u32, lon, lat).unwrap();
    }
    index
}

/// Stored positions as the index sees them (cell centres in Redis mode).
fn stored(index: &GeoIndex<u32>, n: usize) -> Vec<(u32, (f64, f64))> {
    (0..n as u32)
        .map(|i| (i, index.position(&i).unwrap()))
        .collect()
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::cases(48), ..ProptestConfig::default() })]

    #[test]
    fn radius_matches_brute_force(case in case(), radius_km in 0.0..3000.0f64) {
        let index = build(&case);
        let metric: Metric = case.mode.metric();
        let hits = index.search().from_point(case.centre.0, case.centre.1)
            .radius(radius_km, Unit::Kilometers).asc().with_dist().run().unwrap();
        let expected: Vec<u32> = stored(&index, case.points.len()).into_iter()
            .filter(|(_, p)| metric.distance(case.centre, *p) <= radius_km * 1000.0)
            .map(|(i, _)| i).collect();
        let got: Vec<u32> = hits.iter().map(|h| h.member).collect();
        prop_assert_eq!(sorted(got), sorted(expected));
        let d: Vec<f64> = hits.iter().map(|h| h.distance.unwrap()).collect();
        prop_assert!(d.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn box_matches_brute_force(case in case(), w_km in 0.0..4000.0f64, h_km in 0.0..4000.0f64) {
        let index = build(&case);
        let metric = case.mode.metric();
        let hits = index.search().from_point(case.centre.0, case.centre.1)
            .by_box(w_km, h_km, Unit::Kilometers).run().unwrap();
        let expected: Vec<u32> = stored(&index, case.points.len()).into_iter()
            .filter(|(_, p)| metric.in_box(w_km * 1000.0, h_km * 1000.0, case.centre, *p).is_some())
            .map(|(i, _)| i).collect();
        prop_assert_eq!(sorted(hits.iter().map(|h| h.member).collect()), sorted(expected));
    }

    #[test]
    fn ring_matches_brute_force(case in case(), a_km in 0.0..2000.0f64, b_km in 0.0..2000.0f64) {
        let (min, max) = if a_km <= b_km { (a_km, b_km) } else { (b_km, a_km) };
        let index = build(&case);
        let metric = case.mode.metric();
        let hits = index.search().from_point(case.centre.0, case.centre.1)
            .ring(min, max, Unit::Kilometers).run().unwrap();
        let expected: Vec<u32> = stored(&index, case.points.len()).into_iter()
            .filter(|(_, p)| { let d = metric.distance(case.centre, *p); d >= min * 1000.0 && d <= max * 1000.0 })
            .map(|(i, _)| i).collect();
        prop_assert_eq!(sorted(hits.iter().map(|h| h.member).collect()), sorted(expected));
    }

    #[test]
    fn nearest_and_count_match_brute_force(case in case(), k in 1usize..30) {
        let index = build(&case);
        let metric = case.mode.metric();
        let mut all: Vec<f64> = stored(&index, case.points.len()).into_iter()
            .map(|(_, p)| metric.distance(case.centre, p)).collect();
        all.sort_by(f64::total_cmp);
        let hits = index.nearest(case.centre.0, case.centre.1, k).unwrap();
        let got: Vec<f64> = hits.iter().map(|h| h.distance.unwrap()).collect();
        prop_assert_eq!(got.len(), k.min(all.len()));
        for (g, e) in got.iter().zip(&all) {
            prop_assert!((g - e).abs() <= 1e-6 * e.max(1.0), "{} vs {}", g, e);
        }
        // COUNT k over a radius: the k nearest within it, ascending.
        let radius = all[all.len() / 2];
        let hits = index.search().from_point(case.centre.0, case.centre.1)
            .radius(radius, Unit::Meters).count(k).with_dist().run().unwrap();
        let within: Vec<f64> = all.iter().copied().filter(|d| *d <= radius).collect();
        let got: Vec<f64> = hits.iter().map(|h| h.distance.unwrap()).collect();
        prop_assert_eq!(got.len(), k.min(within.len()));
        for (g, e) in got.iter().zip(&within) {
            prop_assert!((g - e).abs() <= 1e-6 * e.max(1.0));
        }
    }

    #[test]
    fn polygon_matches_geo_contains(
        case in case(),
        verts in prop::collection::vec((0.0..1.0f64, 0.5..1.0f64), 3..9),
        hole in any::<bool>(),
        scale in prop_oneof![Just(1.0), Just(10.0), Just(40.0)],
    ) {
        let index = build(&case);
        // A star-shaped polygon around the centre (kept inside -180..180), optionally with a hole.
        let cx = case.centre.0.clamp(-180.0 + scale, 180.0 - scale);
        let cy = case.centre.1;
        let n = verts.len() as f64;
        let mut ring: Vec<(f64, f64)> = verts.iter().enumerate().map(|(i, (jitter, r))| {
            let a = (i as f64 + jitter * 0.9) / n * std::f64::consts::TAU;
            (cx + scale * r * a.cos(), cy + scale * r * a.sin())
        }).collect();
        ring.push(ring[0]);
        let interiors = if hole {
            let s = scale * 0.2;
            vec![LineString::from(vec![(cx - s, cy - s), (cx + s, cy - s), (cx + s, cy + s), (cx - s, cy + s), (cx - s, cy - s)])]
        } else {
            vec![]
        };
        let poly = Polygon::new(LineString::from(ring), interiors);
        let hits = index.search().polygon(poly.clone()).run().unwrap();
        let expected: Vec<u32> = stored(&index, case.points.len()).into_iter()
            .filter(|(_, (lon, lat))| poly.contains(&Point::new(*lon, *lat)))
            .map(|(i, _)| i).collect();
        prop_assert_eq!(sorted(hits.iter().map(|h| h.member).collect()), sorted(expected));
    }

    #[test]
    fn filter_matches_brute_force(case in case(), radius_km in 0.0..3000.0f64, modulus in 2u32..5) {
        let index = build(&case);
        let metric = case.mode.metric();
        let hits = index.search().from_point(case.centre.0, case.centre.1)
            .radius(radius_km, Unit::Kilometers).filter(move |m: &u32, _| m % modulus == 0).run().unwrap();
        let expected: Vec<u32> = stored(&index, case.points.len()).into_iter()
            .filter(|(i, p)| i % modulus == 0 && metric.distance(case.centre, *p) <= radius_km * 1000.0)
            .map(|(i, _)| i).collect();
        prop_assert_eq!(sorted(hits.iter().map(|h| h.member).collect()), sorted(expected));
    }
}

/// A deterministic case a lon/lat rectangle query gets wrong: points on both sides of ±180°.
#[test]
fn antimeridian_and_pole_fixed_cases() {
    let index: GeoIndex<&str> = GeoIndex::builder().latitude_limit(90.0).build().unwrap();
    index.add("east", 179.95, 0.0).unwrap();
    index.add("west", -179.95, 0.0).unwrap();
    index.add("far", 170.0, 0.0).unwrap();
    index.add("n1", 0.0, 89.9).unwrap();
    index.add("n2", 180.0, 89.9).unwrap();
    index.add("pole", 45.0, 90.0).unwrap();
    let names = |lon, lat, km| {
        let mut v: Vec<&str> = index
            .search()
            .from_point(lon, lat)
            .radius(km, Unit::Kilometers)
            .run()
            .unwrap()
            .into_iter()
            .map(|h| h.member)
            .collect();
        v.sort_unstable();
        v
    };
    assert_eq!(names(180.0, 0.0, 10.0), ["east", "west"]);
    assert_eq!(names(-180.0, 0.0, 10.0), ["east", "west"]);
    // Across the pole: n1 and n2 are 0.2° of arc apart through it.
    assert_eq!(names(90.0, 90.0, 12.0), ["n1", "n2", "pole"]);
    assert_eq!(names(0.0, 89.9, 23.0), ["n1", "n2", "pole"]);
    let hits = index
        .search()
        .from_point(179.99, 0.0)
        .by_box(30.0, 1.0, Unit::Kilometers)
        .run()
        .unwrap();
    assert_eq!(hits.len(), 2);
}
