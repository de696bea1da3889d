//! ember-queue against `crossbeam-channel` bounded(1024), side by side in the same run.
//!
//! - `queue_throughput/{1p1c,2p2c}/{8B,256B}`: messages moved from producers to consumers per second.
//!   `crossbeam_bounded` is the limit for moving a value between threads; `ember_ack` is the full work
//!   queue cycle (send, receive with a lease for the visibility timeout, ack); `ember_no_ack` is send +
//!   receive with the message deleted on receipt; `ember_ack_batch` receives and acks in batches of 32.
//! - `queue_latency`: one message bouncing between two threads through two queues; the time shown
//!   is a round trip (two send -> receive hops; with ack for `ember_ack`).
//!
//! - `queue_paired` (printed, not a criterion measurement): rounds that run crossbeam and each ember
//!   mode back to back on the same shape, with the same-round ratio's min / median / max: the figure
//!   to quote on a loaded machine.
//!
//! `cargo bench -p ember-benches --no-default-features --features queue --bench queue`
//! (only the paired rounds: append `-- queue_paired`; `EMBER_QUEUE_ROUNDS`, `EMBER_QUEUE_MESSAGES`,
//! and for profiling `EMBER_QUEUE_SHAPES=1p1c/8B,...` / `EMBER_QUEUE_MODES=ember_ack,...` select
//! what the paired rounds run)

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ember_queue::{Delivery, Error, Queue};

/// Messages per criterion iteration.
const BATCH: u64 = 1000;
const CAPACITY: usize = 1024;

#[derive(Clone, Copy)]
enum Mode {
    Ack,
    NoAck,
    AckBatch,
}

fn split(total: u64, parts: u64, i: u64) -> u64 {
    total / parts + u64::from(i < total % parts)
}

fn run_crossbeam<const N: usize>(producers: u64, consumers: u64, total: u64) -> Duration {
    let (tx, rx) = crossbeam_channel::bounded::<[u8; N]>(CAPACITY);
    let start = Instant::now();
    thread::scope(|s| {
        for p in 0..producers {
            let tx = tx.clone();
            s.spawn(move || {
                for i in 0..split(total, producers, p) {
                    tx.send([i as u8; N]).unwrap();
                }
            });
        }
        drop(tx);
        for _ in 0..consumers {
            let rx = rx.clone();
            s.spawn(move || {
                while let Ok(m) = rx.recv() {
                    black_box(m);
                }
            });
        }
    });
    start.elapsed()
}

fn run_ember<const N: usize>(producers: u64, consumers: u64, total: u64, mode: Mode) -> Duration {
    let q: Queue<[u8; N]> = Queue::builder()
        .capacity(CAPACITY)
        .no_ack(matches!(mode, Mode::NoAck))
        .build()
        .unwrap();
    let start = Instant::now();
    thread::scope(|s| {
        let senders: Vec<_> = (0..producers)
            .map(|p| {
                let q = q.clone();
                s.spawn(move || {
                    for i in 0..split(total, producers, p) {
                        q.send([i as u8; N]).unwrap();
                    }
                })
            })
            .collect();
        for _ in 0..consumers {
            let q = q.clone();
            s.spawn(move || match mode {
                Mode::Ack => loop {
                    match q.receive() {
                        Ok(d) => {
                            black_box(d.body());
                            q.ack(d.receipt()).unwrap();
                        }
                        Err(Error::Closed) => return,
                        Err(e) => panic!("{e}"),
                    }
                },
                Mode::NoAck => loop {
                    match q.receive() {
                        Ok(d) => {
                            black_box(d.body());
                        }
                        Err(Error::Closed) => return,
                        Err(e) => panic!("{e}"),
                    }
                },
                Mode::AckBatch => {
                    let mut receipts = Vec::with_capacity(32);
                    loop {
                        match q.receive_batch(32) {
                            Ok(batch) => {
                                receipts.clear();
                                receipts.extend(batch.iter().map(Delivery::receipt));
                                black_box(&batch);
                                for r in q.ack_batch(&receipts) {
                                    r.unwrap();
                                }
                            }
                            Err(Error::Closed) => return,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
        for h in senders {
            h.join().unwrap();
        }
        q.close();
    });
    start.elapsed()
}

fn throughput_for<const N: usize>(c: &mut Criterion, label: &str) {
    let mut group = c.benchmark_group("queue_throughput");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(BATCH));
    for (p, cn) in [(1u64, 1u64), (2, 2)] {
        let shape = format!("{p}p{cn}c/{label}");
        group.bench_function(BenchmarkId::new("crossbeam_bounded", &shape), |b| {
            b.iter_custom(|iters| run_crossbeam::<N>(p, cn, iters * BATCH))
        });
        group.bench_function(BenchmarkId::new("ember_ack", &shape), |b| {
            b.iter_custom(|iters| run_ember::<N>(p, cn, iters * BATCH, Mode::Ack))
        });
        group.bench_function(BenchmarkId::new("ember_no_ack", &shape), |b| {
            b.iter_custom(|iters| run_ember::<N>(p, cn, iters * BATCH, Mode::NoAck))
        });
        group.bench_function(BenchmarkId::new("ember_ack_batch", &shape), |b| {
            b.iter_custom(|iters| run_ember::<N>(p, cn, iters * BATCH, Mode::AckBatch))
        });
    }
    group.finish();
}

fn throughput(c: &mut Criterion) {
    throughput_for::<8>(c, "8B");
    throughput_for::<256>(c, "256B");
}

fn latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue_latency");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("crossbeam_bounded/round_trip", |b| {
        b.iter_custom(|iters| {
            let (to_tx, to_rx) = crossbeam_channel::bounded::<u64>(CAPACITY);
            let (back_tx, back_rx) = crossbeam_channel::bounded::<u64>(CAPACITY);
            thread::scope(|s| {
                s.spawn(move || {
                    while let Ok(v) = to_rx.recv() {
                        back_tx.send(v).unwrap();
                    }
                });
                let start = Instant::now();
                for i in 0..iters {
                    to_tx.send(i).unwrap();
                    black_box(back_rx.recv().unwrap());
                }
                let elapsed = start.elapsed();
                drop(to_tx);
                elapsed
            })
        })
    });
    for (name, no_ack) in [
        ("ember_ack/round_trip", false),
        ("ember_no_ack/round_trip", true),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let make = || {
                    Queue::<u64>::builder()
                        .capacity(CAPACITY)
                        .no_ack(no_ack)
                        .build()
                        .unwrap()
                };
                let (to, back) = (make(), make());
                let settle = |q: &Queue<u64>, d: &Delivery<u64>| {
                    if !no_ack {
                        q.ack(d.receipt()).unwrap();
                    }
                };
                thread::scope(|s| {
                    let (to2, back2) = (to.clone(), back.clone());
                    s.spawn(move || {
                        while let Ok(d) = to2.receive() {
                            settle(&to2, &d);
                            back2.send(*d.body()).unwrap();
                        }
                    });
                    let start = Instant::now();
                    for i in 0..iters {
                        to.send(i).unwrap();
                        let d = back.receive().unwrap();
                        settle(&back, &d);
                        black_box(d.body());
                    }
                    let elapsed = start.elapsed();
                    to.close();
                    elapsed
                })
            })
        });
    }
    group.finish();
}

/// One thread doing send, receive (and ack) in turn: the cost of the operations without any
/// cross-thread traffic.
fn single_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue_single_thread");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    group.bench_function("clock_now", |b| {
        use ember_core::Clock;
        b.iter(|| black_box(ember_core::SystemClock.now()))
    });
    group.bench_function("clock_unix_millis", |b| {
        use ember_core::Clock;
        b.iter(|| black_box(ember_core::SystemClock.unix_millis()))
    });
    group.bench_function("crossbeam_bounded/send_recv", |b| {
        let (tx, rx) = crossbeam_channel::bounded::<[u8; 8]>(CAPACITY);
        b.iter(|| {
            tx.try_send([1; 8]).unwrap();
            black_box(rx.try_recv().unwrap());
        })
    });
    for (name, no_ack) in [
        ("ember_ack/send_receive_ack", false),
        ("ember_no_ack/send_receive", true),
    ] {
        let q: Queue<[u8; 8]> = Queue::builder()
            .capacity(CAPACITY)
            .no_ack(no_ack)
            .build()
            .unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                q.try_send([1; 8]).unwrap();
                let d = q.try_receive().unwrap();
                if !no_ack {
                    q.ack(d.receipt()).unwrap();
                }
                black_box(d.body());
            })
        });
    }
    group.finish();
}

/// Paired rounds: each round runs every contestant once on the same shape, one after the other, so
/// that the load of a shared machine hits them alike; the ratio of each round is taken, and the
/// minimum, median and maximum over the rounds are printed. `EMBER_QUEUE_ROUNDS` sets the number of
/// rounds (default 15), `EMBER_QUEUE_MESSAGES` the messages per run (default 200 000).
fn paired(_c: &mut Criterion) {
    let rounds: usize = std::env::var("EMBER_QUEUE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let total: u64 = std::env::var("EMBER_QUEUE_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    println!(
        "queue_paired: {rounds} rounds of {total} messages; ratio = ember throughput / crossbeam \
         throughput in the same round (min / median / max); crossbeam M msg/s median"
    );
    // `EMBER_QUEUE_SHAPES` (e.g. `1p1c/8B,2p2c/256B`) runs only the shapes named (for profiling).
    let only = std::env::var("EMBER_QUEUE_SHAPES").ok();
    for (p, cn) in [(1u64, 1u64), (2, 2)] {
        for size in [8usize, 256] {
            if only
                .as_deref()
                .is_some_and(|o| !o.split(',').any(|s| s == format!("{p}p{cn}c/{size}B")))
            {
                continue;
            }
            let run = |mode: Option<Mode>| -> Duration {
                match (size, mode) {
                    (8, None) => run_crossbeam::<8>(p, cn, total),
                    (8, Some(m)) => run_ember::<8>(p, cn, total, m),
                    (_, None) => run_crossbeam::<256>(p, cn, total),
                    (_, Some(m)) => run_ember::<256>(p, cn, total, m),
                }
            };
            let modes = [Mode::Ack, Mode::NoAck, Mode::AckBatch];
            let names = ["ember_ack", "ember_no_ack", "ember_ack_batch"];
            // `EMBER_QUEUE_MODES` (e.g. `ember_ack,ember_no_ack`) runs only the modes named.
            let wanted: Vec<usize> = (0..modes.len())
                .filter(|&i| {
                    std::env::var("EMBER_QUEUE_MODES")
                        .map_or(true, |o| o.split(',').any(|s| s == names[i]))
                })
                .collect();
            let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
            let mut base = Vec::new();
            for round in 0..rounds {
                // Alternate who goes first.
                let cross = if round % 2 == 0 {
                    run(None)
                } else {
                    Duration::ZERO
                };
                let times: Vec<(usize, Duration)> =
                    wanted.iter().map(|&i| (i, run(Some(modes[i])))).collect();
                let cross = if round % 2 == 0 { cross } else { run(None) };
                base.push(total as f64 / cross.as_secs_f64() / 1e6);
                for &(i, t) in &times {
                    ratios[i].push(cross.as_secs_f64() / t.as_secs_f64());
                }
            }
            let stats = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                (v[0], v[v.len() / 2], v[v.len() - 1])
            };
            let (_, cross_median, _) = stats(&mut base);
            let mut line =
                format!("queue_paired/{p}p{cn}c/{size}B crossbeam {cross_median:.1} M/s");
            for (name, r) in names.iter().zip(ratios.iter_mut()) {
                if r.is_empty() {
                    continue;
                }
                let (lo, med, hi) = stats(r);
                line += &format!(
                    " | {name} {:.0}% / {:.0}% / {:.0}%",
                    lo * 100.0,
                    med * 100.0,
                    hi * 100.0
                );
            }
            println!("{line}");
        }
    }
}

criterion_group!(benches, paired, throughput, latency, single_thread);
criterion_main!(benches);
