//! Consumer groups: assignment, rebalancing, commits, resume, at-least-once, reset policies.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use ember_core::ManualClock;
use ember_stream::{
    Assignor, AutoOffsetReset, ConsumerGroup, Error, GroupConsumer, Message, Record, Retention,
    Topic,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::support::{manual_topic, wait_parked};

const SESSION: Duration = Duration::from_secs(10);

fn group(topic: &Topic, name: &str, reset: AutoOffsetReset) -> ConsumerGroup {
    topic
        .consumer_group(name)
        .session_timeout(SESSION)
        .auto_offset_reset(reset)
        .build()
        .unwrap()
}

fn fill(topic: &Topic, n: usize) {
    for i in 0..n {
        topic
            .append(format!("key-{}", i % 13), format!("{i}"))
            .unwrap();
    }
}

/// Polls until a poll returns nothing.
fn drain(c: &mut GroupConsumer) -> Vec<Record> {
    let mut out = Vec::new();
    loop {
        let batch = c.poll(64, Duration::ZERO).unwrap();
        if batch.is_empty() {
            return out;
        }
        out.extend(batch);
    }
}

/// Every partition has exactly one owner, and the owner is a live member.
fn assert_assignment_valid(g: &ConsumerGroup, partitions: u32) {
    let members: HashSet<String> = g.members().into_iter().collect();
    let owners = g.assignment();
    assert_eq!(owners.len(), partitions as usize);
    if members.is_empty() {
        assert!(owners.iter().all(Option::is_none));
        return;
    }
    for (p, owner) in owners.iter().enumerate() {
        let owner = owner
            .as_ref()
            .unwrap_or_else(|| panic!("partition {p} orphaned"));
        assert!(
            members.contains(owner),
            "partition {p} owned by departed {owner}"
        );
    }
}

#[test]
fn range_and_round_robin_assignment() {
    let (topic, _) = manual_topic("t", 5);
    let g = group(&topic, "range", AutoOffsetReset::Earliest);
    let mut a = g.join("a").unwrap();
    let mut b = g.join("b").unwrap();
    a.heartbeat().unwrap();
    b.heartbeat().unwrap();
    assert_eq!(a.assignment(), &[0, 1, 2]);
    assert_eq!(b.assignment(), &[3, 4]);

    let rr = topic
        .consumer_group("rr")
        .assignor(Assignor::RoundRobin)
        .build()
        .unwrap();
    let mut a = rr.join("a").unwrap();
    let mut b = rr.join("b").unwrap();
    a.heartbeat().unwrap();
    b.heartbeat().unwrap();
    assert_eq!(a.assignment(), &[0, 2, 4]);
    assert_eq!(b.assignment(), &[1, 3]);
}

#[test]
fn rebalance_on_join_leave_and_session_timeout() {
    let (topic, clock) = manual_topic("t", 6);
    let g = group(&topic, "g", AutoOffsetReset::Earliest);
    let gen0 = g.generation();
    let mut a = g.join("a").unwrap();
    assert_assignment_valid(&g, 6);
    let b = g.join("b").unwrap();
    let c = g.join("c").unwrap();
    assert_eq!(g.generation(), gen0 + 3);
    assert_assignment_valid(&g, 6);
    assert!(matches!(g.join("b"), Err(Error::DuplicateMember { .. })));

    // Leave: b's partitions move to the others.
    b.leave();
    assert_eq!(g.members(), vec!["a", "c"]);
    assert_assignment_valid(&g, 6);

    // Session timeout: c stops heartbeating; a keeps going.
    clock.advance(SESSION / 2);
    a.heartbeat().unwrap();
    clock.advance(SESSION / 2);
    assert_eq!(g.members(), vec!["a"], "c's session expired");
    assert_assignment_valid(&g, 6);
    a.heartbeat().unwrap();
    assert_eq!(a.assignment(), &[0, 1, 2, 3, 4, 5]);
    assert_eq!(g.stats().expired_sessions, 1);

    // The expired member comes back on its next call, as a Kafka consumer rejoins.
    let mut c = c;
    c.heartbeat().unwrap();
    assert_eq!(g.members(), vec!["a", "c"]);
    assert_assignment_valid(&g, 6);
    drop(a);
    drop(c);
    assert!(g.members().is_empty());
    assert_assignment_valid(&g, 6);
}

#[test]
fn random_membership_changes_never_orphan_or_double_own() {
    let (topic, clock) = manual_topic("t", 7);
    let g = group(&topic, "g", AutoOffsetReset::Earliest);
    let mut rng = SmallRng::seed_from_u64(7);
    let mut live: BTreeMap<u32, GroupConsumer> = BTreeMap::new();
    for step in 0..300 {
        match rng.random_range(0..4) {
            0 => {
                let id = rng.random_range(0..10);
                if let std::collections::btree_map::Entry::Vacant(e) = live.entry(id) {
                    e.insert(g.join(format!("m{id}")).unwrap());
                }
            }
            1 => {
                let id = rng.random_range(0..10);
                live.remove(&id);
            }
            2 => clock.advance(Duration::from_secs(rng.random_range(1..6))),
            _ => {
                for c in live.values_mut() {
                    if rng.random_bool(0.7) {
                        c.heartbeat().unwrap();
                    }
                }
            }
        }
        assert_assignment_valid(&g, 7);
        // Members that have synced agree with the coordinator.
        for c in live.values_mut() {
            if rng.random_bool(0.2) {
                c.heartbeat().unwrap();
                let owners = g.assignment();
                for &p in c.assignment() {
                    assert_eq!(owners[p as usize].as_deref(), Some(c.id()), "step {step}");
                }
            }
        }
    }
}

#[test]
fn commit_and_resume_from_committed_offset() {
    let (topic, _) = manual_topic("t", 1);
    fill(&topic, 50);
    let g = group(&topic, "g", AutoOffsetReset::Earliest);
    let mut a = g.join("a").unwrap();
    let first = a.poll(20, Duration::ZERO).unwrap();
    assert_eq!(first.len(), 20);
    a.commit().unwrap();
    assert_eq!(g.committed(0).unwrap(), Some(20));
    let _uncommitted = a.poll(10, Duration::ZERO).unwrap();
    a.leave();
    let mut b = g.join("b").unwrap();
    let rest = drain(&mut b);
    assert_eq!(
        rest.first().unwrap().offset,
        20,
        "resumes at the committed offset"
    );
    assert_eq!(rest.len(), 30);
    b.commit_offset(0, 45).unwrap();
    assert_eq!(g.committed(0).unwrap(), Some(45));
    assert!(matches!(
        b.commit_offset(0, 51),
        Err(Error::OffsetOutOfRange { .. })
    ));
    assert_eq!(g.stats().partitions[0].lag, 5);
}

#[test]
fn at_least_once_when_a_consumer_crashes() {
    let (topic, clock) = manual_topic("t", 2);
    fill(&topic, 200);
    let g = group(&topic, "g", AutoOffsetReset::Earliest);
    let mut crashing = g.join("a").unwrap();
    let mut survivor = g.join("b").unwrap();
    survivor.heartbeat().unwrap();
    crashing.heartbeat().unwrap();
    let pa = crashing.assignment()[0];
    // The doomed member processes 10 records but only commits 4, then stops (crash: no leave).
    let got = crashing.poll(10, Duration::ZERO).unwrap();
    assert_eq!(got.len(), 10);
    crashing.commit_offset(pa, got[3].offset + 1).unwrap();
    let committed = got[3].offset + 1;

    // The survivor keeps heartbeating; the crashed member's session runs out.
    for _ in 0..3 {
        clock.advance(SESSION / 3 + Duration::from_millis(1));
        survivor.heartbeat().unwrap();
    }
    assert_eq!(g.members(), vec!["b"]);
    let records = drain(&mut survivor);
    let redelivered: Vec<u64> = records
        .iter()
        .filter(|r| r.partition == pa)
        .map(|r| r.offset)
        .collect();
    assert_eq!(
        redelivered.first(),
        Some(&committed),
        "uncommitted records redelivered"
    );
    let total = topic.offsets(pa).unwrap().1;
    assert_eq!(redelivered.len() as u64, total - committed);
    // The crashed member's commit is fenced: the group rebalanced without it.
    assert!(matches!(crashing.commit(), Err(Error::CommitFailed { .. })));
    std::mem::forget(crashing);
}

#[test]
fn commit_after_rebalance_is_rejected_until_next_poll() {
    let (topic, _) = manual_topic("t", 4);
    fill(&topic, 20);
    let g = group(&topic, "g", AutoOffsetReset::Earliest);
    let mut a = g.join("a").unwrap();
    a.poll(5, Duration::ZERO).unwrap();
    let _b = g.join("b").unwrap();
    assert!(matches!(a.commit(), Err(Error::CommitFailed { .. })));
    a.poll(5, Duration::ZERO).unwrap();
    a.commit().unwrap();
    assert!(matches!(
        a.commit_offset(3, 0),
        Err(Error::NotAssigned { partition: 3, .. })
    ));
}

#[test]
fn auto_offset_reset_policies() {
    let (topic, _) = manual_topic("t", 1);
    fill(&topic, 10);
    let mut e = group(&topic, "earliest", AutoOffsetReset::Earliest)
        .join("c")
        .unwrap();
    assert_eq!(drain(&mut e).len(), 10);
    let mut l = group(&topic, "latest", AutoOffsetReset::Latest)
        .join("c")
        .unwrap();
    assert!(drain(&mut l).is_empty());
    topic.append("k", "new").unwrap();
    assert_eq!(drain(&mut l).len(), 1);
    let mut n = group(&topic, "none", AutoOffsetReset::None)
        .join("c")
        .unwrap();
    assert!(matches!(
        n.poll(1, Duration::ZERO),
        Err(Error::NoOffset { partition: 0, .. })
    ));
}

#[test]
fn trimmed_committed_offset_follows_reset_policy() {
    let clock = ManualClock::new();
    let topic = Topic::builder("t")
        .clock(clock.clone())
        .retention(Retention::default().max_records(10))
        .build()
        .unwrap();
    fill(&topic, 10);
    for (name, reset) in [
        ("e", AutoOffsetReset::Earliest),
        ("l", AutoOffsetReset::Latest),
        ("n", AutoOffsetReset::None),
    ] {
        let g = group(&topic, name, reset);
        let mut c = g.join("c").unwrap();
        c.poll(3, Duration::ZERO).ok();
        g.reset_offset(0, 3).unwrap();
    }
    fill(&topic, 10); // offsets 0..10 trimmed; retained 10..20
    let mut e = group(&topic, "e", AutoOffsetReset::Earliest)
        .join("c2")
        .unwrap();
    let got = drain(&mut e);
    assert_eq!(got.first().unwrap().offset, 10);
    assert_eq!(got.len(), 10);
    let mut l = group(&topic, "l", AutoOffsetReset::Latest)
        .join("c2")
        .unwrap();
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.position(0), Some(20));
    let mut n = group(&topic, "n", AutoOffsetReset::None)
        .join("c2")
        .unwrap();
    assert!(matches!(
        n.poll(5, Duration::ZERO),
        Err(Error::OffsetOutOfRange {
            offset: 3,
            earliest: 10,
            latest: 20,
            ..
        })
    ));
}

#[test]
fn position_trimmed_while_consuming_is_reset() {
    let topic = Topic::builder("t")
        .retention(Retention::default().max_records(5))
        .build()
        .unwrap();
    fill(&topic, 5);
    let g = group(&topic, "g", AutoOffsetReset::Earliest);
    let mut c = g.join("c").unwrap();
    assert_eq!(c.poll(2, Duration::ZERO).unwrap().len(), 2);
    fill(&topic, 10); // position 2 is gone; earliest is now 10
    let got = drain(&mut c);
    assert_eq!(got.first().unwrap().offset, 10);
}

#[test]
fn many_groups_are_independent() {
    let (topic, _) = manual_topic("t", 3);
    fill(&topic, 30);
    let a = group(&topic, "a", AutoOffsetReset::Earliest);
    let b = group(&topic, "b", AutoOffsetReset::Earliest);
    let mut ca = a.join("x").unwrap();
    let mut cb = b.join("x").unwrap(); // same member id, other group
    assert_eq!(drain(&mut ca).len(), 30);
    ca.commit().unwrap();
    assert_eq!(cb.poll(5, Duration::ZERO).unwrap().len(), 5);
    assert_eq!(a.stats().lag, 0);
    assert_eq!(b.stats().lag, 30);
    assert_eq!(topic.group_names(), vec!["a", "b"]);
    assert!(matches!(
        topic
            .consumer_group("a")
            .session_timeout(Duration::from_secs(1))
            .build(),
        Err(Error::GroupConflict { .. })
    ));
    let stats = topic.stats();
    assert_eq!(stats.groups.len(), 2);
}

#[test]
fn replay_from_zero_after_the_group_finished() {
    let (topic, _) = manual_topic("t", 2);
    fill(&topic, 20);
    let g = group(&topic, "g", AutoOffsetReset::Earliest);
    let mut c = g.join("c").unwrap();
    assert_eq!(drain(&mut c).len(), 20);
    c.commit().unwrap();
    assert_eq!(g.stats().lag, 0);
    // Seek the member back to 0 in every partition and read everything again.
    for p in 0..2 {
        c.seek(p, 0).unwrap();
    }
    assert_eq!(drain(&mut c).len(), 20);
    // Or reset the group's offsets and let a new member start from there.
    drop(c);
    g.reset_offset(0, 0).unwrap();
    g.reset_offset(1, 0).unwrap();
    let mut d = g.join("d").unwrap();
    assert_eq!(drain(&mut d).len(), 20);
    // And the raw log still has everything from offset 0.
    assert_eq!(
        topic.read(0, 0, 100).unwrap().len() + topic.read(1, 0, 100).unwrap().len(),
        20
    );
}

#[test]
fn blocking_poll_wakes_on_append_and_times_out_by_clock() {
    let (topic, clock) = manual_topic("t", 2);
    let g = group(&topic, "g", AutoOffsetReset::Latest);
    let mut c = g.join("c").unwrap();
    c.heartbeat().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = thread::spawn(move || {
        tx.send(c.poll(10, Duration::from_secs(60)).unwrap())
            .unwrap();
        let second = c.poll(10, Duration::from_secs(2)).unwrap();
        (second, c)
    });
    wait_parked(&clock, 1);
    topic.append("k", "hello").unwrap();
    assert_eq!(rx.recv().unwrap().len(), 1);
    wait_parked(&clock, 1);
    clock.advance(Duration::from_secs(2));
    let (second, c) = h.join().unwrap();
    assert!(second.is_empty());
    assert_eq!(g.members(), vec!["c"]);
    drop(c);
}

#[test]
fn auto_commit_commits_at_poll_and_on_leave() {
    let (topic, clock) = manual_topic("t", 1);
    fill(&topic, 10);
    let g = topic
        .consumer_group("g")
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .auto_commit(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut c = g.join("c").unwrap();
    assert_eq!(c.poll(4, Duration::ZERO).unwrap().len(), 4);
    assert_eq!(g.committed(0).unwrap(), None, "interval not reached");
    clock.advance(Duration::from_secs(5));
    c.poll(2, Duration::ZERO).unwrap();
    assert_eq!(
        g.committed(0).unwrap(),
        Some(4),
        "previous poll's positions committed"
    );
    c.leave();
    assert_eq!(g.committed(0).unwrap(), Some(6), "committed on leave");
}

#[test]
fn concurrent_members_consume_everything_at_least_once() {
    const PARTITIONS: u32 = 8;
    const RECORDS: usize = 4000;
    let topic = Topic::builder("t").partitions(PARTITIONS).build().unwrap();
    let g = topic
        .consumer_group("g")
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .build()
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let producer = {
        let topic = topic.clone();
        thread::spawn(move || {
            for chunk in 0..(RECORDS / 50) {
                let msgs =
                    (0..50).map(|i| Message::keyed(format!("k{}", (chunk * 50 + i) % 97), "v"));
                topic.append_batch(msgs).unwrap();
            }
        })
    };
    let members: Vec<_> = (0..4)
        .map(|m| {
            let g = g.clone();
            let done = done.clone();
            thread::spawn(move || {
                let mut c = g.join(format!("m{m}")).unwrap();
                let mut seen: Vec<(u32, u64)> = Vec::new();
                while !done.load(Ordering::SeqCst) {
                    let batch = c.poll(100, Duration::from_millis(5)).unwrap();
                    // Within one poll, each partition's records come in offset order.
                    let mut last: BTreeMap<u32, u64> = BTreeMap::new();
                    for r in &batch {
                        if let Some(prev) = last.insert(r.partition, r.offset) {
                            assert_eq!(r.offset, prev + 1, "dense and ordered within a poll");
                        }
                        seen.push((r.partition, r.offset));
                    }
                    match c.commit() {
                        Ok(()) | Err(Error::CommitFailed { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                seen
            })
        })
        .collect();
    producer.join().unwrap();
    // Wait until the group has committed everything.
    while g.stats().lag > 0 {
        thread::yield_now();
    }
    done.store(true, Ordering::SeqCst);
    let mut all: HashSet<(u32, u64)> = HashSet::new();
    for m in members {
        all.extend(m.join().unwrap());
    }
    assert_eq!(all.len(), RECORDS, "every record delivered at least once");
    assert_assignment_valid(&g, PARTITIONS);
}

#[test]
fn commit_sync_is_all_or_nothing() {
    let (topic, _) = manual_topic("t", 4);
    fill(&topic, 40);
    let g = group(&topic, "g", AutoOffsetReset::Earliest);
    let mut a = g.join("a").unwrap();
    let _b = g.join("b").unwrap();
    a.poll(1, Duration::ZERO).unwrap();
    assert_eq!(a.assignment(), &[0, 1]);
    // Partition 2 belongs to b: nothing is committed, not even partition 0.
    assert!(matches!(
        a.commit_sync(&[(0, 1), (2, 1)]),
        Err(Error::NotAssigned { partition: 2, .. })
    ));
    assert_eq!(g.committed(0).unwrap(), None);
    let end = topic.offsets(1).unwrap().1;
    assert!(matches!(
        a.commit_sync(&[(0, 1), (1, end + 1)]),
        Err(Error::OffsetOutOfRange { .. })
    ));
    assert_eq!(g.committed(0).unwrap(), None);
    a.commit_sync(&[(0, 1), (1, end)]).unwrap();
    assert_eq!(
        (g.committed(0).unwrap(), g.committed(1).unwrap()),
        (Some(1), Some(end))
    );
    assert_eq!(g.stats().partitions[1].lag, 0);
}
