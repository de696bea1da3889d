use std::thread;
use std::time::Duration;

use ember_queue::{Error, Message};

use crate::{SEC, manual, parked};

#[test]
fn duplicates_within_the_window_are_accepted_not_enqueued() {
    let (clock, b) = manual::<&str>();
    let q = b.build().unwrap();
    let first = q
        .send_message(Message::new("charge #7").dedup_id("order-7"))
        .unwrap();
    clock.advance(4 * 60 * SEC);
    let dup = q
        .send_message(Message::new("charge #7 again").dedup_id("order-7"))
        .unwrap();
    assert_eq!(dup, first);
    // Still remembered after the original was deleted.
    let d = q.try_receive().unwrap();
    assert_eq!(*d.body(), "charge #7");
    q.ack(d.receipt()).unwrap();
    clock.advance(59 * SEC);
    assert_eq!(
        q.send_message(Message::new("x").dedup_id("order-7"))
            .unwrap(),
        first
    );
    assert_eq!(q.try_receive().unwrap_err(), Error::Empty);
    // The window (5 minutes from the first send) has passed.
    clock.advance(SEC);
    let fresh = q
        .send_message(Message::new("charge #7, new").dedup_id("order-7"))
        .unwrap();
    assert_ne!(fresh, first);
    assert_eq!(*q.try_receive().unwrap().body(), "charge #7, new");
    let s = q.stats();
    assert_eq!((s.sends, s.deduplicated), (2, 2));
}

#[test]
fn dedup_window_is_configurable_and_ids_are_independent() {
    let (clock, b) = manual::<u8>();
    let q = b.dedup_window(10 * SEC).build().unwrap();
    let a = q.send_message(Message::new(1).dedup_id("a")).unwrap();
    let b2 = q.send_message(Message::new(2).dedup_id("b")).unwrap();
    assert_ne!(a, b2);
    clock.advance(10 * SEC);
    assert_ne!(q.send_message(Message::new(3).dedup_id("a")).unwrap(), a);
    assert_eq!(q.stats().visible, 3);
}

#[test]
fn duplicates_are_accepted_even_when_full() {
    let (_c, b) = manual::<u8>();
    let q = b.capacity(1).build().unwrap();
    let id = q.send_message(Message::new(1).dedup_id("k")).unwrap();
    assert_eq!(
        q.try_send_message(Message::new(1).dedup_id("k")).unwrap(),
        id
    );
    assert_eq!(*q.try_send(2).unwrap_err().error(), Error::Full);
}

#[test]
fn queue_delay_and_per_message_override() {
    let (clock, b) = manual::<&str>();
    let q = b.delay(10 * SEC).build().unwrap();
    q.send("queue delay").unwrap();
    q.send_message(Message::new("immediate").delay(Duration::ZERO))
        .unwrap();
    q.send_message(Message::new("short").delay(3 * SEC))
        .unwrap();
    assert_eq!(*q.try_receive().unwrap().body(), "immediate");
    assert_eq!(q.try_receive().unwrap_err(), Error::Empty);
    let s = q.stats();
    assert_eq!((s.delayed, s.visible), (2, 0));
    clock.advance(3 * SEC);
    assert_eq!(*q.try_receive().unwrap().body(), "short");
    clock.advance(7 * SEC - Duration::from_nanos(1));
    assert_eq!(q.try_receive().unwrap_err(), Error::Empty);
    clock.advance(Duration::from_nanos(1));
    assert_eq!(*q.try_receive().unwrap().body(), "queue delay");
}

#[test]
fn delayed_messages_are_delivered_in_send_order_once_visible() {
    let (clock, b) = manual::<u32>();
    let q = b.build().unwrap();
    q.send_message(Message::new(0).delay(5 * SEC)).unwrap();
    q.send_message(Message::new(1).delay(2 * SEC)).unwrap();
    q.send(2).unwrap();
    clock.advance(5 * SEC);
    let got: Vec<_> = q
        .try_receive_batch(10)
        .unwrap()
        .iter()
        .map(|d| *d.body())
        .collect();
    assert_eq!(got, vec![0, 1, 2]);
}

#[test]
fn a_blocked_receiver_wakes_when_a_delay_ends() {
    let (clock, b) = manual::<u32>();
    let q = b.build().unwrap();
    q.send_message(Message::new(5).delay(30 * SEC)).unwrap();
    let q2 = q.clone();
    let waiter = thread::spawn(move || q2.receive().map(|d| *d.body()));
    parked(&clock, 1);
    clock.advance(29 * SEC);
    parked(&clock, 1);
    assert!(!waiter.is_finished());
    clock.advance(SEC);
    assert_eq!(waiter.join().unwrap().unwrap(), 5);
}

#[test]
fn huge_delays_saturate_instead_of_overflowing() {
    let (_c, b) = manual::<u8>();
    let q = b.build().unwrap();
    q.send_message(Message::new(1).delay(Duration::MAX))
        .unwrap();
    assert_eq!(q.try_receive().unwrap_err(), Error::Empty);
    assert_eq!(q.stats().delayed, 1);
}
