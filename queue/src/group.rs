//! Message groups (SQS FIFO `MessageGroupId`): strict order and one message in flight per group.
//!
//! A group is *busy* while its head message is somewhere in the queue's scheduling (visible, delayed by
//! its own delay or a retry backoff, or leased). The messages behind it wait here, in send order. When
//! the head leaves the queue for good (acked, dead-lettered, or received by a `no_ack` queue) the next
//! one becomes the head; when a head is nacked or times out it stays the head, so its followers keep
//! waiting and order holds. Groups are independent: different groups are delivered in parallel.

use std::collections::{HashMap, VecDeque};

use crate::message::{Entry, GroupId};

#[derive(Debug)]
pub(crate) struct Groups<T> {
    /// Present = busy; the deque holds the followers of the head.
    busy: HashMap<GroupId, VecDeque<Entry<T>>>,
    waiting: usize,
}

impl<T> Groups<T> {
    pub(crate) fn new() -> Self {
        Groups {
            busy: HashMap::new(),
            waiting: 0,
        }
    }

    /// Messages waiting behind their group's head.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting
    }

    /// Groups with a head in the queue.
    pub(crate) fn busy(&self) -> usize {
        self.busy.len()
    }

    /// A newly arrived message: returns it if it may be scheduled now (no group, or it becomes its
    /// group's head), or keeps it behind the head.
    pub(crate) fn admit(&mut self, entry: Entry<T>) -> Option<Entry<T>> {
        let Some(group) = &entry.group else {
            return Some(entry);
        };
        match self.busy.get_mut(group) {
            Some(followers) => {
                followers.push_back(entry);
                self.waiting += 1;
                None
            }
            None => {
                self.busy.insert(group.clone(), VecDeque::new());
                Some(entry)
            }
        }
    }

    /// The head of `group` has left the queue: returns the next head to schedule, if any.
    pub(crate) fn advance(&mut self, group: &GroupId) -> Option<Entry<T>> {
        let followers = self.busy.get_mut(group)?;
        match followers.pop_front() {
            Some(next) => {
                self.waiting -= 1;
                Some(next)
            }
            None => {
                self.busy.remove(group);
                None
            }
        }
    }

    /// Every waiting message.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry<T>> {
        self.busy.values().flat_map(|d| d.iter())
    }
}
