//! [`GeoIndex`]: members with positions, an R-tree over the unit sphere, TTLs and geofences.

use std::collections::BTreeSet;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ember_core::clock::{Clock, SharedClock, SystemClock};
use ember_core::stats::{Ratio, Snapshot, ratio, write_fields};
use hashbrown::HashMap;
use hashbrown::hash_map::Entry;
use parking_lot::RwLock;
use rstar::RTree;

use crate::distance::{Metric, Unit};
use crate::error::{Error, Result};
use crate::fence::{Fence, FenceCause, FenceEntry, FenceEvent, FenceEventKind};
use crate::hash;
use crate::search::{Hit, Search};
use crate::sphere::{Node, SelectSlot, to_xyz};

/// How an index stores positions and measures distances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Mode {
    /// Exact input coordinates and geo's haversine on the GRS80 mean Earth radius (6 371 008.8 m).
    /// Positions come back exactly as given; distances differ from Redis's by about 0.03%.
    #[default]
    Exact,
    /// Redis's rules: every position is snapped to the centre of its 52-bit geohash cell (as `GEOPOS`
    /// returns it), distances use Redis's formula on a 6 372 797.560856 m sphere and its box test.
    /// Same members, same distances to 4 decimals and same ASC/DESC order as Redis for the same data.
    Redis,
}

impl Mode {
    /// The metric this mode measures with.
    #[must_use]
    pub fn metric(self) -> Metric {
        match self {
            Mode::Exact => Metric::Haversine,
            Mode::Redis => Metric::Redis,
        }
    }
}

/// Options of [`GeoIndex::add_many`] (Redis `GEOADD` flags) and of [`GeoIndex::add_with_options`].
///
/// ```
/// use ember_geo::{AddOptions, GeoIndex};
///
/// let index: GeoIndex<&str> = GeoIndex::builder().build().unwrap();
/// index.add("a", 1.0, 1.0).unwrap();
/// // NX: only add new members; CH: count changed ones too.
/// let n = index.add_many([("a", 2.0, 2.0), ("b", 3.0, 3.0)], AddOptions::new().nx()).unwrap();
/// assert_eq!(n, 1);
/// assert_eq!(index.position(&"a"), Some((1.0, 1.0)));
/// let n = index.add_many([("a", 2.0, 2.0), ("c", 3.0, 3.0)], AddOptions::new().xx().ch()).unwrap();
/// assert_eq!(n, 1); // "a" moved; "c" was not added
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct AddOptions {
    nx: bool,
    xx: bool,
    ch: bool,
    ttl: Option<Duration>,
    keep_ttl: bool,
}

impl AddOptions {
    /// No flags: upsert, count only new members, apply the index's default TTL.
    pub fn new() -> Self {
        Self::default()
    }
    /// `NX`: never update existing members, only add new ones.
    pub fn nx(mut self) -> Self {
        self.nx = true;
        self
    }
    /// `XX`: only update existing members, never add new ones.
    pub fn xx(mut self) -> Self {
        self.xx = true;
        self
    }
    /// `CH`: count members whose position changed as well as new ones.
    pub fn ch(mut self) -> Self {
        self.ch = true;
        self
    }
    /// Expire the written members after `ttl` instead of the index's default TTL.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }
    /// Keep an updated member's current expiry instead of resetting it.
    pub fn keep_ttl(mut self) -> Self {
        self.keep_ttl = true;
        self
    }
}

/// A snapshot of an index's counters, from [`GeoIndex::stats`].
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct GeoStats {
    /// Members now stored (expired members not yet purged included).
    pub members: u64,
    /// Members added (new).
    pub added: u64,
    /// Existing members whose position was written again.
    pub updated: u64,
    /// Members removed by `remove`.
    pub removed: u64,
    /// Members dropped because their TTL ran out.
    pub expired: u64,
    /// Searches run (including `nearest`).
    pub searches: u64,
    /// Tree entries examined by all searches.
    pub candidates: u64,
    /// Average entries examined per search.
    pub avg_candidates: f64,
    /// Results returned by all searches.
    pub results: u64,
    /// Geofence events emitted.
    pub fence_events: u64,
    /// Registered geofences.
    pub fences: u64,
}

impl fmt::Display for GeoStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let avg = format!("{:.1}", self.avg_candidates);
        let hit_share: Ratio = ratio(self.results, self.candidates);
        write_fields(
            f,
            &[
                ("members", &self.members),
                ("added", &self.added),
                ("updated", &self.updated),
                ("removed", &self.removed),
                ("expired", &self.expired),
                ("searches", &self.searches),
                ("candidates", &self.candidates),
                ("avg_candidates", &avg),
                ("results", &self.results),
                ("result_share", &hit_share),
                ("fence_events", &self.fence_events),
                ("fences", &self.fences),
            ],
        )
    }
}

impl Snapshot for GeoStats {}

#[derive(Default)]
pub(crate) struct Counters {
    added: AtomicU64,
    updated: AtomicU64,
    removed: AtomicU64,
    expired: AtomicU64,
    pub(crate) searches: AtomicU64,
    pub(crate) candidates: AtomicU64,
    pub(crate) results: AtomicU64,
    fence_events: AtomicU64,
}

/// Builder of a [`GeoIndex`], from [`GeoIndex::builder`].
#[must_use]
pub struct GeoIndexBuilder<M, A = ()> {
    mode: Mode,
    lat_limit: f64,
    default_ttl: Option<Duration>,
    clock: Option<SharedClock>,
    _marker: std::marker::PhantomData<fn() -> (M, A)>,
}

impl<M, A> fmt::Debug for GeoIndexBuilder<M, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoIndexBuilder")
            .field("mode", &self.mode)
            .field("lat_limit", &self.lat_limit)
            .field("default_ttl", &self.default_ttl)
            .finish()
    }
}

impl<M, A> GeoIndexBuilder<M, A> {
    /// Stores exact coordinates and measures with geo's haversine (the default).
    pub fn exact(mut self) -> Self {
        self.mode = Mode::Exact;
        self
    }

    /// Redis compatibility mode: see [`Mode::Redis`].
    pub fn redis_compat(mut self) -> Self {
        self.mode = Mode::Redis;
        self
    }

    /// Sets the mode.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The largest absolute latitude accepted, in degrees: 85.05112878 by default (Redis's limit), up
    /// to 90 in [`Mode::Exact`] to index the poles. Redis mode requires the default.
    pub fn latitude_limit(mut self, degrees: f64) -> Self {
        self.lat_limit = degrees;
        self
    }

    /// Every write expires its member after `ttl` unless told otherwise ([`AddOptions::ttl`],
    /// [`AddOptions::keep_ttl`]): a member that stops being reported disappears.
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = Some(ttl);
        self
    }

    /// The clock TTLs are judged by ([`SystemClock`] by default; a `ManualClock` in tests).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(std::sync::Arc::new(clock));
        self
    }

    /// Builds the index.
    ///
    /// # Errors
    /// [`Error::Config`] for a latitude limit outside (0, 90], a changed limit in Redis mode, or a
    /// zero default TTL.
    pub fn build(self) -> Result<GeoIndex<M, A>> {
        if !(self.lat_limit > 0.0 && self.lat_limit <= 90.0) {
            return Err(Error::Config("latitude limit must be in (0, 90]"));
        }
        if self.mode == Mode::Redis && self.lat_limit != hash::LAT_MAX {
            return Err(Error::Config("Redis mode uses Redis's latitude limit"));
        }
        if self.default_ttl == Some(Duration::ZERO) {
            return Err(Error::Config("default TTL must be positive"));
        }
        Ok(GeoIndex {
            inner: RwLock::new(Inner {
                slots: Vec::new(),
                free: Vec::new(),
                map: HashMap::new(),
                tree: RTree::new(),
                expiry: BTreeSet::new(),
                fences: Vec::new(),
                subscribers: Vec::new(),
            }),
            clock: self
                .clock
                .unwrap_or_else(|| std::sync::Arc::new(SystemClock)),
            mode: self.mode,
            metric: self.mode.metric(),
            lat_limit: self.lat_limit,
            default_ttl: self.default_ttl,
            counters: Counters::default(),
        })
    }
}

pub(crate) struct Slot<M, A> {
    pub(crate) member: M,
    pub(crate) lon: f64,
    pub(crate) lat: f64,
    pub(crate) attrs: A,
    pub(crate) expires: Option<Instant>,
}

pub(crate) struct Inner<M, A> {
    pub(crate) slots: Vec<Option<Slot<M, A>>>,
    free: Vec<u32>,
    map: HashMap<M, u32>,
    pub(crate) tree: RTree<Node<M>>,
    pub(crate) expiry: BTreeSet<(Instant, u32)>,
    fences: Vec<FenceEntry>,
    subscribers: Vec<mpsc::Sender<FenceEvent<M>>>,
}

impl<M, A> Inner<M, A> {
    pub(crate) fn live(&self, id: u32, now: Option<Instant>) -> Option<&Slot<M, A>> {
        let slot = self.slots[id as usize].as_ref()?;
        match (slot.expires, now) {
            (Some(at), Some(now)) if at <= now => None,
            _ => Some(slot),
        }
    }

    pub(crate) fn lookup<Q>(&self, member: &Q, now: Option<Instant>) -> Option<&Slot<M, A>>
    where
        M: Hash + Eq + std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let id = *self.map.get(member)?;
        self.live(id, now)
    }
}

/// A proximity index: members with positions on the Earth, searched like Redis `GEOSEARCH` and beyond.
///
/// `M` is the member type (`String`, `&'static str`, an id…), `A` optional attributes per member that a
/// search can [filter](Search::filter) on. Share it behind an `Arc`: reads (searches, positions) run
/// concurrently under a read lock, writes take a write lock.
///
/// ```
/// use ember_geo::{GeoIndex, Unit};
///
/// let index: GeoIndex<String> = GeoIndex::builder().redis_compat().build().unwrap();
/// index.add("Palermo".into(), 13.361389, 38.115556).unwrap();
/// index.add("Catania".into(), 15.087269, 37.502669).unwrap();
///
/// let d = index.distance("Palermo", "Catania", Unit::Kilometers).unwrap();
/// assert_eq!(format!("{d:.4}"), "166.2742");
/// assert_eq!(index.geohash("Palermo").unwrap(), "sqc8b49rny0");
///
/// let hits = index.search().from_point(15.0, 37.0).radius(200.0, Unit::Kilometers).asc().with_dist().run().unwrap();
/// let names: Vec<_> = hits.iter().map(|h| h.member.as_str()).collect();
/// assert_eq!(names, ["Catania", "Palermo"]);
/// assert_eq!(format!("{:.4}", hits[0].distance.unwrap()), "56.4413");
/// ```
pub struct GeoIndex<M, A = ()> {
    pub(crate) inner: RwLock<Inner<M, A>>,
    clock: SharedClock,
    mode: Mode,
    pub(crate) metric: Metric,
    lat_limit: f64,
    default_ttl: Option<Duration>,
    pub(crate) counters: Counters,
}

impl<M, A> fmt::Debug for GeoIndex<M, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoIndex")
            .field("mode", &self.mode)
            .field("members", &self.inner.read().map.len())
            .finish()
    }
}

impl<M, A> GeoIndex<M, A> {
    /// A builder: [`Mode::Exact`], latitude limit ±85.05112878, no TTL, the system clock.
    pub fn builder() -> GeoIndexBuilder<M, A> {
        GeoIndexBuilder {
            mode: Mode::Exact,
            lat_limit: hash::LAT_MAX,
            default_ttl: None,
            clock: None,
            _marker: std::marker::PhantomData,
        }
    }

    /// The mode the index was built with.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The metric distances are measured with.
    #[must_use]
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The largest absolute latitude accepted.
    #[must_use]
    pub fn latitude_limit(&self) -> f64 {
        self.lat_limit
    }

    pub(crate) fn check(&self, lon: f64, lat: f64) -> Result<()> {
        if (-180.0..=180.0).contains(&lon) && (-self.lat_limit..=self.lat_limit).contains(&lat) {
            Ok(())
        } else {
            Err(Error::InvalidCoordinates { lon, lat })
        }
    }

    /// The stored position of `(lon, lat)`: as given, or the centre of its Redis cell.
    fn store_position(&self, lon: f64, lat: f64) -> (f64, f64) {
        match self.mode {
            Mode::Exact => (lon, lat),
            Mode::Redis => hash::decode(hash::score_of(lon, lat)),
        }
    }

    /// The current time, if any member has a TTL (reads skip the clock otherwise).
    pub(crate) fn now_if_ttl(&self, inner: &Inner<M, A>) -> Option<Instant> {
        if inner.expiry.is_empty() {
            None
        } else {
            Some(self.clock.now())
        }
    }

    /// Subscribes to geofence events: every event from now on is delivered to the returned receiver
    /// (unbounded; drop it to unsubscribe).
    pub fn subscribe(&self) -> mpsc::Receiver<FenceEvent<M>> {
        let (tx, rx) = mpsc::channel();
        self.inner.write().subscribers.push(tx);
        rx
    }

    /// Removes the fence called `name`; false if there was none.
    pub fn remove_fence(&self, name: &str) -> bool {
        let mut inner = self.inner.write();
        let before = inner.fences.len();
        inner.fences.retain(|f| f.name != name);
        inner.fences.len() != before
    }

    /// The names of the registered fences.
    #[must_use]
    pub fn fence_names(&self) -> Vec<String> {
        self.inner
            .read()
            .fences
            .iter()
            .map(|f| f.name.clone())
            .collect()
    }
}

impl<M, A> GeoIndex<M, A>
where
    M: Hash + Eq + Clone,
{
    /// Adds `member` at `(lon, lat)` or moves it there (upsert); returns `true` if it was new.
    ///
    /// Attributes of an existing member are kept (a new one gets `A::default()`); its expiry is reset to
    /// the index's default TTL (none unless configured). Geofences crossed by the move report events.
    ///
    /// ```
    /// use ember_geo::GeoIndex;
    /// let index: GeoIndex<&str> = GeoIndex::builder().build().unwrap();
    /// assert!(index.add("a", 2.35, 48.85).unwrap());
    /// assert!(!index.add("a", 2.36, 48.86).unwrap()); // moved, not new
    /// assert!(index.add("b", 0.0, 89.0).is_err());     // beyond ±85.05112878
    /// assert_eq!(index.len(), 1);
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidCoordinates`] for NaN or out-of-range coordinates; nothing is changed.
    pub fn add(&self, member: M, lon: f64, lat: f64) -> Result<bool>
    where
        A: Default,
    {
        self.check(lon, lat)?;
        let now = self.clock.now();
        let mut inner = self.inner.write();
        self.purge_locked(&mut inner, now);
        let out = self.write_one(
            &mut inner,
            member,
            lon,
            lat,
            None,
            AddOptions::new(),
            now,
            true,
        );
        self.count_write(out);
        Ok(out == Written::Added)
    }

    /// Like [`add`](Self::add), and sets the member's attributes.
    ///
    /// # Errors
    /// [`Error::InvalidCoordinates`] for NaN or out-of-range coordinates; nothing is changed.
    pub fn add_with(&self, member: M, lon: f64, lat: f64, attrs: A) -> Result<bool>
    where
        A: Default,
    {
        self.check(lon, lat)?;
        let now = self.clock.now();
        let mut inner = self.inner.write();
        self.purge_locked(&mut inner, now);
        let out = self.write_one(
            &mut inner,
            member,
            lon,
            lat,
            Some(attrs),
            AddOptions::new(),
            now,
            true,
        );
        self.count_write(out);
        Ok(out == Written::Added)
    }

    /// Adds or moves one member under `options` (NX, XX, TTL…); returns 1 if it counts as Redis would
    /// count it (added, or changed with CH), else 0.
    ///
    /// # Errors
    /// [`Error::InvalidCoordinates`]; [`Error::Syntax`] for NX together with XX.
    pub fn add_with_options(
        &self,
        member: M,
        lon: f64,
        lat: f64,
        options: AddOptions,
    ) -> Result<usize>
    where
        A: Default,
    {
        self.add_many([(member, lon, lat)], options)
    }

    /// Adds or moves many members at once, with Redis `GEOADD`'s `NX`, `XX` and `CH` options; returns how
    /// many were added (with `CH`: added or moved). Later entries for the same member win.
    ///
    /// All coordinates are checked first: one bad entry fails the whole batch and nothing is added.
    /// Large batches rebuild the tree in one bulk load (1 000 000 points well under a second).
    ///
    /// # Errors
    /// [`Error::InvalidBatchEntry`] naming the first bad entry; [`Error::Syntax`] for NX with XX.
    pub fn add_many(
        &self,
        items: impl IntoIterator<Item = (M, f64, f64)>,
        options: AddOptions,
    ) -> Result<usize>
    where
        A: Default,
    {
        self.add_batch(
            items.into_iter().map(|(m, lon, lat)| (m, lon, lat, None)),
            options,
        )
    }

    /// [`add_many`](Self::add_many) with attributes for each member.
    ///
    /// # Errors
    /// As [`add_many`](Self::add_many).
    pub fn add_many_with(
        &self,
        items: impl IntoIterator<Item = (M, f64, f64, A)>,
        options: AddOptions,
    ) -> Result<usize>
    where
        A: Default,
    {
        self.add_batch(
            items
                .into_iter()
                .map(|(m, lon, lat, a)| (m, lon, lat, Some(a))),
            options,
        )
    }

    fn add_batch(
        &self,
        items: impl Iterator<Item = (M, f64, f64, Option<A>)>,
        options: AddOptions,
    ) -> Result<usize>
    where
        A: Default,
    {
        if options.nx && options.xx {
            return Err(Error::Syntax(
                "XX and NX options at the same time are not compatible",
            ));
        }
        if options.ttl == Some(Duration::ZERO) {
            return Err(Error::InvalidDistance {
                what: "ttl",
                value: 0.0,
            });
        }
        let items: Vec<_> = items.collect();
        for (index, (_, lon, lat, _)) in items.iter().enumerate() {
            if self.check(*lon, *lat).is_err() {
                return Err(Error::InvalidBatchEntry {
                    index,
                    lon: *lon,
                    lat: *lat,
                });
            }
        }
        let now = self.clock.now();
        let mut inner = self.inner.write();
        self.purge_locked(&mut inner, now);
        // A batch as large as the tree is cheaper to apply to the slots and bulk-load afterwards.
        let rebuild = items.len() >= 1024 && items.len() >= inner.tree.size();
        let (mut added, mut moved, mut rewritten) = (0u64, 0u64, 0u64);
        inner.map.reserve(items.len());
        let spare = inner.free.len();
        inner.slots.reserve(items.len().saturating_sub(spare));
        for (member, lon, lat, attrs) in items {
            // Counted locally: an atomic per item would serialize the loop's cache-missing stores.
            match self.write_one(&mut inner, member, lon, lat, attrs, options, now, !rebuild) {
                Written::Added => added += 1,
                Written::Moved => moved += 1,
                Written::Unchanged => rewritten += 1,
                Written::Skipped => {}
            }
        }
        self.counters.added.fetch_add(added, Ordering::Relaxed);
        self.counters
            .updated
            .fetch_add(moved + rewritten, Ordering::Relaxed);
        let counted = (added + if options.ch { moved } else { 0 }) as usize;
        if rebuild {
            let nodes: Vec<Node<M>> = inner
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    s.as_ref()
                        .map(|s| Node::new(s.member.clone(), s.lon, s.lat, i as u32))
                })
                .collect();
            inner.tree = RTree::bulk_load(nodes);
        }
        Ok(counted)
    }

    #[allow(clippy::too_many_arguments)]
    fn write_one(
        &self,
        inner: &mut Inner<M, A>,
        member: M,
        lon: f64,
        lat: f64,
        attrs: Option<A>,
        options: AddOptions,
        now: Instant,
        touch_tree: bool,
    ) -> Written
    where
        A: Default,
    {
        let (slon, slat) = self.store_position(lon, lat);
        let new_expiry = options.ttl.or(self.default_ttl).map(|d| now + d);
        let inner = &mut *inner;
        match inner.map.entry(member) {
            Entry::Occupied(e) => {
                if options.nx {
                    return Written::Skipped;
                }
                let id = *e.get();
                let slot = inner.slots[id as usize].as_mut().expect("mapped slot");
                let (old_lon, old_lat) = (slot.lon, slot.lat);
                let moved = old_lon != slon || old_lat != slat;
                if let Some(a) = attrs {
                    slot.attrs = a;
                }
                if !options.keep_ttl && slot.expires != new_expiry {
                    if let Some(at) = slot.expires {
                        inner.expiry.remove(&(at, id));
                    }
                    if let Some(at) = new_expiry {
                        inner.expiry.insert((at, id));
                    }
                    slot.expires = new_expiry;
                }
                if moved {
                    slot.lon = slon;
                    slot.lat = slat;
                    let member = (!inner.fences.is_empty()).then(|| slot.member.clone());
                    if touch_tree {
                        inner.tree.remove_with_selection_function(SelectSlot {
                            xyz: to_xyz(old_lon, old_lat),
                            slot: id,
                        });
                        inner
                            .tree
                            .insert(Node::new(slot.member.clone(), slon, slat, id));
                    }
                    if let Some(member) = member {
                        self.fence_check(
                            inner,
                            &member,
                            Some((old_lon, old_lat)),
                            Some((slon, slat)),
                            FenceCause::Moved,
                        );
                    }
                }
                if moved {
                    Written::Moved
                } else {
                    Written::Unchanged
                }
            }
            Entry::Vacant(e) => {
                if options.xx {
                    return Written::Skipped;
                }
                let member = (!inner.fences.is_empty()).then(|| e.key().clone());
                let node_member = touch_tree.then(|| e.key().clone());
                let slot = Slot {
                    member: e.key().clone(),
                    lon: slon,
                    lat: slat,
                    attrs: attrs.unwrap_or_default(),
                    expires: new_expiry,
                };
                let id = match inner.free.pop() {
                    Some(id) => {
                        inner.slots[id as usize] = Some(slot);
                        id
                    }
                    None => {
                        inner.slots.push(Some(slot));
                        (inner.slots.len() - 1) as u32
                    }
                };
                e.insert(id);
                if let Some(at) = new_expiry {
                    inner.expiry.insert((at, id));
                }
                if let Some(m) = node_member {
                    inner.tree.insert(Node::new(m, slon, slat, id));
                }
                if let Some(member) = member {
                    self.fence_check(inner, &member, None, Some((slon, slat)), FenceCause::Moved);
                }
                Written::Added
            }
        }
    }

    fn fence_check(
        &self,
        inner: &mut Inner<M, A>,
        member: &M,
        old: Option<(f64, f64)>,
        new: Option<(f64, f64)>,
        cause: FenceCause,
    ) {
        if inner.fences.is_empty() {
            return;
        }
        let mut events = Vec::new();
        for f in &inner.fences {
            let was = old.is_some_and(|(lon, lat)| f.contains(self.metric, lon, lat));
            let is = new.is_some_and(|(lon, lat)| f.contains(self.metric, lon, lat));
            if was != is {
                events.push(FenceEvent {
                    fence: f.name.clone(),
                    member: member.clone(),
                    kind: if is {
                        FenceEventKind::Enter
                    } else {
                        FenceEventKind::Exit
                    },
                    cause,
                    position: new.or(old).unwrap_or_default(),
                });
            }
        }
        if events.is_empty() {
            return;
        }
        self.counters
            .fence_events
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        for ev in events {
            inner.subscribers.retain(|tx| tx.send(ev.clone()).is_ok());
        }
    }

    /// Removes the member at `id` from every structure and returns its slot.
    fn take_slot(&self, inner: &mut Inner<M, A>, id: u32) -> Slot<M, A> {
        let slot = inner.slots[id as usize].take().expect("mapped slot");
        inner.map.remove(&slot.member);
        inner.free.push(id);
        if let Some(at) = slot.expires {
            inner.expiry.remove(&(at, id));
        }
        inner.tree.remove_with_selection_function(SelectSlot {
            xyz: to_xyz(slot.lon, slot.lat),
            slot: id,
        });
        slot
    }

    fn purge_locked(&self, inner: &mut Inner<M, A>, now: Instant) -> usize {
        let mut n = 0;
        while let Some(&(at, id)) = inner.expiry.first() {
            if at > now {
                break;
            }
            let slot = self.take_slot(inner, id);
            self.fence_check(
                inner,
                &slot.member,
                Some((slot.lon, slot.lat)),
                None,
                FenceCause::Expired,
            );
            n += 1;
        }
        if n > 0 {
            self.counters.expired.fetch_add(n as u64, Ordering::Relaxed);
        }
        n
    }

    /// Drops every member whose TTL has run out (emitting their fence exits) and returns how many.
    ///
    /// Expired members are invisible to every read at once; this reclaims their memory. Writes and
    /// searches call it themselves when something is due.
    pub fn purge_expired(&self) -> usize {
        let now = {
            let inner = self.inner.read();
            let Some(&(first, _)) = inner.expiry.first() else {
                return 0; // no TTL anywhere: not even a clock read
            };
            let now = self.clock.now();
            if first > now {
                return 0;
            }
            now
        };
        self.purge_locked(&mut self.inner.write(), now)
    }

    /// Removes `member`; returns whether it was there (and not expired).
    ///
    /// ```
    /// use ember_geo::GeoIndex;
    /// let index: GeoIndex<String> = GeoIndex::builder().build().unwrap();
    /// index.add("a".into(), 1.0, 1.0).unwrap();
    /// assert!(index.remove("a"));
    /// assert!(!index.remove("a"));
    /// ```
    pub fn remove<Q>(&self, member: &Q) -> bool
    where
        M: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = self.clock.now();
        let mut inner = self.inner.write();
        self.purge_locked(&mut inner, now);
        let Some(&id) = inner.map.get(member) else {
            return false;
        };
        let slot = self.take_slot(&mut inner, id);
        self.fence_check(
            &mut inner,
            &slot.member,
            Some((slot.lon, slot.lat)),
            None,
            FenceCause::Removed,
        );
        self.counters.removed.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Registers a geofence under `name`. Members already inside it produce no event until they leave.
    ///
    /// # Errors
    /// [`Error::FenceExists`] if the name is taken; [`Error::InvalidPolygon`],
    /// [`Error::InvalidCoordinates`] or [`Error::InvalidDistance`] for a bad shape.
    pub fn add_fence(&self, name: impl Into<String>, fence: Fence) -> Result<()> {
        let entry = FenceEntry::new(name.into(), fence, self.lat_limit)?;
        let mut inner = self.inner.write();
        if inner.fences.iter().any(|f| f.name == entry.name) {
            return Err(Error::FenceExists(entry.name));
        }
        inner.fences.push(entry);
        Ok(())
    }

    /// Removes every member (fences and subscribers stay).
    pub fn clear(&self) {
        let mut inner = self.inner.write();
        inner.slots.clear();
        inner.free.clear();
        inner.map.clear();
        inner.expiry.clear();
        inner.tree = RTree::new();
    }
}

impl<M, A> GeoIndex<M, A> {
    fn count_write(&self, written: Written) {
        match written {
            Written::Added => self.counters.added.fetch_add(1, Ordering::Relaxed),
            Written::Moved | Written::Unchanged => {
                self.counters.updated.fetch_add(1, Ordering::Relaxed)
            }
            Written::Skipped => 0,
        };
    }
}

/// What one write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Added,
    Moved,
    Unchanged,
    Skipped,
}

impl<M, A> GeoIndex<M, A>
where
    M: Hash + Eq + Clone,
{
    /// How many live (unexpired) members the index holds.
    #[must_use]
    pub fn len(&self) -> usize {
        let inner = self.inner.read();
        match self.now_if_ttl(&inner) {
            None => inner.map.len(),
            Some(now) => inner.map.len() - inner.expiry.range(..=(now, u32::MAX)).count(),
        }
    }

    /// Whether the index has no live member.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `member` is in the index (and not expired).
    #[must_use]
    pub fn contains<Q>(&self, member: &Q) -> bool
    where
        M: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let inner = self.inner.read();
        inner.lookup(member, self.now_if_ttl(&inner)).is_some()
    }

    /// The stored `(lon, lat)` of `member` (`GEOPOS`): exactly as added in exact mode, the cell centre in
    /// Redis mode. `None` if missing.
    #[must_use]
    pub fn position<Q>(&self, member: &Q) -> Option<(f64, f64)>
    where
        M: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let inner = self.inner.read();
        inner
            .lookup(member, self.now_if_ttl(&inner))
            .map(|s| (s.lon, s.lat))
    }

    /// The distance between two members in `unit` (`GEODIST`); `None` if either is missing.
    #[must_use]
    pub fn distance<Q>(&self, a: &Q, b: &Q, unit: Unit) -> Option<f64>
    where
        M: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let inner = self.inner.read();
        let now = self.now_if_ttl(&inner);
        let a = inner.lookup(a, now)?;
        let b = inner.lookup(b, now)?;
        Some(unit.from_meters(self.metric.distance((a.lon, a.lat), (b.lon, b.lat))))
    }

    /// The 11-character geohash of `member`, exactly as Redis `GEOHASH` returns it (computed from the
    /// member's 52-bit cell, so its last character is `'0'`). `None` if missing.
    #[must_use]
    pub fn geohash<Q>(&self, member: &Q) -> Option<String>
    where
        M: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let score = self.score(member)?;
        let (lon, lat) = hash::decode(score);
        Some(hash::redis_geohash(lon, lat))
    }

    /// The member's 52-bit Redis score (its sorted-set score in Redis). `None` if missing.
    #[must_use]
    pub fn score<Q>(&self, member: &Q) -> Option<u64>
    where
        M: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let inner = self.inner.read();
        inner
            .lookup(member, self.now_if_ttl(&inner))
            .map(|s| hash::score_of(s.lon, s.lat))
    }

    /// A copy of the member's attributes. `None` if missing.
    #[must_use]
    pub fn attrs<Q>(&self, member: &Q) -> Option<A>
    where
        M: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        A: Clone,
    {
        let inner = self.inner.read();
        inner
            .lookup(member, self.now_if_ttl(&inner))
            .map(|s| s.attrs.clone())
    }

    /// Replaces the member's attributes; false if it is missing.
    pub fn set_attrs<Q>(&self, member: &Q, attrs: A) -> bool
    where
        M: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.update_attrs(member, |a| *a = attrs)
    }

    /// Changes the member's attributes in place under the write lock; false if it is missing. Use it
    /// for check-and-set updates (claim a driver only if still free).
    pub fn update_attrs<Q>(&self, member: &Q, f: impl FnOnce(&mut A)) -> bool
    where
        M: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut inner = self.inner.write();
        let now = self.now_if_ttl(&inner);
        let Some(&id) = inner.map.get(member) else {
            return false;
        };
        if inner.live(id, now).is_none() {
            return false;
        }
        let slot = inner.slots[id as usize].as_mut().expect("mapped slot");
        f(&mut slot.attrs);
        true
    }

    /// Sets the member to expire `ttl` from now; false if it is missing.
    ///
    /// # Errors
    /// [`Error::InvalidDistance`] for a zero TTL.
    pub fn expire<Q>(&self, member: &Q, ttl: Duration) -> Result<bool>
    where
        M: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if ttl.is_zero() {
            return Err(Error::InvalidDistance {
                what: "ttl",
                value: 0.0,
            });
        }
        let now = self.clock.now();
        Ok(self.set_expiry(member, Some(now + ttl), now))
    }

    /// Removes the member's expiry; false if it is missing.
    pub fn persist<Q>(&self, member: &Q) -> bool
    where
        M: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = self.clock.now();
        self.set_expiry(member, None, now)
    }

    fn set_expiry<Q>(&self, member: &Q, at: Option<Instant>, now: Instant) -> bool
    where
        M: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut inner = self.inner.write();
        let Some(&id) = inner.map.get(member) else {
            return false;
        };
        if inner.live(id, Some(now)).is_none() {
            return false;
        }
        let inner = &mut *inner;
        let slot = inner.slots[id as usize].as_mut().expect("mapped slot");
        if let Some(old) = slot.expires.take() {
            inner.expiry.remove(&(old, id));
        }
        if let Some(at) = at {
            inner.expiry.insert((at, id));
        }
        slot.expires = at;
        true
    }

    /// How long until the member expires: `None` if it is missing or has no TTL.
    #[must_use]
    pub fn ttl<Q>(&self, member: &Q) -> Option<Duration>
    where
        M: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = self.clock.now();
        let inner = self.inner.read();
        let slot = inner.lookup(member, Some(now))?;
        slot.expires.map(|at| at.saturating_duration_since(now))
    }

    /// The names of the fences that contain `member` now.
    #[must_use]
    pub fn fences_containing<Q>(&self, member: &Q) -> Vec<String>
    where
        M: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let inner = self.inner.read();
        let Some(slot) = inner.lookup(member, self.now_if_ttl(&inner)) else {
            return Vec::new();
        };
        inner
            .fences
            .iter()
            .filter(|f| f.contains(self.metric, slot.lon, slot.lat))
            .map(|f| f.name.clone())
            .collect()
    }

    /// Starts a search (`GEOSEARCH`): choose an origin, a shape, then options, then [`Search::run`].
    pub fn search(&self) -> Search<'_, M, A> {
        Search::new(self)
    }

    /// The `k` members nearest to `(lon, lat)`, nearest first, with distances in meters and positions:
    /// no radius needed.
    ///
    /// ```
    /// use ember_geo::GeoIndex;
    /// let index: GeoIndex<u32> = GeoIndex::builder().build().unwrap();
    /// for i in 0..10 {
    ///     index.add(i, f64::from(i), 0.0).unwrap();
    /// }
    /// let hits = index.nearest(3.2, 0.0, 2).unwrap();
    /// assert_eq!(hits.iter().map(|h| h.member).collect::<Vec<_>>(), [3, 4]);
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidCoordinates`] for a bad point; [`Error::Syntax`] for `k == 0`.
    pub fn nearest(&self, lon: f64, lat: f64, k: usize) -> Result<Vec<Hit<M>>> {
        self.search()
            .from_point(lon, lat)
            .nearest(k)
            .with_dist()
            .with_coord()
            .run()
    }

    /// Purges expired members if any are due (called before searches).
    pub(crate) fn purge_due(&self) {
        self.purge_expired();
    }

    /// A snapshot of the counters.
    #[must_use]
    pub fn stats(&self) -> GeoStats {
        let (members, fences) = {
            let inner = self.inner.read();
            (inner.map.len() as u64, inner.fences.len() as u64)
        };
        let c = &self.counters;
        let searches = c.searches.load(Ordering::Relaxed);
        let candidates = c.candidates.load(Ordering::Relaxed);
        GeoStats {
            members,
            added: c.added.load(Ordering::Relaxed),
            updated: c.updated.load(Ordering::Relaxed),
            removed: c.removed.load(Ordering::Relaxed),
            expired: c.expired.load(Ordering::Relaxed),
            searches,
            candidates,
            avg_candidates: if searches == 0 {
                0.0
            } else {
                candidates as f64 / searches as f64
            },
            results: c.results.load(Ordering::Relaxed),
            fence_events: c.fence_events.load(Ordering::Relaxed),
            fences,
        }
    }
}
