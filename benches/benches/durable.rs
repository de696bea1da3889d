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

/// Appends `n` records to a fresh log with `policy` through one exclusive [`ember_log::LogWriter`].
fn durable_writer(n: u64, policy: FsyncPolicy) -> Duration {
    let dir = tempfile::tempdir_in(bench_dir()).unwrap();
    let log = open(dir.path(), policy);
    let start = Instant::now();
    let mut w = log.writer().unwrap();
    for _ in 0..n {
        w.append(&RECORD).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let t = start.elapsed();
    log.sync().unwrap(); // not timed
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
    if policy == FsyncPolicy::Always {
        REPORT.call_once(|| eprintln!("group commit, {threads} appenders: {stats}"));
    }
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
    g.bench_function(BenchmarkId::new("ember_log", "Never_writer"), |b| {
        b.iter_custom(|iters| durable_writer(iters * K, FsyncPolicy::Never))
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
    g.bench_function(BenchmarkId::new("ember_log", "EveryN_1000_writer"), |b| {
        b.iter_custom(|iters| durable_writer(iters * K, FsyncPolicy::EveryN(1000)))
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
/// Paired, interleaved rounds (only with `EMBER_PAIRED=<rounds>` set): each round times the raw
/// `BufWriter`, `append` with `Never` and the exclusive writer with `Never` on the same 20 000 records,
/// back to back, so that load from other processes hits the three alike; prints the min and median
/// per contestant and the median of the per-round ratios. On a loaded machine the min is the figure
/// least disturbed. Then `rounds / 4` rounds of 4 threads appending 80 000 records with `Never` to
/// one log (contention on the tail lock; no peer), and `rounds / 10` (at least 3) rounds of the fsync-bound pairs: `EveryN(1000)`
/// against raw sync-every-1000 (5 000 records), `Always` with 4 appenders against 1 (400 records).
fn paired(_c: &mut Criterion) {
    let Some(rounds) = std::env::var("EMBER_PAIRED")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        return;
    };
    const N: u64 = 20_000;
    let mut raw_t = Vec::new();
    let mut never_t = Vec::new();
    let mut writer_t = Vec::new();
    for _ in 0..rounds {
        raw_t.push(raw(N, None).as_nanos() as f64 / N as f64);
        never_t.push(durable(N, FsyncPolicy::Never).as_nanos() as f64 / N as f64);
        writer_t.push(durable_writer(N, FsyncPolicy::Never).as_nanos() as f64 / N as f64);
    }
    let ratio = |a: &[f64], b: &[f64]| {
        let mut r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
        r.sort_by(f64::total_cmp);
        r[r.len() / 2]
    };
    let stats = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() / 2])
    };
    let (raw_min, raw_med) = stats(&raw_t);
    for (name, t) in [("append Never", &never_t), ("writer Never", &writer_t)] {
        let (min, med) = stats(t);
        eprintln!(
            "paired {rounds} rounds x {N} records: raw min {raw_min:.1} med {raw_med:.1} ns/rec; \
             {name} min {min:.1} med {med:.1} ns/rec; ratio of mins {:.2}x, median round ratio {:.2}x",
            min / raw_min,
            ratio(t, &raw_t)
        );
    }
    // Contention: 4 threads appending with `Never` to one log (not a target; watches the tail lock).
    let mut four = Vec::new();
    for _ in 0..(rounds / 4).max(3) {
        four.push(
            durable_concurrent(4 * N, 4, FsyncPolicy::Never).as_nanos() as f64 / (4 * N) as f64,
        );
    }
    let (min, med) = stats(&four);
    eprintln!(
        "paired {} rounds x {} records: append Never from 4 threads min {min:.1} med {med:.1} ns/rec",
        four.len(),
        4 * N
    );
    // The fsync-bound targets, in fewer rounds (each costs fsyncs): EveryN(1000) against the raw
    // writer syncing every 1000 records, and Always with 4 appenders against 1.
    let sync_rounds = (rounds / 10).max(3);
    const NS: u64 = 5_000;
    const NA: u64 = 400;
    let (mut raw_sync, mut every_n, mut always1, mut always4) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..sync_rounds {
        raw_sync.push(raw(NS, Some(1000)).as_nanos() as f64 / NS as f64);
        every_n.push(durable(NS, FsyncPolicy::EveryN(1000)).as_nanos() as f64 / NS as f64);
        always1.push(durable(NA, FsyncPolicy::Always).as_nanos() as f64 / NA as f64);
        always4.push(durable_concurrent(NA, 4, FsyncPolicy::Always).as_nanos() as f64 / NA as f64);
    }
    let (raw_min, raw_med) = stats(&raw_sync);
    let (min, med) = stats(&every_n);
    eprintln!(
        "paired {sync_rounds} rounds x {NS} records: raw sync_every_1000 min {raw_min:.1} med \
         {raw_med:.1} ns/rec; EveryN(1000) min {min:.1} med {med:.1} ns/rec; ratio of mins {:.2}x, \
         median round ratio {:.2}x",
        min / raw_min,
        ratio(&every_n, &raw_sync)
    );
    let (one_min, one_med) = stats(&always1);
    let (four_min, four_med) = stats(&always4);
    eprintln!(
        "paired {sync_rounds} rounds x {NA} records: Always 1 appender min {:.0} med {:.0} us/rec; \
         4 appenders min {:.0} med {:.0} us/rec; speedup of mins {:.2}x, median round speedup {:.2}x",
        one_min / 1e3,
        one_med / 1e3,
        four_min / 1e3,
        four_med / 1e3,
        one_min / four_min,
        ratio(&always1, &always4)
    );
}

criterion_group!(benches, synced, buffered, paired);
criterion_main!(benches);
