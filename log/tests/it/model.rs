//! The log against a `Vec` model under random appends, rolls, reopens, reads and deletions.

use proptest::prelude::*;

use ember_log::{Error, FsyncPolicy, Log};

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<u8>),
    Batch(Vec<Vec<u8>>),
    Roll,
    Reopen,
    Read {
        from: u64,
        max: usize,
        max_bytes: usize,
    },
    DeleteBefore(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Op::Append),
        1 => prop::collection::vec(prop::collection::vec(any::<u8>(), 0..50), 0..8).prop_map(Op::Batch),
        1 => Just(Op::Roll),
        1 => Just(Op::Reopen),
        // Legal but rare: no records wanted, a byte limit (0 = none), offsets far past the end.
        3 => (
            prop_oneof![8 => 0u64..200, 1 => Just(u64::MAX)],
            prop_oneof![1 => Just(0usize), 8 => 1usize..20],
            prop_oneof![3 => Just(0usize), 1 => 1usize..400],
        )
            .prop_map(|(from, max, max_bytes)| Op::Read { from, max, max_bytes }),
        1 => prop_oneof![8 => 0u64..200, 1 => Just(u64::MAX)].prop_map(Op::DeleteBefore),
    ]
}

fn open(dir: &std::path::Path) -> Log {
    Log::builder(dir)
        .fsync(FsyncPolicy::Never)
        .segment_bytes(1024)
        .index_interval_bytes(100)
        .batch_bytes(150) // several batches per flush: reads land inside and across batches
        .write_buffer_bytes(400)
        .open()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::cases(40), ..ProptestConfig::default() })]
    #[test]
    fn log_matches_a_vec(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path());
        let mut model: Vec<Vec<u8>> = Vec::new();
        let mut start = 0u64;
        for op in ops {
            match op {
                Op::Append(p) => {
                    prop_assert_eq!(log.append(&p).unwrap(), model.len() as u64);
                    model.push(p);
                }
                Op::Batch(ps) => {
                    let r = log.append_batch(ps.iter().map(|p| &p[..])).unwrap();
                    prop_assert_eq!(r, model.len() as u64..(model.len() + ps.len()) as u64);
                    model.extend(ps);
                }
                Op::Roll => log.roll().unwrap(),
                Op::Reopen => {
                    drop(log);
                    log = open(dir.path());
                }
                Op::Read { from, max, max_bytes } => {
                    match log.read(from, max, max_bytes) {
                        Ok(recs) if max == 0 => prop_assert!(recs.is_empty()),
                        Ok(recs) => {
                            prop_assert!(from >= start);
                            if from < model.len() as u64 {
                                prop_assert!(!recs.is_empty());
                            }
                            // It stops after the record that reaches the byte limit, not before.
                            if max_bytes > 0 && !recs.is_empty() {
                                let before_last: usize =
                                    recs[..recs.len() - 1].iter().map(|r| r.payload.len()).sum();
                                prop_assert!(before_last < max_bytes);
                            }
                            for (i, r) in recs.iter().enumerate() {
                                prop_assert_eq!(r.offset, from + i as u64);
                                prop_assert_eq!(&r.payload, &model[r.offset as usize]);
                            }
                            prop_assert!(recs.len() <= max);
                        }
                        Err(Error::OffsetOutOfRange { start: s, .. }) => {
                            prop_assert!(max > 0 && from < start);
                            prop_assert_eq!(s, start);
                        }
                        Err(e) => prop_assert!(false, "{e}"),
                    }
                }
                Op::DeleteBefore(off) => {
                    log.delete_before(off).unwrap();
                    let new_start = log.start_offset();
                    prop_assert!(new_start >= start && new_start <= off.max(start));
                    start = new_start;
                }
            }
            prop_assert_eq!(log.next_offset(), model.len() as u64);
            prop_assert_eq!(log.start_offset(), start);
        }
        let all: Vec<Vec<u8>> = log.iter(start).map(|r| r.unwrap().payload).collect();
        prop_assert_eq!(&all[..], &model[start as usize..]);
    }
}
