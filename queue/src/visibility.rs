//! Leases: the messages in flight, each invisible until its visibility deadline.
//!
//! A lease lives in a slot of a slab; its receipt names the slot and a lease number that is never
//! reused, so a receipt from an earlier lease of the same message (or of a message that used the slot
//! before) is recognised as stale. Deadlines are tracked in two structures: a deque for leases taken
//! with the queue's visibility timeout (their deadlines arrive in order, since the clock is monotonic
//! and the timeout constant), and a heap for the rest (`extend`). Entries of ended leases are skipped
//! lazily and compacted when they outnumber the live ones.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

use crate::message::{Entry, GroupId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Deadline {
    at: Instant,
    lease: u64,
    slot: u32,
}

#[derive(Debug)]
struct Slot<T> {
    lease: u64,
    deadline: Instant,
    entry: Option<Entry<T>>,
}

#[derive(Debug)]
pub(crate) struct Leases<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    live: usize,
    next_lease: u64,
    in_order: VecDeque<Deadline>,
    other: BinaryHeap<Reverse<Deadline>>,
}

impl<T> Leases<T> {
    pub(crate) fn new() -> Self {
        Leases {
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            next_lease: 1,
            in_order: VecDeque::new(),
            other: BinaryHeap::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Leases `entry` until `deadline`; returns `(slot, lease)` and the message where it now lies (so
    /// a delivery can copy from there: one copy of the body instead of several moves).
    #[inline(always)]
    pub(crate) fn insert(&mut self, entry: Entry<T>, deadline: Instant) -> (u32, u64, &Entry<T>) {
        self.insert_with(deadline, || entry)
    }

    /// [`insert`](Leases::insert) with the message built by `make` where it is stored (a large body
    /// then moves once).
    #[inline(always)]
    pub(crate) fn insert_with(
        &mut self,
        deadline: Instant,
        make: impl FnOnce() -> Entry<T>,
    ) -> (u32, u64, &Entry<T>) {
        let lease = self.next_lease;
        self.next_lease += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                let s = &mut self.slots[slot as usize];
                s.lease = lease;
                s.deadline = deadline;
                s.entry = Some(make());
                slot
            }
            None => {
                let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 leases");
                self.slots.push(Slot {
                    lease,
                    deadline,
                    entry: Some(make()),
                });
                slot
            }
        };
        self.live += 1;
        let d = Deadline {
            at: deadline,
            lease,
            slot,
        };
        match self.in_order.back() {
            Some(last) if *last > d => self.other.push(Reverse(d)),
            _ => self.in_order.push_back(d),
        }
        let entry = self.slots[slot as usize]
            .entry
            .as_ref()
            .expect("just leased");
        (slot, lease, entry)
    }

    fn slot(&self, slot: u32, lease: u64) -> Option<&Slot<T>> {
        self.slots
            .get(slot as usize)
            .filter(|s| s.lease == lease && s.entry.is_some())
    }

    /// The deadline of a live lease.
    pub(crate) fn deadline(&self, slot: u32, lease: u64) -> Option<Instant> {
        self.slot(slot, lease).map(|s| s.deadline)
    }

    /// Ends a live lease and hands its message back.
    pub(crate) fn take(&mut self, slot: u32, lease: u64) -> Option<Entry<T>> {
        self.slot(slot, lease)?;
        let entry = self.slots[slot as usize].entry.take();
        self.free.push(slot);
        self.live -= 1;
        self.trim();
        entry
    }

    /// Ends a live lease and drops its message in place (an ack); returns the message's group.
    #[inline]
    pub(crate) fn end(&mut self, slot: u32, lease: u64) -> Option<Option<GroupId>> {
        self.slot(slot, lease)?;
        let s = &mut self.slots[slot as usize];
        let group = s.entry.as_mut().and_then(|e| e.group.take());
        s.entry = None;
        self.free.push(slot);
        self.live -= 1;
        self.trim();
        Some(group)
    }

    /// Moves a live lease's deadline.
    pub(crate) fn set_deadline(&mut self, slot: u32, lease: u64, at: Instant) -> bool {
        if self.slot(slot, lease).is_none() {
            return false;
        }
        self.slots[slot as usize].deadline = at;
        self.other.push(Reverse(Deadline { at, lease, slot }));
        self.trim();
        true
    }

    fn is_live(&self, d: &Deadline) -> bool {
        let s = &self.slots[d.slot as usize];
        s.lease == d.lease && s.entry.is_some() && s.deadline == d.at
    }

    /// Drops dead entries at the fronts, and compacts when dead ones dominate.
    fn trim(&mut self) {
        if self.live == 0 {
            self.in_order.clear();
            self.other.clear();
            return;
        }
        while let Some(d) = self.in_order.front() {
            if self.is_live(d) {
                break;
            }
            self.in_order.pop_front();
        }
        while let Some(Reverse(d)) = self.other.peek() {
            if self.is_live(d) {
                break;
            }
            self.other.pop();
        }
        let limit = 64 + 2 * self.live;
        if self.in_order.len() > limit {
            let slots = &self.slots;
            self.in_order.retain(|d| {
                let s = &slots[d.slot as usize];
                s.lease == d.lease && s.entry.is_some() && s.deadline == d.at
            });
        }
        if self.other.len() > limit {
            let slots = &self.slots;
            self.other.retain(|Reverse(d)| {
                let s = &slots[d.slot as usize];
                s.lease == d.lease && s.entry.is_some() && s.deadline == d.at
            });
        }
    }

    /// The earliest deadline of a live lease.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        // `trim` keeps both fronts live.
        let a = self.in_order.front().map(|d| d.at);
        let b = self.other.peek().map(|Reverse(d)| d.at);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Ends the lease with the earliest deadline if that deadline is at or before `now`, and hands its
    /// message back (ties broken by lease order).
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Entry<T>> {
        let a = self.in_order.front().copied();
        let b = self.other.peek().map(|Reverse(d)| *d);
        let first = match (a, b) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => return None,
        };
        if first.at > now {
            return None;
        }
        self.take(first.slot, first.lease)
    }

    /// Every leased message.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry<T>> {
        self.slots.iter().filter_map(|s| s.entry.as_ref())
    }
}
