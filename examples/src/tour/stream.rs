//! Tour section of ember-stream: a partitioned log with Kafka's consumer groups, Redis Streams'
//! pending entries, retention and pub/sub.

use std::time::Duration;

use ember_core::{Clock, ManualClock};
use ember_stream::{AutoOffsetReset, Error, Retention, Start, Topic};

/// Runs this section.
pub fn run() {
    super::heading("ember-stream");
    let clock = ManualClock::new();
    let topic = Topic::builder("orders")
        .partitions(4)
        .retention(Retention::default().max_age(Duration::from_secs(3600)))
        .clock(clock.clone())
        .build()
        .expect("topic");
    let live = topic.subscribe("customer:1*").expect("pattern");
    for i in 0..1_000 {
        topic
            .append(format!("customer:{}", i % 25), format!("order {i}"))
            .expect("append");
    }
    let s = topic.stats();
    println!(
        "appended {} records to 4 partitions (per partition: {:?}); customer:1* subscriber got {} live",
        s.records,
        s.partition_stats
            .iter()
            .map(|p| p.records)
            .collect::<Vec<_>>(),
        live.drain().len()
    );

    // A Kafka-style consumer group with two members shares the partitions and commits.
    let group = topic
        .consumer_group("billing")
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .build()
        .expect("group");
    let mut a = group.join("a").expect("join");
    let mut b = group.join("b").expect("join");
    let mut handled = [0usize; 2];
    for (n, member) in [&mut a, &mut b].into_iter().enumerate() {
        loop {
            let batch = member.poll(200, Duration::ZERO).expect("poll");
            if batch.is_empty() {
                break;
            }
            handled[n] += batch.len();
            member.commit().expect("commit");
        }
    }
    println!(
        "group billing: a owns {:?} and handled {}, b owns {:?} and handled {}; lag {}",
        a.assignment(),
        handled[0],
        b.assignment(),
        handled[1],
        group.stats().lag
    );

    // A Redis-style work group: pending entries, a crash, and a claim.
    let jobs = topic
        .work_group("mailer")
        .start(Start::Earliest)
        .build()
        .expect("work group");
    let taken = jobs.read("worker-1", 10).expect("read");
    jobs.ack(&[taken[0].record.id()]);
    clock.advance(Duration::from_secs(120));
    let rescued = jobs
        .autoclaim("worker-2", Duration::from_secs(60), Default::default(), 100)
        .expect("autoclaim");
    println!(
        "work group mailer: worker-1 took 10, acked 1, went silent; worker-2 claimed {} idle entries (delivery count {})",
        rescued.claimed.len(),
        rescued.claimed[0].deliveries
    );

    // Seek by time (Kafka's offsetsForTimes): where do the records from this moment on start?
    let since = clock.unix_millis();
    topic.append("customer:7", "order 1000").expect("append");
    let p = topic.partition_for(b"customer:7");
    let found = topic
        .offset_for_time(p, since)
        .expect("lookup")
        .expect("a record that recent");
    let replayed = topic
        .partition_consumer(p, Start::Time(since))
        .expect("consumer")
        .count();
    println!(
        "offset_for_time(partition {p}, two minutes in) = offset {} of {}; a consumer starting there reads {replayed} record",
        found.offset,
        topic.offsets(p).expect("offsets").1
    );

    // Retention by age, judged by the (manual) clock.
    clock.advance(Duration::from_secs(3600));
    match topic.read(0, 0, 10) {
        Err(Error::OffsetOutOfRange {
            earliest, latest, ..
        }) => println!(
            "an hour later retention trimmed partition 0: offset 0 is out of range [{earliest}, {latest}]"
        ),
        other => println!("unexpected: {other:?}"),
    }
    println!("stats: {}", topic.stats());
}
