//! Random sequences of acquire / release / extend / clock advances against a sequential model.

use std::collections::HashMap;
use std::time::Duration;

use ember_core::{Clock, ManualClock};
use ember_lock::{Error, Lease, LockManager, Mode};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Acquire {
        res: u8,
        owner: u8,
        shared: bool,
        ttl: u64,
    },
    AcquireAll {
        a: u8,
        b: u8,
        owner: u8,
        ttl: u64,
    },
    Release {
        idx: usize,
    },
    Extend {
        idx: usize,
        ttl: u64,
    },
    Advance {
        ms: u64,
    },
}

/// A TTL in ms: mostly short, rarely zero (refused with `InvalidTtl`) or decades long.
fn ttl() -> impl Strategy<Value = u64> {
    prop_oneof![20 => 1u64..60, 1 => Just(0), 1 => Just(1 << 40)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3, 0u8..3, any::<bool>(), ttl())
            .prop_map(|(res, owner, shared, ttl)| Op::Acquire { res, owner, shared, ttl }),
        2 => (0u8..3, 0u8..3, 0u8..3, ttl())
            .prop_map(|(a, b, owner, ttl)| Op::AcquireAll { a, b, owner, ttl }),
        2 => (0usize..16).prop_map(|idx| Op::Release { idx }),
        1 => (0usize..16, ttl()).prop_map(|(idx, ttl)| Op::Extend { idx, ttl }),
        2 => (0u64..40).prop_map(|ms| Op::Advance { ms }),
    ]
}

/// A model lease: (owner, token, deadline in ms, shared).
#[derive(Debug, Clone, PartialEq)]
struct M {
    owner: String,
    token: u64,
    deadline: u64,
    shared: bool,
}

#[derive(Default)]
struct Model {
    now: u64,
    next_token: u64,
    held: HashMap<String, Vec<M>>,
}

impl Model {
    fn live(&mut self, res: &str) -> &mut Vec<M> {
        let now = self.now;
        let v = self.held.entry(res.to_string()).or_default();
        v.retain(|m| m.deadline > now);
        v
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::cases(200), ..ProptestConfig::default() })]
    #[test]
    fn manager_matches_sequential_model(ops in proptest::collection::vec(op(), 1..80)) {
        let clock = ManualClock::new();
        let locks = LockManager::builder().clock(clock.clone()).build().unwrap();
        let t0 = clock.now();
        let ms = |i: std::time::Instant| (i - t0).as_millis() as u64;
        let mut model = Model { next_token: 1, ..Model::default() };
        // Leases handed out so far (kept current after extends), with the model's view.
        let mut leases: Vec<Lease> = Vec::new();

        for op in ops {
            match op {
                // A zero TTL is refused whatever the resource's state, and changes nothing.
                Op::Acquire { res, owner, shared, ttl: 0 } => {
                    let (res, owner) = (format!("r{res}"), format!("o{owner}"));
                    let real = if shared {
                        locks.try_acquire_shared(&res, owner.as_str(), Duration::ZERO)
                    } else {
                        locks.try_acquire(&res, owner.as_str(), Duration::ZERO)
                    };
                    prop_assert!(matches!(real, Err(Error::InvalidTtl { .. })), "{:?}", real);
                }
                Op::AcquireAll { a, b, owner, ttl: 0 } => {
                    let names = [format!("r{a}"), format!("r{b}")];
                    let refs = [names[0].as_str(), names[1].as_str()];
                    let real = locks.try_acquire_all(&refs, format!("o{owner}").as_str(), Duration::ZERO);
                    prop_assert!(matches!(real, Err(Error::InvalidTtl { .. })), "{:?}", real);
                }
                Op::Extend { idx, ttl: 0 } if !leases.is_empty() => {
                    let real = locks.extend(&leases[idx % leases.len()], Duration::ZERO);
                    prop_assert!(matches!(real, Err(Error::InvalidTtl { .. })), "{:?}", real);
                }
                Op::Acquire { res, owner, shared, ttl } => {
                    let res = format!("r{res}");
                    let owner = format!("o{owner}");
                    let ttl_d = Duration::from_millis(ttl);
                    let real = if shared {
                        locks.try_acquire_shared(&res, owner.as_str(), ttl_d)
                    } else {
                        locks.try_acquire(&res, owner.as_str(), ttl_d)
                    };
                    let now = model.now;
                    let live = model.live(&res);
                    let conflicting: Vec<M> = live.iter().filter(|m| !(m.shared && shared)).cloned().collect();
                    if conflicting.is_empty() {
                        let lease = real.expect("model grants");
                        prop_assert_eq!(lease.token(), model.next_token);
                        prop_assert_eq!(ms(lease.deadline()), now + ttl);
                        prop_assert_eq!(lease.mode(), if shared { Mode::Shared } else { Mode::Exclusive });
                        let token = model.next_token;
                        model.live(&res).push(M { owner, token, deadline: now + ttl, shared });
                        model.next_token += 1;
                        leases.push(lease);
                    } else {
                        match real {
                            Err(Error::Held { by, until, .. }) => {
                                prop_assert!(conflicting.iter().any(|m| m.owner == by.as_str() && m.deadline == ms(until)));
                            }
                            other => prop_assert!(false, "expected Held, got {:?}", other),
                        }
                    }
                }
                Op::AcquireAll { a, b, owner, ttl } => {
                    let names = [format!("r{a}"), format!("r{b}")];
                    let owner = format!("o{owner}");
                    let refs = [names[0].as_str(), names[1].as_str()];
                    let real = locks.try_acquire_all(&refs, owner.as_str(), Duration::from_millis(ttl));
                    let mut wanted: Vec<String> = names.to_vec();
                    wanted.sort();
                    wanted.dedup();
                    let blocked = wanted.iter().any(|r| !model.live(r).is_empty());
                    if blocked {
                        // All or nothing: nothing was taken.
                        prop_assert!(matches!(real, Err(Error::Held { .. })), "{:?}", real);
                    } else {
                        let got = real.expect("model grants all");
                        prop_assert_eq!(got.len(), wanted.len());
                        let now = model.now;
                        for (lease, name) in got.into_iter().zip(&wanted) {
                            prop_assert_eq!(lease.resource(), name.as_str());
                            prop_assert_eq!(lease.token(), model.next_token);
                            let token = model.next_token;
                            model.live(name).push(M { owner: owner.clone(), token, deadline: now + ttl, shared: false });
                            model.next_token += 1;
                            leases.push(lease);
                        }
                    }
                }
                Op::Release { idx } | Op::Extend { idx, .. } if leases.is_empty() => { let _ = idx; }
                Op::Release { idx } => {
                    let i = idx % leases.len();
                    let lease = leases[i].clone();
                    let real = locks.release(&lease);
                    let now = model.now;
                    let live = model.live(lease.resource());
                    let pos = live.iter().position(|m| m.token == lease.token());
                    match pos {
                        Some(p) => { live.remove(p); prop_assert!(real.is_ok(), "{:?}", real); }
                        None if ms(lease.deadline()) <= now => prop_assert!(matches!(real, Err(Error::Expired { .. })), "{:?}", real),
                        None => prop_assert!(matches!(real, Err(Error::NotHeld { .. })), "{:?}", real),
                    }
                }
                Op::Extend { idx, ttl } => {
                    let i = idx % leases.len();
                    let lease = leases[i].clone();
                    let real = locks.extend(&lease, Duration::from_millis(ttl));
                    let now = model.now;
                    let live = model.live(lease.resource());
                    match live.iter_mut().find(|m| m.token == lease.token()) {
                        Some(m) => {
                            m.deadline = now + ttl;
                            let renewed = real.expect("model extends");
                            prop_assert_eq!(ms(renewed.deadline()), now + ttl);
                            prop_assert_eq!(renewed.token(), lease.token());
                            leases[i] = renewed;
                        }
                        None if ms(lease.deadline()) <= now => prop_assert!(matches!(real, Err(Error::Expired { .. })), "{:?}", real),
                        None => prop_assert!(matches!(real, Err(Error::NotHeld { .. })), "{:?}", real),
                    }
                }
                Op::Advance { ms: by } => {
                    clock.advance(Duration::from_millis(by));
                    model.now += by;
                }
            }
            // After every step: the live holders agree.
            for r in 0..3 {
                let res = format!("r{r}");
                let mut expected: Vec<u64> = model.live(&res).iter().map(|m| m.token).collect();
                expected.sort_unstable();
                let actual: Vec<u64> = locks.holders(&res).iter().map(Lease::token).collect();
                prop_assert_eq!(actual, expected);
            }
            for lease in &leases {
                let live = model.live(lease.resource()).iter().any(|m| m.token == lease.token());
                prop_assert_eq!(locks.is_valid(lease), live);
            }
        }
        let total: usize = (0..3).map(|r| model.live(&format!("r{r}")).len()).sum();
        prop_assert_eq!(locks.stats().holders, total as u64);
    }
}
