//! What Redis does not have: nearest-k, polygons, rings, attribute filters, and the API conventions.

use ember_geo::geo::{LineString, Polygon};
use ember_geo::{GeoIndex, GeoStats, Unit};

#[derive(Debug, Clone, Default, PartialEq)]
struct Place {
    kind: &'static str,
    rating: u8,
}

fn places() -> GeoIndex<String, Place> {
    let index = GeoIndex::builder().build().unwrap();
    let rows = [
        ("cafe-a", 2.3500, 48.8570, "cafe", 4),
        ("cafe-b", 2.3550, 48.8580, "cafe", 2),
        ("bar-a", 2.3520, 48.8560, "bar", 5),
        ("cafe-far", 2.2000, 48.9000, "cafe", 5),
        ("bar-far", 3.0000, 48.0000, "bar", 3),
    ];
    for (name, lon, lat, kind, rating) in rows {
        index
            .add_with(name.to_string(), lon, lat, Place { kind, rating })
            .unwrap();
    }
    index
}

#[test]
fn nearest_needs_no_radius_and_honours_filters() {
    let index = places();
    let hits = index.nearest(2.3515, 48.8563, 3).unwrap();
    let names: Vec<_> = hits.iter().map(|h| h.member.as_str()).collect();
    assert_eq!(names, ["bar-a", "cafe-a", "cafe-b"]);
    assert!(hits.iter().all(|h| h.position.is_some()));
    // The nearest two well-rated cafés, however far.
    let hits = index
        .search()
        .from_point(2.3510, 48.8565)
        .nearest(2)
        .filter(|_, p| p.kind == "cafe" && p.rating >= 4)
        .with_dist()
        .unit(Unit::Kilometers)
        .run()
        .unwrap();
    let names: Vec<_> = hits.iter().map(|h| h.member.as_str()).collect();
    assert_eq!(names, ["cafe-a", "cafe-far"]);
    let far = hits[1].distance.unwrap();
    assert!(far > 10.0 && far < 15.0, "{far}");
    // k larger than the index.
    assert_eq!(index.nearest(0.0, 0.0, 100).unwrap().len(), 5);
    // From a member: it is its own nearest.
    let hits = index
        .search()
        .from_member("bar-far")
        .nearest(1)
        .run()
        .unwrap();
    assert_eq!(hits[0].member, "bar-far");
}

#[test]
fn rings_exclude_the_inside() {
    let index = places();
    let hits = index
        .search()
        .from_point(2.3510, 48.8565)
        .ring(1.0, 20.0, Unit::Kilometers)
        .asc()
        .run()
        .unwrap();
    let names: Vec<_> = hits.iter().map(|h| h.member.as_str()).collect();
    assert_eq!(names, ["cafe-far"]);
}

#[test]
fn polygon_with_a_hole_and_an_origin() {
    let index = places();
    let outer = LineString::from(vec![
        (2.0, 48.5),
        (2.5, 48.5),
        (2.5, 49.0),
        (2.0, 49.0),
        (2.0, 48.5),
    ]);
    let hole = LineString::from(vec![
        (2.351, 48.855),
        (2.356, 48.855),
        (2.356, 48.859),
        (2.351, 48.859),
        (2.351, 48.855),
    ]);
    let poly = Polygon::new(outer, vec![hole]);
    // bar-a (2.352, 48.856), cafe-b (2.355, 48.858) fall in the hole; cafe-a (2.350) is just outside it.
    let hits = index.search().polygon(poly.clone()).asc().run().unwrap();
    let mut names: Vec<_> = hits.iter().map(|h| h.member.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["cafe-a", "cafe-far"]);
    // With an origin, distances are measured from it, in the chosen unit.
    let hits = index
        .search()
        .from_member("cafe-far")
        .polygon(poly)
        .asc()
        .with_dist()
        .unit(Unit::Kilometers)
        .run()
        .unwrap();
    assert_eq!(hits[0].member, "cafe-far");
    assert_eq!(hits[0].distance, Some(0.0));
    assert!(hits[1].distance.unwrap() > 10.0);
}

#[test]
fn attributes_can_be_read_and_updated() {
    let index = places();
    assert_eq!(
        index.attrs("cafe-b"),
        Some(Place {
            kind: "cafe",
            rating: 2
        })
    );
    assert!(index.update_attrs("cafe-b", |p| p.rating = 5));
    assert!(index.set_attrs(
        "bar-a",
        Place {
            kind: "closed",
            rating: 0
        }
    ));
    assert!(!index.set_attrs("nope", Place::default()));
    // A plain add moves the member and keeps its attributes.
    index.add("cafe-b".into(), 2.36, 48.86).unwrap();
    assert_eq!(index.attrs("cafe-b").unwrap().rating, 5);
    // A new member without attributes gets the default.
    index.add("new".into(), 2.0, 48.0).unwrap();
    assert_eq!(index.attrs("new"), Some(Place::default()));
    let hits = index
        .search()
        .from_point(2.35, 48.857)
        .radius(2.0, Unit::Kilometers)
        .filter(|_, p| p.kind != "closed")
        .run()
        .unwrap();
    assert!(hits.iter().all(|h| h.member != "bar-a"));
    assert_eq!(hits.len(), 2);
}

#[test]
fn stats_count_searches_and_candidates() {
    let index = places();
    index
        .search()
        .from_point(2.35, 48.857)
        .radius(2.0, Unit::Kilometers)
        .run()
        .unwrap();
    index.nearest(2.35, 48.857, 1).unwrap();
    let s: GeoStats = index.stats();
    assert_eq!(s.members, 5);
    assert_eq!(s.added, 5);
    assert_eq!(s.searches, 2);
    assert!(s.candidates >= 4, "{s}");
    assert!((s.avg_candidates - s.candidates as f64 / 2.0).abs() < 1e-12);
    assert_eq!(s.results, 4);
    let line = s.to_string();
    assert!(line.starts_with("members=5 added=5 updated=0"), "{line}");
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["searches"], 2);
}

#[test]
fn clear_empties_the_index() {
    let index = places();
    index.clear();
    assert!(index.is_empty());
    assert!(index.nearest(2.35, 48.85, 3).unwrap().is_empty());
    index.add("again".into(), 1.0, 1.0).unwrap();
    assert_eq!(index.len(), 1);
}

#[test]
fn exact_mode_keeps_coordinates_and_redis_mode_snaps_them() {
    let exact: GeoIndex<&str> = GeoIndex::builder().build().unwrap();
    let redis: GeoIndex<&str> = GeoIndex::builder().redis_compat().build().unwrap();
    for index in [&exact, &redis] {
        index.add("Palermo", 13.361389, 38.115556).unwrap();
        index.add("Catania", 15.087269, 37.502669).unwrap();
    }
    assert_eq!(exact.position(&"Palermo"), Some((13.361389, 38.115556)));
    assert_ne!(redis.position(&"Palermo"), Some((13.361389, 38.115556)));
    let e = exact
        .distance(&"Palermo", &"Catania", Unit::Meters)
        .unwrap();
    let r = redis
        .distance(&"Palermo", &"Catania", Unit::Meters)
        .unwrap();
    // geo's mean radius is 0.03% smaller than Redis's.
    assert!(
        (r / e - 6_372_797.560856 / 6_371_008.8).abs() < 1e-5,
        "{e} {r}"
    );
}
