//! Example `chat`: a chat service on one ember-stream topic.
//!
//! - Rooms are keys: every message of a room lands in the same partition, so a room's history is in
//!   order and can be replayed.
//! - Online users get live messages through pub/sub (`subscribe("room:rust")`): at most once, a slow
//!   client misses messages (counted) instead of slowing the service down.
//! - A consumer group of notification workers scans every message for `@mentions` and "sends"
//!   notifications, committing after each batch. One worker crashes without committing its last batch;
//!   after its session times out the others take over its rooms and the uncommitted messages are
//!   delivered again (at least once) — the notification sink drops the duplicates by record id.
//! - A user who joins late replays the room's history from the log.
//!
//! Run: `cargo run --release -p ember-examples --no-default-features --features stream --bin chat`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use ember_stream::{AutoOffsetReset, Message, Record, Retention, Topic};
use parking_lot::Mutex;

const ROOMS: [&str; 4] = ["room:rust", "room:music", "room:books", "room:random"];
const USERS: [&str; 5] = ["ann", "bob", "cho", "dev", "eve"];

/// Where notifications go: remembers what it already handled, so redeliveries are not sent twice.
#[derive(Default)]
struct NotificationSink {
    handled: Mutex<HashSet<(u32, u64)>>,
    redelivered: Mutex<u64>,
    sent: Mutex<u64>,
}

impl NotificationSink {
    fn handle(&self, record: &Record) {
        if !self
            .handled
            .lock()
            .insert((record.partition, record.offset))
        {
            *self.redelivered.lock() += 1;
            return;
        }
        for _user in mentions(record.value_str().unwrap_or("")) {
            *self.sent.lock() += 1;
        }
    }
}

fn mentions(text: &str) -> impl Iterator<Item = &str> {
    text.split_whitespace()
        .filter_map(|w| w.strip_prefix('@'))
        .map(|w| w.trim_end_matches(|c: char| !c.is_alphanumeric()))
}

fn say(topic: &Topic, room: &str, user: &str, text: &str) {
    topic
        .send(Message::keyed(room.to_owned(), text.to_owned()).header("user", user.to_owned()))
        .expect("append");
}

fn main() {
    let topic = Topic::builder("chat")
        .partitions(4)
        .retention(Retention::default().max_records(100_000))
        .subscriber_buffer(512)
        .build()
        .expect("topic");

    // Online users: ann follows #rust live, eve follows every room but reads slowly.
    let ann_live = topic.subscribe("room:rust").expect("pattern");
    let eve_live = topic.subscribe("room:*").expect("pattern");

    // ann is online and reads #rust as it comes; eve subscribed to every room but her client is stuck.
    let ann = thread::spawn(move || {
        let mut got = 0;
        while let Some(_message) = ann_live.recv_timeout(Duration::from_millis(500)) {
            got += 1;
        }
        (got, ann_live.missed())
    });

    // The first half of the day's traffic arrives before the notification service starts.
    let traffic = |from: usize, to: usize| {
        for i in from..to {
            let room = ROOMS[i % ROOMS.len()];
            let user = USERS[i % USERS.len()];
            let text = if i % 7 == 0 {
                format!("hey @{} look at message {i}", USERS[(i / 7) % USERS.len()])
            } else {
                format!("message {i} from {user}")
            };
            say(&topic, room, user, &text);
        }
    };
    traffic(0, 1_000);

    // The notification workers.
    let group = topic
        .consumer_group("notifier")
        .session_timeout(Duration::from_millis(300))
        .heartbeat_interval(Duration::from_millis(50))
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .build()
        .expect("group");
    let sink = Arc::new(NotificationSink::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..3 {
        let mut member = group.join(format!("worker-{w}")).expect("join");
        let (sink, stop) = (sink.clone(), stop.clone());
        workers.push(thread::spawn(move || {
            let mut handled = 0u64;
            let mut batches = 0;
            while !stop.load(Ordering::SeqCst) {
                let batch = member.poll(50, Duration::from_millis(20)).expect("poll");
                if batch.is_empty() {
                    continue;
                }
                for record in &batch {
                    sink.handle(record);
                }
                handled += batch.len() as u64;
                batches += 1;
                if w == 0 && batches == 3 {
                    // worker-0 crashes: it handled this batch but never commits it, never leaves.
                    std::mem::forget(member);
                    return (w, handled, true);
                }
                // A rebalance since our last poll rejects the commit; the next poll catches up.
                let _ = member.commit();
            }
            (w, handled, false)
        }));
    }

    // The rest of the traffic arrives while they work.
    traffic(1_000, 2_000);

    // Wait until the group has committed everything (worker-0's rooms move after its session expires).
    while group.stats().lag > 0 {
        thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    println!("notification workers:");
    for w in workers {
        let (id, handled, crashed) = w.join().expect("worker");
        let note = if crashed {
            " (crashed before committing its last batch)"
        } else {
            ""
        };
        println!("  worker-{id}: handled {handled} messages{note}");
    }
    let g = group.stats();
    println!(
        "  group: {} members left, {} rebalances, {} expired sessions, lag {}",
        g.members, g.rebalances, g.expired_sessions, g.lag
    );
    println!(
        "  {} messages handled, {} mention notifications sent; {} messages redelivered after the crash (at least once) and not notified twice",
        sink.handled.lock().len(),
        sink.sent.lock(),
        sink.redelivered.lock()
    );

    // Live clients.
    let (ann_got, ann_missed) = ann.join().expect("ann");
    println!(
        "online: ann read {ann_got} live #rust messages (missed {ann_missed}); eve's stuck client kept {} of all rooms and missed {} (buffer 512): producers never waited for her",
        eve_live.drain().len(),
        eve_live.missed()
    );

    // A late joiner replays the last messages of #rust from the log.
    let room = "room:rust";
    let partition = topic.partition_for(room.as_bytes());
    let (earliest, latest) = topic.offsets(partition).expect("offsets");
    let history: Vec<Record> = topic
        .consumer(ember_stream::Start::Earliest)
        .map(|r| r.expect("read"))
        .filter(|r| r.key_str() == Some(room))
        .collect();
    println!(
        "late joiner dev replays {room}: {} messages in partition {partition} (offsets {earliest}..{latest}), last three:",
        history.len()
    );
    for r in history.iter().rev().take(3).rev() {
        let user = r
            .header("user")
            .map(|u| String::from_utf8_lossy(u).into_owned())
            .unwrap_or_default();
        println!("  [{}] {user}: {}", r.offset, r.value_str().unwrap_or(""));
    }

    let s = topic.stats();
    let per_room: BTreeMap<u32, u64> = s
        .partition_stats
        .iter()
        .map(|p| (p.partition, p.records))
        .collect();
    println!("topic: {s}");
    println!("records per partition: {per_room:?}");
}
