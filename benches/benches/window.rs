//! Benchmarks of `ember_stream::window`: events per second through a keyed tumbling count and a
//! session window over 10 000 keys, side by side with a hand-rolled `HashMap` fold over the same
//! events (the limit: no watermarks, no lateness, no state cleanup while running).
//!
//! Run: `cargo bench -p ember-benches --no-default-features --features stream --bench window`.
//! Targets (issue 7): tumbling within 3x of the fold, sessions within 5x. The peak number of windows
//! held is printed before the measurements, then an interleaved best/median ratio of each pair.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ember_stream::window::{Event, Windower, Windows};
use hashbrown::HashMap;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const KEYS: u64 = 10_000;
const EVENTS: usize = 500_000;
/// Events arrive up to this much out of order; the watermark allows for it.
const DISORDER_MS: u64 = 1_000;
const MINUTE: u64 = 60_000;
const SESSION_GAP_MS: u64 = 5_000;

/// `(key, event time)`: ~1 700 events/s spread over 10 000 keys (each key every ~6 s on average),
/// delivered up to 1 s out of order.
fn events() -> Vec<(u64, u64)> {
    let mut rng = SmallRng::seed_from_u64(7);
    let mut evs: Vec<(u64, u64, u64)> = (0..EVENTS as u64)
        .map(|i| {
            let t = i * 6 / 10 + 1_000_000; // 0.6 ms apart on average
            let arrival = t + rng.random_range(0..=DISORDER_MS);
            (rng.random_range(0..KEYS), t, arrival)
        })
        .collect();
    evs.sort_by_key(|e| e.2);
    evs.into_iter().map(|(k, t, _)| (k, t)).collect()
}

fn ember_tumbling(evs: &[(u64, u64)]) -> (u64, u64) {
    let mut w = Windower::<u64, ()>::builder(Windows::tumbling(Duration::from_millis(MINUTE)))
        .max_out_of_orderness(Duration::from_millis(DISORDER_MS))
        .build()
        .expect("valid");
    let mut total = 0u64;
    for (i, &(k, t)) in evs.iter().enumerate() {
        w.push(Event::new(k, t, ())).expect("partition 0");
        if i % 4096 == 0 {
            total += w.take_results().iter().map(|r| r.value).sum::<u64>();
        }
    }
    w.finish();
    total += w.take_results().iter().map(|r| r.value).sum::<u64>();
    (total, w.stats().peak_windows)
}

fn fold_tumbling(evs: &[(u64, u64)]) -> u64 {
    let mut counts: HashMap<(u64, u64), u64> = HashMap::new();
    for &(k, t) in evs {
        *counts.entry((k, t / MINUTE)).or_insert(0) += 1;
    }
    counts.values().sum()
}

fn ember_session(evs: &[(u64, u64)]) -> (u64, u64) {
    let mut w =
        Windower::<u64, ()>::builder(Windows::session(Duration::from_millis(SESSION_GAP_MS)))
            .max_out_of_orderness(Duration::from_millis(DISORDER_MS))
            .build()
            .expect("valid");
    let mut total = 0u64;
    for (i, &(k, t)) in evs.iter().enumerate() {
        w.push(Event::new(k, t, ())).expect("partition 0");
        if i % 4096 == 0 {
            total += w.take_results().iter().map(|r| r.value).sum::<u64>();
        }
    }
    w.finish();
    total += w.take_results().iter().map(|r| r.value).sum::<u64>();
    (total, w.stats().peak_windows)
}

/// Per key: the open session (start, last, count); a gap closes it into the output.
fn fold_session(evs: &[(u64, u64)]) -> u64 {
    let mut open: HashMap<u64, (u64, u64, u64)> = HashMap::new();
    let mut closed: Vec<(u64, u64, u64, u64)> = Vec::new();
    for &(k, t) in evs {
        let s = open.entry(k).or_insert((t, t, 0));
        if t > s.1 + SESSION_GAP_MS {
            closed.push((k, s.0, s.1, s.2));
            *s = (t, t, 0);
        }
        s.0 = s.0.min(t);
        s.1 = s.1.max(t);
        s.2 += 1;
    }
    closed.iter().map(|c| c.3).sum::<u64>() + open.values().map(|s| s.2).sum::<u64>()
}

fn bench(c: &mut Criterion) {
    let evs = events();
    let (n, peak_t) = ember_tumbling(&evs);
    assert_eq!(n, EVENTS as u64);
    assert_eq!(fold_tumbling(&evs), EVENTS as u64);
    let (n, peak_s) = ember_session(&evs);
    assert_eq!(n, EVENTS as u64);
    assert_eq!(fold_session(&evs), EVENTS as u64);
    println!(
        "window bench: {EVENTS} events, {KEYS} keys, disorder <= {DISORDER_MS} ms; \
         peak windows held: tumbling 1 min = {peak_t}, session gap 5 s = {peak_s}"
    );

    // The machine is shared and its load changes from second to second: besides criterion's
    // figures, time both sides interleaved (rounds alternate ember and fold) and print the ratio of
    // the best rounds and of the median rounds.
    let time = |f: &dyn Fn()| {
        let t0 = std::time::Instant::now();
        f();
        t0.elapsed()
    };
    const ROUNDS: usize = 9;
    let mut rounds: [Vec<Duration>; 4] = Default::default();
    for _ in 0..ROUNDS {
        rounds[0].push(time(&|| {
            black_box(ember_tumbling(&evs));
        }));
        rounds[1].push(time(&|| {
            black_box(fold_tumbling(&evs));
        }));
        rounds[2].push(time(&|| {
            black_box(ember_session(&evs));
        }));
        rounds[3].push(time(&|| {
            black_box(fold_session(&evs));
        }));
    }
    for r in &mut rounds {
        r.sort();
    }
    let (best, median) = (|i: usize| rounds[i][0], |i: usize| rounds[i][ROUNDS / 2]);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    for (name, ember, fold) in [("tumbling", 0, 1), ("session", 2, 3)] {
        println!(
            "interleaved, {ROUNDS} rounds: {name} best {:.2?} vs fold {:.2?} = {:.2}x, median {:.2?} vs {:.2?} = {:.2}x",
            best(ember),
            best(fold),
            ratio(best(ember), best(fold)),
            median(ember),
            median(fold),
            ratio(median(ember), median(fold))
        );
    }

    let mut g = c.benchmark_group("window_tumbling_count_10k_keys");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(EVENTS as u64));
    g.bench_function("ember_windower", |b| {
        b.iter(|| black_box(ember_tumbling(&evs)))
    });
    g.bench_function("hand_rolled_hashmap_fold", |b| {
        b.iter(|| black_box(fold_tumbling(&evs)))
    });
    g.finish();

    let mut g = c.benchmark_group("window_session_10k_keys");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(EVENTS as u64));
    g.bench_function("ember_windower", |b| {
        b.iter(|| black_box(ember_session(&evs)))
    });
    g.bench_function("hand_rolled_hashmap_fold", |b| {
        b.iter(|| black_box(fold_session(&evs)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
