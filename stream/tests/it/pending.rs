//! Work groups: pending entries, ack, XPENDING, claim, autoclaim (Redis Streams model).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use ember_stream::{Error, PendingQuery, RecordId, Start, Topic};

use crate::support::{manual_topic, trim_before, wait_parked};

#[test]
fn each_record_goes_to_exactly_one_consumer_under_concurrency() {
    const RECORDS: usize = 3000;
    let topic = Topic::builder("jobs").partitions(4).build().unwrap();
    for i in 0..RECORDS {
        topic.append_unkeyed(format!("{i}")).unwrap();
    }
    let wg = topic
        .work_group("w")
        .start(Start::Earliest)
        .build()
        .unwrap();
    let acked = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let wg = wg.clone();
            let acked = acked.clone();
            thread::spawn(move || {
                let name = format!("worker-{w}");
                let mut mine = Vec::new();
                loop {
                    let batch = wg.read(&name, 17).unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    let ids: Vec<RecordId> = batch.iter().map(|d| d.record.id()).collect();
                    assert!(batch.iter().all(|d| d.deliveries == 1));
                    acked.fetch_add(wg.ack(&ids), Ordering::SeqCst);
                    mine.extend(ids);
                }
            })
        })
        .collect();
    let mut all = HashSet::new();
    let mut total = 0;
    for w in workers {
        let ids = w.join().unwrap();
        total += ids.len();
        all.extend(ids);
    }
    assert_eq!(total, RECORDS, "no record delivered twice");
    assert_eq!(all.len(), RECORDS, "every record delivered");
    assert_eq!(acked.load(Ordering::SeqCst), RECORDS);
    assert_eq!(wg.pending().count, 0);
    let s = wg.stats();
    assert_eq!(
        (s.delivered, s.acked, s.lag, s.consumers),
        (RECORDS as u64, RECORDS as u64, 0, 6)
    );
}

#[test]
fn pending_summary_entries_idle_and_ack() {
    let (topic, clock) = manual_topic("t", 1);
    for i in 0..6 {
        topic.append_unkeyed(format!("{i}")).unwrap();
    }
    let wg = topic
        .work_group("w")
        .start(Start::Earliest)
        .build()
        .unwrap();
    let a = wg.read("alice", 4).unwrap();
    clock.advance(Duration::from_secs(10));
    let b = wg.read("bob", 10).unwrap();
    assert_eq!((a.len(), b.len()), (4, 2));
    let summary = wg.pending();
    assert_eq!(summary.count, 6);
    assert_eq!(summary.lowest, Some(RecordId::new(0, 0)));
    assert_eq!(summary.highest, Some(RecordId::new(0, 5)));
    assert_eq!(
        summary.consumers,
        vec![("alice".to_string(), 4), ("bob".to_string(), 2)]
    );

    let idle = wg.pending_entries(&PendingQuery {
        min_idle: Duration::from_secs(5),
        ..PendingQuery::default()
    });
    assert_eq!(idle.len(), 4);
    assert!(
        idle.iter()
            .all(|e| e.consumer == "alice" && e.idle == Duration::from_secs(10))
    );
    let bobs = wg.pending_entries(&PendingQuery {
        consumer: Some("bob".into()),
        ..PendingQuery::default()
    });
    assert_eq!(
        bobs.iter().map(|e| e.id.offset).collect::<Vec<_>>(),
        vec![4, 5]
    );
    let page = wg.pending_entries(&PendingQuery {
        start: RecordId::new(0, 2),
        count: 2,
        ..PendingQuery::default()
    });
    assert_eq!(
        page.iter().map(|e| e.id.offset).collect::<Vec<_>>(),
        vec![2, 3]
    );

    assert_eq!(
        wg.ack(&[
            RecordId::new(0, 0),
            RecordId::new(0, 0),
            RecordId::new(0, 9)
        ]),
        1
    );
    assert_eq!(wg.pending().count, 5);
    // Nothing new to read: the cursor is at the end.
    assert!(wg.read("carol", 10).unwrap().is_empty());
}

#[test]
fn claim_only_idle_entries_once_and_count_deliveries() {
    let (topic, clock) = manual_topic("t", 2);
    for i in 0..4 {
        topic.append_unkeyed(format!("{i}")).unwrap();
    }
    let wg = topic
        .work_group("w")
        .start(Start::Earliest)
        .build()
        .unwrap();
    let taken = wg.read("dead", 10).unwrap();
    let ids: Vec<RecordId> = taken.iter().map(|d| d.record.id()).collect();
    clock.advance(Duration::from_secs(20));
    // Not idle long enough: nothing moves.
    assert!(
        wg.claim("rescuer", Duration::from_secs(30), &ids)
            .unwrap()
            .is_empty()
    );
    clock.advance(Duration::from_secs(20));
    let first = wg.claim("rescuer", Duration::from_secs(30), &ids).unwrap();
    assert_eq!(first.len(), 4);
    assert!(first.iter().all(|d| d.deliveries == 2));
    // A second recoverer with the same min-idle gets nothing: the claim reset the idle time.
    assert!(
        wg.claim("other", Duration::from_secs(30), &ids)
            .unwrap()
            .is_empty()
    );
    let entries = wg.pending_entries(&PendingQuery::default());
    assert!(
        entries
            .iter()
            .all(|e| e.consumer == "rescuer" && e.idle.is_zero() && e.deliveries == 2)
    );
    // Claiming unknown ids is a no-op.
    assert!(
        wg.claim("x", Duration::ZERO, &[RecordId::new(1, 99)])
            .unwrap()
            .is_empty()
    );
    // Poison detection: claim again and again.
    let again = wg.claim("third", Duration::ZERO, &ids[..1]).unwrap();
    assert_eq!(again[0].deliveries, 3);
    assert_eq!(wg.stats().claimed, 5);
}

#[test]
fn autoclaim_pages_through_the_list_and_reports_trimmed_entries() {
    let (topic, clock) = manual_topic("t", 1);
    for i in 0..25 {
        topic.append_unkeyed(format!("{i}")).unwrap();
    }
    let wg = topic
        .work_group("w")
        .start(Start::Earliest)
        .build()
        .unwrap();
    wg.read("dead", 25).unwrap();
    clock.advance(Duration::from_secs(60));
    trim_before(&topic, 0, 5);
    let mut cursor = RecordId::default();
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut calls = 0;
    loop {
        let r = wg
            .autoclaim("live", Duration::from_secs(30), cursor, 10)
            .unwrap();
        calls += 1;
        claimed.extend(r.claimed.iter().map(|d| d.record.offset));
        deleted.extend(r.deleted.iter().map(|id| id.offset));
        match r.next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    assert_eq!(deleted, vec![0, 1, 2, 3, 4]);
    assert_eq!(claimed, (5..25).collect::<Vec<u64>>());
    assert!(calls >= 2, "paged by count");
    assert_eq!(wg.pending().count, 20);
    assert_eq!(wg.pending().consumers, vec![("live".to_string(), 20)]);
}

#[test]
fn restarted_consumer_rereads_its_own_pending_history() {
    let (topic, _) = manual_topic("t", 1);
    for i in 0..5 {
        topic.append_unkeyed(format!("{i}")).unwrap();
    }
    let wg = topic
        .work_group("w")
        .start(Start::Earliest)
        .build()
        .unwrap();
    wg.read("a", 3).unwrap();
    wg.read("b", 2).unwrap();
    wg.ack(&[RecordId::new(0, 1)]);
    let mine = wg.read_pending("a", None, 10).unwrap();
    assert_eq!(
        mine.iter().map(|d| d.record.offset).collect::<Vec<_>>(),
        vec![0, 2]
    );
    assert!(mine.iter().all(|d| d.deliveries == 1));
    let after = wg.read_pending("a", Some(RecordId::new(0, 0)), 10).unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(wg.remove_consumer("a"), 2);
    assert_eq!(wg.pending().count, 2);
}

#[test]
fn noack_start_latest_set_cursor_and_blocking_read() {
    let (topic, clock) = manual_topic("t", 1);
    topic.append_unkeyed("old").unwrap();
    let wg = topic.work_group("w").build().unwrap(); // starts at the end, like `$`
    assert!(wg.read("a", 10).unwrap().is_empty());
    topic.append_unkeyed("new").unwrap();
    let got = wg.read_noack("a", 10).unwrap();
    assert_eq!(got[0].record.value_str(), Some("new"));
    assert_eq!(wg.pending().count, 0, "NOACK reads are not tracked");
    wg.set_cursor(0, 0).unwrap();
    assert_eq!(wg.read("a", 10).unwrap().len(), 2, "replay from 0");
    assert!(matches!(
        wg.set_cursor(0, 99),
        Err(Error::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        wg.set_cursor(3, 0),
        Err(Error::UnknownPartition { .. })
    ));

    // The same name returns the same group.
    assert_eq!(topic.work_group("w").build().unwrap().pending().count, 2);

    let w2 = wg.clone();
    let h = thread::spawn(move || w2.read_blocking("b", 10, Duration::from_secs(30)).unwrap());
    wait_parked(&clock, 1);
    topic.append_unkeyed("wake").unwrap();
    assert_eq!(h.join().unwrap()[0].record.value_str(), Some("wake"));
    let w3 = wg.clone();
    let h = thread::spawn(move || w3.read_blocking("b", 10, Duration::from_secs(30)).unwrap());
    wait_parked(&clock, 1);
    clock.advance(Duration::from_secs(30));
    assert!(h.join().unwrap().is_empty());
    assert_eq!(topic.stats().work_groups[0].pending, 3);
}
