//! The plain fast path's ring: a bounded lock-free multi-producer multi-consumer queue (D. Vyukov's
//! array queue, the algorithm of `crossbeam::queue::ArrayQueue`), written here so that its push and
//! pop inline into the send and receive paths: a large body then moves into its slot and out of it
//! without the extra copies a call boundary costs.
//!
//! Each slot has a stamp. For the slot at position `pos` (taken modulo the power-of-two size), the
//! stamp is `pos` when the slot is free for the push at `pos`, and `pos + 1` once that push wrote it
//! (free for the pop at `pos`); the pop sets it to `pos + size`, freeing it for the next lap. A push
//! or pop claims its position with a compare-and-swap on `tail` or `head`, then writes or reads the
//! slot and publishes with a release store of the stamp, which the other side reads with acquire:
//! everything a producer did before its push happens before the pop that takes its value.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{self, AtomicUsize, Ordering};

use crate::state::Padded;

/// How many times a push waits for the pop under way on its slot before giving up, and a pop spins
/// waiting for the push under way on its slot before it yields between looks.
const SPINS: u32 = 100;

struct Slot<T> {
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

pub(crate) struct Ring<T> {
    head: Padded<AtomicUsize>,
    tail: Padded<AtomicUsize>,
    mask: usize,
    slots: Box<[Slot<T>]>,
}

// SAFETY: values move between threads through the ring (so `T: Send`); a slot is accessed by one
// thread at a time, as its stamp hands it from the pusher that claimed it to the popper that claimed
// it.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above; `&Ring` only moves values in and out, never shares a `&T`.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> std::fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("slots", &self.slots.len())
            .field("head", &self.head.load(Ordering::Relaxed))
            .field("tail", &self.tail.load(Ordering::Relaxed))
            .finish()
    }
}

impl<T> Ring<T> {
    /// A ring of at least `capacity` slots (rounded up to a power of two, at least 2).
    pub(crate) fn new(capacity: usize) -> Self {
        let size = capacity.max(2).next_power_of_two();
        let slots = (0..size)
            .map(|i| Slot {
                stamp: AtomicUsize::new(i),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Ring {
            head: Padded(AtomicUsize::new(0)),
            tail: Padded(AtomicUsize::new(0)),
            mask: size - 1,
            slots,
        }
    }

    /// Pushes `value`, or hands it back if the ring is full (as [`claim`](Ring::claim)).
    #[cfg(test)]
    pub(crate) fn push(&self, value: T) -> Result<(), T> {
        match self.claim() {
            Some(claim) => {
                // SAFETY: the claimed slot is ours; the value is written whole before publishing.
                unsafe {
                    claim.place().write(value);
                    claim.publish();
                }
                Ok(())
            }
            None => Err(value),
        }
    }

    /// Claims the next slot for a push; `None` if the ring is full (or if the pop freeing the slot
    /// is under way and does not finish within a few spins). The caller must
    /// [`write`](Claim::write) the claim at once: pops wait at it. (Claiming before the value is
    /// built lets a large value move into its slot in one copy.)
    #[inline(always)]
    pub(crate) fn claim(&self) -> Option<Claim<'_, T>> {
        let mut spins = 0;
        let mut pos = self.tail.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[pos & self.mask];
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == pos {
                match self.tail.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Some(Claim { slot, pos }),
                    Err(now) => pos = now,
                }
            } else if (stamp.wrapping_sub(pos) as isize) < 0 {
                // The slot still holds the value pushed a lap ago: full, unless its pop is under
                // way; then wait a moment for it (but not for a preempted thread).
                atomic::fence(Ordering::SeqCst);
                let head = self.head.load(Ordering::Relaxed);
                if head.wrapping_add(self.mask + 1) == pos || spins >= SPINS {
                    return None;
                }
                spins += 1;
                std::hint::spin_loop();
                pos = self.tail.load(Ordering::Relaxed);
            } else {
                pos = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Pops the oldest value, if any. If the push of the oldest is under way, waits for it.
    #[inline(always)]
    pub(crate) fn pop(&self) -> Option<T> {
        let taken = self.take()?;
        // SAFETY: `take` claimed the slot, whose push completed; the value is read out exactly
        // once, here, before the slot is released for the push a lap later.
        unsafe {
            let value = taken.place().read();
            taken.release();
            Some(value)
        }
    }

    /// Takes the oldest slot for a pop, if any (`None` as for [`pop`](Ring::pop)). The caller must
    /// read it and [`release`](Taken::release) it at once: pushes a lap later wait at it. (Reading
    /// in place lets a large value move out of its slot in one copy.)
    #[inline(always)]
    pub(crate) fn take(&self) -> Option<Taken<'_, T>> {
        let mut spins = 0;
        let mut pos = self.head.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[pos & self.mask];
            let stamp = slot.stamp.load(Ordering::Acquire);
            let full = pos.wrapping_add(1);
            if stamp == full {
                match self.head.compare_exchange_weak(
                    pos,
                    full,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        return Some(Taken {
                            slot,
                            next: pos.wrapping_add(self.mask + 1),
                        });
                    }
                    Err(now) => pos = now,
                }
            } else if (stamp.wrapping_sub(full) as isize) < 0 {
                // Not written yet for this lap: empty, unless its push is under way; then wait for
                // it, however long (as crossbeam does). Reporting empty here would let a consumer
                // look past this slot at the inbox, and deliver an inbox message before a ring
                // message that its producer pushed earlier into a later slot.
                atomic::fence(Ordering::SeqCst);
                let tail = self.tail.load(Ordering::Relaxed);
                if tail == pos {
                    return None;
                }
                if spins < SPINS {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    // The pushing thread was probably preempted.
                    std::thread::yield_now();
                }
                pos = self.head.load(Ordering::Relaxed);
            } else {
                pos = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// Whether the ring looks empty (a hint: pushes and pops may be under way).
    pub(crate) fn is_empty(&self) -> bool {
        let head = self.head.load(Ordering::SeqCst);
        let tail = self.tail.load(Ordering::SeqCst);
        head == tail
    }
}

/// A slot claimed for a push (see [`Ring::claim`]).
pub(crate) struct Claim<'a, T> {
    slot: &'a Slot<T>,
    pos: usize,
}

impl<T> Claim<'_, T> {
    /// The claimed slot, to be initialised in place before [`publish`](Claim::publish).
    #[inline(always)]
    pub(crate) fn place(&self) -> *mut T {
        // The CAS in `claim` took position `pos`, whose slot the stamp said was free (its last
        // value, if any, was popped): no one else touches it until `publish` hands it to the
        // popper of `pos`.
        self.slot.value.get().cast()
    }

    /// Hands the slot, initialised through [`place`](Claim::place), to its pop.
    ///
    /// # Safety
    /// Every field of the value at `place()` must have been written.
    #[inline(always)]
    pub(crate) unsafe fn publish(self) {
        self.slot
            .stamp
            .store(self.pos.wrapping_add(1), Ordering::Release);
    }
}

/// A slot taken for a pop (see [`Ring::take`]).
pub(crate) struct Taken<'a, T> {
    slot: &'a Slot<T>,
    next: usize,
}

impl<T> Taken<'_, T> {
    /// The value, to be read out (once) before [`release`](Taken::release).
    #[inline(always)]
    pub(crate) fn place(&self) -> *const T {
        // The CAS in `take` claimed the slot, whose push completed (its stamp, acquired there,
        // said so): it is ours until `release`.
        self.slot.value.get().cast_const().cast()
    }

    /// Frees the slot for the push a lap later.
    ///
    /// # Safety
    /// The value must have been read out (it is not dropped here).
    #[inline(always)]
    pub(crate) unsafe fn release(self) {
        self.slot.stamp.store(self.next, Ordering::Release);
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::Ring;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn fifo_full_and_empty() {
        let r = Ring::new(3);
        for i in 0..4 {
            r.push(i).unwrap();
        }
        assert_eq!(r.push(9), Err(9));
        for lap in 0..3 {
            for i in 0..4 {
                assert_eq!(r.pop(), Some(i + lap * 10));
                r.push(i + (lap + 1) * 10).unwrap();
            }
        }
        assert!(!r.is_empty());
        for i in 0..4 {
            assert_eq!(r.pop(), Some(i + 30));
        }
        assert_eq!(r.pop(), None);
        assert!(r.is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Single-threaded, the ring is a bounded FIFO of its (rounded-up) size, whichever of
        /// `pop` and `take`/`release` reads it.
        #[test]
        fn behaves_as_a_bounded_fifo(
            capacity in 1usize..20,
            ops in proptest::collection::vec(0u8..3, 0..300),
        ) {
            let r = Ring::new(capacity);
            let size = capacity.max(2).next_power_of_two();
            let mut model = std::collections::VecDeque::new();
            for (i, op) in ops.into_iter().enumerate() {
                match op {
                    0 => {
                        let pushed = r.push(i);
                        if model.len() < size {
                            proptest::prop_assert_eq!(pushed, Ok(()));
                            model.push_back(i);
                        } else {
                            proptest::prop_assert_eq!(pushed, Err(i));
                        }
                    }
                    1 => proptest::prop_assert_eq!(r.pop(), model.pop_front()),
                    _ => {
                        let got = r.take().map(|t| {
                            // SAFETY: read once, then released.
                            unsafe {
                                let v = t.place().read();
                                t.release();
                                v
                            }
                        });
                        proptest::prop_assert_eq!(got, model.pop_front());
                    }
                }
                proptest::prop_assert_eq!(r.is_empty(), model.is_empty());
            }
        }
    }

    #[test]
    fn drops_what_is_left() {
        let v = Arc::new(());
        let r = Ring::new(8);
        for _ in 0..5 {
            r.push(Arc::clone(&v)).unwrap();
        }
        drop(r.pop());
        assert_eq!(Arc::strong_count(&v), 5);
        drop(r);
        assert_eq!(Arc::strong_count(&v), 1);
    }

    #[test]
    fn many_threads_lose_and_duplicate_nothing() {
        const PER: usize = 20_000;
        let r = Arc::new(Ring::new(16));
        let taken = Arc::new(AtomicUsize::new(0));
        let producers: Vec<_> = (0..3)
            .map(|p| {
                let r = Arc::clone(&r);
                std::thread::spawn(move || {
                    for i in 0..PER {
                        let mut v = p * PER + i;
                        while let Err(back) = r.push(v) {
                            v = back;
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let r = Arc::clone(&r);
                let taken = Arc::clone(&taken);
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    let mut last = [None::<usize>; 3];
                    while taken.load(Ordering::Relaxed) < 3 * PER {
                        match r.pop() {
                            Some(v) => {
                                // Each producer's values arrive in its order at each consumer.
                                let p = v / PER;
                                assert!(last[p].is_none_or(|l| l < v));
                                last[p] = Some(v);
                                got.push(v);
                                taken.fetch_add(1, Ordering::Relaxed);
                            }
                            None => std::thread::yield_now(),
                        }
                    }
                    got
                })
            })
            .collect();
        for h in producers {
            h.join().unwrap();
        }
        let mut all: Vec<usize> = consumers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..3 * PER).collect::<Vec<_>>());
    }
}
