//! Ride sharing: drivers move on a city grid and report their positions; riders find the nearest free
//! drivers; a driver is offered to one rider at a time; drivers who stop reporting disappear.
//!
//! `cargo run --release -p ember-examples --bin ride_share`
//!
//! - ember-geo holds the drivers: each report is an `add` (upsert) with a 30 s TTL, so a driver whose
//!   app goes quiet expires by itself; riders ask for the `nearest` free drivers (an attribute filter
//!   applied during the search, no radius needed); an airport geofence counts drivers entering the
//!   pickup zone.
//! - ember-lock holds a driver for one rider: several matchers run in parallel threads and often pick
//!   the same nearest driver; the one whose `try_acquire` wins gets the driver, the others move on to
//!   their next candidate. The hold is a lease with a TTL, so a matcher that dies mid-offer does not
//!   keep the driver forever, and its fencing token guards the assignment.
//!
//! Time is a `ManualClock` advanced 5 s per tick, so ten simulated minutes run in about a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use ember_core::ManualClock;
use ember_geo::{Fence, FenceEventKind, GeoIndex, Unit};
use ember_lock::{FencedResource, LockManager};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The city: a grid of streets 400 m apart around midtown Manhattan's latitude.
const ORIGIN: (f64, f64) = (-74.02, 40.70);
const BLOCKS: i32 = 40; // 40 x 40 blocks, 16 km a side
const BLOCK_DEG_LAT: f64 = 0.0036; // ~400 m
const BLOCK_DEG_LON: f64 = 0.0047; // ~400 m at 40.7°N
const DRIVERS: u32 = 2_000;
const TICK: Duration = Duration::from_secs(5);
const TICKS: u32 = 120; // ten minutes
const RIDERS_PER_TICK: usize = 40;
const MATCHERS: usize = 4;
const REPORT_TTL: Duration = Duration::from_secs(30);
const HOLD_TTL: Duration = Duration::from_secs(10);
/// When the concert at the stadium ends, and how many riders then ask at once.
const CONCERT_TICK: u32 = 60;
const CONCERT_RIDERS: usize = 400;

#[derive(Debug, Clone, Default)]
struct Driver {
    /// Tick until which the driver is on a trip; free when `busy_until <= now`.
    busy_until: u32,
    /// Fencing token of the hold that assigned the current trip.
    token: u64,
}

fn to_lonlat(x: i32, y: i32) -> (f64, f64) {
    (
        ORIGIN.0 + f64::from(x) * BLOCK_DEG_LON,
        ORIGIN.1 + f64::from(y) * BLOCK_DEG_LAT,
    )
}

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    matched: AtomicU64,
    unmatched: AtomicU64,
    /// `try_acquire` failed: another matcher was offering this driver to its rider.
    held_elsewhere: AtomicU64,
    /// The driver declined the offer.
    declined: AtomicU64,
    pickup_m: AtomicU64,
}

fn main() {
    let clock = ManualClock::new();
    let drivers: Arc<GeoIndex<u32, Driver>> = Arc::new(
        GeoIndex::builder()
            .default_ttl(REPORT_TTL)
            .clock(clock.clone())
            .build()
            .expect("valid config"),
    );
    let locks = Arc::new(
        LockManager::builder()
            .clock(clock.clone())
            .build()
            .expect("valid config"),
    );
    // One fenced record per driver: the assignment, writable only with the current hold's token.
    let assignments: Arc<Vec<FencedResource<Option<u64>>>> =
        Arc::new((0..DRIVERS).map(|_| FencedResource::new(None)).collect());
    // Checks the hold: how many offers each driver has in flight (never more than one).
    let offers: Arc<Vec<AtomicU64>> = Arc::new((0..DRIVERS).map(|_| AtomicU64::new(0)).collect());
    let stadium = (BLOCKS / 3, BLOCKS * 2 / 3);

    let airport = to_lonlat(BLOCKS - 4, 4);
    drivers
        .add_fence(
            "airport",
            Fence::circle(airport.0, airport.1, 1.0, Unit::Kilometers),
        )
        .expect("new fence");
    let fence_events = drivers.subscribe();

    let mut rng = SmallRng::seed_from_u64(2024);
    let mut pos: Vec<(i32, i32)> = (0..DRIVERS)
        .map(|_| (rng.random_range(0..=BLOCKS), rng.random_range(0..=BLOCKS)))
        .collect();
    // Some drivers go offline for good during the run: they stop reporting and must expire.
    let offline_at: Vec<Option<u32>> = (0..DRIVERS)
        .map(|_| {
            rng.random_bool(0.1)
                .then(|| rng.random_range(10..TICKS / 2))
        })
        .collect();
    let tally = Arc::new(Tally::default());
    let rider_seq = AtomicU64::new(0);
    let mut airport_entries = 0u64;

    for tick in 0..TICKS {
        // 1. Drivers move one block along a street and report.
        for d in 0..DRIVERS {
            if offline_at[d as usize].is_some_and(|t| tick >= t) {
                continue;
            }
            let (x, y) = &mut pos[d as usize];
            match rng.random_range(0..4) {
                0 => *x = (*x + 1).min(BLOCKS),
                1 => *x = (*x - 1).max(0),
                2 => *y = (*y + 1).min(BLOCKS),
                _ => *y = (*y - 1).max(0),
            }
            let (lon, lat) = to_lonlat(*x, *y);
            drivers.add(d, lon, lat).expect("on the grid");
        }
        airport_entries += fence_events
            .try_iter()
            .filter(|e| e.kind == FenceEventKind::Enter)
            .count() as u64;

        // 2. Riders request rides; matchers work in parallel and race for the same drivers.
        let concert = tick == CONCERT_TICK;
        let n = if concert {
            CONCERT_RIDERS
        } else {
            RIDERS_PER_TICK
        };
        let riders: Vec<(u64, f64, f64)> = (0..n)
            .map(|_| {
                let (x, y) = if concert {
                    (
                        stadium.0 + rng.random_range(-1..=1),
                        stadium.1 + rng.random_range(-1..=1),
                    )
                } else {
                    (rng.random_range(0..=BLOCKS), rng.random_range(0..=BLOCKS))
                };
                let (lon, lat) = to_lonlat(x, y);
                (rider_seq.fetch_add(1, Ordering::Relaxed), lon, lat)
            })
            .collect();
        let dispatch = Dispatch {
            drivers: &drivers,
            locks: &locks,
            assignments: &assignments,
            offers: &offers,
            tally: &tally,
            tick,
        };
        thread::scope(|s| {
            for chunk in riders.chunks(n.div_ceil(MATCHERS)) {
                let dispatch = &dispatch;
                s.spawn(move || {
                    for &(rider, lon, lat) in chunk {
                        dispatch.tally.requests.fetch_add(1, Ordering::Relaxed);
                        dispatch.match_rider(rider, lon, lat);
                    }
                });
            }
        });
        if concert {
            let t = &tally;
            println!(
                "concert ends at tick {tick}: {CONCERT_RIDERS} riders at once; so far {} offers refused because another matcher held the driver",
                t.held_elsewhere.load(Ordering::Relaxed)
            );
        }

        clock.advance(TICK);
    }

    let t = &tally;
    let matched = t.matched.load(Ordering::Relaxed);
    let expected_online = offline_at.iter().filter(|o| o.is_none()).count();
    println!(
        "ride_share: {DRIVERS} drivers on a {BLOCKS}x{BLOCKS}-block grid, {TICKS} ticks of 5 s, {MATCHERS} matcher threads"
    );
    println!(
        "riders: {} requests, {} matched, {} unmatched (no free driver among the 5 nearest)",
        t.requests.load(Ordering::Relaxed),
        matched,
        t.unmatched.load(Ordering::Relaxed),
    );
    println!(
        "offers: {} refused at try_acquire (driver held for another rider), {} declined by the driver",
        t.held_elsewhere.load(Ordering::Relaxed),
        t.declined.load(Ordering::Relaxed),
    );
    println!(
        "average pickup distance: {:.0} m",
        t.pickup_m.load(Ordering::Relaxed) as f64 / matched.max(1) as f64
    );
    println!(
        "drivers online at the end: {} (expected {expected_online}: those who stopped reporting expired)",
        drivers.len()
    );
    println!("drivers entering the airport zone: {airport_entries}");
    println!("geo:  {}", drivers.stats());
    println!("lock: {}", locks.stats());
    assert_eq!(drivers.len(), expected_online);
    assert_eq!(
        t.requests.load(Ordering::Relaxed),
        matched + t.unmatched.load(Ordering::Relaxed)
    );
}

/// What a matcher thread works with during one tick.
struct Dispatch<'a> {
    drivers: &'a GeoIndex<u32, Driver>,
    locks: &'a LockManager,
    assignments: &'a [FencedResource<Option<u64>>],
    offers: &'a [AtomicU64],
    tally: &'a Tally,
    tick: u32,
}

impl Dispatch<'_> {
    /// Finds the nearest free drivers and offers the ride to them in turn, each under a hold.
    fn match_rider(&self, rider: u64, lon: f64, lat: f64) {
        let tick = self.tick;
        let candidates = self
            .drivers
            .search()
            .from_point(lon, lat)
            .nearest(5)
            .filter(|_, d| d.busy_until <= tick)
            .with_dist()
            .run()
            .expect("valid search");
        let owner = format!("rider-{rider}");
        for hit in candidates {
            let id = hit.member;
            // Hold the driver for this rider only while the offer is out: a parallel matcher that
            // picked the same driver is refused here and tries its next candidate.
            let Ok(hold) =
                self.locks
                    .try_acquire(&format!("driver/{id}"), owner.as_str(), HOLD_TTL)
            else {
                self.tally.held_elsewhere.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let in_flight = self.offers[id as usize].fetch_add(1, Ordering::SeqCst);
            assert_eq!(in_flight, 0, "driver {id} offered to two riders at once");
            // The offer goes to the driver's phone; the driver thinks it over (and sometimes declines).
            for _ in 0..20 {
                thread::yield_now();
            }
            let accepted = (rider + u64::from(id)) % 5 != 0;
            let mut assigned = false;
            if accepted {
                // Still under the hold: the driver may have taken a trip from a matcher that finished
                // just before this one acquired the hold.
                self.drivers.update_attrs(&id, |d| {
                    if d.busy_until <= tick {
                        d.busy_until = tick + 6 + (rider % 12) as u32; // a 30–85 s trip
                        d.token = hold.token();
                        assigned = true;
                    }
                });
                if assigned {
                    self.assignments[id as usize]
                        .write(hold.token(), |a| *a = Some(rider))
                        .expect("the newest hold's token is accepted");
                }
            } else {
                self.tally.declined.fetch_add(1, Ordering::Relaxed);
            }
            self.offers[id as usize].fetch_sub(1, Ordering::SeqCst);
            let _ = self.locks.release(&hold);
            if assigned {
                self.tally.matched.fetch_add(1, Ordering::Relaxed);
                self.tally
                    .pickup_m
                    .fetch_add(hit.distance.unwrap_or_default() as u64, Ordering::Relaxed);
                return;
            }
        }
        self.tally.unmatched.fetch_add(1, Ordering::Relaxed);
    }
}
