//! GEOSEARCH's option rules (COUNT, ANY, ASC/DESC, WITH flags) and its error cases.

use ember_geo::{Error, GeoIndex, Hit, Order, Unit};

/// Ten members on the equator, 0.1° apart (about 11.1 km): "p0" at 0°, "p9" at 0.9°.
fn line() -> GeoIndex<String> {
    let index = GeoIndex::builder().build().unwrap();
    // Insert in a scrambled order so that tree order is not distance order by accident.
    for i in [7u32, 2, 9, 0, 5, 3, 8, 1, 6, 4] {
        index.add(format!("p{i}"), f64::from(i) * 0.1, 0.0).unwrap();
    }
    index
}

fn names(hits: &[Hit<String>]) -> Vec<&str> {
    hits.iter().map(|h| h.member.as_str()).collect()
}

#[test]
fn count_forces_ascending_order() {
    let index = line();
    let hits = index
        .search()
        .from_point(0.0, 0.0)
        .radius(1000.0, Unit::Kilometers)
        .count(3)
        .run()
        .unwrap();
    assert_eq!(names(&hits), ["p0", "p1", "p2"]);
    let hits = index
        .search()
        .from_point(0.44, 0.0)
        .radius(1000.0, Unit::Kilometers)
        .count(3)
        .run()
        .unwrap();
    assert_eq!(names(&hits), ["p4", "p5", "p3"]);
}

#[test]
fn count_larger_than_results_returns_all_sorted() {
    let index = line();
    let hits = index
        .search()
        .from_point(0.9, 0.0)
        .radius(25.0, Unit::Kilometers)
        .count(50)
        .run()
        .unwrap();
    assert_eq!(names(&hits), ["p9", "p8", "p7"]);
}

#[test]
fn any_stops_at_the_first_n_found_and_respects_the_shape() {
    let index = line();
    let hits = index
        .search()
        .from_point(0.0, 0.0)
        .radius(1000.0, Unit::Kilometers)
        .count(4)
        .any()
        .with_dist()
        .run()
        .unwrap();
    assert_eq!(hits.len(), 4);
    let mut seen: Vec<_> = names(&hits).into_iter().map(String::from).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4);
    assert!(hits.iter().all(|h| h.distance.unwrap() <= 1000.0));
    // ANY with an order sorts what it found.
    let hits = index
        .search()
        .from_point(0.0, 0.0)
        .radius(1000.0, Unit::Kilometers)
        .count(4)
        .any()
        .desc()
        .with_dist()
        .run()
        .unwrap();
    let d: Vec<f64> = hits.iter().map(|h| h.distance.unwrap()).collect();
    assert!(d.windows(2).all(|w| w[0] >= w[1]), "{d:?}");
    assert_eq!(index.stats().searches, 2);
}

#[test]
fn unsorted_returns_every_match_once() {
    let index = line();
    let hits = index
        .search()
        .from_point(0.0, 0.0)
        .radius(35.0, Unit::Kilometers)
        .run()
        .unwrap();
    let mut got = names(&hits);
    got.sort_unstable();
    assert_eq!(got, ["p0", "p1", "p2", "p3"]);
}

#[test]
fn asc_desc_and_with_flags() {
    let index = line();
    let hits = index
        .search()
        .from_member("p5")
        .radius(12.0, Unit::Kilometers)
        .order(Order::Desc)
        .with_dist()
        .with_coord()
        .with_hash()
        .run()
        .unwrap();
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[2].member, "p5");
    assert_eq!(hits[2].distance, Some(0.0));
    assert_eq!(hits[2].position, Some((0.5, 0.0)));
    assert_eq!(hits[2].hash, index.score("p5"));
    let d0 = hits[0].distance.unwrap();
    assert!((d0 - 11.119).abs() < 0.01, "{d0}");
}

#[test]
fn units_convert_the_radius_and_the_distances() {
    let index = line();
    let km = index
        .search()
        .from_point(0.0, 0.0)
        .radius(12.0, Unit::Kilometers)
        .asc()
        .with_dist()
        .run()
        .unwrap();
    let mi = index
        .search()
        .from_point(0.0, 0.0)
        .radius(12.0 / 1.60934, Unit::Miles)
        .asc()
        .with_dist()
        .run()
        .unwrap();
    let ft = index
        .search()
        .from_point(0.0, 0.0)
        .radius(12_000.0 / 0.3048, Unit::Feet)
        .asc()
        .with_dist()
        .run()
        .unwrap();
    assert_eq!(names(&km), names(&mi));
    assert_eq!(names(&km), names(&ft));
    let d_km = km[1].distance.unwrap();
    assert!((mi[1].distance.unwrap() - d_km / 1.60934).abs() < 1e-9);
    assert!((ft[1].distance.unwrap() - d_km * 1000.0 / 0.3048).abs() < 1e-6);
    // `unit` after the shape changes only how distances are reported, not the radius.
    let m = index
        .search()
        .from_point(0.0, 0.0)
        .radius(12.0, Unit::Kilometers)
        .unit(Unit::Meters)
        .asc()
        .with_dist()
        .run()
        .unwrap();
    assert_eq!(names(&m), names(&km));
    assert!((m[1].distance.unwrap() - d_km * 1000.0).abs() < 1e-6);
}

#[test]
fn search_errors() {
    let index = line();
    let err = |r: ember_geo::Result<Vec<Hit<String>>>| r.unwrap_err();
    // FROMMEMBER of a missing member.
    assert_eq!(
        err(index
            .search()
            .from_member("nope")
            .radius(1.0, Unit::Meters)
            .run()),
        Error::MemberNotFound
    );
    // Two origins, two shapes, no shape, no origin.
    assert!(matches!(
        err(index
            .search()
            .from_point(0.0, 0.0)
            .from_point(1.0, 1.0)
            .radius(1.0, Unit::Meters)
            .run()),
        Error::Syntax(_)
    ));
    assert!(matches!(
        err(index
            .search()
            .from_point(0.0, 0.0)
            .from_member("p1")
            .radius(1.0, Unit::Meters)
            .run()),
        Error::Syntax(_)
    ));
    assert!(matches!(
        err(index
            .search()
            .from_point(0.0, 0.0)
            .radius(1.0, Unit::Meters)
            .by_box(1.0, 1.0, Unit::Meters)
            .run()),
        Error::Syntax(_)
    ));
    assert!(matches!(
        err(index.search().from_point(0.0, 0.0).run()),
        Error::Syntax(_)
    ));
    assert!(matches!(
        err(index.search().radius(1.0, Unit::Meters).run()),
        Error::Syntax(_)
    ));
    // ANY without COUNT, COUNT 0.
    assert!(matches!(
        err(index
            .search()
            .from_point(0.0, 0.0)
            .radius(1.0, Unit::Meters)
            .any()
            .run()),
        Error::Syntax(_)
    ));
    assert!(matches!(
        err(index
            .search()
            .from_point(0.0, 0.0)
            .radius(1.0, Unit::Meters)
            .count(0)
            .run()),
        Error::Syntax(_)
    ));
    assert!(matches!(
        err(index.search().from_point(0.0, 0.0).nearest(0).run()),
        Error::Syntax(_)
    ));
    // Negative or NaN radius and sides.
    assert!(matches!(
        err(index
            .search()
            .from_point(0.0, 0.0)
            .radius(-1.0, Unit::Meters)
            .run()),
        Error::InvalidDistance { .. }
    ));
    assert!(matches!(
        err(index
            .search()
            .from_point(0.0, 0.0)
            .radius(f64::NAN, Unit::Meters)
            .run()),
        Error::InvalidDistance { .. }
    ));
    assert!(matches!(
        err(index
            .search()
            .from_point(0.0, 0.0)
            .by_box(-1.0, 1.0, Unit::Meters)
            .run()),
        Error::InvalidDistance { .. }
    ));
    assert!(matches!(
        err(index
            .search()
            .from_point(0.0, 0.0)
            .ring(5.0, 1.0, Unit::Meters)
            .run()),
        Error::InvalidDistance { .. }
    ));
    // A bad origin point.
    assert!(matches!(
        err(index
            .search()
            .from_point(181.0, 0.0)
            .radius(1.0, Unit::Meters)
            .run()),
        Error::InvalidCoordinates { .. }
    ));
    // Unknown units are a parse error.
    assert!(matches!(
        "furlong".parse::<Unit>(),
        Err(Error::UnknownUnit(_))
    ));
    // Nothing was counted as a search.
    assert_eq!(index.stats().searches, 0);
}

#[test]
fn empty_index_and_no_hits_give_empty_results() {
    let empty: GeoIndex<String> = GeoIndex::builder().build().unwrap();
    assert!(
        empty
            .search()
            .from_point(0.0, 0.0)
            .radius(100.0, Unit::Kilometers)
            .run()
            .unwrap()
            .is_empty()
    );
    assert!(empty.nearest(0.0, 0.0, 5).unwrap().is_empty());
    let index = line();
    assert!(
        index
            .search()
            .from_point(50.0, 50.0)
            .radius(1.0, Unit::Kilometers)
            .run()
            .unwrap()
            .is_empty()
    );
    // Radius zero finds a member exactly at the centre.
    let hits = index
        .search()
        .from_member("p3")
        .radius(0.0, Unit::Meters)
        .run()
        .unwrap();
    assert_eq!(names(&hits), ["p3"]);
}

#[test]
fn add_options_nx_xx_ch() {
    use ember_geo::AddOptions;
    let index: GeoIndex<&str> = GeoIndex::builder().build().unwrap();
    assert_eq!(
        index
            .add_many([("a", 1.0, 1.0), ("b", 2.0, 2.0)], AddOptions::new())
            .unwrap(),
        2
    );
    // Plain: counts only new members, updates existing ones.
    assert_eq!(
        index
            .add_many([("a", 1.5, 1.5), ("c", 3.0, 3.0)], AddOptions::new())
            .unwrap(),
        1
    );
    assert_eq!(index.position(&"a"), Some((1.5, 1.5)));
    // CH counts moves too, but not rewrites at the same place.
    assert_eq!(
        index
            .add_many(
                [("a", 1.6, 1.6), ("b", 2.0, 2.0), ("d", 4.0, 4.0)],
                AddOptions::new().ch()
            )
            .unwrap(),
        2
    );
    // NX never updates.
    assert_eq!(
        index
            .add_many([("a", 9.0, 9.0), ("e", 5.0, 5.0)], AddOptions::new().nx())
            .unwrap(),
        1
    );
    assert_eq!(index.position(&"a"), Some((1.6, 1.6)));
    // XX never adds.
    assert_eq!(
        index
            .add_many([("a", 9.0, 9.0), ("f", 5.0, 5.0)], AddOptions::new().xx())
            .unwrap(),
        0
    );
    assert_eq!(index.position(&"a"), Some((9.0, 9.0)));
    assert!(!index.contains(&"f"));
    assert_eq!(
        index
            .add_with_options("a", 9.5, 9.5, AddOptions::new().xx().ch())
            .unwrap(),
        1
    );
    // NX with XX is a syntax error and changes nothing.
    assert!(matches!(
        index.add_many([("g", 1.0, 1.0)], AddOptions::new().nx().xx()),
        Err(Error::Syntax(_))
    ));
    assert!(!index.contains(&"g"));
    // Duplicates in one batch: the last wins.
    assert_eq!(
        index
            .add_many([("h", 1.0, 1.0), ("h", 2.0, 2.0)], AddOptions::new())
            .unwrap(),
        1
    );
    assert_eq!(index.position(&"h"), Some((2.0, 2.0)));
    assert_eq!(index.len(), 6);
    assert!(index.remove(&"h"));
    assert!(!index.remove(&"h"));
    assert_eq!(index.len(), 5);
}

#[test]
fn bulk_load_path_matches_incremental_inserts() {
    use ember_geo::AddOptions;
    let bulk: GeoIndex<u32> = GeoIndex::builder().build().unwrap();
    let one: GeoIndex<u32> = GeoIndex::builder().build().unwrap();
    let pts: Vec<(u32, f64, f64)> = (0..3000u32)
        .map(|i| {
            (
                i,
                f64::from(i % 100) * 0.05 - 2.5,
                f64::from(i / 100) * 0.05 - 0.75,
            )
        })
        .collect();
    bulk.add_many(pts.iter().copied(), AddOptions::new())
        .unwrap();
    for &(m, lon, lat) in &pts {
        one.add(m, lon, lat).unwrap();
    }
    // A second large batch moves half of them: rebuild again.
    let moved: Vec<_> = pts
        .iter()
        .take(1500)
        .map(|&(m, lon, lat)| (m, lon + 10.0, lat))
        .collect();
    assert_eq!(
        bulk.add_many(moved.iter().copied(), AddOptions::new().ch())
            .unwrap(),
        1500
    );
    for &(m, lon, lat) in &moved {
        one.add(m, lon, lat).unwrap();
    }
    for (lon, lat) in [(0.0, 0.0), (10.0, 0.0), (-2.0, 0.5)] {
        let mut a: Vec<u32> = bulk
            .search()
            .from_point(lon, lat)
            .radius(80.0, Unit::Kilometers)
            .run()
            .unwrap()
            .into_iter()
            .map(|h| h.member)
            .collect();
        let mut b: Vec<u32> = one
            .search()
            .from_point(lon, lat)
            .radius(80.0, Unit::Kilometers)
            .run()
            .unwrap()
            .into_iter()
            .map(|h| h.member)
            .collect();
        a.sort_unstable();
        b.sort_unstable();
        assert!(!a.is_empty());
        assert_eq!(a, b);
    }
}

#[test]
fn non_finite_origins_and_distances_are_typed_errors_and_huge_ones_find_all() {
    use ember_geo::Mode;
    for mode in [Mode::Exact, Mode::Redis] {
        let index: GeoIndex<u32> = GeoIndex::builder().mode(mode).build().unwrap();
        for i in 0..50u32 {
            let (lon, lat) = (-179.9 + f64::from(i) * 7.0, -80.0 + f64::from(i) * 3.0);
            index.add(i, lon, lat).unwrap();
        }
        for (lon, lat) in [
            (f64::NAN, 0.0),
            (0.0, f64::NAN),
            (f64::INFINITY, 0.0),
            (0.0, f64::NEG_INFINITY),
        ] {
            let radius = index
                .search()
                .from_point(lon, lat)
                .radius(100.0, Unit::Kilometers)
                .run();
            assert!(
                matches!(radius, Err(Error::InvalidCoordinates { .. })),
                "{mode:?} ({lon}, {lat}): {radius:?}"
            );
            assert!(matches!(
                index.nearest(lon, lat, 3),
                Err(Error::InvalidCoordinates { .. })
            ));
        }
        // Infinite (or overflowing to infinite in metres) distances are refused...
        for d in [f64::INFINITY, f64::MAX] {
            let search = || index.search().from_point(1.0, 1.0);
            assert!(matches!(
                search().radius(d, Unit::Kilometers).run(),
                Err(Error::InvalidDistance { .. })
            ));
            assert!(matches!(
                search().by_box(d, d, Unit::Kilometers).run(),
                Err(Error::InvalidDistance { .. })
            ));
            assert!(matches!(
                search().ring(0.0, d, Unit::Kilometers).run(),
                Err(Error::InvalidDistance { .. })
            ));
        }
        // ... a huge finite one covers the whole earth, and -0.0 is zero.
        let search = || index.search().from_point(1.0, 1.0);
        assert_eq!(
            search()
                .radius(1e300, Unit::Kilometers)
                .run()
                .unwrap()
                .len(),
            50
        );
        assert_eq!(
            search()
                .by_box(1e300, 1e300, Unit::Kilometers)
                .run()
                .unwrap()
                .len(),
            50
        );
        assert!(
            search()
                .radius(-0.0, Unit::Meters)
                .run()
                .unwrap()
                .is_empty()
        );
    }
}
