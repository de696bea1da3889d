//! Tour section of ember-core: the manual clock, the Kafka-compatible partitioner, and the
//! consistent-hash ring.

use std::time::Duration;

use ember_core::partition::{ConsistentHash, HashPartitioner, Partitioner};
use ember_core::{Clock, ManualClock};

/// Runs this section.
pub fn run() {
    super::heading("ember-core: clock and partitioners");
    let clock = ManualClock::new();
    let t0 = clock.now();
    clock.advance(Duration::from_secs(90));
    println!(
        "manual clock: advanced by {:?} without sleeping (wall clock now {} ms)",
        clock.now() - t0,
        clock.unix_millis()
    );

    let kafka = HashPartitioner::kafka();
    let keys = ["user:1", "user:2", "order-99", "foobar"];
    let placed: Vec<String> = keys
        .iter()
        .map(|k| format!("{k}->{}", kafka.partition(k.as_bytes(), 12)))
        .collect();
    println!("kafka murmur2 over 12 partitions: {}", placed.join(" "));

    let mut ring = ConsistentHash::new();
    for i in 0..4 {
        ring.add_node(format!("node-{i}"));
    }
    const KEYS: u32 = 100_000;
    let owner = |ring: &ConsistentHash<String>, k: u32| ring.node_for(&k.to_be_bytes()).cloned();
    let before: Vec<_> = (0..KEYS).map(|k| owner(&ring, k)).collect();
    ring.add_node("node-4".to_string());
    let moved = (0..KEYS)
        .filter(|&k| owner(&ring, k) != before[k as usize])
        .count();
    println!(
        "consistent hash: adding a 5th node moved {moved} of {KEYS} keys ({:.1}%, ideal 20%)",
        moved as f64 * 100.0 / f64::from(KEYS)
    );
}
