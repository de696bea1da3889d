//! Tour section: durability. An ember-stream topic whose partitions live in ember-log segmented logs,
//! written, "restarted" (dropped and opened again from its directory, as a new process would), and read
//! back; a consumer group resumes from offsets committed to an atomically replaced file. Then ember-log
//! on its own: a torn final record cut off by recovery, and a CRC check of every record.
//!
//! The storage adapter below is what plugs a log into a topic through ember-stream's
//! `PartitionStorage` seam: the record value is the log payload; key, event time, append time and
//! headers are the record's metadata (serde, postcard-encoded by `Log::append_meta`).

use std::collections::{BTreeMap, VecDeque};
use std::fs::OpenOptions;
use std::path::Path;
use std::time::Duration;

use ember_log::{FsyncPolicy, Log, atomic};
use ember_stream::storage::{PartitionStorage, StoredRecord, TrimLimits, Trimmed};
use ember_stream::{AutoOffsetReset, Bytes, Error, Message, Record, Topic};

type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(serde::Serialize, serde::Deserialize)]
struct Meta {
    timestamp: u64,
    append_millis: u64,
    key: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
}

impl Meta {
    fn of(r: &ember_log::Record) -> Result<Meta> {
        r.meta_value::<Meta>()
            .map_err(storage_err)?
            .ok_or_else(|| Error::Storage(format!("record {} has no metadata", r.offset).into()))
    }
}

fn storage_err(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Storage(Box::new(e))
}

/// One partition's records in an ember-log directory.
#[derive(Debug)]
struct LogStorage {
    log: Log,
    partition: u32,
    start: u64,
    /// `(size, append time)` of each retained record, oldest first, for retention.
    sizes: VecDeque<(u64, u64)>,
    bytes: u64,
}

impl LogStorage {
    fn open(dir: &Path, partition: u32) -> Result<Self> {
        let log = Log::builder(dir)
            .fsync(FsyncPolicy::EveryN(64))
            .open()
            .map_err(storage_err)?;
        let start = log.start_offset();
        let (mut sizes, mut bytes) = (VecDeque::new(), 0);
        for r in log.iter(start) {
            let r = r.map_err(storage_err)?;
            let m = Meta::of(&r)?;
            let size = m.key.as_ref().map_or(0, Vec::len) as u64
                + r.payload.len() as u64
                + m.headers
                    .iter()
                    .map(|(n, v)| (n.len() + v.len()) as u64)
                    .sum::<u64>();
            sizes.push_back((size, m.append_millis));
            bytes += size;
        }
        Ok(LogStorage {
            log,
            partition,
            start,
            sizes,
            bytes,
        })
    }
}

impl PartitionStorage for LogStorage {
    fn append(&mut self, stored: StoredRecord) -> Result<()> {
        let r = &stored.record;
        let meta = Meta {
            timestamp: r.timestamp,
            append_millis: stored.append_millis,
            key: r.key.as_ref().map(|k| k.to_vec()),
            headers: r
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), v.to_vec()))
                .collect(),
        };
        self.log.append_meta(&meta, &r.value).map_err(storage_err)?;
        self.sizes
            .push_back((r.size() as u64, stored.append_millis));
        self.bytes += r.size() as u64;
        Ok(())
    }

    fn read(&self, from: u64, max: usize, out: &mut Vec<Record>) -> Result<()> {
        for r in self
            .log
            .read(from.max(self.start), max, 0)
            .map_err(storage_err)?
        {
            let m = Meta::of(&r)?;
            out.push(Record {
                partition: self.partition,
                offset: r.offset,
                timestamp: m.timestamp,
                key: m.key.map(Bytes::from),
                headers: m
                    .headers
                    .into_iter()
                    .map(|(n, v)| (n, Bytes::from(v)))
                    .collect(),
                value: Bytes::from(r.payload),
            });
        }
        Ok(())
    }

    fn earliest(&self) -> u64 {
        self.start
    }

    fn next_offset(&self) -> u64 {
        self.log.next_offset()
    }

    fn len(&self) -> u64 {
        self.sizes.len() as u64
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn head_append_millis(&self) -> Option<u64> {
        self.sizes.front().map(|s| s.1)
    }

    fn trim(&mut self, _limits: &TrimLimits) -> Result<Trimmed> {
        // The tour's topic has no retention; a full adapter moves a persisted start offset and deletes
        // whole segments below it (`Log::delete_before`).
        Ok(Trimmed::default())
    }
}

fn open_topic(dir: &Path) -> Topic {
    let dir = dir.to_path_buf();
    Topic::builder("orders")
        .partitions(3)
        .storage(move |name: &str, p: u32| {
            let s = LogStorage::open(&dir.join(format!("{name}-{p}")), p)?;
            Ok(Box::new(s) as Box<dyn PartitionStorage>)
        })
        .build()
        .expect("open topic")
}

/// Runs this section.
pub fn run() {
    super::heading("durability: ember-stream on ember-log");
    let dir = tempfile::tempdir().expect("temp dir");
    let offsets_file = dir.path().join("billing.offsets");

    // 1. Write, consume part of it, commit.
    let topic = open_topic(dir.path());
    for i in 0..60u32 {
        let msg = Message::new(format!("order #{i}")).key(format!("customer-{}", i % 7));
        topic.send(msg).expect("send");
    }
    let group = topic
        .consumer_group("billing")
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .build()
        .expect("group");
    let mut member = group.join("worker-1").expect("join");
    let done = member.poll(25, Duration::ZERO).expect("poll").len();
    member.commit().expect("commit");
    let committed: BTreeMap<u32, u64> = (0..3)
        .filter_map(|p| group.committed(p).ok().flatten().map(|o| (p, o)))
        .collect();
    atomic::write_value(&offsets_file, &committed).expect("persist offsets");
    let ends: Vec<u64> = (0..3)
        .map(|p| topic.offsets(p).expect("offsets").1)
        .collect();
    println!(
        "wrote 60 orders to 3 partitions on disk (ends {ends:?}); billing processed {done} and committed {committed:?}"
    );
    drop((member, group, topic)); // the process "stops"

    // 2. Restart: reopen the directory; offsets resume, the group resumes from its committed offsets.
    let topic = open_topic(dir.path());
    let reopened: Vec<u64> = (0..3)
        .map(|p| topic.offsets(p).expect("offsets").1)
        .collect();
    let saved: BTreeMap<u32, u64> = atomic::read_value(&offsets_file)
        .expect("read offsets")
        .unwrap_or_default();
    let group = topic
        .consumer_group("billing")
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .build()
        .expect("group");
    for (&p, &o) in &saved {
        group.reset_offset(p, o).expect("restore offset");
    }
    let mut member = group.join("worker-1").expect("join");
    let rest = member.poll(100, Duration::ZERO).expect("poll");
    let next = topic.append("customer-1", "order #60").expect("append");
    println!(
        "after restart: partition ends {reopened:?} (same), billing resumed and got the other {} orders (first: {:?}); a new append got {next}",
        rest.len(),
        rest.first().and_then(Record::value_str).unwrap_or("-"),
    );
    drop((member, group, topic));

    // 3. ember-log recovery: a crash in the middle of a write leaves a torn record, which is cut off.
    let part0 = dir.path().join("orders-0");
    let log = Log::open(&part0).expect("open partition log");
    let before = log.next_offset();
    let tail = log.segments().last().expect("segment").path.clone();
    drop(log);
    let len = std::fs::metadata(&tail).expect("stat").len();
    OpenOptions::new()
        .write(true)
        .open(&tail)
        .and_then(|f| f.set_len(len - 3))
        .expect("tear the tail");
    let log = Log::open(&part0).expect("recover");
    let r = log.recovery();
    println!(
        "torn write in partition 0: recovery cut {} bytes at byte {}, offsets 0..{} intact (was 0..{before})",
        r.truncated_bytes,
        r.truncated_at.as_ref().map_or(0, |t| t.1),
        log.next_offset(),
    );
    let report = log.verify().expect("verify");
    println!(
        "inspect: {} segment(s), {} records, every CRC checked, healthy = {}",
        report.segments.len(),
        report.records(),
        report.is_healthy()
    );
    #[cfg(feature = "queue")]
    durable_queue(dir.path());
}

/// ember-queue's durable mode: acked messages never return, unacked ones (in flight too) come back.
#[cfg(feature = "queue")]
fn durable_queue(dir: &Path) {
    use ember_queue::{DurableQueue, Queue};
    let path = dir.join("jobs");
    let open = || {
        DurableQueue::open(&path, Queue::<String>::builder(), FsyncPolicy::Always)
            .expect("open queue")
    };
    let q = open();
    for i in 0..10 {
        q.send(format!("job-{i}")).expect("send");
    }
    for _ in 0..4 {
        let d = q.try_receive().expect("receive");
        q.ack(d.receipt()).expect("ack");
    }
    let in_flight = q.try_receive().expect("receive");
    println!(
        "queue: sent 10 jobs, acked 4, {} in flight when the process stops",
        in_flight.body()
    );
    drop((in_flight, q));
    let q = open();
    let mut back = Vec::new();
    while let Ok(d) = q.try_receive() {
        back.push(d.body().clone());
    }
    println!(
        "queue after restart: {} jobs back ({} .. {}), none of the acked ones",
        back.len(),
        back[0],
        back[back.len() - 1]
    );
}
