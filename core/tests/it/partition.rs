use ember_core::partition::{ConsistentHash, HashAlgorithm, HashPartitioner, Partitioner};

const KEYS: u32 = 100_000;

fn owners(ring: &ConsistentHash<String>) -> Vec<String> {
    (0..KEYS)
        .map(|k| {
            ring.node_for(format!("key-{k}").as_bytes())
                .unwrap()
                .clone()
        })
        .collect()
}

fn ring_of(n: usize) -> ConsistentHash<String> {
    let mut ring = ConsistentHash::new();
    for i in 0..n {
        ring.add_node(format!("node-{i}"));
    }
    ring
}

#[test]
fn adding_a_node_moves_about_one_nth_of_the_keys() {
    for n in [4usize, 9, 16] {
        let mut ring = ring_of(n);
        let before = owners(&ring);
        ring.add_node("newcomer".to_string());
        let after = owners(&ring);
        let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
        // Every moved key must have moved *to* the new node: no reshuffling between old nodes.
        assert!(
            before
                .iter()
                .zip(&after)
                .filter(|(a, b)| a != b)
                .all(|(_, b)| b == "newcomer")
        );
        let expected = f64::from(KEYS) / (n as f64 + 1.0);
        let share = moved as f64 / expected;
        assert!(
            (0.75..=1.25).contains(&share),
            "n={n}: moved {moved}, expected about {expected:.0}"
        );
    }
}

#[test]
fn removing_a_node_moves_only_its_keys() {
    for n in [5usize, 10] {
        let mut ring = ring_of(n);
        let before = owners(&ring);
        let victim = "node-2".to_string();
        ring.remove_node(&victim);
        let after = owners(&ring);
        let moved: Vec<_> = before.iter().zip(&after).filter(|(a, b)| a != b).collect();
        assert!(moved.iter().all(|(a, _)| **a == victim));
        assert_eq!(moved.len(), before.iter().filter(|o| **o == victim).count());
        let expected = f64::from(KEYS) / n as f64;
        let share = moved.len() as f64 / expected;
        assert!(
            (0.75..=1.25).contains(&share),
            "n={n}: moved {}",
            moved.len()
        );
    }
}

#[test]
fn load_is_within_15_percent_of_even_with_default_virtual_nodes() {
    for n in [3usize, 5, 10] {
        let ring = ring_of(n);
        let owners = owners(&ring);
        let even = f64::from(KEYS) / n as f64;
        for i in 0..n {
            let node = format!("node-{i}");
            let load = owners.iter().filter(|o| **o == node).count() as f64;
            assert!(
                (load / even - 1.0).abs() <= 0.15,
                "n={n}: {node} holds {load}, even is {even:.0}"
            );
        }
    }
}

#[test]
fn weights_shift_load_proportionally() {
    let mut ring = ConsistentHash::new();
    ring.add_weighted_node("heavy".to_string(), 2);
    ring.add_node("light-1".to_string());
    ring.add_node("light-2".to_string());
    let owners = owners(&ring);
    let heavy = owners.iter().filter(|o| *o == "heavy").count() as f64;
    let share = heavy / f64::from(KEYS);
    assert!((0.42..=0.58).contains(&share), "heavy share {share}");
}

#[test]
fn hash_partitioner_spreads_keys_evenly() {
    let p = HashPartitioner::kafka();
    let mut counts = [0u32; 8];
    for k in 0..KEYS {
        counts[p.partition(format!("key-{k}").as_bytes(), 8) as usize] += 1;
    }
    let even = KEYS / 8;
    for c in counts {
        assert!(c.abs_diff(even) < even / 10, "{counts:?}");
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn partition_is_in_range_and_deterministic(
            key in proptest::collection::vec(any::<u8>(), 0..64),
            n in prop_oneof![8 => 1u32..1000, 1 => Just(1u32), 1 => Just(u32::MAX), 1 => any::<u32>()],
            fnv in any::<bool>(),
        ) {
            let p = if fnv {
                HashPartitioner::new(HashAlgorithm::Fnv1a)
            } else {
                HashPartitioner::kafka()
            };
            // No partitions at all: 0, as documented, rather than a division by zero.
            prop_assert_eq!(p.partition(&key, 0), 0);
            if n == 0 {
                return Ok(());
            }
            let a = p.partition(&key, n);
            prop_assert!(a < n);
            prop_assert_eq!(a, p.partition(&key, n));
        }

        /// Rare but legal ring set-ups (0 virtual nodes and weight 0 are taken as 1, nodes added
        /// twice): every key has an owner on the ring, and removing a node moves only its own keys.
        #[test]
        fn ring_moves_only_the_keys_of_a_removed_node(
            vnodes in prop_oneof![Just(0u32), Just(1), 1u32..200],
            nodes in proptest::collection::vec((0u8..12, prop_oneof![Just(0u32), 1u32..4]), 1..10),
            keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..16), 1..50),
            gone in 0u8..12,
        ) {
            let mut ring = ConsistentHash::with_virtual_nodes(vnodes);
            let mut present = Vec::new();
            for (node, weight) in nodes {
                let added = ring.add_weighted_node(node, weight);
                prop_assert_eq!(added, !present.contains(&node));
                if added {
                    present.push(node);
                }
            }
            prop_assert_eq!(ring.len(), present.len());
            let before: Vec<u8> = keys.iter().map(|k| *ring.node_for(k).unwrap()).collect();
            prop_assert!(before.iter().all(|b| present.contains(b)));
            prop_assert_eq!(ring.remove_node(&gone), present.contains(&gone));
            for (k, b) in keys.iter().zip(&before) {
                match ring.node_for(k) {
                    None => prop_assert!(ring.is_empty()),
                    Some(a) => {
                        prop_assert_ne!(*a, gone);
                        if *b != gone {
                            prop_assert_eq!(a, b);
                        }
                    }
                }
            }
        }
    }
}
