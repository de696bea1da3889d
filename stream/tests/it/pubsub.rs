//! Pub/sub: live fan-out, patterns, slow and gone subscribers, never blocking producers.

use std::thread;
use std::time::Duration;

use ember_stream::{Error, Topic};

use crate::support::{manual_topic, wait_parked};

#[test]
fn fan_out_to_every_matching_subscriber_in_offset_order() {
    let topic = Topic::builder("t").partitions(3).build().unwrap();
    topic.append("room:a", "before subscribing").unwrap();
    let all = topic.subscribe("*").unwrap();
    let rooms = topic.subscribe("room:*").unwrap();
    let room_a = topic.subscribe("room:a").unwrap();
    for i in 0..20 {
        topic
            .append(format!("room:{}", ["a", "b"][i % 2]), format!("{i}"))
            .unwrap();
    }
    topic.append_unkeyed("system notice").unwrap();
    let got_all = all.drain();
    assert_eq!(
        got_all.len(),
        21,
        "only records appended after subscribing; unkeyed matches *"
    );
    assert_eq!(rooms.drain().len(), 20);
    let a = room_a.drain();
    assert_eq!(a.len(), 10);
    assert!(a.windows(2).all(|w| w[1].offset > w[0].offset));
    assert!(a.iter().all(|r| r.key_str() == Some("room:a")));
    assert_eq!(all.received(), 21);
    let s = topic.stats();
    assert_eq!(
        (s.subscribers, s.pubsub_delivered, s.pubsub_dropped),
        (3, 51, 0)
    );
}

#[test]
fn slow_subscriber_misses_messages_and_never_blocks_producers() {
    let topic = Topic::builder("t").subscriber_buffer(8).build().unwrap();
    let slow = topic.subscribe("*").unwrap();
    let fast = topic.subscribe("*").unwrap();
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let topic = topic.clone();
            thread::spawn(move || {
                for i in 0..500 {
                    topic.append(format!("p{p}"), format!("{i}")).unwrap();
                }
            })
        })
        .collect();
    let mut fast_got = 0;
    for p in producers {
        p.join().unwrap(); // would hang if a full buffer blocked producers
    }
    fast_got += fast.drain().len();
    assert_eq!(slow.waiting(), 8);
    assert_eq!(slow.missed(), 2000 - 8);
    assert_eq!(slow.drain().len(), 8);
    assert_eq!(fast_got as u64 + fast.missed(), 2000);
    assert_eq!(topic.stats().pubsub_dropped, slow.missed() + fast.missed());
    // The log itself has everything: pub/sub loss never touches it.
    assert_eq!(topic.offsets(0).unwrap().1, 2000);
}

#[test]
fn dropped_subscription_unsubscribes() {
    let topic = Topic::builder("t").build().unwrap();
    let s = topic.subscribe("*").unwrap();
    assert_eq!(topic.stats().subscribers, 1);
    drop(s);
    assert_eq!(topic.stats().subscribers, 0);
    topic.append("k", "nobody listens").unwrap();
    assert_eq!(topic.stats().pubsub_delivered, 0);
    assert!(matches!(
        topic.subscribe("[oops"),
        Err(Error::InvalidPattern { .. })
    ));
}

#[test]
fn recv_timeout_wakes_on_publish_and_times_out_by_clock() {
    let (topic, clock) = manual_topic("t", 2);
    let sub = topic.subscribe("alerts:*").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = thread::spawn(move || {
        tx.send(sub.recv_timeout(Duration::from_secs(5))).unwrap();
        sub.recv_timeout(Duration::from_secs(5))
    });
    wait_parked(&clock, 1);
    topic.append("other", "ignored").unwrap();
    topic.append("alerts:disk", "90% full").unwrap();
    assert_eq!(rx.recv().unwrap().unwrap().value_str(), Some("90% full"));
    wait_parked(&clock, 1);
    clock.advance(Duration::from_secs(5));
    assert!(h.join().unwrap().is_none());
}
