//! Exact LRU: one list, hits move to the head, the tail is evicted.

use super::Eviction;
use super::list::{Links, List};

pub(crate) struct Lru {
    links: Links,
    list: List,
}

impl Lru {
    pub(crate) fn new() -> Self {
        Lru {
            links: Links::default(),
            list: List::default(),
        }
    }
}

impl Eviction for Lru {
    #[inline]
    fn on_insert(&mut self, idx: u32, _hash: u64, _weight: u32) {
        self.links.ensure(idx);
        self.list.push_front(&mut self.links, idx, 0);
    }
    #[inline]
    fn on_hit(&mut self, idx: u32, _hash: u64) {
        self.list.move_front(&mut self.links, idx);
    }
    fn on_update(&mut self, idx: u32, _hash: u64, _old: u32, _new: u32) {
        self.list.move_front(&mut self.links, idx);
    }
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
