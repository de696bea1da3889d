//! Lookups by timestamp (Kafka's `offsetsForTimes`) and seeking by time: topic, consumers, groups,
//! retention, compaction, durable reopen, and a property test against a brute-force model.

use std::time::Duration;

use ember_core::{Clock, ManualClock};
use ember_stream::{AutoOffsetReset, Error, Message, OffsetAndTimestamp, Retention, Start, Topic};
use proptest::prelude::*;

use crate::support::{manual_topic, trim_before};

fn at(offset: u64, timestamp: u64) -> Option<OffsetAndTimestamp> {
    Some(OffsetAndTimestamp { offset, timestamp })
}

/// The first retained record of `partition` whose timestamp is `>= target`, by reading everything.
fn brute(topic: &Topic, partition: u32, target: u64) -> Option<OffsetAndTimestamp> {
    let (earliest, _) = topic.offsets(partition).unwrap();
    topic
        .read(partition, earliest, usize::MAX)
        .unwrap()
        .iter()
        .find(|r| r.timestamp >= target)
        .map(|r| OffsetAndTimestamp {
            offset: r.offset,
            timestamp: r.timestamp,
        })
}

fn send_at(topic: &Topic, partition: u32, ts: u64) -> u64 {
    topic
        .send(
            Message::new(format!("at {ts}"))
                .partition(partition)
                .timestamp(ts),
        )
        .unwrap()
        .offset
}

#[test]
fn append_time_boundaries_before_exact_between_and_after() {
    let (topic, clock) = manual_topic("t", 2);
    let t0 = clock.unix_millis();
    // 1 000 records on partition 0, 10 ms apart (append time from the clock), crossing many leaves.
    for _ in 0..1_000 {
        topic.append_copy(Some(b"k"), b"v").unwrap();
        clock.advance(Duration::from_millis(10));
    }
    let p = topic.partition_for(b"k");
    let other = 1 - p;
    assert_eq!(topic.offset_for_time(p, 0).unwrap(), at(0, t0));
    assert_eq!(topic.offset_for_time(p, t0 - 1).unwrap(), at(0, t0));
    assert_eq!(topic.offset_for_time(p, t0).unwrap(), at(0, t0));
    assert_eq!(topic.offset_for_time(p, t0 + 1).unwrap(), at(1, t0 + 10));
    assert_eq!(
        topic.offset_for_time(p, t0 + 5_000).unwrap(),
        at(500, t0 + 5_000)
    );
    assert_eq!(
        topic.offset_for_time(p, t0 + 5_001).unwrap(),
        at(501, t0 + 5_010)
    );
    assert_eq!(
        topic.offset_for_time(p, t0 + 9_990).unwrap(),
        at(999, t0 + 9_990)
    );
    assert_eq!(topic.offset_for_time(p, t0 + 9_991).unwrap(), None);
    assert_eq!(topic.offset_for_time(p, u64::MAX).unwrap(), None);
    // Empty partition.
    assert_eq!(topic.offset_for_time(other, 0).unwrap(), None);
    assert_eq!(topic.offset_for_time(other, t0).unwrap(), None);
    // Every target agrees with a full read.
    for target in (t0 - 20..t0 + 10_020).step_by(7) {
        assert_eq!(
            topic.offset_for_time(p, target).unwrap(),
            brute(&topic, p, target)
        );
    }
}

#[test]
fn answers_are_plain_shareable_values() {
    fn send_sync<T: Send + Sync + Copy + Ord + std::hash::Hash + std::fmt::Debug>() {}
    send_sync::<OffsetAndTimestamp>();
    assert!(at(1, 5) < at(2, 0), "ordered by offset first");
}

#[test]
fn unknown_partition_is_an_error() {
    let (topic, _clock) = manual_topic("t", 2);
    assert!(matches!(
        topic.offset_for_time(2, 0),
        Err(Error::UnknownPartition {
            partition: 2,
            partitions: 2
        })
    ));
    assert!(matches!(
        topic.offsets_for_times([(0, 0), (9, 0)]),
        Err(Error::UnknownPartition { partition: 9, .. })
    ));
    let mut c = topic.partition_consumer(0, Start::Earliest).unwrap();
    assert!(matches!(
        c.seek_to_time(1, 0),
        Err(Error::UnknownPartition { partition: 1, .. })
    ));
    assert!(matches!(
        topic.partition_consumer(5, Start::Time(0)),
        Err(Error::UnknownPartition { partition: 5, .. })
    ));
}

#[test]
fn producer_timestamps_going_backwards_give_the_earliest_offset_at_or_after() {
    let (topic, _clock) = manual_topic("t", 1);
    let times = [10, 30, 20, 40, 40, 5, 50, 35, 50];
    for ts in times {
        send_at(&topic, 0, ts);
    }
    let offset = |t| topic.offset_for_time(0, t).unwrap().map(|o| o.offset);
    assert_eq!(offset(0), Some(0));
    assert_eq!(offset(10), Some(0));
    assert_eq!(offset(11), Some(1)); // 30, though offset 2 holds 20 (closer): offset order wins
    assert_eq!(offset(20), Some(1));
    assert_eq!(offset(30), Some(1));
    assert_eq!(offset(31), Some(3)); // 40; the later 35 at offset 7 does not come first
    assert_eq!(offset(40), Some(3)); // equal timestamps: the earliest offset
    assert_eq!(offset(41), Some(6));
    assert_eq!(offset(50), Some(6));
    assert_eq!(offset(51), None);
    // Reading from the answer never skips a record at or after the target.
    for target in 0..=52 {
        let from = offset(target).unwrap_or(times.len() as u64);
        let skipped = topic.read(0, 0, from as usize).unwrap();
        assert!(
            skipped.iter().all(|r| r.timestamp < target),
            "target {target}"
        );
    }
}

#[test]
fn equal_timestamps_earliest_offset_wins_across_leaves() {
    let (topic, _clock) = manual_topic("t", 1);
    // 300 records with the same timestamp, then 300 with a later one: spans several index leaves.
    for i in 0..600u64 {
        send_at(&topic, 0, if i < 300 { 1_000 } else { 2_000 });
    }
    assert_eq!(topic.offset_for_time(0, 1_000).unwrap(), at(0, 1_000));
    assert_eq!(topic.offset_for_time(0, 1_001).unwrap(), at(300, 2_000));
    assert_eq!(topic.offset_for_time(0, 2_000).unwrap(), at(300, 2_000));
    trim_before(&topic, 0, 350);
    assert_eq!(topic.offset_for_time(0, 1_000).unwrap(), at(350, 2_000));
    assert_eq!(topic.offset_for_time(0, 2_000).unwrap(), at(350, 2_000));
}

#[test]
fn trimmed_records_are_never_returned() {
    let clock = ManualClock::new();
    let topic = Topic::builder("t")
        .clock(clock.clone())
        .retention(Retention::default().max_records(100))
        .build()
        .unwrap();
    // The first record has the largest timestamp of all; it is trimmed.
    send_at(&topic, 0, 1_000_000);
    for i in 1..1_000u64 {
        send_at(&topic, 0, i);
    }
    assert_eq!(topic.offsets(0).unwrap(), (900, 1_000));
    // Older than everything retained: the log start.
    assert_eq!(topic.offset_for_time(0, 0).unwrap(), at(900, 900));
    assert_eq!(topic.offset_for_time(0, 1).unwrap(), at(900, 900));
    assert_eq!(topic.offset_for_time(0, 950).unwrap(), at(950, 950));
    // Only the trimmed record was that late.
    assert_eq!(topic.offset_for_time(0, 5_000).unwrap(), None);
    // Trimming everything leaves nothing to find.
    trim_before(&topic, 0, 1_000);
    assert_eq!(topic.offset_for_time(0, 0).unwrap(), None);
    // And new records are found again.
    send_at(&topic, 0, 7);
    assert_eq!(topic.offset_for_time(0, 0).unwrap(), at(1_000, 7));
}

#[test]
fn age_retention_is_applied_before_a_lookup() {
    let clock = ManualClock::new();
    let topic = Topic::builder("t")
        .clock(clock.clone())
        .retention(Retention::default().max_age(Duration::from_secs(60)))
        .build()
        .unwrap();
    let t0 = clock.unix_millis();
    for _ in 0..10 {
        topic.append_unkeyed("x").unwrap();
        clock.advance(Duration::from_secs(10));
    }
    // Now t0 + 100 s: records appended before t0 + 40 s are past their age.
    assert_eq!(topic.offset_for_time(0, t0).unwrap(), at(4, t0 + 40_000));
    assert_eq!(topic.offsets(0).unwrap(), (4, 10));
    clock.advance(Duration::from_secs(3600));
    assert_eq!(topic.offset_for_time(0, t0).unwrap(), None);
}

#[test]
fn compacted_records_are_never_returned() {
    let (topic, _clock) = manual_topic("t", 1);
    for (i, key) in ["a", "b", "a", "c", "b", "a"].iter().enumerate() {
        topic
            .send(Message::keyed(*key, "v").timestamp(100 * (i as u64 + 1)))
            .unwrap();
    }
    topic.compact().unwrap();
    // Survivors: offset 3 (c, 400), 4 (b, 500), 5 (a, 600).
    assert_eq!(topic.offset_for_time(0, 0).unwrap(), at(3, 400));
    assert_eq!(topic.offset_for_time(0, 150).unwrap(), at(3, 400));
    assert_eq!(topic.offset_for_time(0, 450).unwrap(), at(4, 500));
    assert_eq!(topic.offset_for_time(0, 601).unwrap(), None);
    topic.send(Message::keyed("d", "v").timestamp(50)).unwrap();
    assert_eq!(topic.offset_for_time(0, 0).unwrap(), at(3, 400));
    assert_eq!(topic.offset_for_time(0, 601).unwrap(), None);
}

#[test]
fn offsets_for_times_answers_each_partition() {
    let (topic, _clock) = manual_topic("t", 3);
    for (p, ts) in [(0, 100), (0, 200), (1, 50), (1, 300)] {
        send_at(&topic, p, ts);
    }
    let found = topic
        .offsets_for_times([(0, 150), (1, 150), (2, 0), (0, 250)])
        .unwrap();
    assert_eq!(found.len(), 3);
    assert_eq!(found[&0], None); // the last timestamp given for partition 0 counts
    assert_eq!(found[&1], at(1, 300));
    assert_eq!(found[&2], None);
}

/// A 2-partition topic on a manual clock with records "0".."19" appended one second apart, alternating
/// between the partitions; returns it with the time of the first append.
fn twenty_records_a_second_apart() -> (Topic, u64) {
    let (topic, clock) = manual_topic("t", 2);
    let t0 = clock.unix_millis();
    for i in 0..20u64 {
        topic
            .send(Message::new(format!("{i}")).partition((i % 2) as u32))
            .unwrap();
        clock.advance(Duration::from_secs(1));
    }
    (topic, t0)
}

#[test]
fn consumers_start_and_seek_by_time() {
    let (topic, t0) = twenty_records_a_second_apart();
    // Records 10.. were appended at t0 + 10 s and later: offsets 5.. of each partition.
    let mut c = topic.consumer(Start::Time(t0 + 10_000));
    assert_eq!(c.position(0), Some(5));
    assert_eq!(c.position(1), Some(5));
    let mut got: Vec<u64> = c
        .by_ref()
        .map(|r| r.unwrap().value_str().unwrap().parse().unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, (10..20).collect::<Vec<u64>>());
    // Later than everything: the end, then what comes next.
    let mut tail = topic.partition_consumer(1, Start::Time(u64::MAX)).unwrap();
    assert_eq!(tail.position(1), Some(10));
    // Seeking back in time replays; seeking into the future goes to the end.
    assert_eq!(c.seek_to_time(0, t0).unwrap(), 0);
    assert_eq!(c.seek_to_time(1, t0 + 19_001).unwrap(), 10);
    let replay: Vec<_> = c.by_ref().map(|r| r.unwrap()).collect();
    assert_eq!(replay.len(), 10);
    assert!(replay.iter().all(|r| r.partition == 0));
    topic.send(Message::new("late").partition(1)).unwrap();
    assert_eq!(
        tail.next_timeout(Duration::ZERO)
            .unwrap()
            .unwrap()
            .value_str(),
        Some("late")
    );
}

#[test]
fn work_groups_start_by_time() {
    let (topic, _clock) = manual_topic("t", 1);
    for ts in [100, 300, 200, 400] {
        send_at(&topic, 0, ts);
    }
    let group = topic
        .work_group("w")
        .start(Start::Time(250))
        .build()
        .unwrap();
    let got = group.read("c", 10).unwrap();
    assert_eq!(
        got.iter().map(|d| d.record.offset).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    // XGROUP SETID by time: back to the first record at or after 200 (offset 1, timestamp 300).
    assert_eq!(group.set_cursor_to_time(0, 200).unwrap(), 1);
    let again = group.read("c", 10).unwrap();
    assert_eq!(
        again.iter().map(|d| d.record.offset).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(group.set_cursor_to_time(0, 401).unwrap(), 4);
    assert!(group.read("c", 10).unwrap().is_empty());
    assert!(matches!(
        group.set_cursor_to_time(3, 0),
        Err(Error::UnknownPartition { partition: 3, .. })
    ));
}

#[test]
fn groups_reset_and_seek_by_time() {
    let (topic, t0) = twenty_records_a_second_apart();
    let group = topic
        .consumer_group("g")
        .auto_offset_reset(AutoOffsetReset::None)
        .build()
        .unwrap();
    // Admin reset: offset 3 in both partitions (records 6 and 7), the end when nothing is that late.
    assert_eq!(group.reset_offsets_to_time(t0 + 6_000).unwrap(), vec![3, 3]);
    assert_eq!(group.committed(1).unwrap(), Some(3));
    assert_eq!(
        group.reset_offsets_to_time(t0 + 60_000).unwrap(),
        vec![10, 10]
    );
    assert_eq!(group.reset_offsets_to_time(0).unwrap(), vec![0, 0]);
    let mut c = group.join("c").unwrap();
    assert_eq!(c.poll(100, Duration::ZERO).unwrap().len(), 20);
    // A member seeks its own partitions; not someone else's.
    assert_eq!(c.seek_to_time(1, t0 + 16_000).unwrap(), 8);
    let again = c.poll(100, Duration::ZERO).unwrap();
    assert_eq!(
        again
            .iter()
            .map(|r| (r.partition, r.offset))
            .collect::<Vec<_>>(),
        [(1, 8), (1, 9)]
    );
    c.commit().unwrap();
    assert_eq!(group.committed(1).unwrap(), Some(10));
    let mut d = group.join("d").unwrap();
    d.heartbeat().unwrap();
    c.heartbeat().unwrap();
    let theirs = d.assignment()[0];
    assert!(matches!(
        c.seek_to_time(theirs, t0),
        Err(Error::NotAssigned { .. })
    ));
    assert!(matches!(
        c.seek_to_time(7, t0),
        Err(Error::NotAssigned { partition: 7, .. })
    ));
}

#[test]
fn auto_offset_reset_by_duration() {
    let (topic, clock) = manual_topic("t", 1);
    for i in 0..10u64 {
        topic.append_unkeyed(format!("{i}")).unwrap();
        clock.advance(Duration::from_secs(60));
    }
    // Now 10 minutes after the first record: the last 3 minutes hold records 7, 8, 9.
    let recent = AutoOffsetReset::ByDuration(Duration::from_secs(180));
    let group = topic
        .consumer_group("g")
        .auto_offset_reset(recent)
        .build()
        .unwrap();
    let mut c = group.join("c").unwrap();
    let got = c.poll(100, Duration::ZERO).unwrap();
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), [7, 8, 9]);
    c.commit().unwrap();
    drop(c);
    // Nothing that recent: the end (Kafka falls back to latest).
    clock.advance(Duration::from_secs(3600));
    let quiet = topic
        .consumer_group("quiet")
        .auto_offset_reset(recent)
        .build()
        .unwrap();
    let mut q = quiet.join("q").unwrap();
    assert!(q.poll(100, Duration::ZERO).unwrap().is_empty());
    assert_eq!(q.position(0), Some(10));
    // A committed offset trimmed by retention resets by duration too.
    topic.append_unkeyed("10").unwrap();
    clock.advance(Duration::from_secs(60));
    topic.append_unkeyed("11").unwrap();
    group.reset_offset(0, 2).unwrap();
    trim_before(&topic, 0, 5);
    let mut c = group.join("c").unwrap();
    let got = c.poll(100, Duration::ZERO).unwrap();
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), [10, 11]);
    // ByDuration is part of the group's configuration.
    assert!(matches!(
        topic
            .consumer_group("g")
            .auto_offset_reset(AutoOffsetReset::ByDuration(Duration::from_secs(1)))
            .build(),
        Err(Error::GroupConflict { .. })
    ));
}

#[cfg(feature = "durable")]
#[test]
fn durable_topics_find_by_time_after_reopen() {
    use ember_log::FsyncPolicy;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let open = || {
        Topic::builder("events")
            .partitions(2)
            .clock(clock.clone())
            .durable(dir.path(), FsyncPolicy::Never)
            .build()
            .unwrap()
    };
    let topic = open();
    let t0 = clock.unix_millis();
    // Partition 0: append time, 1 000 records 5 ms apart. Partition 1: event times going backwards.
    for _ in 0..1_000 {
        topic.append_unkeyed_to(0);
        clock.advance(Duration::from_millis(5));
    }
    for ts in [500u64, 900, 700, 1_000, 1_000, 100, 1_200] {
        send_at(&topic, 1, ts);
    }
    let targets_0: Vec<u64> = (t0 - 3..t0 + 5_010).step_by(13).collect();
    let targets_1: Vec<u64> = (0..1_300).step_by(50).collect();
    let answers = |topic: &Topic| {
        let a: Vec<_> = targets_0
            .iter()
            .map(|&t| topic.offset_for_time(0, t).unwrap())
            .collect();
        let b: Vec<_> = targets_1
            .iter()
            .map(|&t| topic.offset_for_time(1, t).unwrap())
            .collect();
        (a, b)
    };
    let before = answers(&topic);
    for (t, got) in targets_0.iter().zip(&before.0) {
        assert_eq!(*got, brute(&topic, 0, *t));
    }
    for (t, got) in targets_1.iter().zip(&before.1) {
        assert_eq!(*got, brute(&topic, 1, *t));
    }
    assert_eq!(topic.offset_for_time(1, 800).unwrap(), at(1, 900));
    drop(topic);

    let topic = open();
    assert_eq!(answers(&topic), before, "the index is rebuilt from the log");
    // Trim, reopen: trimmed records stay invisible to lookups.
    trim_before(&topic, 0, 600);
    assert_eq!(topic.offset_for_time(0, t0).unwrap(), at(600, t0 + 3_000));
    drop(topic);
    let topic = open();
    assert_eq!(topic.offset_for_time(0, t0).unwrap(), at(600, t0 + 3_000));
    assert_eq!(
        topic.offset_for_time(0, t0 + 4_000).unwrap(),
        at(800, t0 + 4_000)
    );
    // Appends after the reopen are indexed too, and groups reset by time.
    let now = clock.unix_millis();
    send_at(&topic, 0, now + 1);
    assert_eq!(topic.offset_for_time(0, now).unwrap(), at(1_000, now + 1));
    let group = topic.consumer_group("g").build().unwrap();
    assert_eq!(group.reset_offsets_to_time(1_000).unwrap(), vec![600, 3]);
    drop((group, topic));
    let topic = open();
    let group = topic.consumer_group("g").build().unwrap();
    assert_eq!(group.committed(1).unwrap(), Some(3));
}

/// `append_unkeyed` to an explicit partition, with the topic's clock as the timestamp.
trait AppendTo {
    fn append_unkeyed_to(&self, partition: u32);
}

impl AppendTo for Topic {
    fn append_unkeyed_to(&self, partition: u32) {
        self.send(Message::new("x").partition(partition)).unwrap();
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Append with the clock's time.
    Append,
    /// Append with a producer timestamp this far from the clock's time (may go backwards).
    Event(i16),
    Advance(u16),
    /// Set the clock back (append timestamps go backwards too).
    Rewind(u16),
    Trim(u8),
    Compact,
    Lookup(i32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Append),
        4 => any::<i16>().prop_map(Op::Event),
        3 => (0u16..300).prop_map(Op::Advance),
        1 => (0u16..300).prop_map(Op::Rewind),
        1 => (0u8..40).prop_map(Op::Trim),
        1 => Just(Op::Compact),
        4 => (-500i32..40_000).prop_map(Op::Lookup),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::support::cases(48)))]

    /// Against a brute-force model: the first retained record (by reading them all) with a timestamp at
    /// or after the target, under appends, event times going backwards, a clock set back, count
    /// retention, explicit trims and compaction.
    #[test]
    fn lookups_match_a_brute_force_scan(ops in prop::collection::vec(op(), 1..400)) {
        let clock = ManualClock::with_unix_millis(10_000);
        let topic = Topic::builder("t")
            .clock(clock.clone())
            .retention(Retention::default().max_records(300))
            .build()
            .unwrap();
        let mut key = 0u32;
        for op in ops {
            match op {
                Op::Append => {
                    key += 1;
                    topic.append(format!("k{}", key % 17), "v").unwrap();
                }
                Op::Event(delta) => {
                    key += 1;
                    let ts = clock.unix_millis().saturating_add_signed(i64::from(delta));
                    topic.send(Message::keyed(format!("k{}", key % 17), "v").timestamp(ts)).unwrap();
                }
                Op::Advance(ms) => clock.advance(Duration::from_millis(u64::from(ms))),
                Op::Rewind(ms) => clock.set_unix_millis(clock.unix_millis().saturating_sub(u64::from(ms))),
                Op::Trim(n) => {
                    let (earliest, _) = topic.offsets(0).unwrap();
                    trim_before(&topic, 0, earliest + u64::from(n));
                }
                Op::Compact => {
                    topic.compact().unwrap();
                }
                Op::Lookup(delta) => {
                    let target = 10_000u64.saturating_add_signed(i64::from(delta));
                    prop_assert_eq!(topic.offset_for_time(0, target).unwrap(), brute(&topic, 0, target));
                    // The position a consumer seeks to: the answer, or the end.
                    let end = topic.offsets(0).unwrap().1;
                    let want = brute(&topic, 0, target).map_or(end, |o| o.offset);
                    let mut c = topic.partition_consumer(0, Start::Earliest).unwrap();
                    prop_assert_eq!(c.seek_to_time(0, target).unwrap(), want);
                }
            }
        }
        for target in [0, 9_000, 10_000, 20_000, 50_000, u64::MAX] {
            prop_assert_eq!(topic.offset_for_time(0, target).unwrap(), brute(&topic, 0, target));
        }
    }
}
