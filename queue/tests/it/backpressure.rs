use std::thread;

use ember_queue::{Error, FullPolicy, Queue};

use crate::{SEC, manual, parked};

#[test]
fn try_send_hands_the_message_back_when_full() {
    let q: Queue<String> = Queue::builder().capacity(2).build().unwrap();
    q.try_send("a".into()).unwrap();
    q.try_send("b".into()).unwrap();
    let err = q.try_send("c".into()).unwrap_err();
    assert_eq!(*err.error(), Error::Full);
    assert_eq!(err.into_message(), "c");
    // Leasing does not free room (in flight counts); acking does.
    let d = q.try_receive().unwrap();
    assert_eq!(*q.try_send("c".into()).unwrap_err().error(), Error::Full);
    q.nack(d.receipt()).unwrap();
    assert_eq!(*q.try_send("c".into()).unwrap_err().error(), Error::Full);
    let d = q.try_receive().unwrap();
    q.ack(d.receipt()).unwrap();
    q.try_send("c".into()).unwrap();
}

#[test]
fn send_blocks_until_an_ack_makes_room() {
    let (clock, b) = manual::<u32>();
    let q = b.capacity(1).build().unwrap();
    q.send(1).unwrap();
    let q2 = q.clone();
    let sender = thread::spawn(move || q2.send(2));
    parked(&clock, 1);
    assert!(!sender.is_finished());
    let d = q.try_receive().unwrap();
    q.ack(d.receipt()).unwrap();
    sender.join().unwrap().unwrap();
    assert_eq!(*q.try_receive().unwrap().body(), 2);
}

#[test]
fn send_timeout_gives_up_and_hands_the_message_back() {
    let (clock, b) = manual::<u32>();
    let q = b.capacity(1).build().unwrap();
    q.send(1).unwrap();
    let q2 = q.clone();
    let sender = thread::spawn(move || q2.send_timeout(2, 3 * SEC));
    parked(&clock, 1);
    clock.advance(2 * SEC);
    parked(&clock, 1);
    assert!(!sender.is_finished());
    clock.advance(SEC);
    let err = sender.join().unwrap().unwrap_err();
    assert_eq!(*err.error(), Error::Timeout);
    assert_eq!(err.into_message(), 2);
    assert_eq!(q.stats().sends, 1);
}

#[test]
fn reject_policy_refuses_at_once() {
    let q: Queue<u32> = Queue::builder()
        .capacity(1)
        .when_full(FullPolicy::Reject)
        .build()
        .unwrap();
    q.send(1).unwrap();
    let err = q.send(2).unwrap_err();
    assert_eq!((err.error().clone(), err.into_message()), (Error::Full, 2));
    assert_eq!(*q.send_timeout(3, SEC).unwrap_err().error(), Error::Full);
    let e: Error = q.send(4).unwrap_err().into();
    assert_eq!(e, Error::Full);
}

#[test]
fn close_wakes_a_blocked_sender_with_its_message() {
    let (clock, b) = manual::<u32>();
    let q = b.capacity(1).build().unwrap();
    q.send(1).unwrap();
    let q2 = q.clone();
    let sender = thread::spawn(move || q2.send(2));
    parked(&clock, 1);
    q.close();
    let err = sender.join().unwrap().unwrap_err();
    assert_eq!(
        (err.error().clone(), err.into_message()),
        (Error::Closed, 2)
    );
}

#[test]
fn send_batch_waits_for_room_run_by_run() {
    let (clock, b) = manual::<u32>();
    let q = b.capacity(4).build().unwrap();
    let q2 = q.clone();
    let sender = thread::spawn(move || q2.send_batch(0..20));
    let mut got = Vec::new();
    while got.len() < 20 {
        match q.try_receive() {
            Ok(d) => {
                got.push(*d.body());
                q.ack(d.receipt()).unwrap();
            }
            Err(Error::Empty) => thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
    let ids = sender.join().unwrap().unwrap();
    assert_eq!(ids.len(), 20);
    assert_eq!(got, (0..20).collect::<Vec<_>>());
    let _ = clock;
}

#[test]
fn send_batch_under_reject_reports_what_was_sent() {
    let q: Queue<u32> = Queue::builder()
        .capacity(3)
        .when_full(FullPolicy::Reject)
        .build()
        .unwrap();
    let err = q.send_batch(0..5).unwrap_err();
    assert_eq!(err.sent().len(), 3);
    assert_eq!(*err.error(), Error::Full);
    assert_eq!(err.into_unsent(), vec![3, 4]);
}

#[test]
fn many_blocked_senders_all_get_through() {
    let (_clock, b) = manual::<u32>();
    let q = b.capacity(2).build().unwrap();
    let senders: Vec<_> = (0..6)
        .map(|i| {
            let q = q.clone();
            thread::spawn(move || {
                for j in 0..50 {
                    q.send(i * 100 + j).unwrap();
                }
            })
        })
        .collect();
    let mut n = 0;
    while n < 300 {
        let d = q.receive().unwrap();
        q.ack(d.receipt()).unwrap();
        n += 1;
    }
    for s in senders {
        s.join().unwrap();
    }
    assert_eq!(q.stats().acks, 300);
}

/// A receiver waiting on a closed queue whose last message is leased to someone else returns `Closed`
/// as soon as that lease ends by an ack or a dead-letter move, not at the lease deadline (the manual
/// clock never reaches it here).
#[test]
fn closed_queue_wakes_receiver_when_last_lease_ends() {
    for dead_letter in [false, true] {
        let (clock, builder) = manual::<u32>();
        let queue = builder.max_receives(1).build().unwrap();
        queue.send(1).unwrap();
        let d = queue.try_receive().unwrap();
        queue.close();
        let (tx, rx) = std::sync::mpsc::channel();
        let q = queue.clone();
        let waiter = thread::spawn(move || tx.send(q.receive().map(|d| *d.body())).unwrap());
        parked(&clock, 1);
        if dead_letter {
            queue.nack(d.receipt()).unwrap();
        } else {
            queue.ack(d.receipt()).unwrap();
        }
        // A guard against hanging on failure, not a timing assertion.
        let got = rx.recv_timeout(std::time::Duration::from_secs(30));
        assert_eq!(got, Ok(Err(Error::Closed)), "dead_letter={dead_letter}");
        waiter.join().unwrap();
    }
}
