use ember_core::Clock;
use ember_queue::{
    DeadLetters, Delivery, Error, Jitter, PartitionedQueue, Queue, QueueStats, RetryPolicy,
};

use crate::{SEC, manual};

#[test]
fn handles_are_send_sync_and_clone() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Queue<String>>();
    assert_send_sync::<PartitionedQueue<Vec<u8>>>();
    assert_send_sync::<DeadLetters<String>>();
    assert_send_sync::<Delivery<String>>();
    assert_send_sync::<QueueStats>();
    fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}
    assert_error::<Error>();
    assert_error::<ember_queue::SendError<String>>();
}

#[test]
fn delivers_in_send_order_with_metadata() {
    let (clock, b) = manual::<u32>();
    let q = b.build().unwrap();
    let sent_at = clock.unix_millis();
    let ids: Vec<_> = (0..10).map(|i| q.send(i).unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    clock.advance(SEC);
    for (i, id) in ids.iter().enumerate() {
        let d = q.try_receive().unwrap();
        assert_eq!(*d.body(), i as u32);
        assert_eq!(d.id(), *id);
        assert_eq!(d.receipt().message_id(), *id);
        assert_eq!(d.receive_count(), 1);
        assert_eq!(d.sent_unix_ms(), sent_at);
        assert_eq!(d.group(), None);
        assert_eq!(d.last_error(), None);
        q.ack(d.receipt()).unwrap();
    }
    assert_eq!(q.try_receive().unwrap_err(), Error::Empty);
    let s = q.stats();
    assert_eq!((s.sends, s.receives, s.acks, s.depth()), (10, 10, 10, 0));
}

#[test]
fn clones_share_the_queue() {
    let (_c, b) = manual::<&str>();
    let q = b.build().unwrap();
    let other = q.clone();
    other.send("x").unwrap();
    let d = q.try_receive().unwrap();
    other.ack(d.receipt()).unwrap();
    assert_eq!(q.stats().acks, 1);
}

#[test]
fn receive_batch_takes_up_to_max_in_order() {
    let (_c, b) = manual::<u32>();
    let q = b.build().unwrap();
    q.send_batch(0..7).unwrap();
    let first = q.receive_batch(5).unwrap();
    assert_eq!(
        first.iter().map(|d| *d.body()).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    let rest = q.try_receive_batch(5).unwrap();
    assert_eq!(rest.len(), 2);
    assert!(q.try_receive_batch(0).unwrap().is_empty());
    assert_eq!(q.try_receive_batch(3).unwrap_err(), Error::Empty);
    let results = q.ack_batch(&first.iter().map(Delivery::receipt).collect::<Vec<_>>());
    assert!(results.iter().all(Result::is_ok));
    // Acking the same receipts again: every one is stale now.
    let again = q.ack_batch(&[first[0].receipt(), rest[0].receipt()]);
    assert_eq!(again[0], Err(Error::StaleReceipt(first[0].id())));
    assert!(again[1].is_ok());
    assert_eq!(q.stats().in_flight, 1);
}

#[test]
fn builder_rejects_bad_settings() {
    assert!(matches!(
        Queue::<u8>::builder().capacity(0).build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        Queue::<u8>::builder().max_receives(0).build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        Queue::<u8>::builder()
            .visibility_timeout(13 * 3600 * SEC)
            .build(),
        Err(Error::InvalidVisibility(_))
    ));
    assert!(matches!(
        Queue::<u8>::builder()
            .retry(RetryPolicy::exponential(SEC, SEC).factor(0.5))
            .build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        PartitionedQueue::<u8>::builder().partitions(0).build(),
        Err(Error::Config(_))
    ));
    assert!(
        Queue::<u8>::builder()
            .retry(RetryPolicy::exponential(SEC, SEC).with_jitter(Jitter::Equal))
            .build()
            .is_ok()
    );
}

#[test]
fn close_refuses_sends_drains_then_reports_closed() {
    let (clock, b) = manual::<u32>();
    let q = b.visibility_timeout(10 * SEC).build().unwrap();
    q.send(1).unwrap();
    q.send(2).unwrap();
    q.close();
    assert!(q.is_closed());
    let err = q.send(3).unwrap_err();
    assert_eq!(*err.error(), Error::Closed);
    assert_eq!(err.into_message(), 3);
    assert_eq!(*q.try_send(4).unwrap_err().error(), Error::Closed);
    let batch = q.send_batch([5, 6]).unwrap_err();
    assert_eq!(batch.into_unsent(), vec![5, 6]);

    let a = q.receive().unwrap();
    let b = q.receive().unwrap();
    q.ack(a.receipt()).unwrap();
    // One message still in flight: not drained yet, so not Closed.
    assert_eq!(q.try_receive().unwrap_err(), Error::Empty);
    // Its lease ends: it comes back and is drained.
    clock.advance(10 * SEC);
    let again = q.receive().unwrap();
    assert_eq!((*again.body(), again.receive_count()), (2, 2));
    assert_eq!(q.ack(b.receipt()), Err(Error::StaleReceipt(b.id())));
    q.ack(again.receipt()).unwrap();
    assert_eq!(q.receive().unwrap_err(), Error::Closed);
    assert_eq!(q.try_receive().unwrap_err(), Error::Closed);
    assert_eq!(q.receive_timeout(SEC).unwrap_err(), Error::Closed);
    assert!(q.stats().closed);
}

#[test]
fn close_wakes_a_blocked_receiver() {
    let (clock, b) = manual::<u32>();
    let q = b.build().unwrap();
    let q2 = q.clone();
    let waiter = std::thread::spawn(move || q2.receive());
    crate::parked(&clock, 1);
    q.close();
    assert_eq!(waiter.join().unwrap().unwrap_err(), Error::Closed);
}

#[test]
fn blocked_receiver_gets_a_message_sent_later() {
    let (clock, b) = manual::<u32>();
    let q = b.build().unwrap();
    let q2 = q.clone();
    let waiter = std::thread::spawn(move || q2.receive().map(|d| *d.body()));
    crate::parked(&clock, 1);
    q.send(99).unwrap();
    assert_eq!(waiter.join().unwrap().unwrap(), 99);
}

#[test]
fn receive_timeout_gives_up_when_the_clock_passes_it() {
    let (clock, b) = manual::<u32>();
    let q = b.build().unwrap();
    let q2 = q.clone();
    let waiter = std::thread::spawn(move || q2.receive_timeout(5 * SEC));
    crate::parked(&clock, 1);
    clock.advance(4 * SEC);
    crate::parked(&clock, 1);
    assert!(!waiter.is_finished());
    clock.advance(SEC);
    assert_eq!(waiter.join().unwrap().unwrap_err(), Error::Timeout);
    let batch = q.clone();
    let waiter = std::thread::spawn(move || batch.receive_batch_timeout(3, 2 * SEC));
    crate::parked(&clock, 1);
    clock.advance(2 * SEC);
    assert_eq!(waiter.join().unwrap().unwrap_err(), Error::Timeout);
}

#[test]
fn stats_display_is_one_line_of_fields() {
    let (clock, b) = manual::<u32>();
    let q = b.capacity(8).build().unwrap();
    q.send(1).unwrap();
    clock.advance(3 * SEC);
    q.send(2).unwrap();
    let s = q.stats();
    assert_eq!(s.oldest_age_ms, 3000);
    assert_eq!(s.capacity, 8);
    let line = s.to_string();
    assert!(line.contains("visible=2"), "{line}");
    assert!(line.contains("oldest_age_ms=3000"), "{line}");
    assert!(!line.contains('\n'));
    fn is_snapshot<S: ember_core::stats::Snapshot>(_: &S) {}
    is_snapshot(&s);
}
