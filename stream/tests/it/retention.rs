//! Retention by age, bytes and count; trimming; compaction; offsets never reused.

use std::time::Duration;

use ember_core::ManualClock;
use ember_stream::storage::TrimLimits;
use ember_stream::{Error, Message, Retention, Start, Topic};

use crate::support::trim_before;

fn topic_with(retention: Retention, clock: &ManualClock) -> Topic {
    Topic::builder("t")
        .partitions(1)
        .retention(retention)
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[test]
fn retention_by_age_with_manual_clock() {
    let clock = ManualClock::new();
    let topic = topic_with(
        Retention::default().max_age(Duration::from_secs(60)),
        &clock,
    );
    for i in 0..3 {
        topic.append_unkeyed(format!("old {i}")).unwrap();
    }
    clock.advance(Duration::from_secs(30));
    // Producer-set event time far in the past does not get a record trimmed on arrival.
    topic.send(Message::new("mid").timestamp(0)).unwrap();
    clock.advance(Duration::from_secs(30));
    // The first three are exactly 60 s old: still kept (older than the limit is removed).
    assert_eq!(topic.offsets(0).unwrap(), (0, 4));
    clock.advance(Duration::from_millis(1));
    // Nobody appended: the read itself applies age retention.
    assert!(matches!(
        topic.read(0, 0, 10),
        Err(Error::OffsetOutOfRange {
            offset: 0,
            earliest: 3,
            latest: 4,
            ..
        })
    ));
    assert_eq!(topic.read(0, 3, 10).unwrap()[0].value_str(), Some("mid"));
    clock.advance(Duration::from_secs(31));
    let s = topic.partition_stats(0).unwrap();
    assert_eq!((s.records, s.earliest, s.latest, s.trimmed), (0, 4, 4, 4));
    // Offsets are never reused after the partition emptied.
    assert_eq!(topic.append_unkeyed("new").unwrap().offset, 4);
}

#[test]
fn retention_by_count_is_maxlen() {
    let clock = ManualClock::new();
    let topic = topic_with(Retention::default().max_records(3), &clock);
    for i in 0..10 {
        topic.append_unkeyed(format!("{i}")).unwrap();
        let (earliest, latest) = topic.offsets(0).unwrap();
        assert!(latest - earliest <= 3);
    }
    let kept: Vec<u64> = topic
        .read(0, 7, 10)
        .unwrap()
        .iter()
        .map(|r| r.offset)
        .collect();
    assert_eq!(kept, vec![7, 8, 9]);
    // A batch larger than the limit keeps its newest records.
    topic
        .append_batch((0..5).map(|i| Message::new(format!("b{i}"))))
        .unwrap();
    let kept: Vec<String> = topic
        .read(0, 12, 10)
        .unwrap()
        .iter()
        .map(|r| r.value_str().unwrap().to_owned())
        .collect();
    assert_eq!(kept, vec!["b2", "b3", "b4"]);
    assert_eq!(topic.stats().trimmed, 12);
}

#[test]
fn retention_by_bytes() {
    let clock = ManualClock::new();
    let topic = topic_with(Retention::default().max_bytes(100), &clock);
    for _ in 0..10 {
        topic.append("key", vec![0u8; 17]).unwrap(); // 20 bytes each
    }
    let s = topic.partition_stats(0).unwrap();
    assert_eq!((s.records, s.bytes, s.earliest), (5, 100, 5));
    topic.append("key", vec![0u8; 1]).unwrap();
    let s = topic.partition_stats(0).unwrap();
    assert!(s.bytes <= 100);
    assert_eq!(s.earliest, 6);
}

#[test]
fn xtrim_maxlen_and_minid_and_enforce() {
    let clock = ManualClock::new();
    let topic = topic_with(Retention::default(), &clock);
    for i in 0..20 {
        topic.append_unkeyed(format!("{i}")).unwrap();
    }
    let t = topic
        .trim(
            0,
            &TrimLimits {
                max_records: Some(15),
                ..TrimLimits::default()
            },
        )
        .unwrap();
    assert_eq!(t.records, 5);
    trim_before(&topic, 0, 8);
    assert_eq!(topic.offsets(0).unwrap(), (8, 20));
    // enforce_retention with no limits removes nothing.
    assert_eq!(topic.enforce_retention().unwrap().records, 0);

    let aged = topic_with(Retention::default().max_age(Duration::from_secs(1)), &clock);
    aged.append_unkeyed("x").unwrap();
    clock.advance(Duration::from_secs(2));
    assert_eq!(aged.enforce_retention().unwrap().records, 1);
}

#[test]
fn consumer_skips_records_trimmed_before_it_read_them() {
    let clock = ManualClock::new();
    let topic = topic_with(Retention::default().max_records(5), &clock);
    let mut c = topic.consumer(Start::Earliest);
    for i in 0..12 {
        topic.append_unkeyed(format!("{i}")).unwrap();
    }
    let got: Vec<u64> = c.by_ref().map(|r| r.unwrap().offset).collect();
    assert_eq!(got, vec![7, 8, 9, 10, 11]);
    assert_eq!(c.skipped(), 7);
}

#[test]
fn compaction_keeps_latest_per_key() {
    let clock = ManualClock::new();
    let topic = topic_with(Retention::default(), &clock);
    for (k, v) in [
        ("a", "1"),
        ("b", "1"),
        ("a", "2"),
        ("c", "1"),
        ("b", "2"),
        ("a", "3"),
    ] {
        topic.append(k, v).unwrap();
    }
    topic.append_unkeyed("no key").unwrap();
    let t = topic.compact().unwrap();
    assert_eq!(t.records, 3);
    let rs = topic.read(0, 0, 100).unwrap();
    let kept: Vec<(u64, Option<&str>, &str)> = rs
        .iter()
        .map(|r| (r.offset, r.key_str(), r.value_str().unwrap()))
        .collect();
    assert_eq!(
        kept,
        vec![
            (3, Some("c"), "1"),
            (4, Some("b"), "2"),
            (5, Some("a"), "3"),
            (6, None, "no key")
        ]
    );
    // Reading from a compacted-away offset starts at the next record; offsets keep growing.
    assert_eq!(topic.read(0, 1, 1).unwrap()[0].offset, 3);
    assert_eq!(topic.append("a", "4").unwrap().offset, 7);
    assert_eq!(
        topic.offsets(0).unwrap(),
        (0, 8),
        "compaction does not move the log start"
    );
    assert_eq!(topic.read(0, 0, 1).unwrap()[0].offset, 3);
}
