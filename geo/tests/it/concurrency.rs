//! Send + Sync, concurrent readers and writers.

use std::sync::Arc;
use std::thread;

use ember_geo::{GeoIndex, Unit};

#[test]
fn index_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<GeoIndex<String>>();
    assert_send_sync::<GeoIndex<String, Vec<u8>>>();
    assert_send_sync::<ember_geo::GeoStats>();
    assert_send_sync::<ember_geo::Hit<String>>();
    assert_send_sync::<ember_geo::Error>();
}

/// Writers move their own members along a line while readers search: every search sees each member
/// at most once, every hit is within the radius, and at the end each member is where it was last put.
#[test]
fn concurrent_writers_and_readers_keep_invariants() {
    let index: Arc<GeoIndex<u32>> = Arc::new(GeoIndex::builder().build().unwrap());
    let writers = 4u32;
    let per_writer = 50u32;
    let rounds = 40u32;
    let mut handles = Vec::new();
    for w in 0..writers {
        let index = Arc::clone(&index);
        handles.push(thread::spawn(move || {
            for r in 0..rounds {
                for i in 0..per_writer {
                    let m = w * 1000 + i;
                    let lon = f64::from(i) * 0.01 + f64::from(r) * 0.001;
                    index.add(m, lon, f64::from(w) * 0.01).unwrap();
                }
                if r % 10 == 9 {
                    // Remove and re-add one member to exercise slot reuse.
                    index.remove(&(w * 1000));
                    index.add(w * 1000, 0.0, f64::from(w) * 0.01).unwrap();
                }
            }
        }));
    }
    for _ in 0..4 {
        let index = Arc::clone(&index);
        handles.push(thread::spawn(move || {
            for q in 0..150u32 {
                let lon = f64::from(q % 50) * 0.01;
                let hits = index
                    .search()
                    .from_point(lon, 0.015)
                    .radius(5.0, Unit::Kilometers)
                    .with_dist()
                    .run()
                    .unwrap();
                let mut seen: Vec<u32> = hits.iter().map(|h| h.member).collect();
                seen.sort_unstable();
                let n = seen.len();
                seen.dedup();
                assert_eq!(seen.len(), n, "a member appeared twice");
                assert!(hits.iter().all(|h| h.distance.unwrap() <= 5.0));
                let near = index.nearest(lon, 0.0, 5).unwrap();
                assert!(near.len() <= 5);
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(index.len(), (writers * per_writer) as usize);
    for w in 0..writers {
        for i in 1..per_writer {
            let expected = f64::from(i) * 0.01 + f64::from(rounds - 1) * 0.001;
            assert_eq!(
                index.position(&(w * 1000 + i)),
                Some((expected, f64::from(w) * 0.01))
            );
        }
    }
    // The tree agrees with the map: a whole-world search finds every member exactly once.
    let all = index
        .search()
        .from_point(0.0, 0.0)
        .radius(30_000.0, Unit::Kilometers)
        .run()
        .unwrap();
    assert_eq!(all.len(), (writers * per_writer) as usize);
}
