use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use ember_core::clock::{Clock, ManualClock, SharedClock, Signal, WaitOutcome};
use parking_lot::Mutex;

/// A tiny blocking queue built the way Ember components build theirs: state behind a mutex, a
/// `Signal` for waiters, deadlines judged by the clock.
struct Slot {
    value: Mutex<Option<u32>>,
    signal: Signal,
    clock: SharedClock,
}

impl Slot {
    fn take_until(&self, timeout: Duration) -> Option<u32> {
        let deadline = self.clock.now() + timeout;
        loop {
            let seen = self.signal.epoch();
            if let Some(v) = self.value.lock().take() {
                return Some(v);
            }
            if self.signal.wait(&*self.clock, seen, Some(deadline)) == WaitOutcome::TimedOut {
                return self.value.lock().take();
            }
        }
    }

    fn put(&self, v: u32) {
        *self.value.lock() = Some(v);
        self.signal.notify_all();
    }
}

#[test]
fn blocked_waiter_is_released_by_advancing_the_clock() {
    let clock = ManualClock::new();
    let slot = Arc::new(Slot {
        value: Mutex::new(None),
        signal: Signal::new(),
        clock: Arc::new(clock.clone()),
    });
    let s = slot.clone();
    let waiter = thread::spawn(move || s.take_until(Duration::from_secs(30)));
    while clock.waiters() == 0 {
        thread::yield_now();
    }
    clock.advance(Duration::from_secs(29));
    while clock.waiters() == 0 {
        thread::yield_now();
    }
    assert!(!waiter.is_finished(), "woke before its deadline");
    clock.advance(Duration::from_secs(1));
    assert_eq!(waiter.join().unwrap(), None);
}

#[test]
fn blocked_waiter_gets_a_value_put_by_another_thread() {
    let clock = ManualClock::new();
    let slot = Arc::new(Slot {
        value: Mutex::new(None),
        signal: Signal::new(),
        clock: Arc::new(clock.clone()),
    });
    let s = slot.clone();
    let waiter = thread::spawn(move || s.take_until(Duration::from_secs(30)));
    while clock.waiters() == 0 {
        thread::yield_now();
    }
    slot.put(7);
    assert_eq!(waiter.join().unwrap(), Some(7));
}

#[test]
fn stress_no_lost_wakeups() {
    // Producers notify while consumers check-then-wait; with a lost wakeup a consumer would hang.
    let clock = ManualClock::new();
    let counter = Arc::new(Mutex::new(0u32));
    let signal = Signal::new();
    let taken = Arc::new(AtomicUsize::new(0));
    const N: usize = 4000;
    thread::scope(|s| {
        for _ in 0..4 {
            let (counter, signal, taken, clock) = (
                counter.clone(),
                signal.clone(),
                taken.clone(),
                clock.clone(),
            );
            s.spawn(move || {
                loop {
                    // The epoch first, then the exit check: a consumer that read `taken` just before
                    // the last take and the epoch just after the final notify below would otherwise
                    // wait for a notify that never comes (a hang of the test, not of the signal).
                    let seen = signal.epoch();
                    if taken.load(Ordering::SeqCst) >= N {
                        return;
                    }
                    {
                        let mut c = counter.lock();
                        if *c > 0 {
                            *c -= 1;
                            taken.fetch_add(1, Ordering::SeqCst);
                            continue;
                        }
                    }
                    signal.wait(&clock, seen, None);
                }
            });
        }
        for _ in 0..4 {
            let (counter, signal) = (counter.clone(), signal.clone());
            s.spawn(move || {
                for _ in 0..N / 4 {
                    *counter.lock() += 1;
                    signal.notify_all();
                }
            });
        }
        // Wake the consumers one final time once everything is taken, so they see the exit condition.
        while taken.load(Ordering::SeqCst) < N {
            thread::yield_now();
        }
        signal.notify_all();
    });
    assert_eq!(taken.load(Ordering::SeqCst), N);
    assert_eq!(*counter.lock(), 0);
}

#[test]
fn system_coarse_readings_never_run_ahead_nor_backwards() {
    use ember_core::clock::SystemClock;
    let clock = SystemClock;
    let res = clock.coarse_resolution();
    assert!(
        res > Duration::ZERO && res < Duration::from_millis(100),
        "{res:?}"
    );
    // A sanity bound only: the coarse clocks follow the kernel's tick, which a loaded machine delays,
    // so how far behind they are is not asserted beyond "the same clock" (within a second).
    let far = Duration::from_secs(1);
    let mut last = clock.coarse_now();
    for _ in 0..10_000 {
        let before = clock.now();
        let before_ms = clock.unix_millis();
        let coarse = clock.coarse_now();
        let coarse_ms = clock.coarse_unix_millis();
        let after = clock.now();
        let after_ms = clock.unix_millis();
        assert!(coarse <= after, "coarse reading ahead of the exact clock");
        assert!(coarse + far >= before, "coarse reading from another clock");
        assert!(coarse >= last, "coarse clock went backwards");
        last = coarse;
        assert!(coarse_ms <= after_ms);
        assert!(coarse_ms + 1_000 >= before_ms);
    }
}

#[test]
fn manual_and_shared_clocks_read_exact_coarse_time() {
    let clock = ManualClock::with_unix_millis(5_000);
    clock.advance(Duration::from_millis(1234));
    let shared: SharedClock = ember_core::clock::shared(clock.clone());
    assert_eq!(clock.coarse_now(), clock.now());
    assert_eq!(shared.coarse_now(), clock.now());
    assert_eq!(shared.coarse_unix_millis(), 6_234);
    assert_eq!(shared.coarse_resolution(), Duration::ZERO);
    clock.set_unix_millis(7);
    assert_eq!(shared.coarse_unix_millis(), 7);
}
