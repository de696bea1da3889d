//! Tour section of ember-queue: a work queue with SQS semantics, driven by a manual clock.

use std::time::Duration;

use ember_core::ManualClock;
use ember_queue::{Message, NackOutcome, Queue, RetryPolicy};

/// Runs this section.
pub fn run() {
    super::heading("ember-queue");
    let clock = ManualClock::new();
    let queue: Queue<&str> = Queue::builder()
        .visibility_timeout(Duration::from_secs(30))
        .retry(RetryPolicy::exponential(
            Duration::from_secs(1),
            Duration::from_secs(60),
        ))
        .max_receives(3)
        .clock(clock.clone())
        .build()
        .expect("valid configuration");

    for job in ["resize cat.jpg", "resize dog.jpg", "resize broken.heic"] {
        queue.send(job).expect("room");
    }
    let first = queue.try_receive().expect("a job");
    println!(
        "received {:?} (receive #{}); a crashed worker never acks it...",
        first.body(),
        first.receive_count()
    );
    clock.advance(Duration::from_secs(30));
    let again = queue.try_receive().expect("redelivered");
    println!(
        "after the 30 s visibility timeout it is back: {:?} (receive #{})",
        again.body(),
        again.receive_count()
    );
    queue.ack(again.receipt()).expect("our lease");
    println!(
        "the crashed worker's late ack is refused: {}",
        queue.ack(first.receipt()).unwrap_err()
    );

    let dog = queue.try_receive().expect("a job");
    queue.ack(dog.receipt()).expect("our lease");
    let mut attempt = queue.try_receive().expect("the poison message");
    loop {
        match queue
            .nack_with_error(attempt.receipt(), "unsupported format")
            .expect("our lease")
        {
            NackOutcome::Retry { delay } => {
                println!(
                    "{:?} failed (attempt {}), retry in {delay:?}",
                    attempt.body(),
                    attempt.receive_count()
                );
                clock.advance(delay);
                attempt = queue.try_receive().expect("retry");
            }
            NackOutcome::DeadLettered => break,
            other => panic!("{other:?}"),
        }
    }
    let letter = queue.dead_letters().peek().expect("dead-lettered");
    println!(
        "dead-lettered {:?} after {} attempts ({}); redrive after the fix: {} moved",
        letter.body,
        letter.attempts,
        letter.last_error.as_deref().unwrap_or("-"),
        queue.dead_letters().redrive_all().expect("open")
    );
    let fixed = queue.try_receive().expect("redriven");
    queue.ack(fixed.receipt()).expect("our lease");

    for (user, step) in [("ann", "pay"), ("bob", "pay"), ("ann", "ship")] {
        queue
            .send_message(Message::new(step).group(user))
            .expect("room");
    }
    let batch = queue.try_receive_batch(10).expect("group heads");
    println!(
        "message groups: one in flight per group, so a batch of 10 gets {} ({})",
        batch.len(),
        batch
            .iter()
            .map(|d| format!("{}:{}", d.group().map_or("-", |g| g), d.body()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for d in &batch {
        queue.ack(d.receipt()).expect("our lease");
    }
    println!("stats: {}", queue.stats());
}
