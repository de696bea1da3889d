//! Intrusive doubly linked lists over slot indexes, shared by the policies.
//!
//! A [`Links`] holds the `prev`/`next` arrays for every slot; several [`List`]s (an LRU, the window and
//! the two main segments of the adaptive policy, an LFU bucket) thread through the same arrays, since a
//! slot is on at most one list at a time. The head is the most recent end, the tail the eviction end.

pub(crate) const NIL: u32 = u32::MAX;

#[derive(Default)]
pub(crate) struct Links {
    prev: Vec<u32>,
    next: Vec<u32>,
}

impl Links {
    /// Makes room for slot `idx`.
    #[inline]
    pub(crate) fn ensure(&mut self, idx: u32) {
        let need = idx as usize + 1;
        if self.prev.len() < need {
            let len = need.max(self.prev.len() * 2).max(16);
            self.prev.resize(len, NIL);
            self.next.resize(len, NIL);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.prev.clear();
        self.next.clear();
    }
}

/// One list threaded through a [`Links`]: head (most recent), tail (oldest), length and total weight.
#[derive(Debug, Clone, Copy)]
pub(crate) struct List {
    pub(crate) head: u32,
    pub(crate) tail: u32,
    pub(crate) len: usize,
    pub(crate) weight: u64,
}

impl Default for List {
    fn default() -> Self {
        List {
            head: NIL,
            tail: NIL,
            len: 0,
            weight: 0,
        }
    }
}

impl List {
    /// The oldest entry, if any.
    #[inline]
    pub(crate) fn back(&self) -> Option<u32> {
        (self.tail != NIL).then_some(self.tail)
    }

    /// Links `idx` (not on any list) at the head.
    #[inline]
    pub(crate) fn push_front(&mut self, l: &mut Links, idx: u32, weight: u32) {
        let i = idx as usize;
        l.prev[i] = NIL;
        l.next[i] = self.head;
        if self.head != NIL {
            l.prev[self.head as usize] = idx;
        } else {
            self.tail = idx;
        }
        self.head = idx;
        self.len += 1;
        self.weight += u64::from(weight);
    }

    /// Unlinks `idx`, which must be on this list.
    #[inline]
    pub(crate) fn unlink(&mut self, l: &mut Links, idx: u32, weight: u32) {
        let i = idx as usize;
        let (p, n) = (l.prev[i], l.next[i]);
        if p != NIL {
            l.next[p as usize] = n;
        } else {
            self.head = n;
        }
        if n != NIL {
            l.prev[n as usize] = p;
        } else {
            self.tail = p;
        }
        l.prev[i] = NIL;
        l.next[i] = NIL;
        self.len -= 1;
        self.weight -= u64::from(weight);
    }

    /// Moves `idx`, which must be on this list, to the head.
    #[inline]
    pub(crate) fn move_front(&mut self, l: &mut Links, idx: u32) {
        if self.head == idx {
            return;
        }
        self.unlink(l, idx, 0);
        self.push_front(l, idx, 0);
    }

    /// Iterates from the tail (oldest) to the head.
    pub(crate) fn iter_from_back<'a>(&self, l: &'a Links) -> impl Iterator<Item = u32> + 'a {
        let mut cur = self.tail;
        std::iter::from_fn(move || {
            if cur == NIL {
                return None;
            }
            let out = cur;
            cur = l.prev[cur as usize];
            Some(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_unlink_move() {
        let mut l = Links::default();
        let mut list = List::default();
        for i in 0..4 {
            l.ensure(i);
            list.push_front(&mut l, i, 2);
        }
        assert_eq!(
            list.iter_from_back(&l).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        assert_eq!(list.weight, 8);
        list.move_front(&mut l, 0);
        assert_eq!(
            list.iter_from_back(&l).collect::<Vec<_>>(),
            vec![1, 2, 3, 0]
        );
        list.unlink(&mut l, 2, 2);
        assert_eq!(list.iter_from_back(&l).collect::<Vec<_>>(), vec![1, 3, 0]);
        assert_eq!((list.len, list.weight), (3, 6));
        assert_eq!(list.back(), Some(1));
    }
}
