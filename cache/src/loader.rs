//! Single-flight loading: concurrent misses of one key run one loader; the others wait for its result.
//!
//! A *flight* is registered per key while its loader runs. The first caller to miss becomes the leader
//! and runs the loader; callers arriving meanwhile find the flight and wait on its [`Signal`]. The leader
//! publishes a value (every waiter gets a clone) or an error (every waiter of the same error type gets
//! the same `Arc`). If the leader unwinds (its loader panicked) the flight is marked abandoned and the
//! waiters retry, one of them becoming the new leader, so nobody waits forever.

use std::any::Any;
use std::hash::Hash;
use std::sync::Arc;

use ember_core::clock::{Clock, Signal};
use hashbrown::HashMap;
use parking_lot::Mutex;

pub(crate) type AnyError = Arc<dyn Any + Send + Sync>;

enum State<V> {
    Running,
    Done(V),
    Failed(AnyError),
    Abandoned,
}

pub(crate) struct Flight<V> {
    state: Mutex<State<V>>,
    signal: Signal,
}

pub(crate) enum Outcome<V> {
    Value(V),
    Failed(AnyError),
    /// The leader gave up without a result; try again.
    Retry,
}

impl<V: Clone> Flight<V> {
    pub(crate) fn wait(&self, clock: &dyn Clock) -> Outcome<V> {
        loop {
            let seen = self.signal.epoch();
            match &*self.state.lock() {
                State::Running => {}
                State::Done(v) => return Outcome::Value(v.clone()),
                State::Failed(e) => return Outcome::Failed(Arc::clone(e)),
                State::Abandoned => return Outcome::Retry,
            }
            self.signal.wait(clock, seen, None);
        }
    }
}

/// The flights of one shard.
pub(crate) struct Flights<K, V> {
    map: Mutex<HashMap<K, Arc<Flight<V>>>>,
}

impl<K, V> Default for Flights<K, V> {
    fn default() -> Self {
        Flights {
            map: Mutex::new(HashMap::new()),
        }
    }
}

pub(crate) enum Join<'a, K: Hash + Eq + Clone, V> {
    Lead(Leader<'a, K, V>),
    Wait(Arc<Flight<V>>),
}

impl<K: Hash + Eq + Clone, V> Flights<K, V> {
    pub(crate) fn join(&self, key: &K) -> Join<'_, K, V> {
        let mut map = self.map.lock();
        if let Some(f) = map.get(key) {
            return Join::Wait(Arc::clone(f));
        }
        let flight = Arc::new(Flight {
            state: Mutex::new(State::Running),
            signal: Signal::new(),
        });
        map.insert(key.clone(), Arc::clone(&flight));
        Join::Lead(Leader {
            flights: self,
            key: key.clone(),
            flight,
            finished: false,
        })
    }

    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.map.lock().len()
    }
}

/// The right (and duty) to run a key's loader. Dropping it without finishing abandons the flight.
pub(crate) struct Leader<'a, K: Hash + Eq + Clone, V> {
    flights: &'a Flights<K, V>,
    key: K,
    flight: Arc<Flight<V>>,
    finished: bool,
}

impl<K: Hash + Eq + Clone, V> Leader<'_, K, V> {
    fn finish(&mut self, state: State<V>) {
        self.finished = true;
        // Unregister first: a caller arriving after this point misses the flight and reads the cache
        // (where a successful value already is) or starts a fresh load.
        self.flights.map.lock().remove(&self.key);
        *self.flight.state.lock() = state;
        self.flight.signal.notify_all();
    }

    pub(crate) fn succeed(mut self, value: V) {
        self.finish(State::Done(value));
    }

    pub(crate) fn fail(mut self, error: AnyError) {
        self.finish(State::Failed(error));
    }
}

impl<K: Hash + Eq + Clone, V> Drop for Leader<'_, K, V> {
    fn drop(&mut self) {
        if !self.finished {
            self.finish(State::Abandoned);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_core::clock::SystemClock;

    #[test]
    fn second_caller_waits_for_the_first() {
        let flights: Flights<u32, String> = Flights::default();
        let Join::Lead(leader) = flights.join(&1) else {
            panic!("first caller must lead")
        };
        let Join::Wait(flight) = flights.join(&1) else {
            panic!("second caller must wait")
        };
        assert_eq!(flights.in_flight(), 1);
        leader.succeed("one".into());
        assert_eq!(flights.in_flight(), 0);
        match flight.wait(&SystemClock) {
            Outcome::Value(v) => assert_eq!(v, "one"),
            _ => panic!("expected a value"),
        }
    }

    #[test]
    fn dropped_leader_abandons() {
        let flights: Flights<u32, u32> = Flights::default();
        let Join::Lead(leader) = flights.join(&1) else {
            panic!()
        };
        let Join::Wait(flight) = flights.join(&1) else {
            panic!()
        };
        drop(leader);
        assert!(matches!(flight.wait(&SystemClock), Outcome::Retry));
        assert!(matches!(flights.join(&1), Join::Lead(_)));
    }
}
