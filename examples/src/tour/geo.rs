//! Tour section of ember-geo: Redis GEO semantics in process, and what Redis lacks.

use std::time::Duration;

use ember_core::ManualClock;
use ember_geo::geo::polygon;
use ember_geo::{AddOptions, Fence, GeoIndex, Unit};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Runs this section.
pub fn run() {
    super::heading("ember-geo");

    // Redis compatibility mode: the documented Sicily example, answer for answer.
    let sicily: GeoIndex<String> = GeoIndex::builder()
        .redis_compat()
        .build()
        .expect("valid config");
    for (name, lon, lat) in [
        ("Palermo", 13.361389, 38.115556),
        ("Catania", 15.087269, 37.502669),
        ("edge1", 12.758489, 38.788135),
        ("edge2", 17.241510, 38.788135),
    ] {
        sicily
            .add(name.to_string(), lon, lat)
            .expect("valid coordinates");
    }
    let d = sicily
        .distance("Palermo", "Catania", Unit::Kilometers)
        .unwrap_or_default();
    println!(
        "GEODIST Palermo Catania = {d:.4} km, GEOHASH Palermo = {}",
        sicily.geohash("Palermo").unwrap_or_default()
    );
    let hits = sicily
        .search()
        .from_point(15.0, 37.0)
        .by_box(400.0, 400.0, Unit::Kilometers)
        .asc()
        .with_dist()
        .run()
        .expect("valid search");
    let line: Vec<String> = hits
        .iter()
        .map(|h| format!("{} {:.4}", h.member, h.distance.unwrap_or_default()))
        .collect();
    println!(
        "GEOSEARCH FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHDIST -> {}",
        line.join(", ")
    );

    // Beyond Redis: 100k vehicles, nearest free ones without a radius, a zone, a TTL, a geofence.
    #[derive(Debug, Clone, Default)]
    struct Vehicle {
        free: bool,
    }
    let clock = ManualClock::new();
    let fleet: GeoIndex<u32, Vehicle> = GeoIndex::builder()
        .default_ttl(Duration::from_secs(60))
        .clock(clock.clone())
        .build()
        .expect("valid config");
    let mut rng = SmallRng::seed_from_u64(1);
    let n = fleet
        .add_many_with(
            (0..100_000u32).map(|i| {
                let lon = rng.random_range(-125.0..-66.0);
                let lat = rng.random_range(24.0..50.0);
                (i, lon, lat, Vehicle { free: i % 3 == 0 })
            }),
            AddOptions::new(),
        )
        .expect("valid batch");
    println!("loaded {n} vehicles (a 60 s TTL each: vehicles that stop reporting disappear)");
    let near = fleet
        .search()
        .from_point(-122.42, 37.77)
        .nearest(3)
        .filter(|_, v| v.free)
        .with_dist()
        .unit(Unit::Kilometers)
        .run()
        .expect("valid search");
    for h in &near {
        println!(
            "  nearest free vehicle {} at {:.2} km",
            h.member,
            h.distance.unwrap_or_default()
        );
    }
    let bay = polygon![
        (x: -123.0, y: 37.2), (x: -121.7, y: 37.2), (x: -121.7, y: 38.2), (x: -123.0, y: 38.2)
    ];
    let in_bay = fleet
        .search()
        .polygon(bay.clone())
        .run()
        .expect("valid polygon")
        .len();
    println!("vehicles inside the Bay Area polygon: {in_bay}");

    fleet
        .add_fence("bay", Fence::polygon(bay))
        .expect("new fence");
    let events = fleet.subscribe();
    fleet.add(7, -130.0, 37.5).expect("valid");
    fleet.add(7, -122.3, 37.6).expect("valid");
    fleet.add(7, -100.0, 40.0).expect("valid");
    for e in events.try_iter() {
        println!(
            "  fence {:?}: vehicle {} {:?} at {:?}",
            e.fence, e.member, e.kind, e.position
        );
    }

    clock.advance(Duration::from_secs(30));
    fleet.add(7, -100.0, 40.1).expect("valid"); // vehicle 7 keeps reporting
    clock.advance(Duration::from_secs(31));
    println!(
        "after 61 s of silence from the others: {} vehicle(s) left ({} expired entries purged)",
        fleet.len(),
        fleet.purge_expired()
    );
    println!("stats: {}", fleet.stats());
}
