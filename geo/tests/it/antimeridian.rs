//! Polygon searches and polygon fences across the antimeridian: unwrapped rings (longitudes past
//! ±180), holes on either side, fences, rejections, `unwrap_antimeridian`, and a brute-force property.

use ember_geo::geo::{Contains, LineString, Point, Polygon, polygon};
use ember_geo::polygon::unwrap_antimeridian;
use ember_geo::{Error, Fence, FenceEventKind, GeoIndex, Unit};
use proptest::prelude::*;

fn rect(x0: f64, x1: f64, y0: f64, y1: f64) -> Polygon<f64> {
    polygon![(x: x0, y: y0), (x: x1, y: y0), (x: x1, y: y1), (x: x0, y: y1)]
}

fn rect_ring(x0: f64, x1: f64, y0: f64, y1: f64) -> LineString<f64> {
    LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)])
}

fn names(index: &GeoIndex<&'static str>, poly: Polygon<f64>) -> Vec<&'static str> {
    let mut got: Vec<_> = index
        .search()
        .polygon(poly)
        .run()
        .unwrap()
        .into_iter()
        .map(|h| h.member)
        .collect();
    got.sort_unstable();
    got
}

/// Members around Fiji on both sides of the line, plus decoys just outside and across the globe.
fn fiji_index(redis: bool) -> GeoIndex<&'static str> {
    let builder = GeoIndex::builder();
    let index = if redis {
        builder.redis_compat().build().unwrap()
    } else {
        builder.build().unwrap()
    };
    for (m, lon, lat) in [
        ("w179.9", 179.9, -18.0),
        ("e179.9", -179.9, -18.0),
        ("w178", 178.0, -17.0),
        ("e177.5", -177.5, -19.0),
        ("at180", 180.0, -18.5),
        ("at-180", -180.0, -17.5),
        ("west-out", 176.9, -18.0),  // just west of 177
        ("east-out", -176.9, -18.0), // 183.1 unwrapped: just east of 183
        ("north-out", -179.9, -14.9),
        ("far", 0.1, -18.0),   // the far side of the globe
        ("far2", -3.0, -18.0), // 357 unwrapped: still not 177..183
        ("far3", 3.0, -18.0),
    ] {
        index.add(m, lon, lat).unwrap();
    }
    index
}

const FIJI_INSIDE: [&str; 6] = ["at-180", "at180", "e177.5", "e179.9", "w178", "w179.9"];

#[test]
fn unwrapped_polygon_finds_members_on_both_sides() {
    for redis in [false, true] {
        let index = fiji_index(redis);
        assert_eq!(
            names(&index, rect(177.0, 183.0, -21.0, -15.0)),
            FIJI_INSIDE,
            "redis {redis}"
        );
        // The same zone unwrapped the other way (-183..-177) is the same place.
        assert_eq!(
            names(&index, rect(-183.0, -177.0, -21.0, -15.0)),
            FIJI_INSIDE
        );
        // A zone entirely past 180 (181..183 = -179..-177) finds only the east side.
        assert_eq!(names(&index, rect(181.0, 183.0, -21.0, -15.0)), ["e177.5"]);
    }
}

#[test]
fn distances_and_order_from_the_normalised_centroid() {
    let index = fiji_index(false);
    let hits = index
        .search()
        .polygon(rect(177.0, 183.0, -21.0, -15.0))
        .asc()
        .with_dist()
        .unit(Unit::Kilometers)
        .run()
        .unwrap();
    assert_eq!(hits.len(), FIJI_INSIDE.len());
    // The centroid is (180, -18): "w179.9" and "e179.9" are ~10.6 km away, everything within 400 km.
    let dists: Vec<f64> = hits.iter().map(|h| h.distance.unwrap()).collect();
    assert!(dists.windows(2).all(|w| w[0] <= w[1]), "{dists:?}");
    assert!(dists[0] < 11.0 && dists[1] < 11.0, "{dists:?}");
    assert!(dists.iter().all(|&d| d < 400.0), "{dists:?}");
    let mut first_two = [hits[0].member, hits[1].member];
    first_two.sort_unstable();
    assert_eq!(first_two, ["e179.9", "w179.9"]);
    // Distances from the centroid equal distances from (180, -18) (and from -180, the same place).
    let from_point = index
        .search()
        .from_point(-180.0, -18.0)
        .polygon(rect(177.0, 183.0, -21.0, -15.0))
        .asc()
        .with_dist()
        .unit(Unit::Kilometers)
        .run()
        .unwrap();
    for (a, b) in hits.iter().zip(&from_point) {
        assert!((a.distance.unwrap() - b.distance.unwrap()).abs() < 1e-6);
    }
    // COUNT keeps the nearest across the line.
    let two = index
        .search()
        .polygon(rect(177.0, 183.0, -21.0, -15.0))
        .count(2)
        .run()
        .unwrap();
    let mut two: Vec<_> = two.iter().map(|h| h.member).collect();
    two.sort_unstable();
    assert_eq!(two, ["e179.9", "w179.9"]);
}

#[test]
fn holes_across_the_line() {
    let index = fiji_index(false);
    // A hole 179.5..180.5 in the exterior's unwrapped frame removes the members next to the line.
    let unwrapped_hole = Polygon::new(
        rect_ring(177.0, 183.0, -21.0, -15.0),
        vec![rect_ring(179.5, 180.5, -19.0, -16.0)],
    );
    let expected = ["e177.5", "w178"];
    assert_eq!(names(&index, unwrapped_hole), expected);
    // The same hole written one turn west (-180.5..-179.5): each ring is read modulo 360.
    let shifted_hole = Polygon::new(
        rect_ring(177.0, 183.0, -21.0, -15.0),
        vec![rect_ring(-180.5, -179.5, -19.0, -16.0)],
    );
    assert_eq!(names(&index, shifted_hole), expected);
    // A hole entirely east of the line in ordinary coordinates.
    let east_hole = Polygon::new(
        rect_ring(177.0, 183.0, -21.0, -15.0),
        vec![rect_ring(-178.0, -177.0, -20.0, -18.5)],
    );
    assert_eq!(
        names(&index, east_hole),
        ["at-180", "at180", "e179.9", "w178", "w179.9"]
    );
    // A point on a hole's boundary is outside (as geo decides for ordinary polygons).
    index.add("on-hole-edge", -179.5, -17.0).unwrap();
    let hole = Polygon::new(
        rect_ring(177.0, 183.0, -21.0, -15.0),
        vec![rect_ring(179.0, 180.5, -17.5, -16.5)],
    );
    let got = names(&index, hole.clone());
    assert!(
        !got.contains(&"on-hole-edge") && got.contains(&"e179.9"),
        "{got:?}"
    );
    let no_hole = rect(177.0, 183.0, -21.0, -15.0);
    assert!(names(&index, no_hole).contains(&"on-hole-edge"));
}

#[test]
fn fence_enter_and_exit_across_the_line() {
    use FenceEventKind::{Enter, Exit};
    let index: GeoIndex<&'static str> = GeoIndex::builder().build().unwrap();
    let zone = Polygon::new(
        rect_ring(177.0, 183.0, -21.0, -15.0),
        vec![rect_ring(-179.0, -178.0, -20.0, -19.0)], // a lagoon east of the line
    );
    index.add_fence("fiji", Fence::polygon(zone)).unwrap();
    let rx = index.subscribe();
    index.add("boat", 176.0, -18.0).unwrap(); // outside: nothing
    index.add("boat", 179.5, -18.0).unwrap(); // enters west of the line
    index.add("boat", -179.5, -18.0).unwrap(); // crosses the line, still inside: nothing
    assert_eq!(index.fences_containing(&"boat"), ["fiji"]);
    index.add("boat", -178.5, -19.5).unwrap(); // into the lagoon: exit
    index.add("boat", -178.5, -18.5).unwrap(); // back out of it: enter
    index.add("boat", -176.0, -18.5).unwrap(); // past 183 unwrapped: exit east
    index.add("boat", -177.5, -18.5).unwrap(); // back in from the east
    index.add("buoy", -180.0, -20.0).unwrap(); // a new member right on -180: inside
    assert!(index.remove(&"boat"));
    let got: Vec<_> = rx.try_iter().map(|e| (e.member, e.kind)).collect();
    assert_eq!(
        got,
        [
            ("boat", Enter),
            ("boat", Exit),
            ("boat", Enter),
            ("boat", Exit),
            ("boat", Enter),
            ("buoy", Enter),
            ("boat", Exit),
        ]
    );
    assert_eq!(index.fences_containing(&"buoy"), ["fiji"]);
}

#[test]
fn invalid_polygons_are_typed_errors() {
    let index: GeoIndex<&'static str> = GeoIndex::builder().build().unwrap();
    index.add("a", 0.0, 0.0).unwrap();
    let bad = [
        rect(0.0, 361.0, -1.0, 1.0),                  // spans more than a turn
        rect(-200.0, 170.0, -1.0, 1.0),               // 370
        rect(500.0, 541.0, -1.0, 1.0),                // beyond 540
        rect(-541.0, -530.0, -1.0, 1.0),              // below -540
        rect(f64::NAN, 1.0, -1.0, 1.0),               // NaN
        rect(0.0, f64::INFINITY, -1.0, 1.0),          // infinite
        polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0)], // two points
        Polygon::new(
            rect_ring(170.0, 190.0, -1.0, 1.0),
            vec![rect_ring(0.0, 400.0, -0.5, 0.5)], // a hole spanning more than a turn
        ),
    ];
    for poly in bad {
        let err = index.search().polygon(poly.clone()).run().unwrap_err();
        assert!(matches!(err, Error::InvalidPolygon(_)), "{poly:?}: {err}");
        assert!(err.to_string().starts_with("invalid polygon: "), "{err}");
        let err = index
            .add_fence("f", Fence::polygon(poly.clone()))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidPolygon(_)), "{poly:?}: {err}");
    }
    assert!(index.fence_names().is_empty());
    let err = index
        .search()
        .polygon(rect(0.0, 361.0, -1.0, 1.0))
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("360"), "{err}");
    let err = index
        .search()
        .polygon(rect(500.0, 541.0, -1.0, 1.0))
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("540"), "{err}");
}

#[test]
fn a_full_turn_is_allowed_and_its_seam_is_a_boundary() {
    let index: GeoIndex<&'static str> = GeoIndex::builder().build().unwrap();
    for (m, lon) in [
        ("0", 0.0),
        ("90", 90.0),
        ("-90", -90.0),
        ("180", 180.0),
        ("-180", -180.0),
    ] {
        index.add(m, lon, 0.0).unwrap();
    }
    // The whole band as -180..180 (the plain form, as before): the ±180 meridian is its boundary.
    assert_eq!(
        names(&index, rect(-180.0, 180.0, -1.0, 1.0)),
        ["-90", "0", "90"]
    );
    // The same band unwrapped as 0..360: its seam is the 0 meridian instead.
    assert_eq!(
        names(&index, rect(0.0, 360.0, -1.0, 1.0)),
        ["-180", "-90", "180", "90"]
    );
}

#[test]
fn wrapped_rings_are_read_as_written_unless_unwrapped() {
    let index = fiji_index(false);
    // Jumping from 177 to -177 in the plane is the band from -177 to 177 (what geo decides): the
    // far side of the globe, not Fiji.
    let wrapped = polygon![(x: 177.0, y: -21.0), (x: -177.0, y: -21.0), (x: -177.0, y: -15.0), (x: 177.0, y: -15.0)];
    let got = names(&index, wrapped.clone());
    assert!(got.contains(&"far") && !got.contains(&"w179.9"), "{got:?}");
    let unwrapped = unwrap_antimeridian(&wrapped).unwrap();
    assert_eq!(
        unwrapped
            .exterior()
            .0
            .iter()
            .map(|c| c.x)
            .collect::<Vec<_>>(),
        [177.0, 183.0, 183.0, 177.0, 177.0]
    );
    assert_eq!(names(&index, unwrapped), FIJI_INSIDE);
    // A hole given in wrapped form too.
    let holed = Polygon::new(
        LineString::from(vec![
            (177.0, -21.0),
            (-177.0, -21.0),
            (-177.0, -15.0),
            (177.0, -15.0),
        ]),
        vec![LineString::from(vec![
            (179.5, -19.0),
            (-179.5, -19.0),
            (-179.5, -16.0),
            (179.5, -16.0),
        ])],
    );
    assert_eq!(
        names(&index, unwrap_antimeridian(&holed).unwrap()),
        ["e177.5", "w178"]
    );
    // A ring with no long edge comes back unchanged.
    let plain = rect(10.0, 20.0, 0.0, 5.0);
    assert_eq!(unwrap_antimeridian(&plain).unwrap(), plain);
    // Non-finite input is an error, not a hang.
    assert!(matches!(
        unwrap_antimeridian(&rect(f64::NAN, 1.0, 0.0, 1.0)),
        Err(Error::InvalidPolygon(_))
    ));
}

/// A star-shaped ring around `(cx, cy)` with `verts` (angle jitter, radius fraction) and size `r`.
fn star(cx: f64, cy: f64, r: f64, verts: &[(f64, f64)]) -> LineString<f64> {
    let n = verts.len() as f64;
    let mut ring: Vec<(f64, f64)> = verts
        .iter()
        .enumerate()
        .map(|(i, (jitter, f))| {
            let a = (i as f64 + jitter * 0.9) / n * std::f64::consts::TAU;
            (cx + r * f * a.cos(), cy + r * f * a.sin())
        })
        .collect();
    ring.push(ring[0]);
    LineString::from(ring)
}

fn wrap_lon(x: f64) -> f64 {
    let w = (x + 180.0).rem_euclid(360.0) - 180.0;
    if w == -180.0 && x > 0.0 { 180.0 } else { w }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::cases(48)))]

    /// Random unwrapped polygons anywhere in -540..540 (with a hole written in the exterior's frame or
    /// one turn away) against a naive check: some copy of the point is inside the polygon with the
    /// hole in the exterior's frame. Searches and fences must agree with it exactly.
    #[test]
    fn unwrapped_polygons_match_a_naive_check(
        cx in -400.0..400.0f64,
        cy in -60.0..60.0f64,
        r in prop_oneof![Just(0.5), Just(5.0), Just(40.0)],
        verts in prop::collection::vec((0.0..1.0f64, 0.5..1.0f64), 3..9),
        hole in prop_oneof![Just(None), Just(Some(0.0)), Just(Some(360.0)), Just(Some(-360.0))],
        offsets in prop::collection::vec((-1.3..1.3f64, -1.3..1.3f64), 150),
        uniform in prop::collection::vec((-180.0..180.0f64, -85.0..85.0f64), 50),
    ) {
        let exterior = star(cx, cy, r, &verts);
        let hole_ring = |shift: f64| rect_ring(cx - 0.15 * r + shift, cx + 0.15 * r + shift, cy - 0.15 * r, cy + 0.15 * r);
        let (naive, query) = match hole {
            None => {
                let p = Polygon::new(exterior, vec![]);
                (p.clone(), p)
            }
            Some(shift) => {
                // Keep the shifted hole within -540..540.
                let shift = if (cx + shift).abs() > 500.0 { 0.0 } else { shift };
                (
                    Polygon::new(exterior.clone(), vec![hole_ring(0.0)]),
                    Polygon::new(exterior, vec![hole_ring(shift)]),
                )
            }
        };
        let index: GeoIndex<u32> = GeoIndex::builder().build().unwrap();
        index.add_fence("z", Fence::polygon(query.clone())).unwrap();
        let mut points: Vec<(f64, f64)> = offsets
            .iter()
            .map(|(dx, dy)| (wrap_lon(cx + dx * r), (cy + dy * r).clamp(-85.0, 85.0)))
            .collect();
        points.extend(uniform);
        points.extend([(180.0, cy), (-180.0, cy), (179.999, cy), (-179.999, cy)]);
        for (i, (lon, lat)) in points.iter().enumerate() {
            index.add(i as u32, *lon, *lat).unwrap();
        }
        let inside = |lon: f64, lat: f64| {
            [-360.0, 0.0, 360.0].iter().any(|k| naive.contains(&Point::new(lon + k, lat)))
        };
        let expected: Vec<u32> = points
            .iter()
            .enumerate()
            .filter(|(_, (lon, lat))| inside(*lon, *lat))
            .map(|(i, _)| i as u32)
            .collect();
        let mut got: Vec<u32> = index.search().polygon(query).run().unwrap().iter().map(|h| h.member).collect();
        got.sort_unstable();
        prop_assert_eq!(&got, &expected);
        let fenced: Vec<u32> = (0..points.len() as u32)
            .filter(|i| !index.fences_containing(i).is_empty())
            .collect();
        prop_assert_eq!(&fenced, &expected);
    }
}
