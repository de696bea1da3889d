//! Per-member TTLs, judged by a ManualClock.

use std::time::Duration;

use ember_core::ManualClock;
use ember_geo::{AddOptions, Error, Fence, FenceCause, FenceEventKind, GeoIndex, Unit};

fn index_with(clock: &ManualClock, ttl: Option<Duration>) -> GeoIndex<String> {
    let b = GeoIndex::builder().clock(clock.clone());
    let b = match ttl {
        Some(t) => b.default_ttl(t),
        None => b,
    };
    b.build().unwrap()
}

#[test]
fn default_ttl_expires_members_that_stop_reporting() {
    let clock = ManualClock::new();
    let index = index_with(&clock, Some(Duration::from_secs(10)));
    index.add("a".into(), 1.0, 1.0).unwrap();
    index.add("b".into(), 1.001, 1.0).unwrap();
    clock.advance(Duration::from_secs(6));
    index.add("a".into(), 1.0, 1.0).unwrap(); // a reports again: its TTL restarts
    assert_eq!(index.ttl("a"), Some(Duration::from_secs(10)));
    assert_eq!(index.ttl("b"), Some(Duration::from_secs(4)));
    clock.advance(Duration::from_secs(4));
    // b's deadline is reached: gone from every read at once.
    assert!(!index.contains("b"));
    assert_eq!(index.position("b"), None);
    assert_eq!(index.len(), 1);
    let hits = index
        .search()
        .from_point(1.0, 1.0)
        .radius(10.0, Unit::Kilometers)
        .run()
        .unwrap();
    assert_eq!(
        hits.iter().map(|h| h.member.as_str()).collect::<Vec<_>>(),
        ["a"]
    );
    assert_eq!(index.stats().expired, 1);
    clock.advance(Duration::from_secs(6));
    assert!(index.is_empty());
    assert_eq!(index.purge_expired(), 1);
    assert_eq!(index.stats().members, 0);
    assert_eq!(index.stats().expired, 2);
}

#[test]
fn expire_persist_and_per_write_ttl() {
    let clock = ManualClock::new();
    let index = index_with(&clock, None);
    index.add("a".into(), 1.0, 1.0).unwrap();
    assert_eq!(index.ttl("a"), None);
    assert!(index.expire("a", Duration::from_secs(5)).unwrap());
    assert!(!index.expire("zz", Duration::from_secs(5)).unwrap());
    assert!(matches!(
        index.expire("a", Duration::ZERO),
        Err(Error::InvalidDistance { .. })
    ));
    clock.advance(Duration::from_secs(3));
    assert_eq!(index.ttl("a"), Some(Duration::from_secs(2)));
    assert!(index.persist("a"));
    clock.advance(Duration::from_secs(100));
    assert!(index.contains("a"));

    index
        .add_with_options(
            "b".into(),
            2.0,
            2.0,
            AddOptions::new().ttl(Duration::from_secs(1)),
        )
        .unwrap();
    index.expire("a", Duration::from_secs(2)).unwrap();
    // keep_ttl: moving "a" keeps its deadline; a plain add clears it (no default TTL here).
    index
        .add_with_options("a".into(), 1.5, 1.5, AddOptions::new().keep_ttl())
        .unwrap();
    assert_eq!(index.ttl("a"), Some(Duration::from_secs(2)));
    clock.advance(Duration::from_secs(1));
    assert!(!index.contains("b"));
    index.add("a".into(), 1.6, 1.6).unwrap();
    assert_eq!(index.ttl("a"), None);
    clock.advance(Duration::from_secs(10));
    assert!(index.contains("a"));
    assert!(!index.remove("b"));
}

#[test]
fn expired_members_are_not_search_origins_and_can_be_re_added() {
    let clock = ManualClock::new();
    let index = index_with(&clock, Some(Duration::from_secs(1)));
    index.add("a".into(), 1.0, 1.0).unwrap();
    clock.advance(Duration::from_secs(1));
    let err = index
        .search()
        .from_member("a")
        .radius(1.0, Unit::Kilometers)
        .run()
        .unwrap_err();
    assert_eq!(err, Error::MemberNotFound);
    assert!(
        index.add("a".into(), 1.0, 1.0).unwrap(),
        "expired member comes back as new"
    );
    assert_eq!(index.distance("a", "a", Unit::Meters), Some(0.0));
}

#[test]
fn expiry_inside_a_fence_reports_an_exit() {
    let clock = ManualClock::new();
    let index = index_with(&clock, Some(Duration::from_secs(30)));
    index
        .add_fence("depot", Fence::circle(0.0, 0.0, 1.0, Unit::Kilometers))
        .unwrap();
    let events = index.subscribe();
    index.add("van".into(), 0.001, 0.001).unwrap();
    clock.advance(Duration::from_secs(31));
    assert_eq!(index.purge_expired(), 1);
    let got: Vec<_> = events.try_iter().map(|e| (e.kind, e.cause)).collect();
    assert_eq!(
        got,
        [
            (FenceEventKind::Enter, FenceCause::Moved),
            (FenceEventKind::Exit, FenceCause::Expired)
        ]
    );
}

#[test]
fn zero_default_ttl_is_a_config_error() {
    let r = GeoIndex::<String>::builder()
        .default_ttl(Duration::ZERO)
        .build();
    assert!(matches!(r, Err(Error::Config(_))));
    assert!(matches!(
        GeoIndex::<String>::builder().latitude_limit(91.0).build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        GeoIndex::<String>::builder()
            .latitude_limit(f64::NAN)
            .build(),
        Err(Error::Config(_))
    ));
}
