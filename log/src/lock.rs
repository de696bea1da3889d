//! The lock over a log's tail (the append state): a test-and-set lock whose release is a plain store.
//!
//! Every `Log::append` takes this lock once. With `parking_lot::Mutex` both the acquire and the release
//! are atomic read-modify-write instructions, and on the machines measured for issue 8 the release,
//! right after the record's bytes were copied into the write buffer, was the costliest single step
//! of a shared-handle append. Here the release is a `Release` store, which needs no locked
//! instruction: about 4–5 ns less per append.
//!
//! The price is that a release cannot wake a sleeping waiter, so a waiter polls: it spins briefly
//! (the lock is normally held for tens of nanoseconds), then yields, then sleeps with a backoff that
//! doubles from 10 µs to 1 ms. Long holds (a roll's fsync, a [`LogWriter`](crate::LogWriter) kept
//! for a whole import) therefore cost a waiter at most about a thousand wake-ups a second, and add up
//! to 1 ms to its wait. The sleep is a plain thread sleep: it does not use the log's clock (a
//! `ManualClock` never has to be advanced to get past it) nor the thread's park token.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::lock_api::{self, GuardNoSend, RawMutex as _};

/// The raw lock; use it through [`TailLock`].
pub(crate) struct RawTailLock(AtomicBool);

/// A mutex around the log's append state.
pub(crate) type TailLock<T> = lock_api::Mutex<RawTailLock, T>;
/// Its guard.
pub(crate) type TailGuard<'a, T> = lock_api::MutexGuard<'a, RawTailLock, T>;

// SAFETY: `lock` returns only after this thread changed the flag from false to true with `Acquire`
// ordering, and `unlock` (called only by the holder, per the trait's contract) stores false with
// `Release`: at most one holder at a time, and everything the holder wrote is visible to the next.
unsafe impl lock_api::RawMutex for RawTailLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = RawTailLock(AtomicBool::new(false));
    type GuardMarker = GuardNoSend;

    #[inline]
    fn lock(&self) {
        if !self.try_lock() {
            self.lock_contended();
        }
    }

    #[inline]
    fn try_lock(&self) -> bool {
        self.0
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    #[inline]
    unsafe fn unlock(&self) {
        self.0.store(false, Ordering::Release);
    }
}

impl RawTailLock {
    #[cold]
    fn lock_contended(&self) {
        let mut attempt = 0u32;
        let mut nap = Duration::from_micros(10);
        loop {
            // Test before test-and-set: waiting on a plain load keeps the cache line shared.
            if !self.0.load(Ordering::Relaxed) && self.try_lock() {
                return;
            }
            attempt += 1;
            if attempt < 100 {
                std::hint::spin_loop();
            } else if attempt < 120 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(nap);
                nap = (nap * 2).min(Duration::from_millis(1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn excludes_and_publishes_under_contention() {
        // Each thread increments a plain (non-atomic) pair under the lock: any overlap of two
        // holders or a missing release/acquire edge loses an increment or tears the pair.
        let m = Arc::new(TailLock::new((0u64, 0u64)));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        let mut g = m.lock();
                        assert_eq!(g.0, g.1);
                        g.0 += 1;
                        if i % 1000 == 0 {
                            std::thread::yield_now(); // hold it across a reschedule now and then
                        }
                        g.1 += 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*m.lock(), (80_000, 80_000));
        assert!(m.try_lock().is_some());
        let g = m.lock();
        assert!(m.try_lock().is_none());
        drop(g);
    }
}
