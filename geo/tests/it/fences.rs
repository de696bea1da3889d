//! Geofence enter/exit sequences.

use ember_geo::geo::{LineString, Polygon, polygon};
use ember_geo::{Error, Fence, FenceCause, FenceEvent, FenceEventKind, GeoIndex, Unit};

fn square(x0: f64, y0: f64, side: f64) -> Polygon<f64> {
    polygon![(x: x0, y: y0), (x: x0 + side, y: y0), (x: x0 + side, y: y0 + side), (x: x0, y: y0 + side)]
}

fn kinds(events: &[FenceEvent<&'static str>]) -> Vec<(String, &'static str, FenceEventKind)> {
    events
        .iter()
        .map(|e| (e.fence.clone(), e.member, e.kind))
        .collect()
}

#[test]
fn enter_and_exit_when_moving_across_boundaries() {
    let index: GeoIndex<&'static str> = GeoIndex::builder().build().unwrap();
    index
        .add_fence("zone", Fence::polygon(square(0.0, 0.0, 1.0)))
        .unwrap();
    index
        .add_fence("ring", Fence::circle(0.5, 0.5, 20.0, Unit::Kilometers))
        .unwrap();
    let rx = index.subscribe();
    use FenceEventKind::{Enter, Exit};

    index.add("c", -1.0, 0.5).unwrap(); // outside both: nothing
    index.add("c", 0.1, 0.5).unwrap(); // into the square only (the circle is ~20 km, 0.4° away is 44 km)
    index.add("c", 0.2, 0.5).unwrap(); // still inside: nothing
    index.add("c", 0.5, 0.5).unwrap(); // into the circle
    index.add("c", 2.0, 0.5).unwrap(); // out of both
    index.add("d", 0.5, 0.5).unwrap(); // a new member inside both
    assert!(index.remove(&"d")); // removal inside both: exits
    let events: Vec<_> = rx.try_iter().collect();
    assert_eq!(
        kinds(&events),
        [
            ("zone".into(), "c", Enter),
            ("ring".into(), "c", Enter),
            ("zone".into(), "c", Exit),
            ("ring".into(), "c", Exit),
            ("zone".into(), "d", Enter),
            ("ring".into(), "d", Enter),
            ("zone".into(), "d", Exit),
            ("ring".into(), "d", Exit),
        ]
    );
    assert_eq!(events[0].position, (0.1, 0.5));
    assert_eq!(events[0].cause, FenceCause::Moved);
    assert_eq!(events[7].cause, FenceCause::Removed);
    assert_eq!(events[7].position, (0.5, 0.5));
    assert_eq!(index.stats().fence_events, 8);
}

#[test]
fn holes_and_boundaries() {
    let index: GeoIndex<&'static str> = GeoIndex::builder().build().unwrap();
    let hole = LineString::from(vec![
        (0.4, 0.4),
        (0.6, 0.4),
        (0.6, 0.6),
        (0.4, 0.6),
        (0.4, 0.4),
    ]);
    let donut = Polygon::new(square(0.0, 0.0, 1.0).exterior().clone(), vec![hole]);
    index.add_fence("donut", Fence::polygon(donut)).unwrap();
    let rx = index.subscribe();
    index.add("m", 0.2, 0.2).unwrap(); // enter
    index.add("m", 0.5, 0.5).unwrap(); // into the hole: exit
    index.add("m", 0.3, 0.5).unwrap(); // back into the ring: enter
    index.add("m", 1.0, 0.5).unwrap(); // onto the boundary: outside (geo's Contains)
    let got: Vec<_> = rx.try_iter().map(|e| e.kind).collect();
    use FenceEventKind::{Enter, Exit};
    assert_eq!(got, [Enter, Exit, Enter, Exit]);
    assert!(index.fences_containing(&"m").is_empty());
    index.add("m", 0.9, 0.9).unwrap();
    assert_eq!(index.fences_containing(&"m"), ["donut"]);
}

#[test]
fn fences_added_later_and_removed_fences() {
    let index: GeoIndex<&'static str> = GeoIndex::builder().build().unwrap();
    index.add("a", 0.5, 0.5).unwrap();
    index
        .add_fence("z", Fence::polygon(square(0.0, 0.0, 1.0)))
        .unwrap();
    let rx = index.subscribe();
    index.add("a", 0.6, 0.6).unwrap(); // already inside: no event
    assert!(rx.try_recv().is_err());
    index.add("a", 5.0, 5.0).unwrap();
    assert_eq!(rx.try_recv().unwrap().kind, FenceEventKind::Exit);
    assert!(index.remove_fence("z"));
    assert!(!index.remove_fence("z"));
    index.add("a", 0.5, 0.5).unwrap();
    assert!(rx.try_recv().is_err());
    assert!(index.fence_names().is_empty());
}

#[test]
fn several_subscribers_and_dropped_ones() {
    let index: GeoIndex<&'static str> = GeoIndex::builder().build().unwrap();
    index
        .add_fence("z", Fence::circle(0.0, 0.0, 5.0, Unit::Kilometers))
        .unwrap();
    let a = index.subscribe();
    let b = index.subscribe();
    drop(b);
    index.add("x", 0.0, 0.0).unwrap();
    assert_eq!(a.try_iter().count(), 1);
}

#[test]
fn bad_fences_are_rejected() {
    let index: GeoIndex<&'static str> = GeoIndex::builder().build().unwrap();
    index
        .add_fence("z", Fence::circle(0.0, 0.0, 5.0, Unit::Kilometers))
        .unwrap();
    assert_eq!(
        index.add_fence("z", Fence::circle(1.0, 1.0, 5.0, Unit::Kilometers)),
        Err(Error::FenceExists("z".into()))
    );
    assert!(matches!(
        index.add_fence("n", Fence::circle(0.0, 0.0, -1.0, Unit::Meters)),
        Err(Error::InvalidDistance { .. })
    ));
    assert!(matches!(
        index.add_fence("n", Fence::circle(200.0, 0.0, 1.0, Unit::Meters)),
        Err(Error::InvalidCoordinates { .. })
    ));
    let empty = Polygon::new(LineString::from(Vec::<(f64, f64)>::new()), vec![]);
    assert!(matches!(
        index.add_fence("n", Fence::polygon(empty)),
        Err(Error::InvalidPolygon(_))
    ));
    let nan = polygon![(x: 0.0, y: 0.0), (x: f64::NAN, y: 0.0), (x: 1.0, y: 1.0)];
    assert!(matches!(
        index.add_fence("n", Fence::polygon(nan)),
        Err(Error::InvalidPolygon(_))
    ));
    assert_eq!(index.fence_names(), ["z"]);
}

#[test]
fn redis_mode_judges_fences_on_cell_centres() {
    let index: GeoIndex<&'static str> = GeoIndex::builder().redis_compat().build().unwrap();
    index
        .add_fence("z", Fence::polygon(square(13.0, 38.0, 1.0)))
        .unwrap();
    let rx = index.subscribe();
    index.add("Palermo", 13.361389, 38.115556).unwrap();
    let e = rx.try_recv().unwrap();
    assert_eq!(e.kind, FenceEventKind::Enter);
    assert_eq!(format!("{:.17}", e.position.0), "13.36138933897018433");
}
