//! Tour section: durability. An ember-stream topic in durable mode (`TopicBuilder::durable`: each
//! partition an ember-log segmented log, committed group offsets in atomically replaced files) is
//! written, "restarted" (dropped and built again on its directory, as a new process would), and read
//! back; its consumer group resumes from its committed offsets. Then ember-log on its own: a torn final
//! record batch cut off whole by recovery and a CRC check of every batch; and ember-queue's durable mode.

use std::fs::OpenOptions;
use std::path::Path;
use std::time::Duration;

use ember_log::{FsyncPolicy, Log};
use ember_stream::{AutoOffsetReset, Message, Record, RecordId, Start, Topic};

fn open_topic(dir: &Path) -> Topic {
    Topic::builder("orders")
        .partitions(3)
        .durable(dir, FsyncPolicy::EveryN(64))
        .build()
        .expect("open topic")
}

/// Runs this section.
pub fn run() {
    super::heading("durability: ember-stream on ember-log");
    let dir = tempfile::tempdir().expect("temp dir");

    // 1. Write, consume part of it, commit.
    let topic = open_topic(dir.path());
    for i in 0..60u32 {
        let msg = Message::new(format!("order #{i}")).key(format!("customer-{}", i % 7));
        topic.send(msg).expect("send");
    }
    let billing = |topic: &Topic| {
        topic
            .consumer_group("billing")
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .build()
            .expect("group")
    };
    let group = billing(&topic);
    let mut member = group.join("worker-1").expect("join");
    let done = member.poll(25, Duration::ZERO).expect("poll").len();
    member.commit().expect("commit"); // written to disk before it returns
    let committed: Vec<Option<u64>> = (0..3)
        .map(|p| group.committed(p).expect("committed"))
        .collect();
    let ends: Vec<u64> = (0..3)
        .map(|p| topic.offsets(p).expect("offsets").1)
        .collect();
    println!(
        "durable topic: 60 orders in 3 partitions on disk (ends {ends:?}); billing processed {done}, committed {committed:?}"
    );
    // A Redis-Streams-style work group: 5 orders handed to packer-1, who will never ack them.
    let shipping = topic
        .work_group("shipping")
        .start(Start::Earliest)
        .build()
        .expect("work group");
    let taken = shipping.read("packer-1", 5).expect("read").len();
    drop((member, group, shipping, topic)); // the process "stops"

    // 2. Restart: build the topic again on the same directory.
    let topic = open_topic(dir.path());
    let reopened: Vec<u64> = (0..3)
        .map(|p| topic.offsets(p).expect("offsets").1)
        .collect();
    let group = billing(&topic);
    let restored: Vec<Option<u64>> = (0..3)
        .map(|p| group.committed(p).expect("committed"))
        .collect();
    let mut member = group.join("worker-1").expect("join");
    let rest = member.poll(100, Duration::ZERO).expect("poll");
    let next = topic.append("customer-1", "order #60").expect("append");
    println!(
        "after restart: ends {reopened:?}, billing committed {restored:?}: it got the other {} orders (first {:?}); a new append got {next}",
        rest.len(),
        rest.first().and_then(Record::value_str).unwrap_or("-"),
    );
    let shipping = topic.work_group("shipping").build().expect("work group");
    let pending = shipping.pending();
    let claimed = shipping
        .autoclaim("packer-2", Duration::ZERO, RecordId::default(), 100)
        .expect("autoclaim");
    println!(
        "work group after restart: {taken} read by packer-1 before the stop, {} still pending ({:?}); packer-2 claimed {} (delivery count now {})",
        pending.count,
        pending.consumers,
        claimed.claimed.len(),
        claimed.claimed.first().map_or(0, |d| d.deliveries),
    );
    drop((member, group, shipping, topic));

    // 3. ember-log recovery: a crash in the middle of a write leaves a torn batch, which is cut off whole
    //    (its records were appended after the last fsync, so none of them had been reported durable).
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

/// ember-queue's durable mode: acked messages never return, unacked ones (in flight too) come back
/// with their receive counts, and a delayed message stays delayed.
#[cfg(feature = "queue")]
fn durable_queue(dir: &Path) {
    use ember_queue::{DurableQueue, Message, Queue};
    let path = dir.join("jobs");
    let open = || {
        DurableQueue::open(&path, Queue::<String>::builder(), FsyncPolicy::Always)
            .expect("open queue")
    };
    let q = open();
    for i in 0..10 {
        q.send(format!("job-{i}")).expect("send");
    }
    q.send_message(Message::new("nightly report".to_string()).delay(Duration::from_secs(3600)))
        .expect("send delayed");
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
    let mut counts = Vec::new();
    while let Ok(d) = q.try_receive() {
        back.push(d.body().clone());
        counts.push(d.receive_count());
    }
    println!(
        "queue after restart: {} jobs back ({} .. {}), none of the acked ones; receive counts {counts:?}; {} delayed message still waiting for its hour",
        back.len(),
        back[0],
        back[back.len() - 1],
        q.queue().stats().delayed,
    );
}
