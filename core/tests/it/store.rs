use std::sync::Arc;
use std::time::Duration;

use ember_core::clock::{Clock, ManualClock};
use ember_core::store::{MemoryStore, MemoryStoreError, Store, StoreOp, Write};

#[test]
fn fail_next_fails_exactly_n_calls_and_changes_nothing() {
    let store: MemoryStore<u32, String> = MemoryStore::new();
    store.fail_next(2);
    assert_eq!(
        store.put(&1, &"a".into()),
        Err(MemoryStoreError::Injected { op: StoreOp::Put })
    );
    assert_eq!(
        store.get(&1),
        Err(MemoryStoreError::Injected { op: StoreOp::Get })
    );
    assert_eq!(store.get(&1), Ok(None));
    assert!(store.is_empty());
    store.put(&1, &"a".into()).unwrap();
    assert_eq!(store.peek(&1).as_deref(), Some("a"));
    let calls = store.calls();
    assert_eq!((calls.gets, calls.puts, calls.failures), (2, 2, 2));
}

#[test]
fn key_faults_fail_whole_batches() {
    let store: MemoryStore<u32, u32> = MemoryStore::new();
    store.fail_keys(|k| k % 10 == 7);
    assert!(store.put_many(&[(1, 1), (7, 7), (2, 2)]).is_err());
    assert!(store.is_empty(), "a failed batch writes nothing");
    store.put_many(&[(1, 1), (2, 2)]).unwrap();
    assert_eq!(store.len(), 2);
    assert!(store.delete_many(&[1, 17]).is_err());
    assert_eq!(store.len(), 2);
    store.clear_faults();
    store.delete_many(&[1, 17]).unwrap();
    assert_eq!(store.snapshot(), vec![(2, 2)]);
}

#[test]
fn down_store_fails_every_call_until_up() {
    let store: MemoryStore<u32, u32> = MemoryStore::new();
    store.seed(5, 50);
    store.set_down(true);
    for _ in 0..3 {
        assert_eq!(
            store.get(&5),
            Err(MemoryStoreError::Unavailable { op: StoreOp::Get })
        );
    }
    assert!(store.delete(&5).is_err());
    store.set_down(false);
    assert_eq!(store.get(&5), Ok(Some(50)));
    assert_eq!(store.calls().failures, 4);
}

#[test]
fn writes_are_logged_in_applied_order() {
    let store: MemoryStore<&str, u32> = MemoryStore::new();
    store.put(&"a", &1).unwrap();
    store.put_many(&[("b", 2), ("a", 3)]).unwrap();
    store.delete(&"b").unwrap();
    assert_eq!(
        store.writes(),
        vec![
            Write::Put("a", 1),
            Write::Put("b", 2),
            Write::Put("a", 3),
            Write::Delete("b")
        ]
    );
    assert_eq!(store.peek(&"a"), Some(3));
}

#[test]
fn latency_is_spent_on_the_manual_clock() {
    let clock = ManualClock::new();
    let store: MemoryStore<u32, u32> = MemoryStore::new().with_clock(Arc::new(clock.clone()));
    store.latency(Duration::from_millis(15));
    let t0 = clock.now();
    store.put(&1, &1).unwrap();
    store.get(&1).unwrap();
    assert_eq!(clock.now() - t0, Duration::from_millis(30));
    store.clear_faults();
    store.get(&1).unwrap();
    assert_eq!(clock.now() - t0, Duration::from_millis(30));
}

#[test]
fn concurrent_writers_lose_nothing() {
    let store: MemoryStore<u32, u32> = MemoryStore::new();
    std::thread::scope(|s| {
        for t in 0..8u32 {
            let store = store.clone();
            s.spawn(move || {
                for i in 0..1000u32 {
                    store.put(&(t * 1000 + i), &i).unwrap();
                }
            });
        }
    });
    assert_eq!(store.len(), 8000);
    assert_eq!(store.calls().puts, 8000);
    assert_eq!(store.writes().len(), 8000);
}

#[test]
fn store_is_send_sync_and_usable_as_trait_object() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<MemoryStore<String, Vec<u8>>>();
    let store: Arc<dyn Store<u32, u32, Error = MemoryStoreError>> = Arc::new(MemoryStore::new());
    store.put(&1, &2).unwrap();
    assert_eq!(store.get(&1).unwrap(), Some(2));
}
