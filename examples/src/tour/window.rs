//! Tour section of `ember_stream::window`: event-time windows with watermarks, lateness and a late
//! side output, session merging, sliding count windows, idle partitions judged by a manual clock,
//! and an explicit watermark.

use std::time::Duration;

use ember_core::ManualClock;
use ember_stream::window::{Event, ResultKind, WindowResult, Windower, Windows};

fn show<K: std::fmt::Display, R: std::fmt::Debug>(r: &WindowResult<K, R>) -> String {
    format!(
        "{} [{}, {}) = {:?} {:?}",
        r.key, r.start, r.end, r.value, r.kind
    )
}

/// Runs this section.
pub fn run() {
    super::heading("ember-stream window: event time, watermarks, lateness, sessions");

    // Per-page counts in 10 s tumbling windows; events up to 2 s out of order are on time, up to 5 s
    // after a window closed they update it, later ones go to the side output.
    let mut counts = Windower::builder(Windows::tumbling(Duration::from_secs(10)))
        .count()
        .max_out_of_orderness(Duration::from_secs(2))
        .allowed_lateness(Duration::from_secs(5))
        .build()
        .expect("valid");
    let arrivals = [
        ("/home", 1_000),
        ("/cart", 4_000),
        ("/home", 9_500),
        ("/home", 8_000),  // out of order, on time
        ("/home", 13_000), // watermark 10.999 s: [0, 10 s) fires
        ("/cart", 7_000),  // late, within the lateness: an update
        ("/home", 17_000),
        ("/home", 3_000), // watermark 14.999 s = 9.999 + 5: [0, 10 s) is gone
    ];
    for (page, t) in arrivals {
        counts.push(Event::new(page, t, ())).expect("partition 0");
    }
    counts.finish();
    let mut results = counts.take_results();
    results.sort_by_key(|r| (r.end, r.kind == ResultKind::Update, r.key));
    println!("tumbling 10 s counts over 8 out-of-order page views:");
    for r in &results {
        println!("  {}", show(r));
    }
    for l in counts.take_late() {
        println!(
            "  late side output: {} at {} ms, {} ms behind the watermark",
            l.event.key,
            l.event_time,
            l.behind_ms()
        );
    }

    // Sessions with a 10 s gap: a late view bridging two emitted sessions retracts them and
    // re-emits the merged one.
    let mut sessions = Windower::builder(Windows::session(Duration::from_secs(10)))
        .count()
        .allowed_lateness(Duration::from_secs(60))
        .build()
        .expect("valid");
    sessions
        .push_all([
            ("ann", 0, ()),
            ("ann", 5_000, ()),
            ("ann", 25_000, ()),
            ("ann", 60_000, ()),
        ])
        .expect("partition 0");
    sessions
        .push(Event::new("ann", 15_000, ()))
        .expect("partition 0");
    println!("sessions (gap 10 s, bounds inclusive), then a late view at 15 s bridging two:");
    for r in sessions.take_results() {
        println!("  {}", show(&r).replace(')', "]"));
    }

    // Sliding count windows (Flink countWindow(3, 2)): every 2 orders of a customer, the total of
    // its last 3.
    let mut orders = Windower::builder(Windows::count_sliding(3, 2))
        .sum(|amount: &u32| *amount)
        .build()
        .expect("valid");
    orders
        .push_all([
            ("ann", 1_000, 20),
            ("bob", 1_500, 5),
            ("ann", 2_000, 35),
            ("ann", 3_000, 10),
            ("bob", 4_000, 7),
            ("ann", 5_000, 50),
        ])
        .expect("partition 0");
    println!("count windows sliding by 2 over the last 3 orders (bounds = first/last order time):");
    for r in orders.take_results() {
        println!("  {}", show(&r).replace(')', "]"));
    }

    // Two partitions; one goes silent. After the idle timeout (by the clock) it no longer holds the
    // watermark back.
    let clock = ManualClock::new();
    let mut w = Windower::builder(Windows::tumbling(Duration::from_secs(60)))
        .count()
        .partitions(2)
        .idle_timeout(Duration::from_secs(30))
        .clock(clock.clone())
        .build()
        .expect("valid");
    w.push(Event::new("sensor-a", 10_000, ()).with_partition(0))
        .expect("partition");
    w.push(Event::new("sensor-b", 20_000, ()).with_partition(1))
        .expect("partition");
    clock.advance(Duration::from_secs(20));
    w.push(Event::new("sensor-a", 95_000, ()).with_partition(0))
        .expect("partition");
    let held = w.take_results().len();
    clock.advance(Duration::from_secs(15)); // partition 1 silent for 35 s, partition 0 for 15 s
    w.tick();
    println!(
        "idle partitions: {held} results while partition 1 was silent, {} once it was idle for 30 s \
         (watermark {:?} ms)",
        w.take_results().len(),
        w.watermark()
    );
    println!("stats: {}", w.stats());

    // A source that knows when an hour is complete pushes the watermark itself.
    let mut hourly = Windower::builder(Windows::tumbling(Duration::from_secs(3600)))
        .count()
        .explicit_watermarks()
        .build()
        .expect("valid");
    hourly
        .push_all([
            ("orders", 600_000, ()),
            ("orders", 3_000_000, ()),
            ("orders", 3_700_000, ()),
        ])
        .expect("partition 0");
    let before = hourly.take_results().len();
    hourly.push_watermark(0, 3_599_999).expect("partition 0");
    let r = hourly.take_results();
    println!(
        "explicit watermark: {before} results before the source said the first hour was complete, \
         then {} with {} orders",
        r.len(),
        r[0].value
    );
}
