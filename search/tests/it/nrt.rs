//! Near-real-time visibility by the clock, the pile-up guard, concurrency.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use ember_core::ManualClock;
use ember_search::{CommitPolicy, Document, Query, SearchIndex, SearchRequest};

use crate::product_schema;

fn doc(id: usize) -> Document {
    Document::new()
        .with("id", id.to_string())
        .with("title", format!("item number{id} lantern"))
        .with("likes", id as u64)
}

#[test]
fn interval_commit_by_the_clock_without_a_thread() {
    let clock = ManualClock::new();
    let index = SearchIndex::builder(product_schema())
        .clock(clock.clone())
        .commit_policy(
            CommitPolicy::default()
                .every_docs(1000)
                .interval(Duration::from_millis(100))
                .background(false),
        )
        .build()
        .unwrap();
    index.upsert(doc(1)).unwrap();
    assert_eq!(index.search("lantern").unwrap().total, 0);
    assert_eq!(index.stats().pending, 1);
    clock.advance(Duration::from_millis(99));
    index.upsert(doc(2)).unwrap();
    assert_eq!(index.search("lantern").unwrap().total, 0);
    clock.advance(Duration::from_millis(1));
    // the interval is checked on the next write
    let seq = index.upsert(doc(3)).unwrap();
    assert_eq!(index.search("lantern").unwrap().total, 3);
    assert_eq!(index.visible_seq(), seq);
    let s = index.stats();
    assert_eq!(s.commits, 1);
    assert_eq!(s.last_freshness_micros, 100_000);
    assert_eq!(s.max_freshness_micros, 100_000);
}

#[test]
fn background_committer_publishes_after_the_interval() {
    let clock = ManualClock::new();
    let index = SearchIndex::builder(product_schema())
        .clock(clock.clone())
        .commit_policy(CommitPolicy::default().interval(Duration::from_millis(50)))
        .build()
        .unwrap();
    let seq = index.upsert(doc(1)).unwrap();
    // the committer waits on the clock; nothing happens before the interval
    while clock.waiters() == 0 {
        thread::yield_now();
    }
    assert_eq!(index.search("lantern").unwrap().total, 0);
    assert!(!index.wait_visible(seq, Some(Duration::ZERO)));
    clock.advance(Duration::from_millis(50));
    assert!(index.wait_visible(seq, None));
    assert_eq!(index.search("lantern").unwrap().total, 1);
    assert_eq!(index.stats().last_freshness_micros, 50_000);
    // an idle index does not commit
    clock.advance(Duration::from_secs(10));
    while clock.waiters() == 0 {
        thread::yield_now();
    }
    assert_eq!(index.stats().commits, 1);
}

#[test]
fn commit_every_n_docs() {
    let index = SearchIndex::builder(product_schema())
        .commit_policy(CommitPolicy::manual().every_docs(10))
        .build()
        .unwrap();
    for i in 0..9 {
        index.upsert(doc(i)).unwrap();
    }
    assert_eq!(index.search("lantern").unwrap().total, 0);
    index.upsert(doc(9)).unwrap();
    assert_eq!(index.search("lantern").unwrap().total, 10);
    assert_eq!(index.stats().commits, 1);
    // a batch counts each document
    index.upsert_many((10..25).map(doc)).unwrap();
    assert_eq!(index.search("lantern").unwrap().total, 25);
}

#[test]
fn single_document_commits_do_not_pile_up_segments() {
    let index = SearchIndex::builder(product_schema())
        .commit_policy(CommitPolicy::manual())
        .max_segments(6)
        .build()
        .unwrap();
    let mut most = 0;
    for i in 0..120 {
        index.upsert(doc(i)).unwrap();
        index.refresh().unwrap();
        most = most.max(index.stats().segments);
    }
    let s = index.stats();
    assert!(most <= 6, "segments reached {most}");
    assert!(s.merges > 0);
    assert_eq!(s.docs, 120);
    assert_eq!(s.commits, 120);
    assert_eq!(index.search("lantern").unwrap().total, 120);
    // updates keep the count right across merges
    for i in 0..30 {
        index.upsert(doc(i)).unwrap();
        index.refresh().unwrap();
    }
    assert_eq!(index.stats().docs, 120);
}

#[test]
fn concurrent_writers_and_readers() {
    let index = SearchIndex::builder(product_schema())
        .commit_policy(CommitPolicy::manual().every_docs(25))
        .build()
        .unwrap();
    let index = Arc::new(index);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let index = index.clone();
            thread::spawn(move || {
                for i in 0..100 {
                    let id = w * 1000 + i;
                    index.upsert(doc(id)).unwrap();
                    // every write is readable by id at once
                    assert!(index.get(&id.to_string()).unwrap().is_some());
                    if i % 10 == 0 {
                        index.delete(&(id).to_string()).unwrap();
                        assert!(index.get(&id.to_string()).unwrap().is_none());
                    }
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let index = index.clone();
            thread::spawn(move || {
                let mut last = 0;
                for _ in 0..50 {
                    let r = index
                        .search(SearchRequest::new(Query::all()).limit(5))
                        .unwrap();
                    // visible documents only grow apart from deletes of visible ones; never over 400
                    assert!(r.total <= 400);
                    last = r.total;
                }
                last
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    for r in readers {
        r.join().unwrap();
    }
    index.refresh().unwrap();
    let s = index.stats();
    assert_eq!(s.docs, 360);
    assert_eq!(s.upserts, 400);
    assert_eq!(s.deletes, 40);
    assert_eq!(index.search("lantern").unwrap().total, 360);
}

#[test]
fn close_commits_and_refuses_writes() {
    let index = SearchIndex::builder(product_schema()).build().unwrap();
    index.upsert(doc(1)).unwrap();
    index.close().unwrap();
    assert_eq!(index.search("lantern").unwrap().total, 1);
    assert!(matches!(
        index.upsert(doc(2)),
        Err(ember_search::Error::Closed)
    ));
}
