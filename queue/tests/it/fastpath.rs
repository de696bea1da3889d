//! The plain fast path (lock-free sends into a ring for messages without delay, group or dedup id)
//! merged with the locked paths: order, capacity, close, wake-ups.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use ember_core::ManualClock;
use ember_queue::{Error, Message, Queue};
use proptest::prelude::*;

use super::{SEC, manual, parked, spawn_producers};

/// Receives everything visible now, acking in ack mode.
fn drain(q: &Queue<u64>, no_ack: bool) -> Vec<(u64, u64)> {
    let mut got = Vec::new();
    while let Ok(d) = q.try_receive() {
        got.push((d.id().get(), *d.body()));
        if !no_ack {
            q.ack(d.receipt()).unwrap();
        }
    }
    got
}

/// More messages than the ring holds (1024), plain ones interleaved with dedup-id ones (the locked
/// path): the overflow goes through the inbox and send order still holds, in both modes.
#[test]
fn ring_overflow_and_locked_sends_keep_send_order() {
    for no_ack in [false, true] {
        let (_clock, builder) = manual::<u64>();
        let q = builder.capacity(5000).no_ack(no_ack).build().unwrap();
        let mut ids = Vec::new();
        for i in 0..3000u64 {
            let id = if i % 7 == 3 {
                q.send_message(Message::new(i).dedup_id(format!("d{i}")))
                    .unwrap()
            } else if i % 11 == 5 {
                // An explicit zero delay is plain too.
                q.send_message(Message::new(i).delay(Duration::ZERO))
                    .unwrap()
            } else {
                q.send(i).unwrap()
            };
            ids.push(id.get());
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids follow send order");
        let stats = q.stats();
        assert_eq!((stats.sends, stats.visible), (3000, 3000));
        let got = drain(&q, no_ack);
        let bodies: Vec<u64> = got.iter().map(|&(_, b)| b).collect();
        assert_eq!(bodies, (0..3000).collect::<Vec<_>>(), "no_ack={no_ack}");
        let got_ids: Vec<u64> = got.iter().map(|&(id, _)| id).collect();
        assert_eq!(got_ids, ids);
        let stats = q.stats();
        assert_eq!(
            (stats.receives, stats.visible, stats.in_flight),
            (3000, 0, 0)
        );
    }
}

/// A retried message keeps its place ahead of ring messages sent after it; a delayed message sent
/// before ring messages comes first once its delay ends; groups hold their followers.
#[test]
fn retries_delays_and_groups_merge_with_ring_messages_by_send_order() {
    let (clock, builder) = manual::<u64>();
    let q = builder.build().unwrap();
    q.send(1).unwrap();
    q.send_message(Message::new(2).delay(SEC)).unwrap();
    q.send_message(Message::new(3).group("g")).unwrap();
    q.send_message(Message::new(4).group("g")).unwrap();
    q.send(5).unwrap();
    let d1 = q.try_receive().unwrap();
    assert_eq!(*d1.body(), 1);
    let d3 = q.try_receive().unwrap();
    assert_eq!(*d3.body(), 3);
    q.nack(d1.receipt()).unwrap(); // back in first place
    clock.advance(SEC); // 2 visible now
    q.send(6).unwrap();
    let order: Vec<u64> = (0..4).map(|_| *q.try_receive().unwrap().body()).collect();
    assert_eq!(order, [1, 2, 5, 6], "4 waits behind 3 in its group");
    q.ack(d3.receipt()).unwrap();
    assert_eq!(*q.try_receive().unwrap().body(), 4);
}

/// Several producers mixing ring and locked sends, several consumers: nothing lost or duplicated,
/// and each consumer sees each producer's messages in send order (a message sent before another was
/// visible when the other was taken, so it cannot come later to the same consumer).
#[test]
fn concurrent_mixed_sends_keep_per_producer_order_per_consumer() {
    const PRODUCERS: u64 = 4;
    const PER_PRODUCER: u64 = 1500;
    const CONSUMERS: usize = 3;
    for (no_ack, capacity) in [(true, 64), (false, 64), (true, 4096), (false, 4096)] {
        let q: Queue<u64> = Queue::builder()
            .capacity(capacity)
            .no_ack(no_ack)
            .build()
            .unwrap();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let q = q.clone();
                thread::spawn(move || {
                    for i in 0..PER_PRODUCER {
                        let body = p * PER_PRODUCER + i;
                        if i % 5 == 0 {
                            q.send_message(Message::new(body).dedup_id(format!("{body}")))
                                .unwrap();
                        } else {
                            q.send(body).unwrap();
                        }
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || {
                    let mut seen = Vec::new();
                    loop {
                        match q.receive() {
                            Ok(d) => {
                                seen.push(*d.body());
                                if !no_ack {
                                    q.ack(d.receipt()).unwrap();
                                }
                            }
                            Err(Error::Closed) => return seen,
                            Err(e) => panic!("{e}"),
                        }
                    }
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        q.close();
        let mut all = HashSet::new();
        for c in consumers {
            let seen = c.join().unwrap();
            let mut last: HashMap<u64, u64> = HashMap::new();
            for &body in &seen {
                let (p, i) = (body / PER_PRODUCER, body % PER_PRODUCER);
                if let Some(&prev) = last.get(&p) {
                    assert!(prev < i, "producer {p}: {i} after {prev} (no_ack={no_ack})");
                }
                last.insert(p, i);
                assert!(all.insert(body), "{body} delivered twice");
            }
        }
        assert_eq!(all.len() as u64, PRODUCERS * PER_PRODUCER, "none lost");
        let stats = q.stats();
        assert_eq!(stats.sends, PRODUCERS * PER_PRODUCER);
        assert_eq!(stats.receives, PRODUCERS * PER_PRODUCER);
        assert_eq!((stats.visible, stats.in_flight), (0, 0));
    }
}

/// Producers send until the queue closes under them; consumers receive until `Closed`. Every send
/// that succeeded was received: `Closed` never comes while a ring push is still under way.
#[test]
fn close_during_ring_sends_strands_nothing() {
    for round in 0..6 {
        let no_ack = round % 2 == 0;
        let q: Queue<u64> = Queue::builder()
            .capacity(32)
            .no_ack(no_ack)
            .build()
            .unwrap();
        let received = Arc::new(AtomicU64::new(0));
        let producers: Vec<_> = (0..3u64)
            .map(|p| {
                let q = q.clone();
                thread::spawn(move || {
                    let mut sent = Vec::new();
                    for i in 0.. {
                        match q.send(p << 32 | i) {
                            Ok(_) => sent.push(p << 32 | i),
                            Err(e) => {
                                assert_eq!(*e.error(), Error::Closed);
                                return sent;
                            }
                        }
                    }
                    unreachable!()
                })
            })
            .collect();
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let (q, received) = (q.clone(), received.clone());
                thread::spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        match q.receive() {
                            Ok(d) => {
                                got.push(*d.body());
                                received.fetch_add(1, Ordering::SeqCst);
                                if !no_ack {
                                    q.ack(d.receipt()).unwrap();
                                }
                            }
                            Err(Error::Closed) => return got,
                            Err(e) => panic!("{e}"),
                        }
                    }
                })
            })
            .collect();
        while received.load(Ordering::SeqCst) < 2000 {
            thread::yield_now();
        }
        q.close();
        let sent: HashSet<u64> = producers
            .into_iter()
            .flat_map(|p| p.join().unwrap())
            .collect();
        let mut got = HashSet::new();
        for c in consumers {
            for body in c.join().unwrap() {
                assert!(got.insert(body), "{body} twice");
            }
        }
        assert_eq!(got, sent, "round {round}: every accepted send was received");
        assert_eq!(q.receive().unwrap_err(), Error::Closed);
    }
}

/// While producers race with `try_send` and consumers hold leases, the queue never holds more than
/// its capacity (visible + in flight, as `stats` sees it), and `Full` is only returned when full.
#[test]
fn ring_sends_respect_the_capacity() {
    respect_capacity(16);
}

/// The same with a capacity of 256, where consumers publish their removals to producers in runs
/// of 16.
#[test]
fn ring_sends_respect_a_larger_capacity() {
    respect_capacity(256);
}

fn respect_capacity(capacity: u64) {
    let q: Queue<u64> = Queue::builder()
        .capacity(capacity as usize)
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let producers: Vec<_> = (0..3u64)
        .map(|p| {
            let (q, stop) = (q.clone(), stop.clone());
            thread::spawn(move || {
                let (mut ok, mut full) = (0u64, 0u64);
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    match q.try_send(p << 32 | i) {
                        Ok(_) => ok += 1,
                        Err(e) => {
                            assert_eq!(*e.error(), Error::Full);
                            full += 1;
                        }
                    }
                    i += 1;
                }
                (ok, full)
            })
        })
        .collect();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let q = q.clone();
            thread::spawn(move || {
                let mut acked = 0u64;
                let mut held = Vec::new();
                while acked < 3000 {
                    if let Ok(d) = q.try_receive() {
                        held.push(d.receipt());
                    }
                    if held.len() >= 4 || (!held.is_empty() && acked % 3 == 0) {
                        q.ack(held.remove(0)).unwrap();
                        acked += 1;
                    }
                }
                for r in held {
                    q.ack(r).unwrap();
                }
            })
        })
        .collect();
    for _ in 0..300 {
        let s = q.stats();
        assert!(
            s.visible + s.in_flight <= capacity,
            "over capacity: visible {} in flight {}",
            s.visible,
            s.in_flight
        );
        thread::yield_now();
    }
    for c in consumers {
        c.join().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    let mut sent = 0;
    for p in producers {
        let (ok, _) = p.join().unwrap();
        sent += ok;
    }
    let s = q.stats();
    assert_eq!(s.sends, sent);
    assert_eq!(s.acks + s.visible + s.in_flight, sent);
    assert!(s.visible + s.in_flight <= capacity);
    // Full now means full.
    let room = capacity - s.visible - s.in_flight;
    for i in 0..room {
        q.try_send(i).unwrap();
    }
    assert_eq!(*q.try_send(0).unwrap_err().error(), Error::Full);
}

/// A sender blocked on a full `no_ack` queue is woken by a receive of a ring message.
#[test]
fn no_ack_ring_receive_wakes_a_blocked_sender() {
    let (clock, builder) = manual::<u64>();
    let q = builder.capacity(1).no_ack(true).build().unwrap();
    q.send(1).unwrap();
    let sender = {
        let q = q.clone();
        thread::spawn(move || q.send(2).map_err(|e| e.into_parts().0))
    };
    parked(&clock, 1);
    assert_eq!(*q.try_receive().unwrap().body(), 1);
    assert!(sender.join().unwrap().is_ok());
    assert_eq!(*q.try_receive().unwrap().body(), 2);
    assert_eq!(q.stats().receives, 2);
}

/// A receiver asleep on an empty queue is woken by a ring send.
#[test]
fn ring_send_wakes_a_sleeping_receiver() {
    for no_ack in [false, true] {
        let (clock, builder) = manual::<u64>();
        let q = builder.no_ack(no_ack).build().unwrap();
        let receiver = {
            let q = q.clone();
            thread::spawn(move || *q.receive().unwrap().body())
        };
        parked(&clock, 1);
        q.send(7).unwrap();
        assert_eq!(receiver.join().unwrap(), 7);
    }
}

/// Sent times come from the clock's coarse wall time, which a `ManualClock` keeps exact.
#[test]
fn sent_time_follows_the_manual_clock() {
    let clock = ManualClock::with_unix_millis(1_000);
    let q: Queue<u8> = Queue::builder().clock(clock.clone()).build().unwrap();
    q.send(1).unwrap();
    clock.advance(Duration::from_millis(250));
    q.send_message(Message::new(2).dedup_id("x")).unwrap();
    assert_eq!(q.try_receive().unwrap().sent_unix_ms(), 1_000);
    assert_eq!(q.try_receive().unwrap().sent_unix_ms(), 1_250);
}

#[derive(Debug, Clone)]
enum Op {
    Send { group: Option<u8>, delay: u64 },
    Receive,
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (prop::option::of(0u8..3), prop_oneof![Just(0u64), Just(0), Just(0), Just(3)])
            .prop_map(|(group, delay)| Op::Send { group, delay }),
        4 => Just(Op::Receive),
        1 => (1u64..5).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::cases(150)))]

    /// `no_ack` mode (ring, direct ring receives, groups, delays) against a model: a receive returns the
    /// visible message with the lowest id among those first in their group.
    #[test]
    fn no_ack_matches_a_model(ops in prop::collection::vec(op(), 1..100)) {
        let (clock, builder) = manual::<u64>();
        let q = builder.no_ack(true).build().unwrap();
        // (id, group, visible at)
        let mut model: Vec<(u64, Option<u8>, u64)> = Vec::new();
        let mut now = 0u64;
        for (step, op) in ops.into_iter().enumerate() {
            match op {
                Op::Send { group, delay } => {
                    let mut m = Message::new(0u64).delay(Duration::from_secs(delay));
                    if let Some(g) = group {
                        m = m.group(format!("g{g}"));
                    }
                    let id = q.send_message(m).unwrap().get();
                    model.push((id, group, now + delay));
                }
                Op::Receive => {
                    let expected = model
                        .iter()
                        .enumerate()
                        .filter(|(i, (_, g, at))| {
                            *at <= now
                                && g.is_none_or(|g| {
                                    !model[..*i].iter().any(|(_, g2, _)| *g2 == Some(g))
                                })
                        })
                        .map(|(i, (id, _, _))| (*id, i))
                        .min();
                    match (q.try_receive(), expected) {
                        (Ok(d), Some((id, i))) => {
                            prop_assert_eq!(d.id().get(), id);
                            model.remove(i);
                        }
                        (Err(Error::Empty), None) => {}
                        (got, want) => prop_assert!(false, "got {:?}, want {:?}", got.map(|d| d.id()), want),
                    }
                }
                Op::Advance(s) => {
                    clock.advance(Duration::from_secs(s));
                    now += s;
                }
            }
            // Not after every step: `stats` takes the inbox in, which would hide the ring/inbox merge.
            if step % 4 == 3 {
                let stats = q.stats();
                let visible_or_waiting = stats.visible + stats.delayed + stats.waiting_in_groups;
                prop_assert_eq!(visible_or_waiting, model.len() as u64);
            }
        }
    }
}

/// Consumers publish their removals to producers in runs (64 for this queue), but a send refused
/// as full has seen every removal: `try_send`, `send_timeout` at its deadline and a sender blocked on
/// capacity all find the room that a few acks or `no_ack` receives made.
#[test]
fn a_full_verdict_sees_every_removal() {
    const CAPACITY: u64 = 1024;
    for no_ack in [false, true] {
        let (clock, builder) = manual::<u64>();
        let q = builder
            .capacity(CAPACITY as usize)
            .no_ack(no_ack)
            .build()
            .unwrap();
        let remove = |n: usize| {
            for _ in 0..n {
                let d = q.try_receive().unwrap();
                if !no_ack {
                    q.ack(d.receipt()).unwrap();
                }
            }
        };
        for i in 0..CAPACITY {
            q.try_send(i).unwrap();
        }
        assert_eq!(*q.try_send(0).unwrap_err().error(), Error::Full);
        remove(3);
        for i in 0..3 {
            q.try_send(i).unwrap();
        }
        assert_eq!(*q.try_send(0).unwrap_err().error(), Error::Full);
        remove(2);
        q.send_timeout(1, Duration::ZERO).unwrap();
        q.send_timeout(2, SEC).unwrap();
        assert_eq!(
            *q.send_timeout(3, Duration::ZERO).unwrap_err().error(),
            Error::Timeout
        );
        // A blocked sender is woken by a single removal and finds the room.
        let sender = {
            let q = q.clone();
            thread::spawn(move || q.send(7).map_err(|e| e.into_parts().0))
        };
        parked(&clock, 1);
        remove(1);
        assert!(sender.join().unwrap().is_ok());
        let s = q.stats();
        assert_eq!(s.visible + s.in_flight, CAPACITY, "no_ack {no_ack}");
        assert_eq!(*q.try_send(0).unwrap_err().error(), Error::Full);
    }
}

/// Blocked senders on a queue whose consumers publish removals in runs (capacity 256: runs of 16)
/// while the consumers hold leases and ack them in bursts: every blocked send completes (no lost
/// wake-up when the removals that made room were not published yet), nothing is lost, and the
/// capacity holds throughout.
#[test]
fn blocked_senders_wake_when_removals_are_published_late() {
    const CAPACITY: u64 = 256;
    const PRODUCERS: u64 = 3;
    const PER_PRODUCER: u64 = 800;
    let q: Queue<u64> = Queue::builder()
        .capacity(CAPACITY as usize)
        .build()
        .unwrap();
    let producers = spawn_producers(&q, PRODUCERS, PER_PRODUCER);
    let consumers: Vec<_> = (0..2u64)
        .map(|c| {
            let q = q.clone();
            thread::spawn(move || {
                let mut held = Vec::new();
                let mut got = Vec::new();
                loop {
                    // Block only with nothing held (a closed queue drains its leases first).
                    let next = if held.is_empty() {
                        q.receive()
                    } else {
                        q.try_receive()
                    };
                    match next {
                        Ok(d) => {
                            got.push(*d.body());
                            held.push(d.receipt());
                        }
                        Err(Error::Empty) => {}
                        Err(Error::Closed) => break,
                        Err(e) => panic!("{e}"),
                    }
                    // Ack in bursts of a few (fewer than a publication run), then let others run.
                    if held.len() >= 3 + c as usize * 5
                        || (!held.is_empty() && q.stats().visible == 0)
                    {
                        for r in held.drain(..) {
                            q.ack(r).unwrap();
                        }
                        thread::yield_now();
                    }
                }
                for r in held {
                    q.ack(r).unwrap();
                }
                got
            })
        })
        .collect();
    for _ in 0..200 {
        let s = q.stats();
        assert!(s.visible + s.in_flight <= CAPACITY, "over capacity: {s}");
        thread::yield_now();
    }
    for p in producers {
        p.join().unwrap();
    }
    q.close();
    let mut all = HashSet::new();
    for c in consumers {
        for body in c.join().unwrap() {
            assert!(all.insert(body), "{body} twice");
        }
    }
    assert_eq!(all.len() as u64, PRODUCERS * PER_PRODUCER, "none lost");
    let s = q.stats();
    assert_eq!(
        (s.acks, s.visible, s.in_flight),
        (PRODUCERS * PER_PRODUCER, 0, 0)
    );
}
