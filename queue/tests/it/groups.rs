use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread;

use ember_queue::{Error, Message, Queue, RetryPolicy};

use crate::{SEC, manual};

fn body_of<T: Copy>(d: &ember_queue::Delivery<T>) -> T {
    *d.body()
}

#[test]
fn one_in_flight_per_group_in_strict_order_groups_in_parallel() {
    let (_c, b) = manual::<(char, u32)>();
    let q = b.build().unwrap();
    for i in 0..3 {
        q.send_message(Message::new(('a', i)).group("a")).unwrap();
        q.send_message(Message::new(('b', i)).group("b")).unwrap();
    }
    q.send(('-', 0)).unwrap();
    let a0 = q.try_receive().unwrap();
    let b0 = q.try_receive().unwrap();
    let plain = q.try_receive().unwrap();
    assert_eq!(
        [body_of(&a0), body_of(&b0), body_of(&plain)],
        [('a', 0), ('b', 0), ('-', 0)]
    );
    // Both groups have a message in flight: nothing else is deliverable.
    assert_eq!(q.try_receive().unwrap_err(), Error::Empty);
    let s = q.stats();
    assert_eq!(
        (s.in_flight, s.waiting_in_groups, s.active_groups),
        (3, 4, 2)
    );
    q.ack(b0.receipt()).unwrap();
    let b1 = q.try_receive().unwrap();
    assert_eq!(body_of(&b1), ('b', 1));
    assert_eq!(q.try_receive().unwrap_err(), Error::Empty);
    q.ack(a0.receipt()).unwrap();
    q.ack(b1.receipt()).unwrap();
    let next: Vec<_> = q
        .try_receive_batch(10)
        .unwrap()
        .iter()
        .map(body_of)
        .collect();
    assert_eq!(next, vec![('a', 1), ('b', 2)]);
}

#[test]
fn a_nacked_head_keeps_its_group_waiting() {
    let (clock, b) = manual::<u32>();
    let q = b.retry(RetryPolicy::fixed(10 * SEC)).build().unwrap();
    for i in 0..3 {
        q.send_message(Message::new(i).group("g")).unwrap();
    }
    let d = q.try_receive().unwrap();
    q.nack(d.receipt()).unwrap();
    clock.advance(9 * SEC);
    assert_eq!(
        q.try_receive().unwrap_err(),
        Error::Empty,
        "1 and 2 wait for 0"
    );
    clock.advance(SEC);
    let again = q.try_receive().unwrap();
    assert_eq!((*again.body(), again.receive_count()), (0, 2));
    q.ack(again.receipt()).unwrap();
    assert_eq!(*q.try_receive().unwrap().body(), 1);
}

#[test]
fn a_dead_lettered_head_lets_the_group_continue() {
    let (_c, b) = manual::<u32>();
    let q = b.max_receives(1).build().unwrap();
    q.send_message(Message::new(0).group("g")).unwrap();
    q.send_message(Message::new(1).group("g")).unwrap();
    let d = q.try_receive().unwrap();
    q.nack(d.receipt()).unwrap();
    assert_eq!(*q.try_receive().unwrap().body(), 1);
    assert_eq!(q.dead_letters().peek().unwrap().group.as_deref(), Some("g"));
}

#[test]
fn a_group_head_with_a_delay_holds_back_its_group_only() {
    let (clock, b) = manual::<u32>();
    let q = b.build().unwrap();
    q.send_message(Message::new(0).group("g").delay(5 * SEC))
        .unwrap();
    q.send_message(Message::new(1).group("g")).unwrap();
    q.send_message(Message::new(2).group("h")).unwrap();
    assert_eq!(*q.try_receive().unwrap().body(), 2);
    assert_eq!(q.try_receive().unwrap_err(), Error::Empty);
    clock.advance(5 * SEC);
    let d = q.try_receive().unwrap();
    assert_eq!(*d.body(), 0);
    q.ack(d.receipt()).unwrap();
    assert_eq!(*q.try_receive().unwrap().body(), 1);
}

#[test]
fn no_ack_groups_advance_on_receive() {
    let q: Queue<u32> = Queue::builder().no_ack(true).build().unwrap();
    for i in 0..3 {
        q.send_message(Message::new(i).group("g")).unwrap();
    }
    let got: Vec<_> = q
        .try_receive_batch(10)
        .unwrap()
        .iter()
        .map(body_of)
        .collect();
    assert_eq!(got, vec![0, 1, 2]);
}

/// Several producers (each owning some groups) and consumers that sometimes nack: every group's
/// messages are acked in exactly send order, and never two of a group are in flight at once.
#[test]
fn group_order_holds_under_concurrency() {
    const GROUPS: u32 = 6;
    const PER_GROUP: u32 = 60;
    let q: Queue<(u32, u32)> = Queue::builder().capacity(64).seed(5).build().unwrap();
    let in_flight = Arc::new(Mutex::new(HashMap::<u32, u32>::new()));
    let log = Arc::new(Mutex::new(HashMap::<u32, Vec<u32>>::new()));
    let producers: Vec<_> = (0..3)
        .map(|p| {
            let q = q.clone();
            thread::spawn(move || {
                for i in 0..PER_GROUP {
                    for g in (p..GROUPS).step_by(3) {
                        q.send_message(Message::new((g, i)).group(format!("g{g}")))
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..4)
        .map(|c| {
            let (q, in_flight, log) = (q.clone(), in_flight.clone(), log.clone());
            thread::spawn(move || {
                let mut n = c as u64;
                loop {
                    let d = match q.receive() {
                        Ok(d) => d,
                        Err(Error::Closed) => return,
                        Err(e) => panic!("{e}"),
                    };
                    let (g, i) = *d.body();
                    assert!(
                        in_flight.lock().unwrap().insert(g, i).is_none(),
                        "two messages of group {g} in flight"
                    );
                    n = n
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let fail = (n >> 33) % 4 == 0;
                    // "Work" on it for a moment, so that a second message of the group, if one were
                    // handed out, would be caught in flight.
                    for _ in 0..2000 {
                        std::hint::spin_loop();
                    }
                    // Settle the bookkeeping while we still hold the lease.
                    if !fail {
                        log.lock().unwrap().entry(g).or_default().push(i);
                    }
                    in_flight.lock().unwrap().remove(&g);
                    if fail {
                        q.nack(d.receipt()).unwrap();
                    } else {
                        q.ack(d.receipt()).unwrap();
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    q.close();
    for c in consumers {
        c.join().unwrap();
    }
    let log = log.lock().unwrap();
    for g in 0..GROUPS {
        assert_eq!(
            log[&g],
            (0..PER_GROUP).collect::<Vec<_>>(),
            "group {g} out of order"
        );
    }
    let s = q.stats();
    assert_eq!(s.acks, u64::from(GROUPS * PER_GROUP));
    assert_eq!(s.depth(), 0);
}
