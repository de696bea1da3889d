//! Window state and firing, one engine per family of windows.
//!
//! Every engine keeps the same per-window record ([`Win`]) and goes through [`Ctx`] to emit, so the
//! rules are written once:
//! - a window *fires* when the watermark passes its last timestamp (`max_ts < low`);
//! - a window's state is dropped once `max_ts + allowed_lateness < low`;
//! - an event touching a window that can already fire fires it at once (a late firing: `Update` if the
//!   window had emitted before, `Final` otherwise).
//!
//! Invariant kept by all engines: after each operation no window with `max_ts < low` is pending.

use std::collections::{BTreeMap, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};

use super::agg::Aggregator;
use super::event::{ResultKind, WindowResult};
use super::timers::TimerQueue;

/// The state of one window of one key.
#[derive(Debug, Clone)]
pub(crate) struct Win<A> {
    pub(crate) acc: A,
    /// Produced a `Final` (or `Update`) already.
    emitted: bool,
    /// Holds changes not yet in a `Final`/`Update`.
    pending: bool,
    /// Changed since the last emission of any kind.
    early_dirty: bool,
    since_early: u32,
    /// The last `Final`/`Update` stands, with the window's current bounds (sessions retract it
    /// when their bounds change: every change of bounds goes through a retraction first, so the
    /// shown bounds are always the current ones and need not be stored).
    shown: bool,
}

impl<A> Win<A> {
    fn new(acc: A) -> Self {
        Win {
            acc,
            emitted: false,
            pending: false,
            early_dirty: false,
            since_early: 0,
            shown: false,
        }
    }
}

/// Counters shared by the engines and the operator.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub(crate) events: u64,
    pub(crate) late: u64,
    pub(crate) finals: u64,
    pub(crate) updates: u64,
    pub(crate) early: u64,
    pub(crate) retractions: u64,
    pub(crate) open: u64,
    pub(crate) peak: u64,
    pub(crate) buffered: u64,
}

/// What an engine operation needs from the operator.
pub(crate) struct Ctx<'a, K, V, Ag: Aggregator<V>> {
    pub(crate) agg: &'a Ag,
    pub(crate) out: &'a mut Vec<WindowResult<K, Ag::Output>>,
    pub(crate) c: &'a mut Counters,
    /// First event time that is not late (watermark + 1).
    pub(crate) low: u64,
    pub(crate) lateness: u64,
    /// Early firing every N events (0: off).
    pub(crate) early_every: u32,
    pub(crate) _v: PhantomData<fn(&V)>,
}

impl<K: Clone, V, Ag: Aggregator<V>> Ctx<'_, K, V, Ag> {
    fn emit(&mut self, key: &K, start: u64, end: u64, acc: &Ag::Acc, kind: ResultKind) {
        match kind {
            ResultKind::Early => self.c.early += 1,
            ResultKind::Final => self.c.finals += 1,
            ResultKind::Update => self.c.updates += 1,
            _ => self.c.retractions += 1,
        }
        self.out.push(WindowResult {
            key: key.clone(),
            start,
            end,
            value: self.agg.result(acc),
            kind,
        });
    }

    /// Emits the window's complete result.
    fn fire(&mut self, key: &K, start: u64, end: u64, w: &mut Win<Ag::Acc>) {
        let kind = if w.emitted {
            ResultKind::Update
        } else {
            ResultKind::Final
        };
        self.emit(key, start, end, &w.acc, kind);
        w.emitted = true;
        w.pending = false;
        w.early_dirty = false;
        w.since_early = 0;
        w.shown = true;
    }

    /// After a value was added to `w`: late firing or early firing as due.
    #[inline]
    fn touched(&mut self, key: &K, start: u64, end: u64, w: &mut Win<Ag::Acc>, max_ts: u64) {
        w.pending = true;
        w.early_dirty = true;
        if max_ts < self.low {
            self.fire(key, start, end, w);
        } else if self.early_every > 0 {
            w.since_early += 1;
            if w.since_early >= self.early_every {
                self.early(key, start, end, w);
            }
        }
    }

    /// An early (partial) result, if the window changed since its last emission.
    fn early(&mut self, key: &K, start: u64, end: u64, w: &mut Win<Ag::Acc>) {
        if w.pending && w.early_dirty {
            self.emit(key, start, end, &w.acc, ResultKind::Early);
            w.early_dirty = false;
            w.since_early = 0;
        }
    }

    #[inline]
    fn opened(&mut self, n: u64) {
        self.c.open += n;
        self.c.peak = self.c.peak.max(self.c.open);
    }

    #[inline]
    fn closed(&mut self, n: u64) {
        self.c.open = self.c.open.saturating_sub(n);
    }
}

/// A refused event: key, value, and the last timestamp of the latest window it would have joined.
pub(crate) type Late<K, V> = (K, V, u64);

/// All engines.
pub(crate) enum Engine<K, V, A> {
    Aligned(Aligned<K, A>),
    Session(Sessions<K, A>),
    Sliding(Sliding<K, V, A>),
    Count(Counting<K, A>),
    CountSliding(CountSliding<K, V>),
}

impl<K: Hash + Eq + Clone, V, A> Engine<K, V, A> {
    #[inline]
    pub(crate) fn push<Ag: Aggregator<V, Acc = A>>(
        &mut self,
        cx: &mut Ctx<'_, K, V, Ag>,
        key: K,
        t: u64,
        value: V,
    ) -> Result<(), Late<K, V>> {
        match self {
            Engine::Aligned(e) => e.push(cx, key, t, value),
            Engine::Session(e) => e.push(cx, key, t, value),
            Engine::Sliding(e) => e.push(cx, key, t, value),
            Engine::Count(e) => e.push(cx, key, t, value),
            Engine::CountSliding(e) => {
                e.push(cx, key, t, value);
                Ok(())
            }
        }
    }

    /// Fires and drops windows after the watermark moved to `cx.low`.
    pub(crate) fn advance<Ag: Aggregator<V, Acc = A>>(&mut self, cx: &mut Ctx<'_, K, V, Ag>) {
        match self {
            Engine::Aligned(e) => e.advance(cx),
            Engine::Session(e) => e.advance(cx),
            Engine::Sliding(e) => e.advance(cx),
            Engine::Count(_) | Engine::CountSliding(_) => {}
        }
    }

    /// Early results for every window changed since its last emission.
    pub(crate) fn early_all<Ag: Aggregator<V, Acc = A>>(&mut self, cx: &mut Ctx<'_, K, V, Ag>) {
        match self {
            Engine::Aligned(e) => {
                for (&end, slot) in e.slots.iter_mut() {
                    for (k, w) in slot.wins.iter_mut() {
                        cx.early(k, slot.start, end, w);
                    }
                }
            }
            Engine::Session(e) => e.early_all(cx),
            Engine::Sliding(e) => {
                for (k, st) in e.keys.iter_mut() {
                    for (&end, w) in st.wins.iter_mut() {
                        cx.early(k, end.saturating_sub(e.size), end, w);
                    }
                }
            }
            Engine::Count(e) => {
                for (k, cw) in e.keys.iter_mut() {
                    cx.early(k, cw.first, cw.last, &mut cw.win);
                }
            }
            Engine::CountSliding(e) => {
                let (size, slide) = (e.size, e.slide);
                for (k, st) in e.keys.iter_mut() {
                    if st.early_dirty {
                        st.emit_partial(cx, k, size, slide);
                    }
                }
            }
        }
    }

    /// End of input: `cx.low` is `u64::MAX` and `advance` ran; emit what is left (incomplete count
    /// windows as `Early`) and drop all state.
    pub(crate) fn finish<Ag: Aggregator<V, Acc = A>>(&mut self, cx: &mut Ctx<'_, K, V, Ag>) {
        match self {
            Engine::Aligned(e) => {
                for (&end, slot) in e.slots.iter_mut() {
                    for (k, w) in slot.wins.iter_mut() {
                        if w.pending {
                            cx.fire(k, slot.start, end, w);
                        }
                    }
                }
                e.slots.clear();
            }
            Engine::Session(e) => e.finish(cx),
            Engine::Sliding(e) => {
                for (k, st) in e.keys.iter_mut() {
                    for (&end, w) in st.wins.iter_mut() {
                        if w.pending {
                            cx.fire(k, end.saturating_sub(e.size), end, w);
                        }
                    }
                }
                e.keys.clear();
                e.timers.clear();
            }
            Engine::Count(e) => {
                for (k, cw) in e.keys.iter() {
                    cx.emit(k, cw.first, cw.last, &cw.win.acc, ResultKind::Early);
                }
                e.keys.clear();
            }
            Engine::CountSliding(e) => {
                let (size, slide) = (e.size, e.slide);
                for (k, st) in e.keys.iter_mut() {
                    if st.since_fire > 0 {
                        st.emit_partial(cx, k, size, slide);
                    }
                }
                e.keys.clear();
            }
        }
        cx.c.open = 0;
        cx.c.buffered = 0;
    }

    pub(crate) fn keys(&self) -> usize {
        match self {
            Engine::Aligned(e) => e.slots.values().map(|s| s.wins.len()).max().unwrap_or(0),
            Engine::Session(e) => e.index.len(),
            Engine::Sliding(e) => e.keys.len(),
            Engine::Count(e) => e.keys.len(),
            Engine::CountSliding(e) => e.keys.len(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tumbling and hopping: windows on a fixed grid, grouped by end.

pub(crate) struct Slot<K, A> {
    start: u64,
    wins: HashMap<K, Win<A>>,
}

pub(crate) struct Aligned<K, A> {
    size: u64,
    advance: u64,
    offset: u64,
    /// Slots by window end (exclusive).
    slots: BTreeMap<u64, Slot<K, A>>,
    /// Slots with `end <= fired_below` were handled by the watermark already.
    fired_below: u64,
    /// Nothing to fire or drop while the watermark (`low`) is below this (0: recompute).
    horizon: u64,
}

impl<K: Hash + Eq + Clone, A> Aligned<K, A> {
    pub(crate) fn new(size: u64, advance: u64, offset: u64) -> Self {
        Aligned {
            size,
            advance,
            offset: offset % advance.max(1),
            slots: BTreeMap::new(),
            fired_below: 0,
            horizon: 0,
        }
    }

    /// Adds to the window `[start, end)` of `key`. The caller checked it is alive.
    #[inline]
    fn add<V, Ag: Aggregator<V, Acc = A>>(
        slots: &mut BTreeMap<u64, Slot<K, A>>,
        horizon: &mut u64,
        cx: &mut Ctx<'_, K, V, Ag>,
        key: KeyRef<'_, K>,
        start: u64,
        end: u64,
        value: &V,
    ) {
        let slot = slots.entry(end).or_insert_with(|| {
            *horizon = 0;
            Slot {
                start,
                wins: HashMap::new(),
            }
        });
        let k = key.get();
        if let Some(w) = slot.wins.get_mut(k) {
            cx.agg.add(&mut w.acc, value);
            cx.touched(k, start, end, w, end - 1);
            return;
        }
        let mut w = Win::new(cx.agg.init());
        cx.agg.add(&mut w.acc, value);
        cx.opened(1);
        cx.touched(k, start, end, &mut w, end - 1);
        slot.wins.insert(key.into_owned(), w);
    }

    fn push<V, Ag: Aggregator<V, Acc = A>>(
        &mut self,
        cx: &mut Ctx<'_, K, V, Ag>,
        key: K,
        t: u64,
        value: V,
    ) -> Result<(), Late<K, V>> {
        let (low, lateness) = (cx.low, cx.lateness);
        if self.advance == self.size && t >= self.offset {
            // Tumbling fast path: one window.
            let start = t - (t - self.offset) % self.size;
            let end = start.saturating_add(self.size);
            let max_ts = end - 1;
            if max_ts.saturating_add(lateness) < low {
                return Err((key, value, max_ts));
            }
            Self::add(
                &mut self.slots,
                &mut self.horizon,
                cx,
                KeyRef::Owned(key),
                start,
                end,
                &value,
            );
            return Ok(());
        }
        let mut accepted = false;
        let mut latest = 0;
        let slots = &mut self.slots;
        let horizon = &mut self.horizon;
        super::spec::aligned_windows(t, self.size, self.advance, self.offset, |start, end| {
            let max_ts = end - 1;
            latest = latest.max(max_ts);
            if max_ts.saturating_add(lateness) >= low {
                accepted = true;
                Self::add(
                    slots,
                    horizon,
                    cx,
                    KeyRef::Borrowed(&key),
                    start,
                    end,
                    &value,
                );
            }
        });
        if accepted {
            Ok(())
        } else {
            Err((key, value, latest))
        }
    }

    fn advance<V, Ag: Aggregator<V, Acc = A>>(&mut self, cx: &mut Ctx<'_, K, V, Ag>) {
        let low = cx.low;
        if low < self.horizon {
            return;
        }
        if low > self.fired_below {
            for (&end, slot) in self.slots.range_mut(self.fired_below + 1..=low) {
                for (k, w) in slot.wins.iter_mut() {
                    if w.pending {
                        cx.fire(k, slot.start, end, w);
                    }
                }
            }
            self.fired_below = low;
        }
        while let Some(first) = self.slots.first_entry() {
            if (*first.key() - 1).saturating_add(cx.lateness) < low {
                let slot = first.remove();
                cx.closed(slot.wins.len() as u64);
            } else {
                break;
            }
        }
        // The next watermark that fires a slot (its end) or drops one (end - 1 + lateness + 1).
        let fire = self
            .slots
            .range(low.saturating_add(1)..)
            .next()
            .map(|(&end, _)| end);
        let drop = self
            .slots
            .first_key_value()
            .map(|(&end, _)| end.saturating_add(cx.lateness));
        self.horizon = fire.into_iter().chain(drop).min().unwrap_or(u64::MAX);
    }
}

/// A key given by value (moved into the map on insert) or by reference (cloned on insert).
enum KeyRef<'a, K> {
    Owned(K),
    Borrowed(&'a K),
}

impl<K: Clone> KeyRef<'_, K> {
    #[inline]
    fn get(&self) -> &K {
        match self {
            KeyRef::Owned(k) => k,
            KeyRef::Borrowed(k) => k,
        }
    }
    #[inline]
    fn into_owned(self) -> K {
        match self {
            KeyRef::Owned(k) => k,
            KeyRef::Borrowed(k) => k.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Timers for the per-key engines: "look at this key once low > due".

fn schedule<K: Clone>(
    timers: &mut BTreeMap<u64, Vec<K>>,
    slot: &mut Option<u64>,
    key: &K,
    due: u64,
) {
    if slot.is_none_or(|cur| due < cur) {
        timers.entry(due).or_default().push(key.clone());
        *slot = Some(due);
    }
}

// ---------------------------------------------------------------------------------------------
// Session windows.
//
// Per-key state lives in a slab of cache-line entries (key, sessions, timer state; reused entries keep
// their allocations) found through an index of slab slots hashed by the key the slab holds; timers
// are a calendar queue of (due, slab index, generation), so a timer needs neither a key clone nor a
// hash lookup, and stale ones are recognised by generation and due time.

struct Sess<A> {
    start: u64,
    last: u64,
    win: Win<A>,
}

/// A key's sessions: almost always one, kept inline (no allocation, no extra cache miss).
enum SessList<A> {
    Empty,
    One(Sess<A>),
    Many(Vec<Sess<A>>),
}

impl<A> std::ops::Deref for SessList<A> {
    type Target = [Sess<A>];
    fn deref(&self) -> &[Sess<A>] {
        match self {
            SessList::Empty => &[],
            SessList::One(s) => std::slice::from_ref(s),
            SessList::Many(v) => v,
        }
    }
}

impl<A> std::ops::DerefMut for SessList<A> {
    fn deref_mut(&mut self) -> &mut [Sess<A>] {
        match self {
            SessList::Empty => &mut [],
            SessList::One(s) => std::slice::from_mut(s),
            SessList::Many(v) => v,
        }
    }
}

impl<A> SessList<A> {
    fn insert(&mut self, i: usize, s: Sess<A>) {
        match std::mem::replace(self, SessList::Empty) {
            SessList::Empty => *self = SessList::One(s),
            SessList::One(first) => {
                let mut v = Vec::with_capacity(2);
                v.push(first);
                v.insert(i.min(1), s);
                *self = SessList::Many(v);
            }
            SessList::Many(mut v) => {
                v.insert(i, s);
                *self = SessList::Many(v);
            }
        }
    }

    /// Removes session `i` (which exists).
    fn remove(&mut self, i: usize) -> Option<Sess<A>> {
        match self {
            SessList::Many(v) if i < v.len() => {
                let s = v.remove(i);
                self.shrink();
                Some(s)
            }
            SessList::One(_) if i == 0 => match std::mem::replace(self, SessList::Empty) {
                SessList::One(s) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }

    fn retain(&mut self, keep: impl Fn(&Sess<A>) -> bool) {
        match self {
            SessList::Empty => {}
            SessList::One(s) => {
                if !keep(s) {
                    *self = SessList::Empty;
                }
            }
            SessList::Many(v) => {
                v.retain(keep);
                self.shrink();
            }
        }
    }

    /// Back to the inline forms once at most one session is left, so that a key that once had
    /// two sessions does not keep its sessions on the heap (and off the fast paths) for good.
    fn shrink(&mut self) {
        if let SessList::Many(v) = self {
            if v.len() <= 1 {
                *self = match v.pop() {
                    Some(s) => SessList::One(s),
                    None => SessList::Empty,
                };
            }
        }
    }
}

/// One key's entry. Aligned to a cache line: with small keys and accumulators (a `u64` key
/// counting events) the whole entry — timer state, session bounds, accumulator and key — is one
/// line, which each event, timer check and firing touches once.
#[repr(align(64))]
struct SessKey<K, A> {
    /// Timer bookkeeping, kept in the entry: checking a timer and firing its sessions touch the
    /// same memory.
    ctl: Ctl,
    /// Sorted by start; consecutive sessions are more than `gap` apart.
    sessions: SessList<A>,
    /// `None` while the entry is free.
    key: Option<K>,
}

/// Timer bookkeeping of one slab entry.
#[derive(Debug, Clone, Copy)]
struct Ctl {
    /// The due time of the live timer in the queue (`u64::MAX`: none); other queued ones are stale.
    armed: u64,
    generation: u32,
}

pub(crate) struct Sessions<K, A> {
    gap: u64,
    /// Slab indices of the keys with sessions, hashed by the key stored in the slab entry (so the
    /// key is kept once, never cloned, and hashed once per event).
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    slab: Vec<SessKey<K, A>>,
    free: Vec<u32>,
    timers: TimerQueue<(u32, u32)>,
}

impl<K: Hash + Eq + Clone, A> Sessions<K, A> {
    pub(crate) fn new(gap: u64) -> Self {
        Sessions {
            gap,
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            slab: Vec::new(),
            free: Vec::new(),
            timers: TimerQueue::new(TimerQueue::<(u32, u32)>::shift_for(gap)),
        }
    }

    #[inline]
    fn due(sessions: &[Sess<A>], gap: u64, lateness: u64) -> Option<u64> {
        let due = |s: &Sess<A>| {
            let max_ts = s.last.saturating_add(gap);
            if s.win.pending {
                max_ts
            } else {
                max_ts.saturating_add(lateness)
            }
        };
        match sessions {
            [] => None,
            [one] => Some(due(one)),
            many => many.iter().map(due).min(),
        }
    }

    /// Records when the entry next needs attention and arms a timer if none earlier is armed.
    #[inline]
    fn schedule(&mut self, idx: u32, lateness: u64) {
        let entry = &mut self.slab[idx as usize];
        let next = Self::due(&entry.sessions, self.gap, lateness).unwrap_or(u64::MAX);
        let c = &mut entry.ctl;
        if next < c.armed {
            c.armed = next;
            self.timers.push(next, (idx, c.generation));
        }
    }

    /// Adds `value` at `t` to the key's sessions, creating or merging. `Err` if it is too late.
    fn add<V, Ag: Aggregator<V, Acc = A>>(
        ss: &mut SessList<A>,
        gap: u64,
        cx: &mut Ctx<'_, K, V, Ag>,
        key: &K,
        t: u64,
        value: &V,
    ) -> Result<(), u64> {
        // An event is accepted while its own time is within the lateness (as Kafka Streams judges
        // record time + grace against stream time). Sessions are kept until `last + gap + lateness`,
        // so an accepted event can never touch a session that was already dropped.
        if t.saturating_add(cx.lateness) < cx.low {
            return Err(t);
        }
        // The common cases first: a key's first session, and an event joining its only session.
        match ss {
            SessList::Empty => {
                let mut win = Win::new(cx.agg.init());
                cx.agg.add(&mut win.acc, value);
                cx.opened(1);
                cx.touched(key, t, t, &mut win, t.saturating_add(gap));
                *ss = SessList::One(Sess {
                    start: t,
                    last: t,
                    win,
                });
                return Ok(());
            }
            SessList::One(s)
                if t <= s.last.saturating_add(gap) && s.start <= t.saturating_add(gap) =>
            {
                let (start, last) = (s.start.min(t), s.last.max(t));
                if s.win.shown && (s.start, s.last) != (start, last) {
                    cx.emit(key, s.start, s.last, &s.win.acc, ResultKind::Retract);
                    s.win.shown = false;
                }
                s.start = start;
                s.last = last;
                cx.agg.add(&mut s.win.acc, value);
                cx.touched(key, start, last, &mut s.win, last.saturating_add(gap));
                return Ok(());
            }
            _ => {}
        }
        let i = ss.partition_point(|s| s.last.saturating_add(gap) < t);
        let mut j = i;
        while j < ss.len() && ss[j].start <= t.saturating_add(gap) {
            j += 1;
        }
        if i == j {
            let max_ts = t.saturating_add(gap);
            let mut win = Win::new(cx.agg.init());
            cx.agg.add(&mut win.acc, value);
            cx.opened(1);
            cx.touched(key, t, t, &mut win, max_ts);
            ss.insert(
                i,
                Sess {
                    start: t,
                    last: t,
                    win,
                },
            );
            return Ok(());
        }
        // Merge sessions i..j (at most two) and the event into session i.
        let other = if j - i == 2 { ss.remove(i + 1) } else { None };
        let base = &mut ss[i];
        let mut start = base.start.min(t);
        let mut last = base.last.max(t);
        if let Some(o) = &other {
            start = start.min(o.start);
            last = last.max(o.last);
        }
        if base.win.shown && (base.start, base.last) != (start, last) {
            cx.emit(
                key,
                base.start,
                base.last,
                &base.win.acc,
                ResultKind::Retract,
            );
            base.win.shown = false;
        }
        if let Some(o) = other {
            if o.win.shown {
                cx.emit(key, o.start, o.last, &o.win.acc, ResultKind::Retract);
            }
            cx.agg.merge(&mut base.win.acc, o.win.acc);
            base.win.emitted |= o.win.emitted;
            cx.closed(1);
        }
        base.start = start;
        base.last = last;
        cx.agg.add(&mut base.win.acc, value);
        cx.touched(key, start, last, &mut base.win, last.saturating_add(gap));
        Ok(())
    }

    fn push<V, Ag: Aggregator<V, Acc = A>>(
        &mut self,
        cx: &mut Ctx<'_, K, V, Ag>,
        key: K,
        t: u64,
        value: V,
    ) -> Result<(), Late<K, V>> {
        let gap = self.gap;
        let hash = self.hasher.hash_one(&key);
        let slab = &self.slab;
        if let Some(&idx) = self
            .index
            .find(hash, |&i| slab[i as usize].key.as_ref() == Some(&key))
        {
            let entry = &mut self.slab[idx as usize];
            if let Err(end) = Self::add(&mut entry.sessions, gap, cx, &key, t, &value) {
                return Err((key, value, end));
            }
            self.schedule(idx, cx.lateness);
            return Ok(());
        }
        let idx = match self.free.pop() {
            Some(idx) => idx,
            None => {
                self.slab.push(SessKey {
                    ctl: Ctl {
                        armed: u64::MAX,
                        generation: 0,
                    },
                    sessions: SessList::Empty,
                    key: None,
                });
                (self.slab.len() - 1) as u32
            }
        };
        let entry = &mut self.slab[idx as usize];
        if let Err(end) = Self::add(&mut entry.sessions, gap, cx, &key, t, &value) {
            self.free.push(idx);
            return Err((key, value, end));
        }
        entry.key = Some(key);
        let (slab, hasher) = (&self.slab, &self.hasher);
        self.index.insert_unique(hash, idx, |&i| {
            slab[i as usize]
                .key
                .as_ref()
                .map_or(0, |k| hasher.hash_one(k))
        });
        self.schedule(idx, cx.lateness);
        Ok(())
    }

    fn advance<V, Ag: Aggregator<V, Acc = A>>(&mut self, cx: &mut Ctx<'_, K, V, Ag>) {
        let (low, lateness, gap) = (cx.low, cx.lateness, self.gap);
        while let Some((due, (idx, generation))) = self.timers.pop_below(low) {
            let entry = &mut self.slab[idx as usize];
            let c = &mut entry.ctl;
            if c.generation != generation || c.armed != due {
                continue; // superseded by an earlier timer, or the entry was freed
            }
            c.armed = u64::MAX;
            let next = Self::due(&entry.sessions, gap, lateness).unwrap_or(u64::MAX);
            if next >= low {
                // The sessions grew since this timer was set: re-arm.
                if next < u64::MAX {
                    entry.ctl.armed = next;
                    self.timers.push(next, (idx, generation));
                }
                continue;
            }
            let Some(key) = entry.key.as_ref() else {
                continue;
            };
            for s in entry.sessions.iter_mut() {
                if s.win.pending && s.last.saturating_add(gap) < low {
                    cx.fire(key, s.start, s.last, &mut s.win);
                }
            }
            let before = entry.sessions.len();
            entry
                .sessions
                .retain(|s| s.last.saturating_add(gap).saturating_add(lateness) >= low);
            cx.closed((before - entry.sessions.len()) as u64);
            if entry.sessions.is_empty() {
                if let Some(key) = entry.key.take() {
                    let hash = self.hasher.hash_one(&key);
                    if let Ok(found) = self.index.find_entry(hash, |&i| i == idx) {
                        found.remove();
                    }
                }
                let c = &mut entry.ctl;
                c.generation = c.generation.wrapping_add(1);
                self.free.push(idx);
            } else {
                self.schedule(idx, lateness);
            }
        }
    }

    fn live(&mut self) -> impl Iterator<Item = (&K, &mut SessList<A>)> {
        self.slab
            .iter_mut()
            .filter_map(|e| e.key.as_ref().map(|k| (k, &mut e.sessions)))
    }

    fn early_all<V, Ag: Aggregator<V, Acc = A>>(&mut self, cx: &mut Ctx<'_, K, V, Ag>) {
        for (k, sessions) in self.live() {
            for s in sessions.iter_mut() {
                cx.early(k, s.start, s.last, &mut s.win);
            }
        }
    }

    fn finish<V, Ag: Aggregator<V, Acc = A>>(&mut self, cx: &mut Ctx<'_, K, V, Ag>) {
        for (k, sessions) in self.live() {
            for s in sessions.iter_mut() {
                if s.win.pending {
                    cx.fire(k, s.start, s.last, &mut s.win);
                }
            }
        }
        self.index.clear();
        self.slab.clear();
        self.free.clear();
        self.timers.clear();
    }
}

// ---------------------------------------------------------------------------------------------
// Sliding windows (Kafka Streams): a window [t - size, t] per distinct record time t.

struct SlideKey<V, A> {
    /// Windows by end (= the record time that defined them).
    wins: BTreeMap<u64, Win<A>>,
    /// The key's events, sorted by time, kept while a new window could still need them.
    buf: VecDeque<(u64, V)>,
    timer: Option<u64>,
    /// Windows with end below this were handled by the watermark already.
    processed: u64,
}

pub(crate) struct Sliding<K, V, A> {
    size: u64,
    keys: HashMap<K, SlideKey<V, A>>,
    timers: BTreeMap<u64, Vec<K>>,
}

impl<K: Hash + Eq + Clone, V, A> Sliding<K, V, A> {
    pub(crate) fn new(size: u64) -> Self {
        Sliding {
            size,
            keys: HashMap::new(),
            timers: BTreeMap::new(),
        }
    }

    fn due(st: &SlideKey<V, A>, size: u64, lateness: u64, low: u64) -> Option<u64> {
        let fire = st.wins.range(low..).next().map(|(&e, _)| e);
        let clean = st
            .wins
            .first_key_value()
            .map(|(&e, _)| e.saturating_add(lateness));
        let trim = st
            .buf
            .front()
            .map(|(ts, _)| ts.saturating_add(lateness).saturating_add(size));
        [fire, clean, trim].into_iter().flatten().min()
    }

    fn add<Ag: Aggregator<V, Acc = A>>(
        st: &mut SlideKey<V, A>,
        size: u64,
        cx: &mut Ctx<'_, K, V, Ag>,
        key: &K,
        t: u64,
        value: V,
    ) -> Result<(), V> {
        let mut accepted = false;
        for (&end, w) in st.wins.range_mut(t..=t.saturating_add(size)) {
            accepted = true;
            cx.agg.add(&mut w.acc, &value);
            cx.touched(key, end.saturating_sub(size), end, w, end);
        }
        let own_alive = t.saturating_add(cx.lateness) >= cx.low;
        if own_alive && !st.wins.contains_key(&t) {
            let from = t.saturating_sub(size);
            let mut acc = cx.agg.init();
            let i0 = st.buf.partition_point(|(ts, _)| *ts < from);
            for (ts, v) in st.buf.range(i0..) {
                if *ts > t {
                    break;
                }
                cx.agg.add(&mut acc, v);
            }
            cx.agg.add(&mut acc, &value);
            let mut w = Win::new(acc);
            cx.opened(1);
            cx.touched(key, from, t, &mut w, t);
            st.wins.insert(t, w);
            accepted = true;
        }
        if !accepted {
            return Err(value);
        }
        let pos = st.buf.partition_point(|(ts, _)| *ts <= t);
        st.buf.insert(pos, (t, value));
        cx.c.buffered += 1;
        Ok(())
    }

    fn push<Ag: Aggregator<V, Acc = A>>(
        &mut self,
        cx: &mut Ctx<'_, K, V, Ag>,
        key: K,
        t: u64,
        value: V,
    ) -> Result<(), Late<K, V>> {
        let (size, lateness, low) = (self.size, cx.lateness, cx.low);
        let late_end = t.saturating_add(size);
        if let Some(st) = self.keys.get_mut(&key) {
            if let Err(value) = Self::add(st, size, cx, &key, t, value) {
                return Err((key, value, late_end));
            }
            if let Some(due) = Self::due(st, size, lateness, low) {
                schedule(&mut self.timers, &mut st.timer, &key, due);
            }
            return Ok(());
        }
        let mut st = SlideKey {
            wins: BTreeMap::new(),
            buf: VecDeque::new(),
            timer: None,
            processed: 0,
        };
        if let Err(value) = Self::add(&mut st, size, cx, &key, t, value) {
            return Err((key, value, late_end));
        }
        if let Some(due) = Self::due(&st, size, lateness, low) {
            schedule(&mut self.timers, &mut st.timer, &key, due);
        }
        self.keys.insert(key, st);
        Ok(())
    }

    fn advance<Ag: Aggregator<V, Acc = A>>(&mut self, cx: &mut Ctx<'_, K, V, Ag>) {
        let (low, lateness, size) = (cx.low, cx.lateness, self.size);
        while let Some(entry) = self.timers.first_entry() {
            if *entry.key() >= low {
                break;
            }
            let (due, keys) = entry.remove_entry();
            for k in keys {
                let Some(st) = self.keys.get_mut(&k) else {
                    continue;
                };
                if st.timer != Some(due) {
                    continue;
                }
                st.timer = None;
                if low > st.processed {
                    for (&end, w) in st.wins.range_mut(st.processed..low) {
                        if w.pending {
                            cx.fire(&k, end.saturating_sub(size), end, w);
                        }
                    }
                    st.processed = low;
                }
                while let Some(first) = st.wins.first_entry() {
                    if first.key().saturating_add(lateness) < low {
                        first.remove();
                        cx.closed(1);
                    } else {
                        break;
                    }
                }
                while st
                    .buf
                    .front()
                    .is_some_and(|(ts, _)| ts.saturating_add(lateness).saturating_add(size) < low)
                {
                    st.buf.pop_front();
                    cx.c.buffered = cx.c.buffered.saturating_sub(1);
                }
                match Self::due(st, size, lateness, low) {
                    Some(next) => schedule(&mut self.timers, &mut st.timer, &k, next),
                    None => {
                        self.keys.remove(&k);
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Count windows: every `n` events of a key.

pub(crate) struct CountWin<A> {
    win: Win<A>,
    count: u64,
    first: u64,
    last: u64,
}

pub(crate) struct Counting<K, A> {
    n: u64,
    keys: HashMap<K, CountWin<A>>,
}

impl<K: Hash + Eq + Clone, A> Counting<K, A> {
    pub(crate) fn new(n: u64) -> Self {
        Counting {
            n,
            keys: HashMap::new(),
        }
    }

    fn push<V, Ag: Aggregator<V, Acc = A>>(
        &mut self,
        cx: &mut Ctx<'_, K, V, Ag>,
        key: K,
        t: u64,
        value: V,
    ) -> Result<(), Late<K, V>> {
        if let Some(cw) = self.keys.get_mut(&key) {
            cx.agg.add(&mut cw.win.acc, &value);
            cw.count += 1;
            cw.first = cw.first.min(t);
            cw.last = cw.last.max(t);
            if cw.count >= self.n {
                cx.fire(&key, cw.first, cw.last, &mut cw.win);
                self.keys.remove(&key);
                cx.closed(1);
            } else {
                cx.touched(&key, cw.first, cw.last, &mut cw.win, u64::MAX);
            }
            return Ok(());
        }
        let mut cw = CountWin {
            win: Win::new(cx.agg.init()),
            count: 1,
            first: t,
            last: t,
        };
        cx.agg.add(&mut cw.win.acc, &value);
        cx.opened(1);
        if self.n <= 1 {
            cx.fire(&key, t, t, &mut cw.win);
            cx.closed(1);
        } else {
            cx.touched(&key, t, t, &mut cw.win, u64::MAX);
            self.keys.insert(key, cw);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Sliding count windows (Flink `countWindow(size, slide)`): every `slide` events of a key, a window
// over its last `size` events.

pub(crate) struct SlideCountKey<V> {
    /// The key's last `size` events (fewer at first), oldest first.
    buf: VecDeque<(u64, V)>,
    /// Events since the last firing.
    since_fire: u64,
    /// Events since the last emission of any kind (early firing every N).
    since_early: u32,
    /// Events arrived since the last emission of any kind.
    early_dirty: bool,
}

impl<V> SlideCountKey<V> {
    /// Emits the window of the last `n` events (`n >= 1`).
    fn emit_last<K: Clone, Ag: Aggregator<V>>(
        &self,
        cx: &mut Ctx<'_, K, V, Ag>,
        key: &K,
        n: usize,
        kind: ResultKind,
    ) {
        let mut acc = cx.agg.init();
        let (mut first, mut last) = (u64::MAX, 0);
        for (t, v) in self.buf.range(self.buf.len() - n..) {
            cx.agg.add(&mut acc, v);
            first = first.min(*t);
            last = last.max(*t);
        }
        cx.emit(key, first, last, &acc, kind);
    }

    /// An `Early` result of the next window with the events it already has: of the window that
    /// fires `slide - since_fire` events from now over the last `size` events, those that arrived.
    fn emit_partial<K: Clone, Ag: Aggregator<V>>(
        &mut self,
        cx: &mut Ctx<'_, K, V, Ag>,
        key: &K,
        size: u64,
        slide: u64,
    ) {
        let have = size.saturating_sub(slide - self.since_fire);
        let n = (self.buf.len() as u64).min(have) as usize;
        if n > 0 {
            self.emit_last(cx, key, n, ResultKind::Early);
        }
        self.early_dirty = false;
        self.since_early = 0;
    }
}

pub(crate) struct CountSliding<K, V> {
    size: u64,
    slide: u64,
    keys: HashMap<K, SlideCountKey<V>>,
}

impl<K: Hash + Eq + Clone, V> CountSliding<K, V> {
    pub(crate) fn new(size: u64, slide: u64) -> Self {
        CountSliding {
            size,
            slide,
            keys: HashMap::new(),
        }
    }

    fn push<Ag: Aggregator<V>>(&mut self, cx: &mut Ctx<'_, K, V, Ag>, key: K, t: u64, value: V) {
        let (size, slide) = (self.size, self.slide);
        let st = match self.keys.get_mut(&key) {
            Some(st) => st,
            None => {
                cx.opened(1);
                self.keys.entry(key.clone()).or_insert(SlideCountKey {
                    buf: VecDeque::new(),
                    since_fire: 0,
                    since_early: 0,
                    early_dirty: false,
                })
            }
        };
        if st.buf.len() as u64 >= size {
            st.buf.pop_front();
        } else {
            cx.c.buffered += 1;
        }
        st.buf.push_back((t, value));
        st.since_fire += 1;
        st.early_dirty = true;
        if st.since_fire >= slide {
            st.emit_last(cx, &key, st.buf.len(), ResultKind::Final);
            st.since_fire = 0;
            st.since_early = 0;
            st.early_dirty = false;
        } else if cx.early_every > 0 {
            st.since_early += 1;
            if st.since_early >= cx.early_every {
                st.emit_partial(cx, &key, size, slide);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_lists_go_back_inline_when_one_session_is_left() {
        let sess = |t: u64| Sess {
            start: t,
            last: t,
            win: Win::new(0u64),
        };
        let mut l = SessList::Empty;
        l.insert(0, sess(10));
        l.insert(1, sess(100));
        assert!(matches!(l, SessList::Many(_)));
        l.retain(|s| s.start > 50);
        assert!(matches!(&l, SessList::One(s) if s.start == 100));
        l.insert(0, sess(10));
        assert_eq!(l.remove(1).map(|s| s.start), Some(100));
        assert!(matches!(&l, SessList::One(s) if s.start == 10));
        l.retain(|_| false);
        assert!(matches!(l, SessList::Empty));
    }

    #[test]
    fn a_small_session_entry_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<SessKey<u64, u64>>(), 64);
        assert_eq!(std::mem::align_of::<SessKey<u64, u64>>(), 64);
    }
}
