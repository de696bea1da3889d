//! Benchmarks of ember-lock against `parking_lot::Mutex`, side by side in the same groups.
//!
//! - `lock/uncontended_pair`: one thread takes and releases; ember's `try_acquire` + `release` (a named
//!   lease with a TTL, a fencing token and an expiry check on the system clock) versus a mutex
//!   lock + unlock.
//! - `lock/contended_2_threads`: two threads hammer one lock; throughput of acquire / increment /
//!   release. Ember's blocking `acquire` is fair (FIFO hand-off, so every acquisition under contention
//!   wakes the other thread); `try_acquire` + yield shows the unfair, barging style that a mutex uses.
//!
//! `cargo bench -p ember-benches --no-default-features --features lock --bench lock`

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ember_core::{Clock, ManualClock, SystemClock};
use ember_lock::{Error, LockManager, Owner};
use parking_lot::Mutex;

const TTL: Duration = Duration::from_secs(30);

fn configure<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    g
}

fn uncontended(c: &mut Criterion) {
    let mut g = configure(c, "lock/uncontended_pair");
    g.throughput(Throughput::Elements(1));

    let locks = LockManager::new();
    let owner = Owner::new("bench");
    g.bench_function("ember try_acquire+release", |b| {
        b.iter(|| {
            let lease = locks
                .try_acquire(black_box("resource"), &owner, TTL)
                .unwrap();
            locks.release(&lease).unwrap();
        })
    });

    // The same on a manual clock: what the lease table costs without reading the system clock.
    let manual = LockManager::builder()
        .clock(ManualClock::new())
        .build()
        .unwrap();
    g.bench_function("ember try_acquire+release (manual clock)", |b| {
        b.iter(|| {
            let lease = manual
                .try_acquire(black_box("resource"), &owner, TTL)
                .unwrap();
            manual.release(&lease).unwrap();
        })
    });

    let mutex = Mutex::new(0u64);
    g.bench_function("parking_lot Mutex lock+unlock", |b| {
        b.iter(|| {
            *black_box(&mutex).lock() += 1;
        })
    });

    // For reference: one read of the system clock through the `Arc<dyn Clock>` a manager holds. An
    // acquire + release pair reads it twice (grant deadline, expiry check on release).
    let clock = locks.clock().clone();
    g.bench_function("SystemClock::now (one read, for reference)", |b| {
        b.iter(|| black_box(clock.now()))
    });

    let std_mutex = std::sync::Mutex::new(0u64);
    g.bench_function("std Mutex lock+unlock", |b| {
        b.iter(|| {
            *black_box(&std_mutex).lock().unwrap() += 1;
        })
    });
    g.finish();
}

/// Runs `op` `iters` times on each of two threads started together; returns the wall time.
fn two_threads(iters: u64, op: impl Fn(usize) + Send + Sync + 'static) -> Duration {
    let op = Arc::new(op);
    let barrier = Arc::new(Barrier::new(3));
    let handles: Vec<_> = (0..2)
        .map(|t| {
            let (op, barrier) = (op.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                for _ in 0..iters {
                    op(t);
                }
            })
        })
        .collect();
    let start = SystemClock.now();
    barrier.wait();
    for h in handles {
        h.join().unwrap();
    }
    SystemClock.now() - start
}

fn contended(c: &mut Criterion) {
    let mut g = configure(c, "lock/contended_2_threads");
    // One iteration = one acquire/release on each of the two threads.
    g.throughput(Throughput::Elements(2));

    g.bench_function("ember acquire+release (fair, blocking)", |b| {
        b.iter_custom(|iters| {
            let locks = LockManager::new();
            let counter = Arc::new(AtomicU64::new(0));
            let owners = [Owner::new("t0"), Owner::new("t1")];
            two_threads(iters, move |t| {
                let lease = locks.acquire("resource", &owners[t], TTL, TTL).unwrap();
                counter.fetch_add(1, Ordering::Relaxed);
                locks.release(&lease).unwrap();
            })
        })
    });

    g.bench_function("ember try_acquire+release (spin, yield)", |b| {
        b.iter_custom(|iters| {
            let locks = LockManager::new();
            let counter = Arc::new(AtomicU64::new(0));
            let owners = [Owner::new("t0"), Owner::new("t1")];
            two_threads(iters, move |t| {
                loop {
                    match locks.try_acquire("resource", &owners[t], TTL) {
                        Ok(lease) => {
                            counter.fetch_add(1, Ordering::Relaxed);
                            locks.release(&lease).unwrap();
                            return;
                        }
                        Err(Error::Held { .. } | Error::Queued { .. }) => thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
    });

    g.bench_function("parking_lot Mutex lock+unlock", |b| {
        b.iter_custom(|iters| {
            let mutex = Arc::new(Mutex::new(0u64));
            two_threads(iters, move |_| {
                *mutex.lock() += 1;
            })
        })
    });
    g.finish();
}

criterion_group!(benches, uncontended, contended);
criterion_main!(benches);
