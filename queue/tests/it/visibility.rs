use std::thread;

use ember_queue::{Error, MAX_VISIBILITY_TIMEOUT, Queue};

use crate::{SEC, manual, parked};

#[test]
fn a_leased_message_is_invisible_until_its_timeout() {
    let (clock, b) = manual::<&str>();
    let q = b.visibility_timeout(30 * SEC).build().unwrap();
    q.send("job").unwrap();
    let first = q.try_receive().unwrap();
    assert_eq!(q.try_receive().unwrap_err(), Error::Empty);
    assert_eq!(q.stats().in_flight, 1);
    clock.advance(29 * SEC);
    assert_eq!(q.try_receive().unwrap_err(), Error::Empty);
    clock.advance(SEC);
    let second = q.try_receive().unwrap();
    assert_eq!(second.id(), first.id());
    assert_eq!(second.receive_count(), 2);
    assert_ne!(second.receipt(), first.receipt());
    // The first consumer was too slow: its receipt cannot delete the redelivered message.
    assert_eq!(q.ack(first.receipt()), Err(Error::StaleReceipt(first.id())));
    assert!(matches!(
        q.nack(first.receipt()),
        Err(Error::StaleReceipt(_))
    ));
    assert!(matches!(
        q.extend(first.receipt(), SEC),
        Err(Error::StaleReceipt(_))
    ));
    q.ack(second.receipt()).unwrap();
    let s = q.stats();
    assert_eq!((s.expired, s.redeliveries, s.acks, s.depth()), (1, 1, 1, 0));
}

#[test]
fn a_receipt_works_until_the_message_is_received_again() {
    let (clock, b) = manual::<u8>();
    let q = b.visibility_timeout(10 * SEC).build().unwrap();
    q.send(1).unwrap();
    q.send(2).unwrap();
    let a = q.try_receive().unwrap();
    let b2 = q.try_receive().unwrap();
    clock.advance(10 * SEC - std::time::Duration::from_nanos(1));
    q.ack(a.receipt()).unwrap();
    clock.advance(std::time::Duration::from_nanos(1));
    // The deadline has passed but nobody received the message again: as in SQS, the receipt still
    // works, and the message is deleted exactly once.
    q.ack(b2.receipt()).unwrap();
    assert_eq!(q.try_receive().unwrap_err(), Error::Empty);
    assert_eq!(q.stats().depth(), 0);

    q.send(3).unwrap();
    let c = q.try_receive().unwrap();
    clock.advance(10 * SEC);
    // The next receive processes the expiry and delivers the message again: the old receipt is stale.
    let again = q.try_receive().unwrap();
    assert_eq!((again.id(), again.receive_count()), (c.id(), 2));
    assert_eq!(q.ack(c.receipt()), Err(Error::StaleReceipt(c.id())));
    q.ack(again.receipt()).unwrap();
}

#[test]
fn stats_processes_expiries() {
    let (clock, b) = manual::<u8>();
    let q = b.visibility_timeout(10 * SEC).build().unwrap();
    q.send(1).unwrap();
    let d = q.try_receive().unwrap();
    clock.advance(10 * SEC);
    let s = q.stats();
    assert_eq!((s.visible, s.in_flight, s.expired), (1, 0, 1));
    assert_eq!(q.ack(d.receipt()), Err(Error::StaleReceipt(d.id())));
}

#[test]
fn extend_moves_the_deadline_from_now() {
    let (clock, b) = manual::<u8>();
    let q = b.visibility_timeout(10 * SEC).build().unwrap();
    q.send(1).unwrap();
    let d = q.try_receive().unwrap();
    clock.advance(8 * SEC);
    q.extend(d.receipt(), 20 * SEC).unwrap();
    clock.advance(19 * SEC);
    assert_eq!(q.try_receive().unwrap_err(), Error::Empty);
    q.extend(d.receipt(), 2 * SEC).unwrap(); // shortening works too
    clock.advance(2 * SEC);
    let again = q.try_receive().unwrap();
    assert_eq!(again.receive_count(), 2);
    assert_eq!(
        q.extend(again.receipt(), MAX_VISIBILITY_TIMEOUT + SEC),
        Err(Error::InvalidVisibility(MAX_VISIBILITY_TIMEOUT + SEC))
    );
    q.extend(again.receipt(), MAX_VISIBILITY_TIMEOUT).unwrap();
}

#[test]
fn extend_to_zero_releases_without_counting_a_nack() {
    let (_clock, b) = manual::<u8>();
    let q = b.build().unwrap();
    q.send(1).unwrap();
    q.send(2).unwrap();
    let d = q.try_receive().unwrap();
    q.extend(d.receipt(), std::time::Duration::ZERO).unwrap();
    // It keeps its place in send order: delivered before message 2.
    let again = q.try_receive().unwrap();
    assert_eq!((*again.body(), again.receive_count()), (1, 2));
    assert_eq!(q.stats().nacks, 0);
    assert!(q.ack(d.receipt()).is_err());
}

#[test]
fn a_blocked_receiver_wakes_when_a_lease_expires() {
    let (clock, b) = manual::<u8>();
    let q = b.visibility_timeout(5 * SEC).build().unwrap();
    q.send(7).unwrap();
    let held = q.try_receive().unwrap();
    let q2 = q.clone();
    let waiter = thread::spawn(move || q2.receive().map(|d| (*d.body(), d.receive_count())));
    parked(&clock, 1);
    clock.advance(4 * SEC);
    parked(&clock, 1);
    assert!(!waiter.is_finished());
    clock.advance(SEC);
    assert_eq!(waiter.join().unwrap().unwrap(), (7, 2));
    assert!(q.ack(held.receipt()).is_err());
}

#[test]
fn receipts_of_another_queue_are_rejected() {
    let (_c, b) = manual::<u8>();
    let q1 = b.clone().build().unwrap();
    let q2 = b.build().unwrap();
    q1.send(1).unwrap();
    q2.send(1).unwrap();
    let d1 = q1.try_receive().unwrap();
    let _d2 = q2.try_receive().unwrap();
    assert_eq!(q2.ack(d1.receipt()), Err(Error::StaleReceipt(d1.id())));
    q1.ack(d1.receipt()).unwrap();
}

#[test]
fn no_ack_mode_deletes_on_receive() {
    let q: Queue<u32> = Queue::builder().no_ack(true).capacity(2).build().unwrap();
    q.send(1).unwrap();
    q.send(2).unwrap();
    assert_eq!(*q.try_send(3).unwrap_err().error(), Error::Full);
    let d = q.try_receive().unwrap();
    assert_eq!(*d.body(), 1);
    assert_eq!(q.ack(d.receipt()), Err(Error::NoAck));
    assert_eq!(q.nack(d.receipt()), Err(Error::NoAck));
    assert_eq!(q.extend(d.receipt(), SEC), Err(Error::NoAck));
    // Receiving freed room.
    q.try_send(3).unwrap();
    let s = q.stats();
    assert_eq!((s.in_flight, s.visible, s.receives), (0, 2, 1));
    let rest = q.try_receive_batch(10).unwrap();
    assert_eq!(
        rest.iter().map(|d| *d.body()).collect::<Vec<_>>(),
        vec![2, 3]
    );
    assert_eq!(q.stats().depth(), 0);
}

#[test]
fn many_leases_expire_in_deadline_order_and_compaction_keeps_them() {
    let (clock, b) = manual::<u32>();
    let q = b.visibility_timeout(10 * SEC).build().unwrap();
    q.send_batch(0..500).unwrap();
    let mut kept = Vec::new();
    for i in 0..500 {
        let d = q.try_receive().unwrap();
        if i % 50 == 0 {
            kept.push(d); // never acked
        } else if i % 7 == 0 {
            q.extend(d.receipt(), 30 * SEC).unwrap(); // a different deadline structure
            kept.push(d);
        } else {
            q.ack(d.receipt()).unwrap();
        }
    }
    let plain = kept.iter().filter(|d| *d.body() % 50 == 0).count();
    clock.advance(10 * SEC);
    let back = q.try_receive_batch(1000).unwrap();
    assert_eq!(back.len(), plain);
    assert!(back.windows(2).all(|w| w[0].body() < w[1].body()));
    for d in &back {
        q.ack(d.receipt()).unwrap();
    }
    clock.advance(20 * SEC);
    let later = q.try_receive_batch(1000).unwrap();
    assert_eq!(later.len(), kept.len() - plain);
    assert_eq!(q.stats().expired as usize, kept.len());
}

/// A receiver asleep until the earliest deadline it knew of learns of an earlier one.
#[test]
fn a_sleeping_receiver_is_told_of_an_earlier_deadline() {
    let (clock, b) = manual::<u8>();
    let q = b.visibility_timeout(30 * SEC).build().unwrap();
    q.send(1).unwrap();
    let held = q.try_receive().unwrap();
    let q2 = q.clone();
    let waiter = thread::spawn(move || {
        q2.receive_timeout(100 * SEC)
            .map(|d| (*d.body(), d.receive_count()))
    });
    parked(&clock, 1); // asleep until the lease's deadline, 30 s away
    q.extend(held.receipt(), 10 * SEC).unwrap();
    parked(&clock, 1);
    clock.advance(10 * SEC);
    let mut spins = 0;
    while !waiter.is_finished() && spins < 2_000_000 {
        thread::yield_now();
        spins += 1;
    }
    let finished = waiter.is_finished();
    if !finished {
        clock.advance(90 * SEC); // let it go before failing
    }
    assert!(finished, "the receiver slept past the new deadline");
    assert_eq!(waiter.join().unwrap().unwrap(), (1, 2));
}
