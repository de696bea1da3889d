//! Producing, reading, replay, blocking reads, the standalone consumer.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use ember_core::partition::{HashPartitioner, Partitioner};
use ember_core::{Clock, ManualClock};
use ember_stream::{Bytes, Error, Message, Record, Start, Topic, UnkeyedPolicy};

use crate::support::{manual_topic, wait_parked};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn public_types_are_send_and_sync() {
    assert_send_sync::<Topic>();
    assert_send_sync::<Record>();
    assert_send_sync::<ember_stream::Consumer>();
    assert_send_sync::<ember_stream::ConsumerGroup>();
    assert_send_sync::<ember_stream::GroupConsumer>();
    assert_send_sync::<ember_stream::WorkGroup>();
    assert_send_sync::<ember_stream::Subscription>();
    assert_send_sync::<ember_stream::TopicStats>();
    assert_send_sync::<Error>();
}

#[test]
fn builder_rejects_bad_configuration() {
    assert!(matches!(
        Topic::builder("t").partitions(0).build(),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        Topic::builder("t")
            .retention(ember_stream::Retention::default().max_records(0))
            .build(),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        Topic::builder("t").subscriber_buffer(0).build(),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        Topic::builder("t")
            .unkeyed(UnkeyedPolicy::Sticky { records: 0 })
            .build(),
        Err(Error::InvalidConfig(_))
    ));
}

#[test]
fn offsets_dense_and_ordered_under_concurrent_producers() {
    const PRODUCERS: u64 = 8;
    const EACH: u64 = 1500;
    let topic = Topic::builder("t").partitions(4).build().unwrap();
    let handles: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let topic = topic.clone();
            thread::spawn(move || {
                let mut ids = Vec::new();
                for i in 0..EACH {
                    let value = format!("{p}:{i}");
                    let id = match i % 3 {
                        0 => topic.append(format!("key-{p}-{}", i % 5), value).unwrap(),
                        1 => topic.append_unkeyed(value).unwrap(),
                        _ => topic
                            .append_batch([Message::keyed(format!("key-{p}-{}", i % 5), value)])
                            .unwrap()[0],
                    };
                    ids.push(id);
                }
                ids
            })
        })
        .collect();
    let mut all_ids: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all_ids.sort();
    all_ids.dedup();
    assert_eq!(
        all_ids.len() as u64,
        PRODUCERS * EACH,
        "no offset handed out twice"
    );
    let mut total = 0;
    // Per key, values must appear in the producer's order.
    let mut last_seq: HashMap<Bytes, u64> = HashMap::new();
    for p in 0..4 {
        let records = topic.read(p, 0, usize::MAX).unwrap();
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.offset, i as u64, "offsets dense from 0");
            assert_eq!(r.partition, p);
            if let Some(key) = &r.key {
                assert_eq!(
                    topic.partition_for(key),
                    p,
                    "keyed record in its key's partition"
                );
                let seq: u64 = r
                    .value_str()
                    .unwrap()
                    .split(':')
                    .nth(1)
                    .unwrap()
                    .parse()
                    .unwrap();
                if let Some(prev) = last_seq.insert(key.clone(), seq) {
                    assert!(
                        prev < seq,
                        "per-key order broken for {key:?}: {prev} then {seq}"
                    );
                }
            }
        }
        total += records.len() as u64;
        assert_eq!(topic.offsets(p).unwrap(), (0, records.len() as u64));
    }
    assert_eq!(total, PRODUCERS * EACH);
    assert_eq!(topic.stats().appended, PRODUCERS * EACH);
}

#[test]
fn keyed_records_use_kafka_murmur2_placement() {
    let topic = Topic::builder("t").partitions(50).build().unwrap();
    let kafka = HashPartitioner::kafka();
    for key in ["foobar", "user-1", "order:42", ""] {
        let id = topic.append(key, "v").unwrap();
        assert_eq!(id.partition, kafka.partition(key.as_bytes(), 50));
    }
    assert_eq!(topic.partition_for(b"foobar"), 16);
}

#[test]
fn unkeyed_round_robin_and_sticky() {
    let rr = Topic::builder("rr").partitions(3).build().unwrap();
    let parts: Vec<u32> = (0..6)
        .map(|_| rr.append_unkeyed("x").unwrap().partition)
        .collect();
    assert_eq!(parts, vec![0, 1, 2, 0, 1, 2]);

    let sticky = Topic::builder("s")
        .partitions(3)
        .unkeyed(UnkeyedPolicy::Sticky { records: 2 })
        .build()
        .unwrap();
    let parts: Vec<u32> = (0..6)
        .map(|_| sticky.append_unkeyed("x").unwrap().partition)
        .collect();
    assert_eq!(parts, vec![0, 0, 1, 1, 2, 2]);

    // A batch of unkeyed records lands in one partition, in order.
    let ids = rr
        .append_batch((0..5).map(|i| Message::new(vec![i as u8])))
        .unwrap();
    assert!(ids.iter().all(|id| id.partition == ids[0].partition));
    assert!(ids.windows(2).all(|w| w[1].offset == w[0].offset + 1));
}

#[test]
fn explicit_partition_and_unknown_partition() {
    let topic = Topic::builder("t").partitions(2).build().unwrap();
    assert_eq!(
        topic
            .send(Message::keyed("k", "v").partition(1))
            .unwrap()
            .partition,
        1
    );
    assert!(matches!(
        topic.send(Message::new("v").partition(2)),
        Err(Error::UnknownPartition {
            partition: 2,
            partitions: 2
        })
    ));
    // A batch with one bad message appends nothing.
    let before = topic.stats().records;
    assert!(
        topic
            .append_batch([Message::new("a"), Message::new("b").partition(9)])
            .is_err()
    );
    assert_eq!(topic.stats().records, before);
    assert!(matches!(
        topic.read(5, 0, 1),
        Err(Error::UnknownPartition { .. })
    ));
}

#[test]
fn mixed_batch_keeps_order_per_partition_and_returns_ids_in_input_order() {
    let topic = Topic::builder("t").partitions(4).build().unwrap();
    let msgs: Vec<Message> = (0..40)
        .map(|i| Message::keyed(format!("k{}", i % 7), format!("{i}")))
        .collect();
    let ids = topic.append_batch(msgs).unwrap();
    for (i, id) in ids.iter().enumerate() {
        let r = &topic.read(id.partition, id.offset, 1).unwrap()[0];
        assert_eq!(r.value_str().unwrap(), i.to_string());
        assert_eq!(r.key_str().unwrap(), format!("k{}", i % 7));
    }
}

#[test]
fn timestamps_headers_and_event_time() {
    let clock = ManualClock::with_unix_millis(5_000);
    let topic = Topic::builder("t").clock(clock.clone()).build().unwrap();
    topic.append("k", "v").unwrap();
    clock.advance(Duration::from_millis(250));
    topic
        .send(
            Message::new("late event")
                .timestamp(1_000)
                .header("trace", "abc")
                .header("trace", "second"),
        )
        .unwrap();
    let rs = topic.read(0, 0, 10).unwrap();
    assert_eq!(rs[0].timestamp, 5_000);
    assert_eq!(rs[1].timestamp, 1_000, "producer-set event time kept");
    assert_eq!(rs[1].header("trace").unwrap(), &Bytes::from_static(b"abc"));
    assert_eq!(rs[1].headers.len(), 2);
    assert_eq!(rs[1].key, None);
    assert!(format!("{:?}", rs[1]).contains("late event"));
}

#[test]
fn json_helpers_round_trip() {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Order {
        id: u32,
        item: String,
    }
    let topic = Topic::builder("t").build().unwrap();
    let order = Order {
        id: 7,
        item: "book".into(),
    };
    topic
        .send(Message::json(&order).unwrap().key("o-7"))
        .unwrap();
    topic.append("o-8", "not json").unwrap();
    let rs = topic.read(0, 0, 10).unwrap();
    assert_eq!(rs[0].json::<Order>().unwrap(), order);
    assert!(matches!(rs[1].json::<Order>(), Err(Error::Serde(_))));
}

#[test]
fn read_ranges_and_replay() {
    let topic = Topic::builder("t").build().unwrap();
    for i in 0..100u32 {
        topic.append_unkeyed(i.to_be_bytes().to_vec()).unwrap();
    }
    let page = topic.read(0, 10, 5).unwrap();
    assert_eq!(
        page.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![10, 11, 12, 13, 14]
    );
    assert!(
        topic.read(0, 100, 5).unwrap().is_empty(),
        "reading at the end is empty"
    );
    assert!(matches!(
        topic.read(0, 101, 5),
        Err(Error::OffsetOutOfRange {
            offset: 101,
            earliest: 0,
            latest: 100,
            ..
        })
    ));
    assert!(topic.read(0, 0, 0).unwrap().is_empty());
    // Replaying twice gives the same records (shared payloads).
    let a = topic.read(0, 0, 1000).unwrap();
    let b = topic.read(0, 0, 1000).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 100);
}

#[test]
fn read_blocking_wakes_on_append() {
    let (topic, clock) = manual_topic("t", 2);
    let t = topic.clone();
    let reader = thread::spawn(move || t.read_blocking(1, 0, 10, Duration::from_secs(60)).unwrap());
    wait_parked(&clock, 1);
    // An append to the other partition wakes the reader, which goes back to waiting.
    topic.send(Message::new("other").partition(0)).unwrap();
    topic.send(Message::new("mine").partition(1)).unwrap();
    let got = reader.join().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].value_str(), Some("mine"));
}

#[test]
fn read_blocking_times_out_by_the_manual_clock() {
    let (topic, clock) = manual_topic("t", 1);
    let t = topic.clone();
    let reader = thread::spawn(move || t.read_blocking(0, 0, 10, Duration::from_secs(5)).unwrap());
    wait_parked(&clock, 1);
    clock.advance(Duration::from_secs(2));
    wait_parked(&clock, 1);
    assert!(!reader.is_finished());
    clock.advance(Duration::from_secs(3));
    assert!(reader.join().unwrap().is_empty());
}

#[test]
fn consumer_iterates_replays_seeks_and_tails() {
    let (topic, clock) = manual_topic("t", 3);
    for i in 0..30 {
        topic.append(format!("k{i}"), format!("{i}")).unwrap();
    }
    let mut c = topic.consumer(Start::Earliest);
    c.set_batch(4);
    let all: Vec<Record> = c.by_ref().map(Result::unwrap).collect();
    assert_eq!(all.len(), 30);
    for p in 0..3 {
        let offsets: Vec<u64> = all
            .iter()
            .filter(|r| r.partition == p)
            .map(|r| r.offset)
            .collect();
        assert!(
            offsets.windows(2).all(|w| w[1] == w[0] + 1),
            "in order per partition"
        );
    }
    assert!(c.next().is_none(), "iterator ends at the end of the log");
    topic.append("k0", "more").unwrap();
    assert_eq!(c.next().unwrap().unwrap().value_str(), Some("more"));

    let p = topic.partition_for(b"k0");
    let mut single = topic.partition_consumer(p, Start::Offset(1)).unwrap();
    assert_eq!(single.next().unwrap().unwrap().offset, 1);
    single.seek(p, 0).unwrap();
    assert_eq!(single.position(p), Some(0));
    assert_eq!(single.next().unwrap().unwrap().offset, 0);
    assert!(matches!(
        single.seek(p, 10_000),
        Err(Error::OffsetOutOfRange { .. })
    ));

    // Tailing with a timeout: wakes on append, times out by the manual clock.
    let mut tail = topic.consumer(Start::Latest);
    let t = topic.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = thread::spawn(move || {
        tx.send(tail.next_timeout(Duration::from_secs(10)).unwrap())
            .unwrap();
        tail.next_timeout(Duration::from_secs(10)).unwrap()
    });
    wait_parked(&clock, 1);
    t.append("x", "live").unwrap();
    assert_eq!(rx.recv().unwrap().unwrap().value_str(), Some("live"));
    wait_parked(&clock, 1);
    clock.advance(Duration::from_secs(10));
    let second = h.join().unwrap();
    assert!(second.is_none());
}

#[test]
fn payloads_are_shared_not_copied() {
    let topic = Topic::builder("t").build().unwrap();
    let big = Bytes::from(vec![7u8; 1 << 16]);
    topic.append_unkeyed(big.clone()).unwrap();
    let r = topic.read(0, 0, 1).unwrap().remove(0);
    assert_eq!(r.value.as_ptr(), big.as_ptr());
}

#[test]
fn clock_is_used_for_stats_and_clock_accessor() {
    let (topic, clock) = manual_topic("t", 1);
    assert_eq!(topic.clock().unix_millis(), clock.unix_millis());
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let t2 = Topic::builder("t2").shared_clock(shared).build().unwrap();
    t2.append("k", "v").unwrap();
    assert_eq!(t2.read(0, 0, 1).unwrap()[0].timestamp, clock.unix_millis());
    let s = topic.stats();
    assert_eq!(s.partition_stats.len(), 1);
    assert!(s.to_string().contains("records=0"));
}

#[test]
fn copying_appends_share_chunks_and_keep_every_payload_intact() {
    let topic = Topic::builder("t").partitions(3).build().unwrap();
    let sub = topic.subscribe("k1*").unwrap();
    let mut expected = Vec::new();
    // Enough data to cross many 64 KiB chunks, with a few payloads too big for a chunk.
    for i in 0..3000u32 {
        let len = if i % 500 == 0 {
            20_000
        } else {
            (i % 97) as usize
        };
        let value: Vec<u8> = (0..len).map(|j| (i as usize + j) as u8).collect();
        let key = format!("k{}", i % 11);
        let id = if i % 2 == 0 {
            topic.append_copy(Some(key.as_bytes()), &value).unwrap()
        } else {
            topic
                .append_batch_copy([(Some(key.as_bytes()), &value[..]), (None, &b"x"[..])])
                .unwrap()[0]
        };
        expected.push((id, key, value));
    }
    for (id, key, value) in &expected {
        let r = &topic.read(id.partition, id.offset, 1).unwrap()[0];
        assert_eq!(r.key_str(), Some(key.as_str()));
        assert_eq!(&r.value[..], &value[..]);
    }
    assert!(sub.received() + sub.missed() > 0);
    assert!(
        sub.drain()
            .iter()
            .all(|r| r.key_str().unwrap().starts_with("k1"))
    );
    // Dropping the topic frees every chunk; records read earlier stay valid on their own.
    let kept = topic
        .read(expected[10].0.partition, expected[10].0.offset, 1)
        .unwrap();
    drop(topic);
    assert_eq!(&kept[0].value[..], &expected[10].2[..]);
}
