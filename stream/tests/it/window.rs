//! Tests of the window module: exact outputs for hand-made cases of every window kind, session
//! merging, lateness and the side output, idle partitions; property tests against a brute-force
//! reference over random event sets with random out-of-order arrival.

use std::collections::BTreeMap;
use std::time::Duration;

use ember_core::ManualClock;
use ember_stream::window::{
    Emitted, Error, Event, LateReason, ResultKind, WindowResult, Windower, Windows,
};
use proptest::prelude::*;

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

type Row<K, R> = (K, u64, u64, R, ResultKind);

fn rows<K: Clone, R: Clone>(results: &[WindowResult<K, R>]) -> Vec<Row<K, R>> {
    results
        .iter()
        .map(|r| (r.key.clone(), r.start, r.end, r.value.clone(), r.kind))
        .collect()
}

/// Rows sorted within each run of equal `end` (the order among keys is unspecified).
fn sorted<K: Ord + Clone, R: Ord + Clone>(results: &[WindowResult<K, R>]) -> Vec<Row<K, R>> {
    let mut r = rows(results);
    r.sort_by(|a, b| (a.2, &a.0, a.1).cmp(&(b.2, &b.0, b.1)));
    r
}

use ResultKind::{Early, Final, Retract, Update};

#[test]
fn tumbling_counts_with_out_of_order_events() {
    let mut w = Windower::<&str, ()>::builder(Windows::tumbling(ms(10)))
        .max_out_of_orderness(ms(3))
        .build()
        .unwrap();
    for (k, t) in [("a", 1), ("b", 4), ("a", 9), ("a", 11), ("b", 8), ("a", 12)] {
        w.push(Event::new(k, t, ())).unwrap();
    }
    // Max seen 12, delay 3: watermark 8; nothing closed yet ([0,10) needs watermark >= 9).
    assert_eq!(w.watermark(), Some(8));
    assert!(w.take_results().is_empty());
    w.push(Event::new("b", 13, ())).unwrap(); // watermark 9: [0,10) fires
    assert_eq!(
        sorted(&w.take_results()),
        vec![("a", 0, 10, 2, Final), ("b", 0, 10, 2, Final)]
    );
    w.push(Event::new("a", 10, ())).unwrap(); // on time (10 > 9)
    w.finish();
    assert_eq!(
        sorted(&w.take_results()),
        vec![("a", 10, 20, 3, Final), ("b", 10, 20, 1, Final)]
    );
    assert!(w.take_late().is_empty());
    let s = w.stats();
    assert_eq!(
        (s.events, s.finals, s.open_windows, s.peak_windows),
        (8, 4, 0, 4)
    );
}

#[test]
fn tumbling_with_offset_aligns_windows() {
    let mut w = Windower::<u8, ()>::builder(Windows::tumbling(ms(10)).with_offset(ms(4)))
        .build()
        .unwrap();
    w.push_all([(1, 2, ()), (1, 4, ()), (1, 13, ()), (1, 14, ())])
        .unwrap();
    w.finish();
    assert_eq!(
        sorted(&w.take_results()),
        vec![
            (1, 0, 4, 1, Final),
            (1, 4, 14, 2, Final),
            (1, 14, 24, 1, Final)
        ]
    );
}

#[test]
fn hopping_windows_each_event_in_size_over_advance_windows() {
    let mut w = Windower::<&str, u32>::builder(Windows::hopping(ms(10), ms(5)))
        .sum(|v: &u32| *v)
        .build()
        .unwrap();
    w.push_all([("k", 3, 1), ("k", 7, 10), ("k", 12, 100)])
        .unwrap();
    // Watermark 11: [0,10) fired; [5,15) and [10,20) open.
    // 3 is also in [-5, 5), reported from 0 (Flink keeps windows that start before the epoch).
    assert_eq!(
        sorted(&w.take_results()),
        vec![("k", 0, 5, 1, Final), ("k", 0, 10, 11, Final)]
    );
    w.finish();
    assert_eq!(
        sorted(&w.take_results()),
        vec![("k", 5, 15, 110, Final), ("k", 10, 20, 100, Final)]
    );
}

#[test]
fn sliding_windows_follow_kafka_streams() {
    // Kafka Streams sliding windows with time difference 10: a window [t-10, t] per record.
    let mut w = Windower::<&str, ()>::builder(Windows::sliding(ms(10)))
        .max_out_of_orderness(ms(100))
        .build()
        .unwrap();
    w.push_all([
        ("k", 20, ()),
        ("k", 25, ()),
        ("k", 12, ()),
        ("k", 40, ()),
        ("k", 35, ()),
    ])
    .unwrap();
    w.finish();
    assert_eq!(
        sorted(&w.take_results()),
        vec![
            ("k", 2, 12, 1, Final),
            ("k", 10, 20, 2, Final),
            ("k", 15, 25, 2, Final),
            ("k", 25, 35, 2, Final),
            ("k", 30, 40, 2, Final),
        ]
    );
}

#[test]
fn sliding_window_fires_at_its_end_and_late_events_update_it() {
    let mut w = Windower::<u8, ()>::builder(Windows::sliding(ms(10)))
        .allowed_lateness(ms(20))
        .build()
        .unwrap();
    w.push_all([(1, 100, ()), (1, 105, ())]).unwrap();
    // Watermark 104: [90,100] fired.
    assert_eq!(rows(&w.take_results()), vec![(1, 90, 100, 1, Final)]);
    w.push(Event::new(1, 98, ())).unwrap(); // late but within lateness
    assert_eq!(
        sorted(&w.take_results()),
        vec![(1, 88, 98, 1, Final), (1, 90, 100, 2, Update)]
    );
    assert_eq!(w.stats().buffered_events, 3);
    w.push(Event::new(1, 200, ())).unwrap(); // watermark 199: all of them closed and dropped
    let res = sorted(&w.take_results());
    assert_eq!(res, vec![(1, 95, 105, 3, Final)]);
    w.push(Event::new(1, 150, ())).unwrap();
    let late = w.take_late();
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].reason, LateReason::WindowClosed { window_end: 160 });
    assert_eq!(w.stats().open_windows, 1);
}

#[test]
fn sessions_close_after_the_gap_and_merge_on_a_bridging_event() {
    let mut w = Windower::<&str, u32>::builder(Windows::session(ms(10)))
        .collect()
        .max_out_of_orderness(ms(50))
        .build()
        .unwrap();
    // Two sessions of "u" ([0,5] and [20,22]) and one of "v"; then 12 bridges "u"'s two.
    w.push_all([
        ("u", 0, 1),
        ("u", 5, 2),
        ("u", 20, 3),
        ("v", 3, 9),
        ("u", 22, 4),
    ])
    .unwrap();
    assert_eq!(w.stats().open_windows, 3);
    w.push(Event::new("u", 12, 5)).unwrap();
    assert_eq!(w.stats().open_windows, 2);
    w.push(Event::new("u", 40, 6)).unwrap(); // gap 18 > 10: a new session
    w.finish();
    assert_eq!(
        sorted(&w.take_results()),
        vec![
            ("v", 3, 3, vec![9], Final),
            ("u", 0, 22, vec![1, 2, 3, 4, 5], Final),
            ("u", 40, 40, vec![6], Final),
        ]
    );
    assert_eq!(w.stats().peak_windows, 3);
}

#[test]
fn late_event_bridging_two_emitted_sessions_retracts_them_and_updates() {
    let mut w = Windower::<&str, ()>::builder(Windows::session(ms(10)))
        .allowed_lateness(ms(100))
        .build()
        .unwrap();
    w.push_all([("u", 0, ()), ("u", 5, ()), ("u", 25, ()), ("u", 60, ())])
        .unwrap();
    // Watermark 59: [0,5] (closes at 15) and [25,25] (closes at 35) fired.
    assert_eq!(
        rows(&w.take_results()),
        vec![("u", 0, 5, 2, Final), ("u", 25, 25, 1, Final)]
    );
    // A late event at 15 bridges both (15-5 <= 10, 25-15 <= 10): within lateness.
    w.push(Event::new("u", 15, ())).unwrap();
    assert_eq!(
        rows(&w.take_results()),
        vec![
            ("u", 0, 5, 2, Retract),
            ("u", 25, 25, 1, Retract),
            ("u", 0, 25, 4, Update),
        ]
    );
    // Extending an emitted session by a late event: retract the old bounds, update the new ones.
    w.push(Event::new("u", 35, ())).unwrap();
    assert_eq!(
        rows(&w.take_results()),
        vec![("u", 0, 25, 4, Retract), ("u", 0, 35, 5, Update)]
    );
    let s = w.stats();
    assert_eq!((s.retractions, s.updates, s.finals), (3, 2, 2));
    w.finish();
    assert_eq!(rows(&w.take_results()), vec![("u", 60, 60, 1, Final)]);
}

#[test]
fn session_late_event_beyond_lateness_goes_to_side_output() {
    let mut w = Windower::<&str, ()>::builder(Windows::session(ms(10)))
        .allowed_lateness(ms(30))
        .build()
        .unwrap();
    w.push_all([("u", 100, ()), ("u", 300, ())]).unwrap();
    assert_eq!(rows(&w.take_results()), vec![("u", 100, 100, 1, Final)]);
    assert_eq!(
        w.stats().open_windows,
        1,
        "[100,100] dropped at 100 + 10 + 30"
    );
    // 150 + lateness 30 < 300, and no live session is within the gap: side output.
    w.push(Event::new("u", 150, ())).unwrap();
    // 275 + 30 >= 300: a new session, already past its end (285): a late first firing.
    w.push(Event::new("u", 275, ())).unwrap();
    assert_eq!(rows(&w.take_results()), vec![("u", 275, 275, 1, Final)]);
    // 292 is late too, but within the lateness: it joins the open session [300,300] (8 <= gap).
    w.push(Event::new("u", 292, ())).unwrap();
    assert!(w.take_results().is_empty());
    // 260 would bridge [275,275] (kept until 315) but is itself beyond the lateness: side output.
    w.push(Event::new("u", 260, ())).unwrap();
    let late = w.take_late();
    assert_eq!(late.len(), 2);
    assert_eq!(late[0].event, Event::new("u", 150, ()));
    assert_eq!(late[0].watermark, Some(299));
    assert_eq!(late[0].behind_ms(), 149);
    assert_eq!(late[0].reason, LateReason::WindowClosed { window_end: 150 });
    assert_eq!(late[1].reason, LateReason::WindowClosed { window_end: 260 });
    w.finish();
    assert_eq!(rows(&w.take_results()), vec![("u", 292, 300, 2, Final)]);
}

#[test]
fn count_windows_fire_every_n_events_per_key() {
    let mut w = Windower::<char, i32>::builder(Windows::count(3))
        .sum(|v: &i32| *v)
        .build()
        .unwrap();
    w.push_all([
        ('a', 50, 1),
        ('b', 10, 10),
        ('a', 40, 2),
        ('a', 60, 3),
        ('a', 0, 4),
        ('b', 5, 20),
    ])
    .unwrap();
    assert_eq!(rows(&w.take_results()), vec![('a', 40, 60, 6, Final)]);
    w.finish();
    // Incomplete count windows are reported as partial (Early) results at the end.
    assert_eq!(
        sorted(&w.take_results()),
        vec![('a', 0, 0, 4, Early), ('b', 5, 10, 30, Early)]
    );
}

#[test]
fn sliding_count_windows_fire_every_slide_events_over_the_last_size() {
    // Flink's countWindow(4, 2): every 2 events of a key, the sum of its last 4.
    let mut w = Windower::<char, i32>::builder(Windows::count_sliding(4, 2))
        .sum(|v: &i32| *v)
        .build()
        .unwrap();
    w.push_all([
        ('a', 10, 1),
        ('b', 100, 100),
        ('a', 20, 2), // a fires over [1, 2] (fewer than 4 so far, as Flink)
        ('a', 5, 3),
        ('a', 40, 4), // a fires over [1, 2, 3, 4]: start/end are the smallest/largest timestamps
        ('a', 50, 5),
        ('b', 90, 200), // b fires over [100, 200]
        ('a', 60, 6),   // a fires over [3, 4, 5, 6]
        ('a', 70, 7),
    ])
    .unwrap();
    assert_eq!(
        rows(&w.take_results()),
        vec![
            ('a', 10, 20, 3, Final),
            ('a', 5, 40, 10, Final),
            ('b', 90, 100, 300, Final),
            ('a', 5, 60, 18, Final),
        ]
    );
    assert_eq!(w.stats().open_windows, 2);
    assert_eq!(
        w.stats().buffered_events,
        6,
        "a holds its last 4 events, b its 2"
    );
    w.finish();
    // a's next window (after one more event) would hold 5, 6, 7 and that event: 5, 6, 7 are
    // reported as its partial result. b has nothing since its last firing.
    assert_eq!(rows(&w.take_results()), vec![('a', 50, 70, 18, Early)]);
    assert_eq!(w.stats().open_windows, 0);
}

#[test]
fn sliding_count_windows_skip_events_when_the_slide_exceeds_the_size() {
    let mut w = Windower::<u8, u32>::builder(Windows::count_sliding(2, 3))
        .collect()
        .early_fire_every(1)
        .build()
        .unwrap();
    w.push_all((1..=7u32).map(|i| (0u8, u64::from(i), i)))
        .unwrap();
    w.finish();
    assert_eq!(
        rows(&w.take_results()),
        vec![
            // After event 1 the next window (events 2 and 3) has nothing yet: no early result.
            (0, 2, 2, vec![2], Early),
            (0, 2, 3, vec![2, 3], Final),
            (0, 5, 5, vec![5], Early),
            (0, 5, 6, vec![5, 6], Final),
            // finish: event 7 is not part of the next window (events 8 and 9).
        ]
    );
    // slide == size is the tumbling count window.
    let mut t = Windower::<u8, u32>::builder(Windows::count_sliding(2, 2))
        .collect()
        .build()
        .unwrap();
    t.push_all((1..=5u32).map(|i| (0u8, u64::from(i), i)))
        .unwrap();
    t.finish();
    assert_eq!(
        rows(&t.take_results()),
        vec![
            (0, 1, 2, vec![1, 2], Final),
            (0, 3, 4, vec![3, 4], Final),
            (0, 5, 5, vec![5], Early),
        ]
    );
}

#[test]
fn allowed_lateness_updates_then_side_output() {
    let mut w = Windower::<&str, ()>::builder(Windows::tumbling(ms(10)))
        .allowed_lateness(ms(5))
        .build()
        .unwrap();
    w.push_all([("a", 1, ()), ("a", 12, ())]).unwrap(); // watermark 11
    assert_eq!(rows(&w.take_results()), vec![("a", 0, 10, 1, Final)]);
    w.push(Event::new("a", 3, ())).unwrap(); // late, within lateness: update
    w.push(Event::new("b", 4, ())).unwrap(); // late, first result of b's window
    assert_eq!(
        rows(&w.take_results()),
        vec![("a", 0, 10, 2, Update), ("b", 0, 10, 1, Final)]
    );
    assert_eq!(w.stats().open_windows, 3);
    w.push(Event::new("a", 14, ())).unwrap(); // watermark 13 < 9 + 5: [0,10) still kept
    w.push(Event::new("a", 5, ())).unwrap();
    assert_eq!(rows(&w.take_results()), vec![("a", 0, 10, 3, Update)]);
    w.push(Event::new("a", 15, ())).unwrap(); // watermark 14 = 9 + 5: [0,10) dropped (Flink)
    assert_eq!(w.stats().open_windows, 1);
    w.push(Event::new("a", 6, ())).unwrap();
    assert!(w.take_results().is_empty());
    let late = w.take_late();
    assert_eq!(late.len(), 1);
    assert_eq!(
        (late[0].event_time, late[0].watermark, late[0].reason),
        (6, Some(14), LateReason::WindowClosed { window_end: 9 })
    );
    let s = w.stats();
    assert_eq!((s.late_events, s.updates, s.finals), (1, 2, 2));
}

#[test]
fn without_lateness_late_events_are_never_counted() {
    let mut w = Windower::<u8, ()>::builder(Windows::tumbling(ms(10)))
        .build()
        .unwrap();
    w.push_all([
        (1, 5, ()),
        (1, 20, ()),
        (1, 9, ()),
        (1, 19, ()),
        (1, 21, ()),
    ])
    .unwrap();
    assert_eq!(
        w.take_late().len(),
        2,
        "9 and 19 are behind the watermark 19"
    );
    w.finish();
    w.push(Event::new(1, 30, ())).unwrap();
    let late = w.take_late();
    assert_eq!(late[0].reason, LateReason::Finished);
    assert_eq!(
        rows(&w.take_results()),
        vec![(1, 0, 10, 1, Final), (1, 20, 30, 2, Final)]
    );
}

#[test]
fn explicit_watermarks_per_partition_fire_windows_and_close_them() {
    let mut w = Windower::<u8, ()>::builder(Windows::tumbling(ms(10)))
        .partitions(2)
        .explicit_watermarks()
        .build()
        .unwrap();
    w.push(Event::new(1, 5, ()).with_partition(0)).unwrap();
    w.push(Event::new(1, 7, ()).with_partition(1)).unwrap();
    w.push(Event::new(1, 95, ()).with_partition(0)).unwrap();
    assert_eq!(w.watermark(), None, "event times do not move it");
    w.push_watermark(0, 9).unwrap();
    assert_eq!(w.watermark(), None, "partition 1 has said nothing yet");
    assert!(w.take_results().is_empty());
    w.push_watermark(1, 12).unwrap();
    assert_eq!(w.watermark(), Some(9), "the minimum: partition 0 at 9");
    assert_eq!(rows(&w.take_results()), vec![(1, 0, 10, 2, Final)]);
    w.push_watermark(0, 3).unwrap();
    assert_eq!(w.watermark(), Some(9), "never backwards");
    w.push(Event::new(1, 8, ()).with_partition(1)).unwrap();
    let late = w.take_late();
    assert_eq!(
        (late.len(), late[0].reason),
        (1, LateReason::WindowClosed { window_end: 9 })
    );
    assert_eq!(
        w.push_watermark(2, 100).unwrap_err(),
        Error::PartitionOutOfRange {
            partition: 2,
            partitions: 2
        }
    );
    w.push_watermark(0, 200).unwrap();
    w.push_watermark(1, 99).unwrap();
    assert_eq!(rows(&w.take_results()), vec![(1, 90, 100, 1, Final)]);
    w.finish();
    w.push_watermark(0, 500).unwrap();
    assert!(w.take_results().is_empty());
}

#[test]
fn explicit_watermarks_combine_with_the_generator_and_wake_idle_partitions() {
    let clock = ManualClock::new();
    let mut w = Windower::<&str, ()>::builder(Windows::tumbling(ms(100)))
        .partitions(2)
        .max_out_of_orderness(ms(10))
        .idle_timeout(Duration::from_secs(30))
        .clock(clock.clone())
        .build()
        .unwrap();
    w.push(Event::new("a", 50, ()).with_partition(0)).unwrap();
    w.push(Event::new("b", 60, ()).with_partition(1)).unwrap();
    assert_eq!(w.watermark(), Some(39), "generated: min(50, 60) - 10 - 1");
    // Partition 0's source knows it is complete up to 150: the larger of the two counts.
    w.push_watermark(0, 150).unwrap();
    assert_eq!(
        w.watermark(),
        Some(49),
        "partition 1 (60 - 10 - 1) holds it"
    );
    clock.advance(Duration::from_secs(31));
    w.tick();
    assert_eq!(w.stats().idle_partitions, 2);
    assert_eq!(w.watermark(), Some(49), "all idle: it holds");
    w.push(Event::new("a", 400, ()).with_partition(0)).unwrap();
    assert_eq!(
        w.watermark(),
        Some(389),
        "partition 1 is idle: partition 0 alone"
    );
    assert_eq!(
        sorted(&w.take_results()),
        vec![("a", 0, 100, 1, Final), ("b", 0, 100, 1, Final)]
    );
    // An explicit watermark is activity: partition 1 is back and holds the watermark again (which
    // does not go backwards) until it moves past partition 0.
    w.push_watermark(1, 120).unwrap();
    assert_eq!(w.stats().idle_partitions, 0);
    w.push(Event::new("a", 600, ()).with_partition(0)).unwrap();
    assert_eq!(w.watermark(), Some(389));
    assert!(w.take_results().is_empty());
    w.push_watermark(1, 700).unwrap();
    assert_eq!(w.watermark(), Some(589));
    assert_eq!(rows(&w.take_results()), vec![("a", 400, 500, 1, Final)]);
}

#[test]
fn punctuated_watermarks_come_from_marker_events() {
    #[derive(Debug)]
    enum Msg {
        Click,
        DoneUpTo(u64),
    }
    let mut w = Windower::<&str, Msg>::builder(Windows::tumbling(ms(10)))
        .aggregate(
            || 0u32,
            |n: &mut u32, m: &Msg| *n += u32::from(matches!(m, Msg::Click)),
        )
        .explicit_watermarks()
        .punctuated_watermarks(|m: &Msg, _t| match m {
            Msg::DoneUpTo(t) => Some(*t),
            Msg::Click => None,
        })
        .build()
        .unwrap();
    w.push_all([
        ("p", 1, Msg::Click),
        ("p", 25, Msg::Click),
        ("p", 3, Msg::Click),
    ])
    .unwrap();
    assert!(w.take_results().is_empty());
    w.push(Event::new("p", 26, Msg::DoneUpTo(19))).unwrap();
    assert_eq!(w.watermark(), Some(19));
    assert_eq!(rows(&w.take_results()), vec![("p", 0, 10, 2, Final)]);
    w.push(Event::new("p", 12, Msg::Click)).unwrap();
    assert_eq!(w.take_late().len(), 1, "[10, 20) is complete");
}

#[test]
fn watermark_is_the_minimum_across_partitions() {
    let mut w = Windower::<u8, ()>::builder(Windows::tumbling(ms(10)))
        .partitions(2)
        .build()
        .unwrap();
    w.push(Event::new(1, 50, ()).with_partition(0)).unwrap();
    assert_eq!(w.watermark(), None, "partition 1 has not spoken");
    w.push(Event::new(2, 5, ()).with_partition(1)).unwrap();
    assert_eq!(w.watermark(), Some(4));
    assert!(w.take_results().is_empty());
    w.push(Event::new(2, 12, ()).with_partition(1)).unwrap();
    assert_eq!(rows(&w.take_results()), vec![(2, 0, 10, 1, Final)]);
    // Partition 0 got ahead; its event at 50 waits for partition 1.
    w.push(Event::new(2, 30, ()).with_partition(1)).unwrap();
    assert_eq!(rows(&w.take_results()), vec![(2, 10, 20, 1, Final)]);
    let bad = w.push(Event::new(9, 1, ()).with_partition(2)).unwrap_err();
    assert_eq!(
        bad.error,
        Error::PartitionOutOfRange {
            partition: 2,
            partitions: 2
        }
    );
    assert_eq!(bad.event.key, 9);
}

#[test]
fn idle_partition_stops_holding_the_watermark() {
    let clock = ManualClock::new();
    let mut w = Windower::<&str, ()>::builder(Windows::tumbling(ms(1000)))
        .partitions(3)
        .idle_timeout(Duration::from_secs(30))
        .clock(clock.clone())
        .build()
        .unwrap();
    w.push(Event::new("a", 500, ()).with_partition(0)).unwrap();
    w.push(Event::new("b", 700, ()).with_partition(1)).unwrap();
    clock.advance(Duration::from_secs(10));
    w.push(Event::new("a", 2500, ()).with_partition(0)).unwrap();
    w.push(Event::new("b", 2600, ()).with_partition(1)).unwrap();
    // Partition 2 never sent anything: the watermark is held.
    assert_eq!(w.watermark(), None);
    assert!(w.take_results().is_empty());
    clock.advance(Duration::from_secs(19));
    w.tick();
    assert_eq!(w.stats().idle_partitions, 0);
    clock.advance(Duration::from_secs(1)); // 30 s since build: partition 2 is idle
    w.tick();
    assert_eq!(w.stats().idle_partitions, 1);
    assert_eq!(w.watermark(), Some(2499));
    assert_eq!(
        sorted(&w.take_results()),
        vec![("a", 0, 1000, 1, Final), ("b", 0, 1000, 1, Final)]
    );
    // 40 s later partitions 0 and 1 are idle as well: with every partition idle the watermark holds.
    clock.advance(Duration::from_secs(40));
    w.tick();
    assert_eq!(w.stats().idle_partitions, 3);
    assert_eq!(w.watermark(), Some(2499));
    // Partition 2 wakes up far behind: it is active again, and its old event is late.
    w.push(Event::new("c", 100, ()).with_partition(2)).unwrap();
    assert_eq!(w.stats().idle_partitions, 2);
    assert_eq!(w.take_late().len(), 1);
    w.push(Event::new("c", 4000, ()).with_partition(2)).unwrap();
    assert_eq!(w.watermark(), Some(3999));
    assert_eq!(
        sorted(&w.take_results()),
        vec![("a", 2000, 3000, 1, Final), ("b", 2000, 3000, 1, Final)]
    );
}

#[test]
fn processing_time_windows_fire_as_the_clock_moves() {
    let clock = ManualClock::with_unix_millis(1_000_000);
    let mut w = Windower::<&str, ()>::builder(Windows::tumbling(Duration::from_secs(10)))
        .processing_time()
        .clock(clock.clone())
        .build()
        .unwrap();
    w.push(Event::new("a", 0, ())).unwrap(); // the record's own timestamp is ignored
    clock.advance(Duration::from_secs(3));
    w.push(Event::new("a", 0, ())).unwrap();
    clock.advance(Duration::from_secs(6));
    w.tick();
    assert!(w.take_results().is_empty());
    clock.advance(Duration::from_secs(1)); // wall time 1 010 000: [1 000 000, 1 010 000) closes
    w.tick();
    assert_eq!(
        rows(&w.take_results()),
        vec![("a", 1_000_000, 1_010_000, 2, Final)]
    );
}

#[test]
fn event_time_from_an_extractor() {
    #[derive(Debug, Clone)]
    struct View {
        at: u64,
    }
    let mut w = Windower::<&str, View>::builder(Windows::tumbling(ms(100)))
        .event_time_from(|v: &View| v.at)
        .build()
        .unwrap();
    w.push(Event::new("p", 999_999, View { at: 150 })).unwrap();
    w.push(Event::new("p", 0, View { at: 250 })).unwrap();
    w.finish();
    assert_eq!(
        rows(&w.take_results()),
        vec![("p", 100, 200, 1, Final), ("p", 200, 300, 1, Final)]
    );
}

#[test]
fn early_firing_every_n_events_and_by_interval() {
    let mut w = Windower::<u8, u32>::builder(Windows::tumbling(ms(100)))
        .sum(|v: &u32| *v)
        .early_fire_every(2)
        .build()
        .unwrap();
    w.push_all([(1, 1, 1), (1, 2, 2), (1, 3, 3), (1, 4, 4), (1, 5, 5)])
        .unwrap();
    w.finish();
    assert_eq!(
        rows(&w.take_results()),
        vec![
            (1, 0, 100, 3, Early),
            (1, 0, 100, 10, Early),
            (1, 0, 100, 15, Final)
        ]
    );

    let clock = ManualClock::new();
    let mut w = Windower::<u8, ()>::builder(Windows::session(ms(1000)))
        .early_fire_interval(Duration::from_secs(5))
        .clock(clock.clone())
        .build()
        .unwrap();
    w.push_all([(1, 10, ()), (2, 10, ())]).unwrap();
    clock.advance(Duration::from_secs(5));
    w.tick();
    assert_eq!(
        sorted(&w.take_results()),
        vec![(1, 10, 10, 1, Early), (2, 10, 10, 1, Early)]
    );
    w.push(Event::new(1, 20, ())).unwrap();
    clock.advance(Duration::from_secs(5));
    w.tick(); // only the changed session is re-emitted
    assert_eq!(rows(&w.take_results()), vec![(1, 10, 20, 2, Early)]);
    clock.advance(Duration::from_secs(5));
    w.tick();
    assert!(w.take_results().is_empty());

    // Sliding count windows: the partial next window of each key that changed.
    let mut c = Windower::<u8, u32>::builder(Windows::count_sliding(3, 2))
        .sum(|v: &u32| *v)
        .early_fire_interval(Duration::from_secs(5))
        .clock(clock.clone())
        .build()
        .unwrap();
    c.push_all([(1, 1, 10), (1, 2, 20), (1, 3, 30), (2, 4, 5)])
        .unwrap();
    assert_eq!(rows(&c.take_results()), vec![(1, 1, 2, 30, Final)]);
    clock.advance(Duration::from_secs(5));
    c.tick();
    // Key 1's next window (after one more event) holds its last 2 events: 20 and 30; key 2's
    // holds its only one.
    assert_eq!(
        sorted(&c.take_results()),
        vec![(1, 2, 3, 50, Early), (2, 4, 4, 5, Early)]
    );
    clock.advance(Duration::from_secs(5));
    c.tick();
    assert!(c.take_results().is_empty(), "nothing changed");
}

#[test]
fn aggregates_min_max_avg_and_fold() {
    let events = [("k", 1, 4i64), ("k", 2, -2), ("k", 3, 9), ("j", 4, 7)];
    let run_min = {
        let mut w = Windower::<&str, i64>::builder(Windows::tumbling(ms(10)))
            .min(|v: &i64| *v)
            .build()
            .unwrap();
        w.push_all(events).unwrap();
        w.finish();
        sorted(&w.take_results())
    };
    assert_eq!(
        run_min,
        vec![("j", 0, 10, 7, Final), ("k", 0, 10, -2, Final)]
    );
    let mut w = Windower::<&str, i64>::builder(Windows::tumbling(ms(10)))
        .max(|v: &i64| *v)
        .build()
        .unwrap();
    w.push_all(events).unwrap();
    w.finish();
    assert_eq!(
        sorted(&w.take_results()),
        vec![("j", 0, 10, 7, Final), ("k", 0, 10, 9, Final)]
    );
    let mut w = Windower::<&str, i64>::builder(Windows::tumbling(ms(10)))
        .avg(|v: &i64| *v)
        .build()
        .unwrap();
    w.push_all(events).unwrap();
    w.finish();
    let avgs: BTreeMap<_, _> = w
        .take_results()
        .into_iter()
        .map(|r| (r.key, r.value))
        .collect();
    assert_eq!(avgs[&"k"], 11.0 / 3.0);
    assert_eq!(avgs[&"j"], 7.0);

    // A fold cannot be used for sessions without a merge; with one it can.
    let err = Windower::<&str, i64>::builder(Windows::session(ms(5)))
        .aggregate(|| 0i64, |a: &mut i64, v: &i64| *a += v)
        .build()
        .unwrap_err();
    assert_eq!(err, Error::MergeRequired);
    let mut w = Windower::<&str, i64>::builder(Windows::session(ms(5)))
        .aggregate_with_merge(|| 0i64, |a: &mut i64, v: &i64| *a += v, |a, b| *a += b)
        .max_out_of_orderness(ms(100))
        .build()
        .unwrap();
    w.push_all([("k", 0, 1), ("k", 10, 2), ("k", 5, 4)])
        .unwrap();
    w.finish();
    assert_eq!(rows(&w.take_results()), vec![("k", 0, 10, 7, Final)]);
}

#[test]
fn invalid_configurations_are_typed_errors() {
    let cases: Vec<Windows> = vec![
        Windows::tumbling(Duration::ZERO),
        Windows::hopping(ms(10), ms(0)),
        Windows::hopping(ms(10), ms(11)),
        Windows::session(Duration::ZERO),
        Windows::count(0),
        Windows::count_sliding(0, 1),
        Windows::count_sliding(3, 0),
    ];
    for c in cases {
        let e = Windower::<u8, ()>::builder(c).build().unwrap_err();
        assert!(matches!(e, Error::InvalidConfig(_)), "{c:?}: {e}");
    }
    let b = || Windower::<u8, ()>::builder(Windows::tumbling(ms(1)));
    assert!(b().partitions(0).build().is_err());
    assert!(b().early_fire_every(0).build().is_err());
    assert!(b().early_fire_interval(Duration::ZERO).build().is_err());
    assert!(b().idle_timeout(Duration::ZERO).build().is_err());
}

#[test]
fn state_is_bounded_by_open_windows() {
    let mut w = Windower::<u32, ()>::builder(Windows::tumbling(ms(100)))
        .allowed_lateness(ms(50))
        .build()
        .unwrap();
    for t in 0..10_000u64 {
        w.push(Event::new((t % 50) as u32, t, ())).unwrap();
        assert!(w.stats().open_windows <= 100, "at {t}: {}", w.stats());
    }
    let s = w.stats();
    assert_eq!(s.peak_windows, 100, "50 keys x (current + one in lateness)");
    assert_eq!(s.finals, 99 * 50);
    w.finish();
    assert_eq!(w.stats().open_windows, 0);
    assert_eq!(w.stats().finals, 100 * 50);
}

#[test]
fn process_yields_results_late_and_rejected_events_in_one_stream() {
    let mut w = Windower::<&str, ()>::builder(Windows::tumbling(ms(10)))
        .partitions(1)
        .build()
        .unwrap();
    let events = vec![
        Event::new("a", 1, ()),
        Event::new("a", 15, ()),
        Event::new("a", 2, ()),
        Event::new("a", 3, ()).with_partition(4),
    ];
    let out: Vec<_> = w.process(events).collect();
    assert_eq!(out.len(), 4);
    assert!(matches!(&out[0], Emitted::Result(r) if r.value == 1 && r.end == 10));
    assert!(matches!(&out[1], Emitted::Late(l) if l.event.timestamp == 2));
    assert!(matches!(&out[2], Emitted::Rejected(r) if r.event.partition == Some(4)));
    assert!(matches!(&out[3], Emitted::Result(r) if r.start == 10 && r.kind == Final));
    assert_eq!(w.stats().to_string().split(' ').count(), 14);
}

#[test]
fn topic_records_in_window_results_out() {
    use ember_stream::window::topic::append_results;
    use ember_stream::{Bytes, Message, Topic};

    let views = Topic::builder("views").partitions(3).build().unwrap();
    // Out-of-order event times on several partitions.
    let sends = [
        ("/a", 5_000),
        ("/b", 1_000),
        ("/a", 62_000),
        ("/a", 3_000),
        ("/c", 59_999),
    ];
    for (page, t) in sends {
        views.send(Message::keyed(page, "v").timestamp(t)).unwrap();
    }
    let mut w = Windower::<Bytes, Bytes>::builder(Windows::tumbling(Duration::from_secs(60)))
        .partitions(views.partitions())
        .max_out_of_orderness(Duration::from_secs(5))
        .build()
        .unwrap();
    for p in 0..views.partitions() {
        for r in views.read(p, 0, 100).unwrap() {
            let e = Event::from(r);
            assert_eq!(e.partition, Some(p));
            w.push(e).unwrap();
        }
    }
    w.finish();
    assert!(w.take_late().is_empty());
    let results = w.take_results();
    let out = Topic::builder("per-minute").partitions(1).build().unwrap();
    append_results(&out, &results, |r| {
        Message::new(format!("{}-{}:{}", r.start, r.end, r.value))
    })
    .unwrap();
    let mut got: Vec<(String, u64, String)> = out
        .read(0, 0, 100)
        .unwrap()
        .into_iter()
        .map(|r| {
            let key = r.key_str().unwrap().to_string();
            (key, r.timestamp, r.value_str().unwrap().to_string())
        })
        .collect();
    got.sort();
    let expect: Vec<(String, u64, String)> = [
        ("/a", 60_000, "0-60000:2"),
        ("/a", 120_000, "60000-120000:1"),
        ("/b", 60_000, "0-60000:1"),
        ("/c", 60_000, "0-60000:1"),
    ]
    .iter()
    .map(|(k, t, v)| (k.to_string(), *t, v.to_string()))
    .collect();
    assert_eq!(got, expect);
}

#[test]
fn windower_is_send_and_sync() {
    fn check<T: Send + Sync>(_: &T) {}
    let w = Windower::<String, u64>::builder(Windows::sliding(ms(5)))
        .sum(|v: &u64| *v)
        .build()
        .unwrap();
    check(&w);
    let w = Windower::<String, u64>::builder(Windows::session(ms(5)))
        .collect()
        .event_time_from(|v| *v)
        .build()
        .unwrap();
    check(&w);
}

// ---------------------------------------------------------------------------------------------
// Property tests against a brute-force reference.

type Key = u8;
/// (key, start, end) -> count
type Table = BTreeMap<(Key, u64, u64), u64>;

fn grid_windows(t: u64, size: u64, adv: u64) -> Vec<(u64, u64)> {
    // Every start on the grid (including negative ones, reported from 0) whose window holds t.
    let (t, size, adv) = (t as i128, size as i128, adv as i128);
    let mut out = Vec::new();
    let mut s = -size - adv;
    s -= s.rem_euclid(adv);
    while s <= t {
        if s <= t && t < s + size {
            out.push((s.max(0) as u64, (s + size) as u64));
        }
        s += adv;
    }
    out
}

fn reference(kind: Windows, events: &[(Key, u64)]) -> Table {
    let mut table = Table::new();
    let mut by_key: BTreeMap<Key, Vec<u64>> = BTreeMap::new();
    for &(k, t) in events {
        by_key.entry(k).or_default().push(t);
    }
    for (k, mut ts) in by_key {
        ts.sort_unstable();
        match kind {
            Windows::Tumbling { size, .. } | Windows::Hopping { size, .. } => {
                let adv = match kind {
                    Windows::Hopping { advance, .. } => advance,
                    _ => size,
                };
                for &t in &ts {
                    for (s, e) in grid_windows(t, size, adv) {
                        *table.entry((k, s, e)).or_default() += 1;
                    }
                }
            }
            Windows::Sliding { size } => {
                for &end in &ts {
                    let n = ts.iter().filter(|&&t| t + size >= end && t <= end).count();
                    table.insert((k, end.saturating_sub(size), end), n as u64);
                }
            }
            Windows::Session { gap } => {
                let mut start = ts[0];
                let mut last = ts[0];
                let mut n = 0;
                for &t in &ts {
                    if t - last > gap {
                        table.insert((k, start, last), n);
                        start = t;
                        n = 0;
                    }
                    last = t;
                    n += 1;
                }
                table.insert((k, start, last), n);
            }
            _ => unreachable!(),
        }
    }
    table
}

/// Applies the output stream: Final/Update set the value, Retract removes it, Early is ignored.
fn latest(results: &[WindowResult<Key, u64>]) -> Table {
    let mut t = Table::new();
    for r in results {
        match r.kind {
            Final | Update => {
                t.insert((r.key, r.start, r.end), r.value);
            }
            Retract => {
                assert_eq!(t.remove(&(r.key, r.start, r.end)), Some(r.value), "{r:?}");
            }
            _ => {}
        }
    }
    t
}

fn kinds() -> impl Strategy<Value = Windows> {
    prop_oneof![
        (1u64..40).prop_map(|s| Windows::tumbling(ms(s))),
        (1u64..40, 1u64..40).prop_map(|(a, b)| Windows::hopping(ms(a.max(b)), ms(a.min(b)))),
        (0u64..40).prop_map(|s| Windows::sliding(ms(s))),
        (1u64..30).prop_map(|g| Windows::session(ms(g))),
    ]
}

fn events() -> impl Strategy<Value = Vec<(Key, u64)>> {
    prop::collection::vec((0u8..4, 0u64..300), 1..70)
}

fn build(kind: Windows, delay: u64, lateness: u64) -> Windower<Key, ()> {
    Windower::builder(kind)
        .max_out_of_orderness(ms(delay))
        .allowed_lateness(ms(lateness))
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::support::cases(300)))]

    /// Arrival out of order by at most the watermark's bound: every window is emitted exactly once,
    /// Final, equal to the brute force, nothing late.
    #[test]
    fn bounded_disorder_matches_reference_exactly(
        kind in kinds(),
        evs in events(),
        delay in 0u64..50,
        jitter in prop::collection::vec(0u64..1000, 70),
    ) {
        let mut arrival: Vec<(u64, (Key, u64))> = evs
            .iter()
            .enumerate()
            .map(|(i, &(k, t))| (t + jitter[i] % (delay + 1), (k, t)))
            .collect();
        arrival.sort_by_key(|a| a.0);
        let mut w = build(kind, delay, 0);
        for (_, (k, t)) in &arrival {
            w.push(Event::new(*k, *t, ())).unwrap();
        }
        w.finish();
        let out = w.take_results();
        prop_assert!(w.take_late().is_empty());
        prop_assert!(out.iter().all(|r| r.kind == Final), "{out:?}");
        let mut emitted = Table::new();
        for r in &out {
            prop_assert!(emitted.insert((r.key, r.start, r.end), r.value).is_none(), "twice: {r:?}");
        }
        prop_assert_eq!(emitted, reference(kind, &evs));
        prop_assert_eq!(w.stats().open_windows, 0);
    }

    /// Any arrival order, lateness large enough for everything: the latest result of every window
    /// (Updates applied, retracted sessions removed) equals the brute force.
    #[test]
    fn any_order_with_ample_lateness_converges_to_reference(
        kind in kinds(),
        evs in events(),
        delay in 0u64..20,
        order in prop::collection::vec(any::<u32>(), 70),
    ) {
        let mut arrival: Vec<(u32, (Key, u64))> =
            evs.iter().enumerate().map(|(i, &e)| (order[i], e)).collect();
        arrival.sort_by_key(|a| a.0);
        let mut w = build(kind, delay, 1_000);
        for (_, (k, t)) in &arrival {
            w.push(Event::new(*k, *t, ())).unwrap();
        }
        w.finish();
        prop_assert!(w.take_late().is_empty());
        prop_assert_eq!(latest(&w.take_results()), reference(kind, &evs));
    }

    /// Tumbling and hopping windows, any order, finite lateness: against a model that tracks the
    /// watermark and drops exactly the (event, window) pairs whose window was closed on arrival.
    #[test]
    fn grid_windows_with_lateness_match_the_model(
        size in 1u64..40,
        adv_pick in 1u64..40,
        evs in events(),
        delay in 0u64..20,
        lateness in 0u64..40,
        order in prop::collection::vec(any::<u32>(), 70),
    ) {
        let adv = adv_pick.min(size);
        let kind = Windows::hopping(ms(size), ms(adv));
        let mut arrival: Vec<(u32, (Key, u64))> =
            evs.iter().enumerate().map(|(i, &e)| (order[i], e)).collect();
        arrival.sort_by_key(|a| a.0);
        let mut w = build(kind, delay, lateness);
        let mut model = Table::new();
        let mut model_late = Vec::new();
        let mut low = 0u64;
        for (_, (k, t)) in &arrival {
            w.push(Event::new(*k, *t, ())).unwrap();
            let mut accepted = false;
            for (s, e) in grid_windows(*t, size, adv) {
                if e - 1 + lateness >= low {
                    accepted = true;
                    *model.entry((*k, s, e)).or_default() += 1;
                }
            }
            if !accepted {
                model_late.push((*k, *t));
            }
            low = low.max(t.saturating_sub(delay));
        }
        w.finish();
        let late: Vec<_> = w.take_late().iter().map(|l| (l.event.key, l.event.timestamp)).collect();
        prop_assert_eq!(late, model_late);
        let out = w.take_results();
        prop_assert_eq!(latest(&out), model);
        // Exactly one Final per window, and Updates only after it.
        let mut seen = BTreeMap::new();
        for r in &out {
            let id = (r.key, r.start, r.end);
            match r.kind {
                Final => prop_assert!(seen.insert(id, ()).is_none(), "two finals {r:?}"),
                Update => prop_assert!(seen.contains_key(&id), "update before final {r:?}"),
                k => prop_assert!(false, "unexpected {k:?}"),
            }
        }
    }

    /// Explicit watermarks pushed per partition (event times move nothing): against a model keeping
    /// each partition's watermark and the monotonic minimum over both.
    #[test]
    fn explicit_watermarks_match_the_model(
        size in 1u64..40,
        adv_pick in 1u64..40,
        lateness in 0u64..30,
        ops in prop::collection::vec((any::<bool>(), 0u8..2, 0u8..3, 0u64..200), 0..80),
    ) {
        let adv = adv_pick.min(size);
        let mut w = Windower::<Key, ()>::builder(Windows::hopping(ms(size), ms(adv)))
            .partitions(2)
            .explicit_watermarks()
            .allowed_lateness(ms(lateness))
            .build()
            .unwrap();
        let (mut model, mut model_late) = (Table::new(), Vec::new());
        let (mut part_low, mut low) = ([0u64; 2], 0u64);
        for (is_mark, p, k, t) in ops {
            if is_mark {
                w.push_watermark(u32::from(p), t).unwrap();
                part_low[p as usize] = part_low[p as usize].max(t + 1);
                low = low.max(part_low[0].min(part_low[1]));
                prop_assert_eq!(w.watermark(), low.checked_sub(1));
                continue;
            }
            w.push(Event::new(k, t, ()).with_partition(u32::from(p))).unwrap();
            let mut accepted = false;
            for (s, e) in grid_windows(t, size, adv) {
                if e - 1 + lateness >= low {
                    accepted = true;
                    *model.entry((k, s, e)).or_default() += 1;
                }
            }
            if !accepted {
                model_late.push((k, t));
            }
        }
        w.finish();
        let late: Vec<_> = w.take_late().iter().map(|l| (l.event.key, l.event.timestamp)).collect();
        prop_assert_eq!(late, model_late);
        prop_assert_eq!(latest(&w.take_results()), model);
    }

    /// Sessions, any order, finite lateness: every event is either counted in exactly one surviving
    /// session or reported late; sessions never overlap within the gap.
    #[test]
    fn sessions_with_lateness_lose_nothing(
        gap in 1u64..30,
        evs in events(),
        delay in 0u64..20,
        lateness in 0u64..40,
        order in prop::collection::vec(any::<u32>(), 70),
    ) {
        let mut arrival: Vec<(u32, (Key, u64))> =
            evs.iter().enumerate().map(|(i, &e)| (order[i], e)).collect();
        arrival.sort_by_key(|a| a.0);
        let mut w = build(Windows::session(ms(gap)), delay, lateness);
        for (_, (k, t)) in &arrival {
            w.push(Event::new(*k, *t, ())).unwrap();
        }
        w.finish();
        let late = w.take_late();
        let table = latest(&w.take_results());
        let counted: u64 = table.values().sum();
        prop_assert_eq!(counted + late.len() as u64, evs.len() as u64);
        let mut prev: Option<(Key, u64)> = None;
        for &(k, s, e) in table.keys() {
            prop_assert!(s <= e);
            if let Some((pk, pe)) = prev {
                if pk == k {
                    prop_assert!(s > pe, "overlapping sessions");
                }
            }
            prev = Some((k, e));
        }
    }

    /// Count windows: every n events of a key, in arrival order.
    #[test]
    fn count_windows_match_reference(
        n in 1u64..6,
        evs in prop::collection::vec((0u8..3, 0u64..100, 0u32..1000), 0..60),
    ) {
        let mut w = Windower::<Key, u32>::builder(Windows::count(n)).collect().build().unwrap();
        for &(k, t, v) in &evs {
            w.push(Event::new(k, t, v)).unwrap();
        }
        w.finish();
        let mut got: BTreeMap<Key, Vec<(Vec<u32>, bool)>> = BTreeMap::new();
        for r in w.take_results() {
            got.entry(r.key).or_default().push((r.value, r.kind == Final));
        }
        let mut expect: BTreeMap<Key, Vec<(Vec<u32>, bool)>> = BTreeMap::new();
        let mut cur: BTreeMap<Key, Vec<u32>> = BTreeMap::new();
        for &(k, _, v) in &evs {
            let c = cur.entry(k).or_default();
            c.push(v);
            if c.len() as u64 == n {
                expect.entry(k).or_default().push((std::mem::take(c), true));
            }
        }
        for (k, c) in cur {
            if !c.is_empty() {
                expect.entry(k).or_default().push((c, false));
            }
        }
        prop_assert_eq!(got, expect);
    }

    /// Sliding count windows (`countWindow(size, slide)`): every `slide` events of a key, a window
    /// over its last `size` events; at the end the partial next window, against brute force.
    #[test]
    fn sliding_count_windows_match_reference(
        size in 1u64..7,
        slide in 1u64..7,
        evs in prop::collection::vec((0u8..3, 0u64..100, 0u32..1000), 0..60),
    ) {
        let mut w = Windower::<Key, u32>::builder(Windows::count_sliding(size, slide))
            .collect()
            .build()
            .unwrap();
        for &(k, t, v) in &evs {
            w.push(Event::new(k, t, v)).unwrap();
        }
        w.finish();
        type Win = (u64, u64, Vec<u32>, bool);
        let mut got: BTreeMap<Key, Vec<Win>> = BTreeMap::new();
        for r in w.take_results() {
            got.entry(r.key).or_default().push((r.start, r.end, r.value, r.kind == Final));
        }
        // Brute force: after the i-th event of a key (i a multiple of slide), the window of its
        // events (i - size, i]; at the end, the events of (next - size, n] for the next firing
        // point `next`, if any.
        let mut per_key: BTreeMap<Key, Vec<(u64, u32)>> = BTreeMap::new();
        for &(k, t, v) in &evs {
            per_key.entry(k).or_default().push((t, v));
        }
        let window = |e: &[(u64, u32)], final_: bool| -> Win {
            (
                e.iter().map(|x| x.0).min().unwrap(),
                e.iter().map(|x| x.0).max().unwrap(),
                e.iter().map(|x| x.1).collect(),
                final_,
            )
        };
        let mut expect: BTreeMap<Key, Vec<Win>> = BTreeMap::new();
        for (k, e) in &per_key {
            let n = e.len() as u64;
            let out = expect.entry(*k).or_default();
            for i in (slide..=n).step_by(slide as usize) {
                out.push(window(&e[i.saturating_sub(size) as usize..i as usize], true));
            }
            if n % slide != 0 {
                let next = n - n % slide + slide;
                let from = next.saturating_sub(size);
                if from < n {
                    out.push(window(&e[from as usize..], false));
                }
            }
            if out.is_empty() {
                expect.remove(k);
            }
        }
        prop_assert_eq!(got, expect);
    }
}
