//! The queue against a sequential model, on random operation sequences.

use std::time::Duration;

use ember_core::ManualClock;
use ember_queue::{Error, Message, NackOutcome, Queue, Receipt, RetryPolicy};
use proptest::prelude::*;

const VISIBILITY: u64 = 10;
const RETRY: u64 = 3;
const MAX_RECEIVES: u32 = 3;

#[derive(Debug, Clone)]
enum Op {
    Send { group: Option<u8>, delay: u64 },
    Receive,
    Ack(usize),
    Nack(usize),
    Extend(usize, u64),
    Advance(u64),
    RedriveAll,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (prop::option::of(0u8..3), prop_oneof![Just(0u64), Just(0), Just(4)])
            .prop_map(|(group, delay)| Op::Send { group, delay }),
        5 => Just(Op::Receive),
        3 => any::<usize>().prop_map(Op::Ack),
        2 => any::<usize>().prop_map(Op::Nack),
        1 => (any::<usize>(), 0u64..15).prop_map(|(i, s)| Op::Extend(i, s)),
        2 => (1u64..12).prop_map(Op::Advance),
        1 => Just(Op::RedriveAll),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Ready { at: u64 },
    Leased { deadline: u64, lease: u64 },
    Gone,
}

#[derive(Debug)]
struct Msg {
    id: u64,
    seq: u64,
    group: Option<u8>,
    count: u32,
    state: State,
}

/// The simplest queue that could work: a list of messages and linear scans.
#[derive(Debug, Default)]
struct Model {
    now: u64,
    msgs: Vec<Msg>,
    next_seq: u64,
    next_lease: u64,
    dead: Vec<(u64, u32)>,
}

impl Model {
    fn is_head(&self, m: &Msg) -> bool {
        match m.group {
            None => true,
            Some(g) => !self
                .msgs
                .iter()
                .any(|o| o.group == Some(g) && o.state != State::Gone && o.seq < m.seq),
        }
    }

    fn release(&mut self, i: usize, delay: u64) -> bool {
        if self.msgs[i].count >= MAX_RECEIVES {
            self.msgs[i].state = State::Gone;
            self.dead.push((self.msgs[i].id, self.msgs[i].count));
            return true;
        }
        self.msgs[i].state = State::Ready {
            at: self.now + delay,
        };
        false
    }

    fn expire(&mut self) {
        let mut due: Vec<(u64, u64, usize)> = self
            .msgs
            .iter()
            .enumerate()
            .filter_map(|(i, m)| match m.state {
                State::Leased { deadline, lease } if deadline <= self.now => {
                    Some((deadline, lease, i))
                }
                _ => None,
            })
            .collect();
        due.sort();
        for (_, _, i) in due {
            self.release(i, 0);
        }
    }

    fn send(&mut self, group: Option<u8>, delay: u64) -> u64 {
        self.next_seq += 1;
        self.msgs.push(Msg {
            id: self.next_seq,
            seq: self.next_seq,
            group,
            count: 0,
            state: State::Ready {
                at: self.now + delay,
            },
        });
        self.next_seq
    }

    fn receive(&mut self) -> Option<(u64, u32, u64)> {
        self.expire();
        let i = (0..self.msgs.len())
            .filter(|&i| {
                matches!(self.msgs[i].state, State::Ready { at } if at <= self.now)
                    && self.is_head(&self.msgs[i])
            })
            .min_by_key(|&i| self.msgs[i].seq)?;
        self.next_lease += 1;
        let m = &mut self.msgs[i];
        m.count += 1;
        m.state = State::Leased {
            deadline: self.now + VISIBILITY,
            lease: self.next_lease,
        };
        Some((m.id, m.count, self.next_lease))
    }

    /// Expiries are processed lazily, at receives and stats, as the queue does.
    fn leased(&mut self, lease: u64) -> Option<usize> {
        self.msgs
            .iter()
            .position(|m| matches!(m.state, State::Leased { lease: l, .. } if l == lease))
    }

    fn redrive_all(&mut self) -> usize {
        let dead = std::mem::take(&mut self.dead);
        for (id, _) in &dead {
            let i = self.msgs.iter().position(|m| m.id == *id).unwrap();
            self.next_seq += 1;
            let m = &mut self.msgs[i];
            m.seq = self.next_seq;
            m.count = 0;
            m.state = State::Ready { at: self.now };
        }
        dead.len()
    }

    /// (visible, delayed, in flight, waiting in groups)
    fn gauges(&mut self) -> (u64, u64, u64, u64) {
        self.expire();
        let mut g = (0, 0, 0, 0);
        for m in &self.msgs {
            match m.state {
                State::Gone => {}
                State::Leased { .. } => g.2 += 1,
                State::Ready { .. } if !self.is_head(m) => g.3 += 1,
                State::Ready { at } if at <= self.now => g.0 += 1,
                State::Ready { .. } => g.1 += 1,
            }
        }
        g
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let q: Queue<u64> = Queue::builder()
        .clock(clock.clone())
        .visibility_timeout(Duration::from_secs(VISIBILITY))
        .retry(RetryPolicy::fixed(Duration::from_secs(RETRY)))
        .max_receives(MAX_RECEIVES)
        .build()
        .unwrap();
    let mut model = Model::default();
    // Every receipt ever handed out, with the model's lease number: old ones exercise staleness.
    let mut receipts: Vec<(Receipt, u64)> = Vec::new();
    for op in ops {
        match op {
            Op::Send { group, delay } => {
                let expected = model.send(group, delay);
                let mut msg = Message::new(expected).delay(Duration::from_secs(delay));
                if let Some(g) = group {
                    msg = msg.group(format!("g{g}"));
                }
                let id = q.send_message(msg).unwrap();
                prop_assert_eq!(id.get(), expected);
            }
            Op::Receive => {
                let got = q.try_receive();
                match model.receive() {
                    Some((id, count, lease)) => {
                        let d = got.map_err(|e| TestCaseError::fail(format!("{e}")))?;
                        prop_assert_eq!((d.id().get(), d.receive_count()), (id, count));
                        receipts.push((d.receipt(), lease));
                    }
                    None => prop_assert_eq!(got.unwrap_err(), Error::Empty),
                }
            }
            Op::Ack(i) | Op::Nack(i) | Op::Extend(i, _) if receipts.is_empty() => {
                let _ = i;
            }
            Op::Ack(i) => {
                let (r, lease) = receipts[i % receipts.len()];
                let got = q.ack(r);
                match model.leased(lease) {
                    Some(m) => {
                        prop_assert_eq!(got, Ok(()));
                        model.msgs[m].state = State::Gone;
                    }
                    None => prop_assert_eq!(got, Err(Error::StaleReceipt(r.message_id()))),
                }
            }
            Op::Nack(i) => {
                let (r, lease) = receipts[i % receipts.len()];
                let got = q.nack(r);
                match model.leased(lease) {
                    Some(m) => {
                        let dead = model.release(m, RETRY);
                        let want = if dead {
                            NackOutcome::DeadLettered
                        } else {
                            NackOutcome::Retry {
                                delay: Duration::from_secs(RETRY),
                            }
                        };
                        prop_assert_eq!(got, Ok(want));
                    }
                    None => prop_assert_eq!(got, Err(Error::StaleReceipt(r.message_id()))),
                }
            }
            Op::Extend(i, secs) => {
                let (r, lease) = receipts[i % receipts.len()];
                let got = q.extend(r, Duration::from_secs(secs));
                match model.leased(lease) {
                    Some(m) => {
                        prop_assert_eq!(got, Ok(()));
                        if secs == 0 {
                            model.release(m, 0);
                        } else {
                            model.msgs[m].state = State::Leased {
                                deadline: model.now + secs,
                                lease,
                            };
                        }
                    }
                    None => prop_assert_eq!(got, Err(Error::StaleReceipt(r.message_id()))),
                }
            }
            Op::Advance(secs) => {
                clock.advance(Duration::from_secs(secs));
                model.now += secs;
            }
            Op::RedriveAll => {
                // Redrive does not process expiries; stats does, in both.
                model.expire();
                let _ = q.stats();
                prop_assert_eq!(q.dead_letters().redrive_all().unwrap(), model.redrive_all());
            }
        }
    }
    let s = q.stats();
    let (visible, delayed, in_flight, waiting) = model.gauges();
    prop_assert_eq!(
        (s.visible, s.delayed, s.in_flight, s.waiting_in_groups),
        (visible, delayed, in_flight, waiting)
    );
    let dead: Vec<(u64, u32)> = q
        .dead_letters()
        .list()
        .iter()
        .map(|l| (l.id.get(), l.attempts))
        .collect();
    prop_assert_eq!(dead, model.dead.clone());
    // Nothing is lost: every message is held, dead-lettered, or was acked.
    prop_assert_eq!(s.depth() + s.dead_letters + s.acks, model.msgs.len() as u64);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::cases(200), ..ProptestConfig::default() })]
    #[test]
    fn queue_matches_the_sequential_model(ops in prop::collection::vec(op(), 1..120)) {
        run(ops)?;
    }
}
