//! Redis's documented GEO examples (the Sicily fixture), restated against the Redis mode.

use ember_geo::{AddOptions, Error, GeoIndex, Unit};

fn sicily() -> GeoIndex<String> {
    let index = GeoIndex::builder().redis_compat().build().unwrap();
    let n = index
        .add_many(
            [
                ("Palermo".to_string(), 13.361389, 38.115556),
                ("Catania".to_string(), 15.087269, 37.502669),
            ],
            AddOptions::new(),
        )
        .unwrap();
    assert_eq!(n, 2);
    index
}

fn with_edges() -> GeoIndex<String> {
    let index = sicily();
    index.add("edge1".into(), 12.758489, 38.788135).unwrap();
    index.add("edge2".into(), 17.241510, 38.788135).unwrap();
    index
}

#[test]
fn geodist_in_every_unit() {
    let index = sicily();
    let d = |u| format!("{:.4}", index.distance("Palermo", "Catania", u).unwrap());
    assert_eq!(d(Unit::Meters), "166274.1516");
    assert_eq!(d(Unit::Kilometers), "166.2742");
    assert_eq!(d(Unit::Miles), "103.3182");
    assert_eq!(d(Unit::Feet), "545518.8700");
    assert_eq!(index.distance("Palermo", "Foo", Unit::Meters), None);
}

#[test]
fn geopos_returns_cell_centres() {
    let index = sicily();
    let (lon, lat) = index.position("Palermo").unwrap();
    assert_eq!(
        format!("{lon:.17} {lat:.17}"),
        "13.36138933897018433 38.11555639549629859"
    );
    let (lon, lat) = index.position("Catania").unwrap();
    assert_eq!(
        format!("{lon:.17} {lat:.17}"),
        "15.08726745843887329 37.50266842333162032"
    );
    assert_eq!(index.position("NonExisting"), None);
}

#[test]
fn geohash_and_scores() {
    let index = sicily();
    assert_eq!(index.geohash("Palermo").unwrap(), "sqc8b49rny0");
    assert_eq!(index.geohash("Catania").unwrap(), "sqdtr74hyu0");
    assert_eq!(index.score("Palermo"), Some(3_479_099_956_230_698));
    assert_eq!(index.score("Catania"), Some(3_479_447_370_796_909));
    assert_eq!(index.geohash("nope"), None);
}

#[test]
fn exact_mode_geohash_matches_redis_too() {
    let index: GeoIndex<&str> = GeoIndex::builder().build().unwrap();
    index.add("Palermo", 13.361389, 38.115556).unwrap();
    assert_eq!(index.geohash(&"Palermo").unwrap(), "sqc8b49rny0");
    assert_eq!(index.position(&"Palermo"), Some((13.361389, 38.115556)));
}

#[test]
fn geosearch_radius_asc() {
    let index = with_edges();
    let hits = index
        .search()
        .from_point(15.0, 37.0)
        .radius(200.0, Unit::Kilometers)
        .asc()
        .run()
        .unwrap();
    let names: Vec<_> = hits.iter().map(|h| h.member.as_str()).collect();
    assert_eq!(names, ["Catania", "Palermo"]);
    assert!(
        hits.iter()
            .all(|h| h.distance.is_none() && h.position.is_none() && h.hash.is_none())
    );
}

#[test]
fn geosearch_box_with_coord_and_dist() {
    let index = with_edges();
    let hits = index
        .search()
        .from_point(15.0, 37.0)
        .by_box(400.0, 400.0, Unit::Kilometers)
        .asc()
        .with_coord()
        .with_dist()
        .run()
        .unwrap();
    let got: Vec<String> = hits
        .iter()
        .map(|h| {
            let (lon, lat) = h.position.unwrap();
            format!(
                "{} {:.4} {lon:.17} {lat:.17}",
                h.member,
                h.distance.unwrap()
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "Catania 56.4413 15.08726745843887329 37.50266842333162032",
            "Palermo 190.4424 13.36138933897018433 38.11555639549629859",
            "edge2 279.7403 17.24151045083999634 38.78813451624225195",
            "edge1 279.7405 12.75848776102066040 38.78813451624225195",
        ]
    );
}

#[test]
fn georadius_unsorted_comes_in_score_order() {
    let index = sicily();
    let hits = index
        .search()
        .from_point(15.0, 37.0)
        .radius(200.0, Unit::Kilometers)
        .with_dist()
        .with_hash()
        .run()
        .unwrap();
    let got: Vec<_> = hits
        .iter()
        .map(|h| {
            format!(
                "{} {:.4} {}",
                h.member,
                h.distance.unwrap(),
                h.hash.unwrap()
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "Palermo 190.4424 3479099956230698",
            "Catania 56.4413 3479447370796909"
        ]
    );
}

#[test]
fn georadiusbymember_includes_the_member() {
    let index = sicily();
    index.add("Agrigento".into(), 13.583333, 37.316667).unwrap();
    let hits = index
        .search()
        .from_member("Agrigento")
        .radius(100.0, Unit::Kilometers)
        .asc()
        .with_dist()
        .run()
        .unwrap();
    let names: Vec<_> = hits.iter().map(|h| h.member.as_str()).collect();
    assert_eq!(names, ["Agrigento", "Palermo"]);
    assert_eq!(hits[0].distance, Some(0.0));
}

#[test]
fn descending_and_count() {
    let index = with_edges();
    let names =
        |hits: Vec<ember_geo::Hit<String>>| hits.into_iter().map(|h| h.member).collect::<Vec<_>>();
    let desc = index
        .search()
        .from_point(15.0, 37.0)
        .by_box(400.0, 400.0, Unit::Kilometers)
        .desc()
        .run()
        .unwrap();
    assert_eq!(names(desc), ["edge1", "edge2", "Palermo", "Catania"]);
    let two = index
        .search()
        .from_point(15.0, 37.0)
        .by_box(400.0, 400.0, Unit::Kilometers)
        .count(2)
        .run()
        .unwrap();
    assert_eq!(names(two), ["Catania", "Palermo"]);
    let two_far = index
        .search()
        .from_point(15.0, 37.0)
        .by_box(400.0, 400.0, Unit::Kilometers)
        .count(2)
        .desc()
        .run()
        .unwrap();
    assert_eq!(names(two_far), ["edge1", "edge2"]);
}

#[test]
fn geoadd_rejects_out_of_range_and_adds_nothing() {
    let index = sicily();
    let err = index
        .add_many(
            [
                ("ok".to_string(), 1.0, 1.0),
                ("bad".to_string(), 13.0, 85.06),
            ],
            AddOptions::new(),
        )
        .unwrap_err();
    assert_eq!(
        err,
        Error::InvalidBatchEntry {
            index: 1,
            lon: 13.0,
            lat: 85.06
        }
    );
    assert!(!index.contains("ok"));
    assert_eq!(index.len(), 2);
    for (lon, lat) in [
        (180.1, 0.0),
        (-180.1, 0.0),
        (0.0, -85.06),
        (f64::NAN, 0.0),
        (0.0, f64::INFINITY),
    ] {
        assert!(matches!(
            index.add("x".into(), lon, lat),
            Err(Error::InvalidCoordinates { .. })
        ));
    }
    assert!(!index.contains("x"));
    // The limits themselves are accepted.
    assert!(index.add("corner".into(), 180.0, 85.05112878).unwrap());
    assert_eq!(index.position("corner"), Some((180.0, 85.05112878)));
}

#[test]
fn redis_mode_rejects_a_custom_latitude_limit() {
    let r = GeoIndex::<String>::builder()
        .redis_compat()
        .latitude_limit(90.0)
        .build();
    assert!(matches!(r, Err(Error::Config(_))));
}
