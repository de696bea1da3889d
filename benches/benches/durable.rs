//! Durable append throughput of ember-log against the limit: plain `BufWriter<File>` writes of the same
//! 100-byte records, with no sync, `sync_data` every 1000 records and `sync_data` every record.
//! Also `Always` with 4 concurrent appenders against 1 (group commit).
//!
//! `cargo bench -p ember-benches --no-default-features --features log --bench durable`
//!
//! Every sample writes to a fresh file or log in a temporary directory (on the same disk as /work).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ember_log::{FsyncPolicy, Log};

const RECORD: [u8; 100] = [0x5a; 100];

/// Writes `n` records with a plain buffered file, calling `sync_data` every `sync_every` records.
fn raw(n: u64, sync_every: Option<u64>) -> Duration {
    let dir = tempfile::tempdir_in(bench_dir()).unwrap();
    let file = File::create(dir.path().join("raw.bin")).unwrap();
    let mut w = BufWriter::with_capacity(64 << 10, file);
    let start = Instant::now();
    for i in 1..=n {
        w.write_all(&RECORD).unwrap();
        if let Some(every) = sync_every {
            if i % every == 0 {
                w.flush().unwrap();
                w.get_ref().sync_data().unwrap();
            }
        }
    }
    w.flush().unwrap();
    let t = start.elapsed();
    // Leave the disk clean for the next sample and benchmark (not timed).
    w.get_ref().sync_all().unwrap();
    t
}

fn open(dir: &std::path::Path, policy: FsyncPolicy) -> Log {
    Log::builder(dir)
        .fsync(policy)
        .segment_bytes(256 << 20)
        .open()
        .unwrap()
}

/// Appends `n` records to a fresh log with `policy` (single appender).
fn durable(n: u64, policy: FsyncPolicy) -> Duration {
    let dir = tempfile::tempdir_in(bench_dir()).unwrap();
    let log = open(dir.path(), policy);
    let start = Instant::now();
    for _ in 0..n {
        log.append(&RECORD).unwrap();
    }
    log.flush().unwrap();
    let t = start.elapsed();
    log.sync().unwrap(); // not timed: leave the disk clean for the next sample
    t
}

/// Appends `n` records to a fresh log with `Never`, `batch` records per `append_batch` call.
fn durable_batched(n: u64, batch: usize) -> Duration {
    let dir = tempfile::tempdir_in(bench_dir()).unwrap();
    let log = open(dir.path(), FsyncPolicy::Never);
    let records = vec![&RECORD[..]; batch];
    let start = Instant::now();
    let mut left = n;
    while left > 0 {
        let k = left.min(batch as u64) as usize;
        log.append_batch(records[..k].iter().copied()).unwrap();
        left -= k as u64;
    }
    log.flush().unwrap();
    let t = start.elapsed();
    log.sync().unwrap(); // not timed
    t
}

/// `threads` appenders share `n` appends on one log.
fn durable_concurrent(n: u64, threads: u64, policy: FsyncPolicy) -> Duration {
    let dir = tempfile::tempdir_in(bench_dir()).unwrap();
    let log = Arc::new(open(dir.path(), policy));
    let barrier = Arc::new(Barrier::new(threads as usize + 1));
    let per = n.div_ceil(threads);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (log, barrier) = (log.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                for _ in 0..per {
                    log.append(&RECORD).unwrap();
                }
            })
        })
        .collect();
    // Start the clock before releasing the appenders: if this thread were descheduled right after
    // the barrier, the appenders would run untimed.
    let start = Instant::now();
    barrier.wait();
    for h in handles {
        h.join().unwrap();
    }
    let t = start.elapsed();
    let stats = log.stats();
    assert!(stats.appends == per * threads);
    static REPORT: std::sync::Once = std::sync::Once::new();
    REPORT.call_once(|| eprintln!("group commit, {threads} appenders: {stats}"));
    t
}

fn bench_dir() -> std::path::PathBuf {
    std::env::var_os("EMBER_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into)
}

fn buffered(c: &mut Criterion) {
    let mut g = c.benchmark_group("durable_append_100B");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    const K: u64 = 10_000;
    g.throughput(Throughput::Elements(K));
    g.bench_function(BenchmarkId::new("raw_bufwriter", "no_sync"), |b| {
        b.iter_custom(|iters| raw(iters * K, None))
    });
    g.bench_function(BenchmarkId::new("ember_log", "Never"), |b| {
        b.iter_custom(|iters| durable(iters * K, FsyncPolicy::Never))
    });
    g.bench_function(BenchmarkId::new("ember_log", "Never_batch_100"), |b| {
        b.iter_custom(|iters| durable_batched(iters * K, 100))
    });
    g.bench_function(BenchmarkId::new("raw_bufwriter", "sync_every_1000"), |b| {
        b.iter_custom(|iters| raw(iters * K, Some(1000)))
    });
    g.bench_function(BenchmarkId::new("ember_log", "EveryN_1000"), |b| {
        b.iter_custom(|iters| durable(iters * K, FsyncPolicy::EveryN(1000)))
    });
    g.finish();
}

fn synced(c: &mut Criterion) {
    let mut g = c.benchmark_group("durable_append_100B_sync_each");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    const K: u64 = 40;
    g.throughput(Throughput::Elements(K));
    g.bench_function(
        BenchmarkId::new("raw_bufwriter", "sync_every_record"),
        |b| b.iter_custom(|iters| raw(iters * K, Some(1))),
    );
    g.bench_function(BenchmarkId::new("ember_log", "Always_1_thread"), |b| {
        b.iter_custom(|iters| durable(iters * K, FsyncPolicy::Always))
    });
    g.bench_function(BenchmarkId::new("ember_log", "Always_4_threads"), |b| {
        b.iter_custom(|iters| durable_concurrent(iters * K, 4, FsyncPolicy::Always))
    });
    g.finish();
}

// The fsync-bound group runs first, before the buffered runs leave write-back work behind.
criterion_group!(benches, synced, buffered);
criterion_main!(benches);
