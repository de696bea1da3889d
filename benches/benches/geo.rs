//! ember-geo against rstar used directly and a brute-force scan, on 1 000 000 seeded random points
//! (lon -125..-66, lat 24..50), side by side in each group:
//!
//! - `geo/radius_5km_asc_count10`: GEOSEARCH FROMLONLAT … BYRADIUS 5 km ASC COUNT 10 WITHDIST;
//! - `geo/radius_50km_all`: BYRADIUS 50 km, all results, WITHDIST;
//! - `geo/bulk_load_1m`: building the index from 1M points.
//!
//! Peers: `rstar_3d` is a bare rstar tree of unit vectors doing the same job (chord query, haversine
//! filter, partial sort): the limit for ember-geo's design; `rstar_2d_lonlat` a bare lon/lat tree (what
//! a naive index does: fast, but wrong across the antimeridian and near the poles); `brute_force` a
//! haversine scan of every point.
//!
//! `cargo bench -p ember-benches --no-default-features --features geo --bench geo`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ember_geo::{AddOptions, GeoIndex, Unit};
use geo::{Distance, Haversine, Point};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rstar::RTree;
use rstar::primitives::GeomWithData;

const N: usize = 1_000_000;
const QUERIES: usize = 1024;

fn points() -> Vec<(u32, f64, f64)> {
    let mut rng = SmallRng::seed_from_u64(42);
    (0..N as u32)
        .map(|i| {
            (
                i,
                rng.random_range(-125.0..-66.0),
                rng.random_range(24.0..50.0),
            )
        })
        .collect()
}

fn centres() -> Vec<(f64, f64)> {
    let mut rng = SmallRng::seed_from_u64(7);
    (0..QUERIES)
        .map(|_| {
            (
                rng.random_range(-125.0..-66.0),
                rng.random_range(24.0..50.0),
            )
        })
        .collect()
}

fn xyz(lon: f64, lat: f64) -> [f64; 3] {
    let (slat, clat) = lat.to_radians().sin_cos();
    let (slon, clon) = lon.to_radians().sin_cos();
    [clat * clon, clat * slon, slat]
}

type P3 = GeomWithData<[f64; 3], (u32, f64, f64)>;
type P2 = GeomWithData<[f64; 2], u32>;

fn raw3d(points: &[(u32, f64, f64)]) -> RTree<P3> {
    RTree::bulk_load(
        points
            .iter()
            .map(|&(i, lon, lat)| GeomWithData::new(xyz(lon, lat), (i, lon, lat)))
            .collect(),
    )
}

/// The same job as ember-geo's radius search, on a bare tree: chord query, haversine filter, order.
fn raw3d_search(
    tree: &RTree<P3>,
    c: (f64, f64),
    radius_m: f64,
    count: Option<usize>,
) -> Vec<(u32, f64)> {
    let r = Haversine.radius();
    let chord = 2.0 * (radius_m / r / 2.0).sin() * (1.0 + 1e-9) + 1e-9;
    let centre = Point::new(c.0, c.1);
    let mut out: Vec<(u32, f64)> = tree
        .locate_within_distance(xyz(c.0, c.1), chord * chord)
        .filter_map(|p| {
            let (i, lon, lat) = p.data;
            let d = Haversine.distance(centre, Point::new(lon, lat));
            (d <= radius_m).then_some((i, d))
        })
        .collect();
    if let Some(n) = count {
        if out.len() > n {
            out.select_nth_unstable_by(n - 1, |a, b| a.1.total_cmp(&b.1));
            out.truncate(n);
        }
        out.sort_by(|a, b| a.1.total_cmp(&b.1));
    }
    out
}

fn raw2d(points: &[(u32, f64, f64)]) -> RTree<P2> {
    RTree::bulk_load(
        points
            .iter()
            .map(|&(i, lon, lat)| GeomWithData::new([lon, lat], i))
            .collect(),
    )
}

fn raw2d_search(
    tree: &RTree<P2>,
    c: (f64, f64),
    radius_m: f64,
    count: Option<usize>,
) -> Vec<(u32, f64)> {
    let dlat = (radius_m / Haversine.radius()).to_degrees();
    let dlon = dlat / c.1.to_radians().cos();
    let env = rstar::AABB::from_corners([c.0 - dlon, c.1 - dlat], [c.0 + dlon, c.1 + dlat]);
    let centre = Point::new(c.0, c.1);
    let mut out: Vec<(u32, f64)> = tree
        .locate_in_envelope(&env)
        .filter_map(|p| {
            let d = Haversine.distance(centre, Point::new(p.geom()[0], p.geom()[1]));
            (d <= radius_m).then_some((p.data, d))
        })
        .collect();
    if let Some(n) = count {
        if out.len() > n {
            out.select_nth_unstable_by(n - 1, |a, b| a.1.total_cmp(&b.1));
            out.truncate(n);
        }
        out.sort_by(|a, b| a.1.total_cmp(&b.1));
    }
    out
}

fn brute(
    points: &[(u32, f64, f64)],
    c: (f64, f64),
    radius_m: f64,
    count: Option<usize>,
) -> Vec<(u32, f64)> {
    let centre = Point::new(c.0, c.1);
    let mut out: Vec<(u32, f64)> = points
        .iter()
        .filter_map(|&(i, lon, lat)| {
            let d = Haversine.distance(centre, Point::new(lon, lat));
            (d <= radius_m).then_some((i, d))
        })
        .collect();
    if let Some(n) = count {
        out.sort_by(|a, b| a.1.total_cmp(&b.1));
        out.truncate(n);
    }
    out
}

fn configure<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_secs(1));
    g
}

fn searches(c: &mut Criterion) {
    let pts = points();
    let qs = centres();
    let exact: GeoIndex<u32> = GeoIndex::builder().build().unwrap();
    exact
        .add_many(pts.iter().copied(), AddOptions::new())
        .unwrap();
    let redis: GeoIndex<u32> = GeoIndex::builder().redis_compat().build().unwrap();
    redis
        .add_many(pts.iter().copied(), AddOptions::new())
        .unwrap();
    let named: GeoIndex<String> = GeoIndex::builder().build().unwrap();
    named
        .add_many(
            pts.iter()
                .map(|&(i, lon, lat)| (format!("driver:{i}"), lon, lat)),
            AddOptions::new(),
        )
        .unwrap();
    let t3 = raw3d(&pts);
    let t2 = raw2d(&pts);

    // Sanity: every implementation agrees on the first queries.
    for &q in qs.iter().take(20) {
        let ours: Vec<u32> = exact
            .search()
            .from_point(q.0, q.1)
            .radius(50.0, Unit::Kilometers)
            .asc()
            .run()
            .unwrap()
            .into_iter()
            .map(|h| h.member)
            .collect();
        let mut raw: Vec<u32> = raw3d_search(&t3, q, 50_000.0, None)
            .into_iter()
            .map(|x| x.0)
            .collect();
        let mut bf: Vec<u32> = brute(&pts, q, 50_000.0, None)
            .into_iter()
            .map(|x| x.0)
            .collect();
        let mut o = ours.clone();
        o.sort_unstable();
        raw.sort_unstable();
        bf.sort_unstable();
        assert_eq!(o, raw);
        assert_eq!(o, bf);
    }

    for (group, radius_km, count) in [
        ("geo/radius_5km_asc_count10", 5.0, Some(10)),
        ("geo/radius_50km_all", 50.0, None),
    ] {
        let mut g = configure(c, group);
        let radius_m = radius_km * 1000.0;
        let mut i = 0usize;
        let mut next = || {
            i = (i + 1) % QUERIES;
            qs[i]
        };
        let run_ember = |index: &GeoIndex<u32>, q: (f64, f64)| {
            let s = index
                .search()
                .from_point(q.0, q.1)
                .radius(radius_km, Unit::Kilometers)
                .with_dist();
            let s = match count {
                Some(n) => s.asc().count(n),
                None => s,
            };
            s.run().unwrap()
        };
        g.bench_function("ember_geo_exact", |b| {
            b.iter(|| black_box(run_ember(&exact, next())))
        });
        g.bench_function("ember_geo_redis_mode", |b| {
            b.iter(|| black_box(run_ember(&redis, next())))
        });
        g.bench_function("ember_geo_string_members", |b| {
            b.iter(|| {
                let q = next();
                let s = named
                    .search()
                    .from_point(q.0, q.1)
                    .radius(radius_km, Unit::Kilometers)
                    .with_dist();
                let s = match count {
                    Some(n) => s.asc().count(n),
                    None => s,
                };
                black_box(s.run().unwrap())
            })
        });
        g.bench_function("rstar_3d", |b| {
            b.iter(|| black_box(raw3d_search(&t3, next(), radius_m, count)))
        });
        g.bench_function("rstar_2d_lonlat", |b| {
            b.iter(|| black_box(raw2d_search(&t2, next(), radius_m, count)))
        });
        g.bench_function("brute_force", |b| {
            b.iter(|| black_box(brute(&pts, next(), radius_m, count)))
        });
        g.finish();
    }
    let s = exact.stats();
    println!("ember-geo exact stats after the runs: {s}");
}

fn bulk_load(c: &mut Criterion) {
    let pts = points();
    let mut g = configure(c, "geo/bulk_load_1m");
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("ember_geo_u32", |b| {
        b.iter_with_large_drop(|| {
            let index: GeoIndex<u32> = GeoIndex::builder().build().unwrap();
            index
                .add_many(pts.iter().copied(), AddOptions::new())
                .unwrap();
            black_box(index)
        })
    });
    g.bench_function("rstar_3d", |b| b.iter_with_large_drop(|| raw3d(&pts)));
    g.finish();
}

criterion_group!(benches, searches, bulk_load);
criterion_main!(benches);
