//! One tantivy collector for a whole search: the top `offset + limit` hits by score or by a field (after
//! an optional cursor), the total count and the facet counts.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::Weight;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use crate::search::{Cursor, Order, SortKey};

/// How hits are ordered, resolved against the schema.
#[derive(Debug, Clone)]
pub(crate) enum SortSpec {
    Score,
    I64(String, Order),
    U64(String, Order),
    F64(String, Order),
    Date(String, Order),
    Str(String, Order),
}

impl SortSpec {
    fn order(&self) -> Order {
        match self {
            SortSpec::Score => Order::Desc,
            SortSpec::I64(_, o)
            | SortSpec::U64(_, o)
            | SortSpec::F64(_, o)
            | SortSpec::Date(_, o)
            | SortSpec::Str(_, o) => *o,
        }
    }
}

/// Compares two sort keys: `Less` means `a` comes first. Missing values come last in both orders.
fn cmp_keys(a: &SortKey, b: &SortKey, order: Order) -> Ordering {
    fn opt<T: PartialOrd>(a: &Option<T>, b: &Option<T>, order: Order) -> Ordering {
        match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => {
                let o = x.partial_cmp(y).unwrap_or(Ordering::Equal);
                match order {
                    Order::Asc => o,
                    Order::Desc => o.reverse(),
                }
            }
        }
    }
    match (a, b) {
        (SortKey::Score(x), SortKey::Score(y)) => y.partial_cmp(x).unwrap_or(Ordering::Equal),
        (SortKey::I64(x), SortKey::I64(y)) => opt(x, y, order),
        (SortKey::U64(x), SortKey::U64(y)) => opt(x, y, order),
        (SortKey::F64(x), SortKey::F64(y)) => opt(x, y, order),
        (SortKey::Str(x), SortKey::Str(y)) => opt(x, y, order),
        _ => Ordering::Equal,
    }
}

/// A candidate hit.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: SortKey,
    pub score: Score,
    pub segment: SegmentOrdinal,
    pub doc: DocId,
    order: Order,
}

impl Entry {
    /// `Less`: self ranks before other.
    fn rank(&self, other_key: &SortKey, other_seg: u32, other_doc: u32) -> Ordering {
        cmp_keys(&self.key, other_key, self.order)
            .then(self.segment.cmp(&other_seg))
            .then(self.doc.cmp(&other_doc))
    }

    pub(crate) fn cursor(&self) -> Cursor {
        Cursor {
            key: self.key.clone(),
            segment: self.segment,
            doc: self.doc,
        }
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Worse ranks are greater, so a max-heap keeps the worst kept hit on top.
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank(&other.key, other.segment, other.doc)
    }
}

pub(crate) struct HitCollector {
    pub k: usize,
    pub sort: SortSpec,
    pub after: Option<Cursor>,
    pub facets: Vec<String>,
    pub mode: CollectMode,
}

/// How a segment's documents are visited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CollectMode {
    /// Every matching document is scored and counted.
    Exhaustive,
    /// Top-k by score through [`Weight::for_each_pruning`] (documents that cannot make the top k may be
    /// skipped); with `count`, the total comes from [`Weight::count`], else it is a lower bound. Only
    /// for score order without facets or cursor.
    Pruned { count: bool },
}

pub(crate) struct Harvest {
    pub top: Vec<Entry>,
    pub total: u64,
    pub facets: Vec<HashMap<String, u64>>,
}

/// All values of a keyword column's dictionary, by ordinal, when it is small enough to read at once
/// (its blocks are compressed: one lookup per value would decompress a block each time).
pub(crate) fn dictionary_table(col: &StrColumn) -> Option<Vec<String>> {
    if col.num_terms() > 65_536 {
        return None;
    }
    full_dictionary(col)
}

/// All values of a keyword column's dictionary, by ordinal, read block by block.
pub(crate) fn full_dictionary(col: &StrColumn) -> Option<Vec<String>> {
    let mut out = Vec::with_capacity(col.num_terms());
    let mut stream = col.dictionary().stream().ok()?;
    while stream.advance() {
        out.push(String::from_utf8_lossy(stream.key()).into_owned());
    }
    Some(out)
}

/// One value of a keyword column.
fn lookup(
    col: &StrColumn,
    table: &Option<Vec<String>>,
    ord: u64,
    scratch: &mut String,
) -> Option<String> {
    if let Some(t) = table {
        return t.get(ord as usize).cloned();
    }
    scratch.clear();
    col.ord_to_str(ord, scratch).ok()?;
    Some(scratch.clone())
}

enum KeyReader {
    Score,
    I64(Column<i64>),
    U64(Column<u64>),
    F64(Column<f64>),
    Date(Column<tantivy::DateTime>),
    Str(Option<(StrColumn, Option<Vec<String>>)>),
}

pub(crate) struct SegHits {
    segment: SegmentOrdinal,
    k: usize,
    order: Order,
    keys: KeyReader,
    after: Option<Cursor>,
    heap: BinaryHeap<Entry>,
    total: u64,
    facets: Vec<(Option<StrColumn>, Vec<u64>)>,
    scratch: String,
}

impl Collector for HitCollector {
    type Fruit = Harvest;
    type Child = SegHits;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegHits> {
        let ff = reader.fast_fields();
        let keys = match &self.sort {
            SortSpec::Score => KeyReader::Score,
            SortSpec::I64(n, _) => KeyReader::I64(ff.i64(n)?),
            SortSpec::U64(n, _) => KeyReader::U64(ff.u64(n)?),
            SortSpec::F64(n, _) => KeyReader::F64(ff.f64(n)?),
            SortSpec::Date(n, _) => KeyReader::Date(ff.date(n)?),
            SortSpec::Str(n, _) => KeyReader::Str(ff.str(n)?.map(|c| {
                let table = dictionary_table(&c);
                (c, table)
            })),
        };
        let mut facets = Vec::new();
        for f in &self.facets {
            let col = ff.str(f)?;
            let n = col.as_ref().map_or(0, |c| c.num_terms());
            facets.push((col, vec![0u64; n]));
        }
        Ok(SegHits {
            segment,
            k: self.k,
            order: self.sort.order(),
            keys,
            after: self.after.clone(),
            heap: BinaryHeap::with_capacity(self.k.min(1024) + 1),
            total: 0,
            facets,
            scratch: String::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        matches!(self.sort, SortSpec::Score)
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Harvest> {
        let mut seg = self.for_segment(segment, reader)?;
        let alive = reader.alive_bitset();
        let scoring = self.requires_scoring();
        match self.mode {
            CollectMode::Pruned { count }
                if scoring && self.facets.is_empty() && self.after.is_none() =>
            {
                if self.k > 0 {
                    let k = self.k;
                    weight.for_each_pruning(Score::MIN, reader, &mut |doc, score| {
                        if alive.is_none_or(|a| a.is_alive(doc)) {
                            seg.collect(doc, score);
                        }
                        match seg.heap.peek() {
                            Some(worst) if seg.heap.len() >= k => worst.score,
                            _ => Score::MIN,
                        }
                    })?;
                }
                if count {
                    seg.total = u64::from(weight.count(reader)?);
                }
            }
            _ if scoring => weight.for_each(reader, &mut |doc, score| {
                if alive.is_none_or(|a| a.is_alive(doc)) {
                    seg.collect(doc, score);
                }
            })?,
            _ => weight.for_each_no_score(reader, &mut |docs| {
                for &doc in docs {
                    if alive.is_none_or(|a| a.is_alive(doc)) {
                        seg.collect(doc, 0.0);
                    }
                }
            })?,
        }
        Ok(seg.harvest())
    }

    fn merge_fruits(&self, fruits: Vec<Harvest>) -> tantivy::Result<Harvest> {
        let mut total = 0;
        let mut all = Vec::new();
        let mut facets: Vec<HashMap<String, u64>> = vec![HashMap::new(); self.facets.len()];
        for h in fruits {
            total += h.total;
            all.extend(h.top);
            for (acc, f) in facets.iter_mut().zip(h.facets) {
                for (k, v) in f {
                    *acc.entry(k).or_default() += v;
                }
            }
        }
        all.sort();
        all.truncate(self.k);
        Ok(Harvest {
            top: all,
            total,
            facets,
        })
    }
}

impl SegHits {
    fn key(&mut self, doc: DocId, score: Score) -> SortKey {
        match &self.keys {
            KeyReader::Score => SortKey::Score(score),
            KeyReader::I64(c) => SortKey::I64(c.first(doc)),
            KeyReader::U64(c) => SortKey::U64(c.first(doc)),
            KeyReader::F64(c) => SortKey::F64(c.first(doc)),
            KeyReader::Date(c) => SortKey::I64(c.first(doc).map(|d| d.into_timestamp_millis())),
            KeyReader::Str(c) => SortKey::Str(c.as_ref().and_then(|(c, table)| {
                let ord = c.term_ords(doc).next()?;
                lookup(c, table, ord, &mut self.scratch)
            })),
        }
    }
}

impl SegmentCollector for SegHits {
    type Fruit = Harvest;

    fn collect(&mut self, doc: DocId, score: Score) {
        let key = self.key(doc, score);
        let entry = Entry {
            key,
            score,
            segment: self.segment,
            doc,
            order: self.order,
        };
        if let Some(c) = &self.after {
            if entry.rank(&c.key, c.segment, c.doc) != Ordering::Greater {
                return;
            }
        }
        self.total += 1;
        for (col, counts) in &mut self.facets {
            if let Some(col) = col {
                for ord in col.term_ords(doc) {
                    if let Some(c) = counts.get_mut(ord as usize) {
                        *c += 1;
                    }
                }
            }
        }
        if self.k == 0 {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(entry);
        } else if let Some(worst) = self.heap.peek() {
            if entry < *worst {
                self.heap.pop();
                self.heap.push(entry);
            }
        }
    }

    fn harvest(self) -> Harvest {
        let mut facets = Vec::with_capacity(self.facets.len());
        for (col, counts) in self.facets {
            let mut map = HashMap::new();
            if let Some(col) = col {
                let ords: Vec<u64> = (0..counts.len() as u64)
                    .filter(|&o| counts[o as usize] > 0)
                    .collect();
                let mut i = 0;
                let _ = col.dictionary().sorted_ords_to_term_cb(&ords, |bytes| {
                    if let Some(&o) = ords.get(i) {
                        map.insert(
                            String::from_utf8_lossy(bytes).into_owned(),
                            counts[o as usize],
                        );
                    }
                    i += 1;
                });
            }
            facets.push(map);
        }
        Harvest {
            top: self.heap.into_vec(),
            total: self.total,
            facets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_values_sort_last_both_ways() {
        for order in [Order::Asc, Order::Desc] {
            assert_eq!(
                cmp_keys(&SortKey::I64(None), &SortKey::I64(Some(1)), order),
                Ordering::Greater
            );
        }
        assert_eq!(
            cmp_keys(&SortKey::I64(Some(2)), &SortKey::I64(Some(1)), Order::Desc),
            Ordering::Less
        );
        assert_eq!(
            cmp_keys(&SortKey::Score(2.0), &SortKey::Score(1.0), Order::Desc),
            Ordering::Less
        );
    }
}
