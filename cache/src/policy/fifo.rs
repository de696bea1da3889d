//! FIFO: one list in insertion order; hits and updates do not reorder.

use super::Eviction;
use super::list::{Links, List};

pub(crate) struct Fifo {
    links: Links,
    list: List,
}

impl Fifo {
    pub(crate) fn new() -> Self {
        Fifo {
            links: Links::default(),
            list: List::default(),
        }
    }
}

impl Eviction for Fifo {
    #[inline]
    fn on_insert(&mut self, idx: u32, _hash: u64, _weight: u32) {
        self.links.ensure(idx);
        self.list.push_front(&mut self.links, idx, 0);
    }
    #[inline]
    fn on_hit(&mut self, _idx: u32, _hash: u64) {}
    #[inline]
    fn on_update(&mut self, _idx: u32, _hash: u64, _old: u32, _new: u32) {}
    fn on_remove(&mut self, idx: u32) {
        self.list.unlink(&mut self.links, idx, 0);
    }
    fn victim(&mut self) -> Option<u32> {
        let v = self.list.back()?;
        self.list.unlink(&mut self.links, v, 0);
        Some(v)
    }
    fn clear(&mut self) {
        self.links.clear();
        self.list = List::default();
    }
}
