//! Property test: a topic (with count retention, trimming and a one-member consumer group) against a
//! sequential model made of plain vectors.

use std::time::Duration;

use ember_core::ManualClock;
use ember_core::partition::{HashPartitioner, Partitioner};
use ember_stream::storage::TrimLimits;
use ember_stream::{AutoOffsetReset, Error, GroupConsumer, Message, Retention, Topic};
use proptest::prelude::*;

const PARTITIONS: u32 = 3;
const MAX_RECORDS: u64 = 12;

#[derive(Debug, Clone)]
enum Op {
    Append(Option<u8>, u32),
    Batch(Vec<(Option<u8>, u32)>),
    Read(u32, u64, usize),
    Trim(u32, u64),
    Poll(usize),
    Commit,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    let key = proptest::option::of(0u8..6);
    prop_oneof![
        4 => (key.clone(), any::<u32>()).prop_map(|(k, v)| Op::Append(k, v)),
        2 => proptest::collection::vec((key, any::<u32>()), 0..6).prop_map(Op::Batch),
        // Legal but rare: a partition one past the last (a typed error), offset u64::MAX.
        3 => (partition(), offset(), 0usize..8).prop_map(|(p, f, m)| Op::Read(p, f, m)),
        1 => (partition(), offset()).prop_map(|(p, o)| Op::Trim(p, o)),
        3 => (0usize..10).prop_map(Op::Poll),
        2 => Just(Op::Commit),
        1 => Just(Op::Crash),
    ]
}

fn partition() -> impl Strategy<Value = u32> {
    prop_oneof![12 => 0..PARTITIONS, 1 => Just(PARTITIONS)]
}

fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![12 => 0u64..40, 1 => Just(u64::MAX)]
}

#[derive(Default, Clone)]
struct ModelPartition {
    /// (offset, key, value)
    records: Vec<(u64, Option<u8>, u32)>,
    next: u64,
}

impl ModelPartition {
    fn earliest(&self) -> u64 {
        self.records.first().map_or(self.next, |r| r.0)
    }
    fn push(&mut self, key: Option<u8>, value: u32) -> u64 {
        let offset = self.next;
        self.records.push((offset, key, value));
        self.next += 1;
        offset
    }
    fn enforce(&mut self) {
        let excess = self.records.len().saturating_sub(MAX_RECORDS as usize);
        self.records.drain(..excess);
    }
}

struct Model {
    parts: Vec<ModelPartition>,
    unkeyed: u32,
    positions: Vec<Option<u64>>,
    committed: Vec<Option<u64>>,
}

impl Model {
    fn place(&mut self, key: Option<u8>, batch_unkeyed: &mut Option<u32>) -> u32 {
        match key {
            Some(k) => HashPartitioner::kafka().partition(&[k], PARTITIONS),
            None => *batch_unkeyed.get_or_insert_with(|| {
                let p = self.unkeyed % PARTITIONS;
                self.unkeyed += 1;
                p
            }),
        }
    }

    /// Where the member reads `p` from: its position, else committed, else earliest; trimmed → earliest.
    fn position(&self, p: usize) -> u64 {
        let part = &self.parts[p];
        let pos = self.positions[p]
            .or(self.committed[p])
            .unwrap_or(part.earliest());
        if pos < part.earliest() {
            part.earliest()
        } else {
            pos
        }
    }
}

fn msg(key: Option<u8>, value: u32) -> Message {
    let m = Message::new(value.to_be_bytes().to_vec());
    match key {
        Some(k) => m.key(vec![k]),
        None => m,
    }
}

fn decode(r: &ember_stream::Record) -> (u64, Option<u8>, u32) {
    let v = u32::from_be_bytes(r.value[..4].try_into().unwrap());
    (r.offset, r.key.as_ref().map(|k| k[0]), v)
}

fn run(ops: Vec<Op>) {
    let clock = ManualClock::new();
    let topic = Topic::builder("model")
        .partitions(PARTITIONS)
        .retention(Retention::default().max_records(MAX_RECORDS))
        .clock(clock.clone())
        .build()
        .unwrap();
    let group = topic
        .consumer_group("g")
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .build()
        .unwrap();
    let mut member: GroupConsumer = group.join("m").unwrap();
    let mut synced = false;
    let mut model = Model {
        parts: vec![ModelPartition::default(); PARTITIONS as usize],
        unkeyed: 0,
        positions: vec![None; PARTITIONS as usize],
        committed: vec![None; PARTITIONS as usize],
    };
    for op in ops {
        match op {
            Op::Append(key, value) => {
                let p = model.place(key, &mut None);
                let offset = model.parts[p as usize].push(key, value);
                model.parts[p as usize].enforce();
                let id = if value % 2 == 0 {
                    topic.send(msg(key, value)).unwrap()
                } else {
                    let bytes = value.to_be_bytes();
                    topic
                        .append_copy(key.as_ref().map(std::slice::from_ref), &bytes)
                        .unwrap()
                };
                assert_eq!((id.partition, id.offset), (p, offset));
            }
            Op::Batch(items) => {
                let mut unkeyed = None;
                let mut expected = Vec::new();
                for &(key, value) in &items {
                    let p = model.place(key, &mut unkeyed);
                    expected.push((p, model.parts[p as usize].push(key, value)));
                }
                for part in &mut model.parts {
                    part.enforce();
                }
                let ids = if items.first().is_some_and(|(_, v)| v % 2 == 0) {
                    topic
                        .append_batch(items.iter().map(|&(k, v)| msg(k, v)))
                        .unwrap()
                } else {
                    let encoded: Vec<(Option<[u8; 1]>, [u8; 4])> = items
                        .iter()
                        .map(|&(k, v)| (k.map(|k| [k]), v.to_be_bytes()))
                        .collect();
                    topic
                        .append_batch_copy(
                            encoded
                                .iter()
                                .map(|(k, v)| (k.as_ref().map(|k| &k[..]), &v[..])),
                        )
                        .unwrap()
                };
                let got: Vec<(u32, u64)> = ids.iter().map(|id| (id.partition, id.offset)).collect();
                assert_eq!(got, expected);
            }
            Op::Read(p, from, max) if p == PARTITIONS => {
                let result = topic.read(p, from, max);
                assert!(
                    matches!(
                        result,
                        Err(Error::UnknownPartition { partition, partitions })
                            if partition == PARTITIONS && partitions == PARTITIONS
                    ),
                    "{result:?}"
                );
            }
            Op::Trim(p, min_offset) if p == PARTITIONS => {
                let limits = TrimLimits {
                    min_offset: Some(min_offset),
                    ..TrimLimits::default()
                };
                let result = topic.trim(p, &limits);
                assert!(
                    matches!(result, Err(Error::UnknownPartition { .. })),
                    "{result:?}"
                );
            }
            Op::Read(p, from, max) => {
                let part = &model.parts[p as usize];
                let result = topic.read(p, from, max);
                if from < part.earliest() || from > part.next {
                    match result {
                        Err(Error::OffsetOutOfRange {
                            earliest, latest, ..
                        }) => {
                            assert_eq!((earliest, latest), (part.earliest(), part.next));
                        }
                        other => panic!("expected out of range, got {other:?}"),
                    }
                } else {
                    let expected: Vec<_> = part
                        .records
                        .iter()
                        .filter(|r| r.0 >= from)
                        .take(max)
                        .copied()
                        .collect();
                    let got: Vec<_> = result.unwrap().iter().map(decode).collect();
                    assert_eq!(got, expected);
                }
            }
            Op::Trim(p, min_offset) => {
                let part = &mut model.parts[p as usize];
                let before = part.records.len();
                part.records.retain(|r| r.0 >= min_offset);
                let t = topic
                    .trim(
                        p,
                        &TrimLimits {
                            min_offset: Some(min_offset),
                            ..TrimLimits::default()
                        },
                    )
                    .unwrap();
                assert_eq!(t.records as usize, before - part.records.len());
            }
            Op::Poll(max) => {
                let starts: Vec<u64> = (0..PARTITIONS as usize)
                    .map(|p| model.position(p))
                    .collect();
                let got = member.poll(max, Duration::ZERO).unwrap();
                synced = true;
                assert!(got.len() <= max);
                let mut next = starts.clone();
                for r in &got {
                    let p = r.partition as usize;
                    let expected = model.parts[p]
                        .records
                        .iter()
                        .find(|m| m.0 >= next[p])
                        .copied()
                        .expect("the topic returned a record the model does not have");
                    assert_eq!(decode(r), expected);
                    next[p] = expected.0 + 1;
                }
                model.positions = next.iter().map(|&n| Some(n)).collect();
                if got.is_empty() && max > 0 {
                    for (p, part) in model.parts.iter().enumerate() {
                        assert!(
                            part.next <= starts[p],
                            "poll returned nothing but partition {p} has more"
                        );
                    }
                }
            }
            Op::Commit => match member.commit() {
                Ok(()) => {
                    assert!(synced);
                    for p in 0..PARTITIONS as usize {
                        model.committed[p] = Some(model.position(p));
                    }
                    // The group stores the member's raw positions; clamped to what is retained they
                    // are where the model says the group resumes.
                    for p in 0..PARTITIONS {
                        let earliest = model.parts[p as usize].earliest();
                        assert_eq!(
                            group.committed(p).unwrap().map(|c| c.max(earliest)),
                            model.committed[p as usize].map(|c| c.max(earliest))
                        );
                    }
                }
                Err(Error::CommitFailed { .. }) => assert!(!synced),
                Err(e) => panic!("{e}"),
            },
            Op::Crash => {
                // Leave without committing, then a new member takes over from the committed offsets.
                member.leave();
                member = group.join("m").unwrap();
                member.heartbeat().unwrap();
                synced = true;
                model.positions = vec![None; PARTITIONS as usize];
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::support::cases(96)))]
    #[test]
    fn topic_matches_sequential_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops);
    }
}
