//! Ticket booking: many buyers race for the same seats of one show.
//!
//! Each buyer puts a hold on one to three seats (an `acquire_all` lease on `show/7/seat/<id>` with a
//! short TTL, all or nothing), checks the seats are still for sale, pays, and records the sale in the
//! seat's fenced record using the lease's token. Some buyers walk away without releasing: their holds
//! expire and the seats go back on sale. Some buyers stall (a GC pause) past their hold: their late
//! write carries a stale token and the seat record refuses it. At the end the box office locks the
//! whole show (`show/7`), which waits for every seat hold to end, and checks every seat was sold
//! exactly once.
//!
//! The first part replays the paused-buyer failure step by step on a manual clock.
//!
//! `cargo run --release -p ember-examples --no-default-features --features lock --bin ticket_booking`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use ember_core::{Clock, ManualClock, SystemClock};
use ember_lock::{Error, FencedResource, LockManager, Owner};
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

const ROWS: [char; 4] = ['A', 'B', 'C', 'D'];
const PER_ROW: usize = 10;
const BUYERS: usize = 16;
/// How long a hold keeps seats out of sale while the buyer pays.
const HOLD: Duration = Duration::from_millis(40);
/// How long a buyer waits in line for its seats before trying others.
const PATIENCE: Duration = Duration::from_millis(100);

/// A seat's record in the ticketing database: who bought it. Writes are fenced by lease tokens.
struct Seat {
    name: String,
    record: FencedResource<Option<String>>,
    sales: AtomicU32,
}

#[derive(Default)]
struct Tally {
    attempts: AtomicU64,
    sold: AtomicUsize,
    walked_away: AtomicU64,
    stalled: AtomicU64,
    stale_writes_refused: AtomicU64,
    lost_races: AtomicU64,
    timeouts: AtomicU64,
}

fn main() {
    println!("== the paused buyer, step by step (manual clock) ==");
    paused_buyer();
    println!();
    println!("== {BUYERS} buyers, {} seats ==", ROWS.len() * PER_ROW);
    rush();
}

fn paused_buyer() {
    let clock = ManualClock::new();
    let locks = LockManager::builder().clock(clock.clone()).build().unwrap();
    let seat = FencedResource::new(None::<&str>);
    let hold = Duration::from_secs(60);

    let alice = locks.try_acquire("show/7/seat/A7", "alice", hold).unwrap();
    println!("alice holds A7 for {hold:?} (token {})", alice.token());
    clock.advance(Duration::from_secs(75));
    println!("alice's payment stalls for 75 s; her hold has expired");
    let bob = locks.try_acquire("show/7/seat/A7", "bob", hold).unwrap();
    println!("bob holds A7 (token {})", bob.token());
    seat.write(bob.token(), |s| *s = Some("bob")).unwrap();
    println!("bob's purchase is recorded");
    match seat.write(alice.token(), |s| *s = Some("alice")) {
        Err(Error::StaleToken { token, highest }) => {
            println!("alice's late purchase is refused: token {token} is older than {highest}")
        }
        other => panic!("expected a stale token, got {other:?}"),
    }
    match locks.release(&alice) {
        Err(e) => println!("alice's release is refused too: {e}"),
        Ok(()) => panic!("an expired lease must not be released"),
    }
    println!("A7 belongs to {:?}", seat.read(|s| *s).unwrap_or("nobody"));
}

fn rush() {
    let clock = SystemClock;
    let started = clock.now();
    let locks = LockManager::builder().hierarchical('/').build().unwrap();
    let seats: Arc<Vec<Seat>> = Arc::new(
        ROWS.iter()
            .flat_map(|r| (1..=PER_ROW).map(move |n| format!("{r}{n}")))
            .map(|name| Seat {
                name,
                record: FencedResource::new(None),
                sales: AtomicU32::new(0),
            })
            .collect(),
    );
    let tally = Arc::new(Tally::default());

    let buyers: Vec<_> = (0..BUYERS)
        .map(|b| {
            let (locks, seats, tally) = (locks.clone(), seats.clone(), tally.clone());
            thread::spawn(move || buyer(b, &locks, &seats, &tally))
        })
        .collect();
    for b in buyers {
        b.join().unwrap();
    }

    // The box office closes the show: an exclusive lease on `show/7` conflicts with every seat
    // hold below it, so it waits until the last abandoned hold has expired.
    let close = locks
        .acquire(
            "show/7",
            "box-office",
            Duration::from_secs(5),
            Duration::from_secs(5),
        )
        .unwrap();
    println!(
        "box office closed the show (token {}) once no seat hold was left",
        close.token()
    );

    let mut per_buyer: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for seat in seats.iter() {
        let sales = seat.sales.load(Ordering::SeqCst);
        assert_eq!(sales, 1, "seat {} sold {sales} times", seat.name);
        let buyer = seat.record.read(|r| r.clone()).expect("every seat sold");
        per_buyer.entry(buyer).or_default().push(&seat.name);
    }
    println!(
        "all {} seats sold exactly once in {:?}",
        seats.len(),
        clock.now() - started
    );
    for (buyer, got) in &per_buyer {
        println!("  {buyer:>9}: {}", got.join(" "));
    }
    let t = &tally;
    println!(
        "attempts={} walked_away={} stalled={} stale_writes_refused={} lost_races={} timeouts={}",
        t.attempts.load(Ordering::SeqCst),
        t.walked_away.load(Ordering::SeqCst),
        t.stalled.load(Ordering::SeqCst),
        t.stale_writes_refused.load(Ordering::SeqCst),
        t.lost_races.load(Ordering::SeqCst),
        t.timeouts.load(Ordering::SeqCst),
    );
    let stats = locks.stats();
    println!(
        "holds that expired and returned seats to sale: {}",
        stats.expiries
    );
    println!("lock stats: {stats}");
    assert!(stats.expiries >= t.walked_away.load(Ordering::SeqCst));
}

fn buyer(b: usize, locks: &LockManager, seats: &[Seat], tally: &Tally) {
    let name = format!("buyer-{b:02}");
    // One lock owner per visit: a buyer who walks away leaves holds behind under the old visit's
    // name, and comes back as a new session that does not wait for its own abandoned holds.
    let mut visit = 0;
    let mut me = Owner::new(format!("{name}#{visit}"));
    let mut rng = SmallRng::seed_from_u64(b as u64 * 7919 + 1);
    while tally.sold.load(Ordering::SeqCst) < seats.len() {
        let for_sale: Vec<usize> = (0..seats.len())
            .filter(|&i| seats[i].record.read(Option::is_none))
            .collect();
        if for_sale.is_empty() {
            break;
        }
        let want = rng.random_range(1..=3).min(for_sale.len());
        let picked: Vec<usize> = for_sale.choose_multiple(&mut rng, want).copied().collect();
        let names: Vec<String> = picked
            .iter()
            .map(|&i| format!("show/7/seat/{}", seats[i].name))
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        tally.attempts.fetch_add(1, Ordering::SeqCst);
        let leases = match locks.acquire_all(&refs, &me, HOLD, PATIENCE) {
            Ok(leases) => leases,
            Err(Error::Timeout { .. }) => {
                tally.timeouts.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            // Cannot happen here (a session holds nothing while it waits), but this is what a
            // caller does with it: back off and retry.
            Err(Error::Deadlock { .. }) => continue,
            Err(e) => panic!("unexpected: {e}"),
        };
        // Leases come back in canonical (sorted) order: pair them with seats by name.
        let seat_of = |lease_name: &str| {
            picked
                .iter()
                .copied()
                .find(|&i| lease_name.ends_with(&format!("/{}", seats[i].name)))
                .expect("lease for a picked seat")
        };
        // Check availability as a fenced write: it also registers our token with the seat, so a
        // stalled earlier holder can no longer write.
        let available = leases.iter().all(|l| {
            seats[seat_of(l.resource())]
                .record
                .write(l.token(), |r| r.is_none())
                .unwrap_or(false)
        });
        if !available {
            tally.lost_races.fetch_add(1, Ordering::SeqCst);
            let _ = locks.release_all(&leases);
            continue;
        }
        let fate: u32 = rng.random_range(0..100);
        if fate < 10 {
            // Walks away without releasing: the hold expires and the seats go back on sale.
            tally.walked_away.fetch_add(1, Ordering::SeqCst);
            visit += 1;
            me = Owner::new(format!("{name}#{visit}"));
            continue;
        }
        if fate < 16 {
            // Stalls past the hold (a GC pause, a slow card check). Someone else may take the seats.
            tally.stalled.fetch_add(1, Ordering::SeqCst);
            thread::sleep(HOLD * 2);
        }
        for l in &leases {
            let seat = &seats[seat_of(l.resource())];
            let bought = seat.record.write(l.token(), |r| {
                if r.is_none() {
                    *r = Some(name.clone());
                    true
                } else {
                    false
                }
            });
            match bought {
                Ok(true) => {
                    seat.sales.fetch_add(1, Ordering::SeqCst);
                    tally.sold.fetch_add(1, Ordering::SeqCst);
                }
                Ok(false) => {
                    tally.lost_races.fetch_add(1, Ordering::SeqCst);
                }
                Err(Error::StaleToken { .. }) => {
                    tally.stale_writes_refused.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) => panic!("unexpected: {e}"),
            }
        }
        // A stalled buyer's release is refused (its leases expired); that is fine.
        let _ = locks.release_all(&leases);
    }
}
