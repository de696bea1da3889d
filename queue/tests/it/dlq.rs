use std::time::Duration;

use ember_queue::{DeadLetterReason, Error, Jitter, NackOutcome, Queue, RetryPolicy};

use crate::{SEC, manual};

#[test]
fn nack_waits_the_fixed_retry_delay() {
    let (clock, b) = manual::<&str>();
    let q = b.retry(RetryPolicy::fixed(5 * SEC)).build().unwrap();
    q.send("job").unwrap();
    let d = q.try_receive().unwrap();
    assert_eq!(
        q.nack(d.receipt()).unwrap(),
        NackOutcome::Retry { delay: 5 * SEC }
    );
    assert_eq!(q.stats().delayed, 1);
    clock.advance(4 * SEC);
    assert_eq!(q.try_receive().unwrap_err(), Error::Empty);
    clock.advance(SEC);
    let again = q.try_receive().unwrap();
    assert_eq!(again.receive_count(), 2);
    assert!(q.nack(d.receipt()).is_err(), "the old receipt is stale");
}

#[test]
fn exponential_backoff_grows_per_attempt_up_to_the_cap() {
    let (clock, b) = manual::<&str>();
    let q = b
        .retry(RetryPolicy::exponential(SEC, 5 * SEC))
        .build()
        .unwrap();
    q.send("flaky").unwrap();
    let mut delays = Vec::new();
    for _ in 0..5 {
        let d = q.try_receive().unwrap();
        let NackOutcome::Retry { delay } = q.nack(d.receipt()).unwrap() else {
            panic!("no max receives: never dead-lettered");
        };
        delays.push(delay);
        clock.advance(delay - Duration::from_millis(1));
        assert_eq!(q.try_receive().unwrap_err(), Error::Empty);
        clock.advance(Duration::from_millis(1));
    }
    assert_eq!(delays, vec![SEC, 2 * SEC, 4 * SEC, 5 * SEC, 5 * SEC]);
    assert_eq!(q.try_receive().unwrap().receive_count(), 6);
}

#[test]
fn jitter_is_reproducible_with_a_seed() {
    let run = |seed| {
        let (clock, b) = manual::<u8>();
        let q = b
            .retry(RetryPolicy::exponential(SEC, 60 * SEC).with_jitter(Jitter::Full))
            .seed(seed)
            .build()
            .unwrap();
        q.send(1).unwrap();
        let mut delays = Vec::new();
        for _ in 0..6 {
            let d = q.try_receive().unwrap();
            let NackOutcome::Retry { delay } = q.nack(d.receipt()).unwrap() else {
                panic!()
            };
            delays.push(delay);
            clock.advance(delay);
        }
        delays
    };
    let a = run(11);
    assert_eq!(a, run(11));
    assert_ne!(a, run(12));
    let caps = [1, 2, 4, 8, 16, 32];
    assert!(a.iter().zip(caps).all(|(d, cap)| *d <= cap * SEC));
}

#[test]
fn max_receives_moves_a_nacked_message_to_the_dlq_with_its_record() {
    let (clock, b) = manual::<String>();
    let q = b.max_receives(3).build().unwrap();
    let id = q.send("corrupt.png".to_string()).unwrap();
    q.send("ok.png".to_string()).unwrap();
    for attempt in 1..=3 {
        let d = q.try_receive().unwrap();
        assert_eq!(d.id(), id);
        assert_eq!(d.receive_count(), attempt);
        let out = q
            .nack_with_error(d.receipt(), format!("decode failed #{attempt}"))
            .unwrap();
        if attempt < 3 {
            assert_eq!(
                out,
                NackOutcome::Retry {
                    delay: Duration::ZERO
                }
            );
        } else {
            assert_eq!(out, NackOutcome::DeadLettered);
        }
    }
    clock.advance(SEC);
    let dlq = q.dead_letters();
    assert_eq!(dlq.len(), 1);
    let letter = dlq.peek().unwrap();
    assert_eq!(letter.id, id);
    assert_eq!(letter.body, "corrupt.png");
    assert_eq!(letter.attempts, 3);
    assert_eq!(letter.last_error.as_deref(), Some("decode failed #3"));
    assert_eq!(letter.reason, DeadLetterReason::Nacked);
    assert_eq!(letter.dead_lettered_unix_ms, letter.sent_unix_ms);
    assert_eq!(dlq.get(id), Some(letter.clone()));
    // The healthy message was not held up.
    assert_eq!(q.try_receive().unwrap().body(), "ok.png");
    let s = q.stats();
    assert_eq!((s.dead_lettered, s.dead_letters, s.nacks), (1, 1, 3));
}

#[test]
fn a_message_that_keeps_timing_out_is_dead_lettered_too() {
    let (clock, b) = manual::<u8>();
    let q = b
        .max_receives(2)
        .visibility_timeout(5 * SEC)
        .build()
        .unwrap();
    q.send(1).unwrap();
    let first = q.try_receive().unwrap();
    q.nack_with_error(first.receipt(), "boom").unwrap();
    let _second = q.try_receive().unwrap();
    clock.advance(5 * SEC);
    assert_eq!(q.try_receive().unwrap_err(), Error::Empty);
    let letter = q.dead_letters().peek().unwrap();
    assert_eq!(letter.reason, DeadLetterReason::VisibilityTimeout);
    assert_eq!(letter.attempts, 2);
    // The error of the earlier nack is kept.
    assert_eq!(letter.last_error.as_deref(), Some("boom"));
    let s = q.stats();
    assert_eq!((s.expired, s.dead_lettered, s.depth()), (1, 1, 0));
}

#[test]
fn redrive_selected_and_all_keeps_ids_and_resets_counts() {
    let (_clock, b) = manual::<u32>();
    let q = b.max_receives(1).build().unwrap();
    let ids: Vec<_> = (0..5).map(|i| q.send(i).unwrap()).collect();
    for _ in 0..5 {
        let d = q.try_receive().unwrap();
        q.nack(d.receipt()).unwrap();
    }
    let dlq = q.dead_letters();
    assert_eq!(dlq.len(), 5);
    assert_eq!(
        dlq.list().iter().map(|l| l.id).collect::<Vec<_>>(),
        ids,
        "oldest first"
    );
    assert_eq!(dlq.redrive(&[ids[3], ids[1]]).unwrap(), 2);
    assert_eq!(dlq.len(), 3);
    let a = q.try_receive().unwrap();
    let b2 = q.try_receive().unwrap();
    assert_eq!((a.id(), b2.id()), (ids[1], ids[3]));
    assert_eq!(a.receive_count(), 1, "redriven messages start over");
    q.ack(a.receipt()).unwrap();
    q.ack(b2.receipt()).unwrap();
    let taken = dlq.take(ids[0]).unwrap();
    assert_eq!(taken.body, 0);
    assert!(dlq.take(ids[0]).is_none());
    assert_eq!(dlq.redrive_all().unwrap(), 2);
    assert!(dlq.is_empty());
    assert_eq!(q.stats().redriven, 4);
    assert_eq!(q.stats().visible, 2);
}

#[test]
fn redrive_on_a_closed_queue_is_refused_and_loses_nothing() {
    let q: Queue<u8> = Queue::builder().max_receives(1).build().unwrap();
    q.send(1).unwrap();
    let d = q.try_receive().unwrap();
    q.nack(d.receipt()).unwrap();
    q.close();
    assert_eq!(q.dead_letters().redrive_all(), Err(Error::Closed));
    assert_eq!(q.dead_letters().len(), 1);
    assert_eq!(q.dead_letters().take_all().len(), 1);
}

#[test]
fn dead_lettering_frees_room() {
    let q: Queue<u8> = Queue::builder()
        .capacity(1)
        .max_receives(1)
        .build()
        .unwrap();
    q.send(1).unwrap();
    assert_eq!(*q.try_send(2).unwrap_err().error(), Error::Full);
    let d = q.try_receive().unwrap();
    assert_eq!(
        *q.try_send(2).unwrap_err().error(),
        Error::Full,
        "in flight counts"
    );
    q.nack(d.receipt()).unwrap();
    q.try_send(2).unwrap();
    // Redrive ignores capacity: already-accepted messages are never refused.
    assert_eq!(q.dead_letters().redrive_all().unwrap(), 1);
    assert_eq!(q.stats().depth(), 2);
}
