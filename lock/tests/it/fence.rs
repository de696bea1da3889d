use std::sync::Arc;
use std::thread;
use std::time::Duration;

use ember_lock::{Error, Fence, FencedResource};
use proptest::prelude::*;

use crate::{TTL, manual};

/// The classic failure of lease locks: A's lease expires while A is paused, B acquires and writes,
/// A wakes up and writes with its stale token. The fence rejects A's write.
#[test]
fn paused_client_write_is_fenced_off() {
    let (clock, locks) = manual();
    let storage = Arc::new(FencedResource::new(Vec::<&str>::new()));

    let a = locks.try_acquire("file", "client-a", TTL).unwrap();
    storage
        .write(a.token(), |log| log.push("a: start"))
        .unwrap();

    // A is paused (GC, swapped out) for longer than its lease.
    clock.advance(TTL + Duration::from_secs(5));

    let b = locks.try_acquire("file", "client-b", TTL).unwrap();
    assert!(b.token() > a.token());
    storage
        .write(b.token(), |log| log.push("b: write"))
        .unwrap();

    // A wakes up, still believing it holds the lock, and writes.
    let late = storage.write(a.token(), |log| log.push("a: late write"));
    match late {
        Err(Error::StaleToken { token, highest }) => {
            assert_eq!(token, a.token());
            assert_eq!(highest, b.token());
        }
        other => panic!("expected StaleToken, got {other:?}"),
    }
    assert_eq!(storage.read(|log| log.clone()), ["a: start", "b: write"]);
    // And A cannot release B's lease either.
    assert!(matches!(locks.release(&a), Err(Error::Expired { .. })));
    assert!(locks.is_valid(&b));
}

#[test]
fn fenced_writes_from_many_threads_never_go_backwards() {
    let res = Arc::new(FencedResource::new(Vec::new()));
    let handles: Vec<_> = (0..8u64)
        .map(|t| {
            let res = res.clone();
            thread::spawn(move || {
                for i in 0..200u64 {
                    let token = i * 8 + t;
                    let _ = res.write(token, |v| v.push(token));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let log = res.read(|v| v.clone());
    assert!(log.windows(2).all(|w| w[0] <= w[1]), "{log:?}");
    assert_eq!(res.highest_token(), *log.last().unwrap());
}

proptest! {
    #[test]
    fn fence_accepts_exactly_the_non_decreasing_tokens(tokens in proptest::collection::vec(0u64..50, 0..60)) {
        let fence = Fence::new();
        let mut max = 0;
        for t in tokens {
            let accepted = fence.check(t).is_ok();
            prop_assert_eq!(accepted, t >= max);
            max = max.max(t);
            prop_assert_eq!(fence.highest(), max);
        }
    }
}
