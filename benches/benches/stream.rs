//! Benchmarks of ember-stream against plain baselines, side by side in one run:
//!
//! - `stream_append_single`: appending one 100-byte record at a time to a topic vs pushing it onto a
//!   plain `Vec<u8>` log with an offset index (the floor: no locking, no record structure, no clock).
//!   `append_copy` copies the payload into the partition's shared buffer, as the Vec log does;
//!   `owned_bytes` rows first allocate a `Bytes` per record (what `append(key, value)` with a fresh
//!   `Vec`/`String` costs).
//! - `stream_append_batch`: the same with batches of 100 records (`append_batch_copy`, `append_batch`).
//! - `stream_produce_consume`: one producer thread, one consumer thread, 100-byte records handed over
//!   through a topic (producer appends, consumer polls) vs a bounded `crossbeam-channel`.
//! - `stream_group_read`: consumer-group read throughput (poll + commit) of a pre-filled 8-partition
//!   topic, with 1 and 4 members, next to a standalone consumer.
//!
//! Run: `cargo bench -p ember-benches --no-default-features --features stream --bench stream`.

use std::hint::black_box;
use std::thread;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{
    BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use ember_stream::{AutoOffsetReset, Bytes, Message, Retention, Start, Topic};

const RECORD: usize = 100;
const APPENDS: usize = 20_000;

/// Thread CPU time (from `/proc/thread-self/schedstat`), for the single-threaded append benches: on a
/// machine shared with other work, wall time mostly measures the scheduler, CPU time measures the code.
/// Falls back to wall time where the file is missing.
struct CpuTime {
    wall: WallTime,
}

fn thread_cpu_nanos() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

impl Measurement for CpuTime {
    type Intermediate = (Option<u64>, std::time::Instant);
    type Value = u64;

    fn start(&self) -> Self::Intermediate {
        // Wall time here only as a fallback where schedstat is unavailable (not the component's clock).
        (thread_cpu_nanos(), std::time::Instant::now())
    }
    fn end(&self, (cpu, wall): Self::Intermediate) -> u64 {
        match (cpu, thread_cpu_nanos()) {
            (Some(a), Some(b)) => b - a,
            _ => wall.elapsed().as_nanos() as u64,
        }
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.wall.formatter()
    }
}

/// How many records the long-lived logs keep (the steady-state benches).
const KEEP: usize = 200_000;

/// The baseline: one byte buffer and an index of where each record starts.
struct VecLog {
    data: Vec<u8>,
    index: Vec<u64>,
    /// When set, the log is cleared (capacity kept) when it reaches this many records: the cheapest
    /// possible retention.
    keep: Option<usize>,
}

impl VecLog {
    fn new(keep: Option<usize>) -> Self {
        VecLog {
            data: Vec::new(),
            index: Vec::new(),
            keep,
        }
    }

    #[inline]
    fn append(&mut self, record: &[u8]) -> u64 {
        if self.keep == Some(self.index.len()) {
            self.index.clear();
            self.data.clear();
        }
        let offset = self.index.len() as u64;
        self.index.push(self.data.len() as u64);
        self.data.extend_from_slice(record);
        offset
    }
}

fn payload() -> Vec<u8> {
    (0..RECORD).map(|i| i as u8).collect()
}

fn steady_topic(partitions: u32) -> Topic {
    Topic::builder("bench")
        .partitions(partitions)
        .retention(Retention::default().max_records(KEEP as u64))
        .build()
        .unwrap()
}

fn group_config<M: Measurement>(g: &mut BenchmarkGroup<'_, M>) {
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(APPENDS as u64));
}

/// Steady state: long-lived logs that keep the last `KEEP` records, appended to one record at a time.
fn append_single<M: Measurement>(c: &mut Criterion<M>) {
    let payload = payload();
    let keys: Vec<Bytes> = (0..64).map(|i| Bytes::from(format!("key-{i}"))).collect();
    let mut g = c.benchmark_group("stream_append_single");
    group_config(&mut g);
    let mut log = VecLog::new(Some(KEEP));
    g.bench_function("vec_log", |b| {
        b.iter(|| {
            for _ in 0..APPENDS {
                black_box(log.append(&payload));
            }
        })
    });
    let topic = steady_topic(1);
    g.bench_function("ember_append_copy", |b| {
        b.iter(|| {
            for _ in 0..APPENDS {
                black_box(topic.append_copy(None, &payload).unwrap());
            }
        })
    });
    let topic = steady_topic(1);
    g.bench_function("ember_append_owned_bytes", |b| {
        b.iter(|| {
            for _ in 0..APPENDS {
                black_box(
                    topic
                        .append_unkeyed(Bytes::copy_from_slice(&payload))
                        .unwrap(),
                );
            }
        })
    });
    let topic = steady_topic(8);
    g.bench_function("ember_append_copy_keyed_8p", |b| {
        b.iter(|| {
            for i in 0..APPENDS {
                black_box(topic.append_copy(Some(&keys[i % 64]), &payload).unwrap());
            }
        })
    });
    g.finish();
}

/// Steady state, batches of 100 records.
fn append_batch<M: Measurement>(c: &mut Criterion<M>) {
    const BATCH: usize = 100;
    let payload = payload();
    let mut g = c.benchmark_group("stream_append_batch");
    group_config(&mut g);
    let mut log = VecLog::new(Some(KEEP));
    g.bench_function("vec_log", |b| {
        b.iter(|| {
            for _ in 0..APPENDS {
                black_box(log.append(&payload));
            }
        })
    });
    let topic = steady_topic(1);
    g.bench_function("ember_batch100_copy", |b| {
        b.iter(|| {
            for _ in 0..APPENDS / BATCH {
                let batch = (0..BATCH).map(|_| (None, &payload[..]));
                black_box(topic.append_batch_copy(batch).unwrap());
            }
        })
    });
    let topic = steady_topic(1);
    g.bench_function("ember_batch100_owned_bytes", |b| {
        b.iter(|| {
            for _ in 0..APPENDS / BATCH {
                let batch = (0..BATCH).map(|_| Message::new(Bytes::copy_from_slice(&payload)));
                black_box(topic.append_batch(batch).unwrap());
            }
        })
    });
    g.finish();
}

/// Cold: a fresh log per iteration of 20 000 appends (memory growth and page faults included).
fn append_cold<M: Measurement>(c: &mut Criterion<M>) {
    const BATCH: usize = 100;
    let payload = payload();
    let mut g = c.benchmark_group("stream_append_cold");
    group_config(&mut g);
    g.bench_function("vec_log", |b| {
        b.iter_batched(
            || VecLog::new(None),
            |mut log| {
                for _ in 0..APPENDS {
                    black_box(log.append(&payload));
                }
                log
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("ember_append_copy", |b| {
        b.iter_batched(
            || Topic::builder("bench").build().unwrap(),
            |topic| {
                for _ in 0..APPENDS {
                    black_box(topic.append_copy(None, &payload).unwrap());
                }
                topic
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("ember_batch100_copy", |b| {
        b.iter_batched(
            || Topic::builder("bench").build().unwrap(),
            |topic| {
                for _ in 0..APPENDS / BATCH {
                    let batch = (0..BATCH).map(|_| (None, &payload[..]));
                    black_box(topic.append_batch_copy(batch).unwrap());
                }
                topic
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// The steady and cold append benches again, measured in thread CPU time (group names end in `_cpu`).
fn append_cpu(c: &mut Criterion<CpuTime>) {
    let payload = payload();
    for (name, cold) in [
        ("stream_append_cpu", false),
        ("stream_append_cold_cpu", true),
    ] {
        let mut g = c.benchmark_group(name);
        group_config(&mut g);
        let keep = (!cold).then_some(KEEP);
        let fresh = move || {
            if cold {
                Topic::builder("bench").build().unwrap()
            } else {
                steady_topic(1)
            }
        };
        let kept = std::cell::RefCell::new(VecLog::new(keep));
        g.bench_function("vec_log", |b| {
            b.iter_batched(
                || {
                    if cold {
                        VecLog::new(None)
                    } else {
                        std::mem::replace(&mut *kept.borrow_mut(), VecLog::new(None))
                    }
                },
                |mut log| {
                    for _ in 0..APPENDS {
                        black_box(log.append(&payload));
                    }
                    if cold {
                        Some(log)
                    } else {
                        *kept.borrow_mut() = log;
                        None
                    }
                },
                BatchSize::PerIteration,
            )
        });
        let steady = fresh();
        g.bench_function("ember_append_copy", |b| {
            b.iter_batched(
                || if cold { fresh() } else { steady.clone() },
                |topic| {
                    for _ in 0..APPENDS {
                        black_box(topic.append_copy(None, &payload).unwrap());
                    }
                    topic
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function("ember_batch100_copy", |b| {
            b.iter_batched(
                || if cold { fresh() } else { steady.clone() },
                |topic| {
                    for _ in 0..APPENDS / 100 {
                        let batch = (0..100).map(|_| (None, &payload[..]));
                        black_box(topic.append_batch_copy(batch).unwrap());
                    }
                    topic
                },
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }
}

fn produce_consume(c: &mut Criterion) {
    const N: usize = 50_000;
    let payload = payload();
    let mut g = c.benchmark_group("stream_produce_consume");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(N as u64));
    g.bench_function("crossbeam_channel_bounded_1024", |b| {
        b.iter(|| {
            let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(1024);
            let consumer = thread::spawn(move || {
                let mut bytes = 0;
                for m in rx.iter() {
                    bytes += m.len();
                }
                bytes
            });
            for _ in 0..N {
                tx.send(payload.clone()).unwrap();
            }
            drop(tx);
            assert_eq!(consumer.join().unwrap(), N * RECORD);
        })
    });
    g.bench_function("ember_topic_append_poll", |b| {
        b.iter(|| {
            let topic = Topic::builder("bench").build().unwrap();
            let mut reader = topic.consumer(Start::Earliest);
            let consumer = thread::spawn(move || {
                let mut got = 0;
                let mut bytes = 0;
                while got < N {
                    for r in reader.poll(1024, Duration::from_secs(10)).unwrap() {
                        bytes += r.value.len();
                        got += 1;
                    }
                }
                bytes
            });
            for _ in 0..N {
                topic.append_unkeyed(payload.clone()).unwrap();
            }
            assert_eq!(consumer.join().unwrap(), N * RECORD);
        })
    });
    g.bench_function("ember_topic_batch100_poll", |b| {
        b.iter(|| {
            let topic = Topic::builder("bench").build().unwrap();
            let mut reader = topic.consumer(Start::Earliest);
            let consumer = thread::spawn(move || {
                let mut got = 0;
                while got < N {
                    got += reader.poll(1024, Duration::from_secs(10)).unwrap().len();
                }
                got
            });
            for _ in 0..N / 100 {
                topic
                    .append_batch((0..100).map(|_| Message::new(payload.clone())))
                    .unwrap();
            }
            assert_eq!(consumer.join().unwrap(), N);
        })
    });
    g.finish();
}

fn group_read(c: &mut Criterion) {
    const N: usize = 200_000;
    const PARTITIONS: u32 = 8;
    let payload = Bytes::from(payload());
    let topic = Topic::builder("bench")
        .partitions(PARTITIONS)
        .build()
        .unwrap();
    for chunk in 0..N / 1000 {
        topic
            .append_batch((0..1000).map(|i| {
                Message::keyed(
                    format!("user-{}", (chunk * 1000 + i) % 10_000),
                    payload.clone(),
                )
            }))
            .unwrap();
    }
    let mut g = c.benchmark_group("stream_group_read");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(N as u64));
    let mut run = 0u64;
    for members in [1usize, 4] {
        g.bench_with_input(
            BenchmarkId::new("consumer_group_poll_commit", members),
            &members,
            |b, &members| {
                b.iter(|| {
                    run += 1;
                    let group = topic
                        .consumer_group(format!("g{members}-{run}"))
                        .auto_offset_reset(AutoOffsetReset::Earliest)
                        .build()
                        .unwrap();
                    // Join everyone first so the assignment is settled before reading.
                    let consumers: Vec<_> = (0..members)
                        .map(|m| group.join(format!("m{m}")).unwrap())
                        .collect();
                    let handles: Vec<_> = consumers
                        .into_iter()
                        .map(|mut c| {
                            thread::spawn(move || {
                                let mut got = 0;
                                loop {
                                    let batch = c.poll(1000, Duration::ZERO).unwrap();
                                    if batch.is_empty() {
                                        break;
                                    }
                                    got += batch.len();
                                    c.commit().unwrap();
                                }
                                (got, c)
                            })
                        })
                        .collect();
                    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
                    let total: usize = results.iter().map(|(n, _)| n).sum();
                    assert_eq!(total, N);
                })
            },
        );
    }
    g.bench_function("standalone_consumer_iter", |b| {
        b.iter(|| {
            let n = topic.consumer(Start::Earliest).count();
            assert_eq!(n, N);
        })
    });
    g.finish();
}

fn cpu_time() -> Criterion<CpuTime> {
    Criterion::default().with_measurement(CpuTime { wall: WallTime })
}

criterion_group!(
    benches,
    append_single,
    append_batch,
    append_cold,
    produce_consume,
    group_read
);
criterion_group! {
    name = cpu_benches;
    config = cpu_time();
    targets = append_cpu
}
criterion_main!(benches, cpu_benches);
