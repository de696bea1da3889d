//! Ranking: BM25F over the text fields with tunable `k1`/`b`, and one query word's expansions (typos,
//! prefix completions) scored by their own BM25 weight.
//!
//! tantivy's BM25 has `k1 = 1.2`, `b = 0.75` built in and scores fuzzy matches with a constant, so a query
//! word is scored here by a tantivy [`Query`] of our own (the crate-internal `WordsQuery`). For one word
//! `w` and a document `d`:
//!
//! ```text
//! tf~(e, d)   = Σ_field boost_f · tf(e, field, d) / (1 − b + b · len_f(d) / avglen_f)
//! score(w, d) = max over expansions e of  penalty(e) · idf(e) · (k1 + 1) · tf~ / (k1 + tf~)
//! ```
//!
//! where the expansions of `w` are its own stem (penalty 1), the stems of indexed words within the allowed
//! number of typos of `w` (penalty [`TypoTolerance::one_typo_penalty`] or
//! [`TypoTolerance::two_typos_penalty`]) and, for a prefix, the stems of the indexed words that complete it
//! (penalty [`Ranking::prefix_penalty`] times `sqrt(df(completion) / df(most frequent completion))`, a
//! prior that ranks the likely word — `protein` for `prote` — above rare completions like `proteome`).
//! Each expansion keeps its real `idf`: a typo that lands on a rare
//! word scores like that rare word, discounted. Taking the maximum, not the sum, keeps a document that
//! happens to contain many neighbours of a word from outranking one that contains the word itself.
//!
//! [`TypoTolerance::one_typo_penalty`]: crate::TypoTolerance::one_typo_penalty
//! [`TypoTolerance::two_typos_penalty`]: crate::TypoTolerance::two_typos_penalty
//! [`Ranking::prefix_penalty`]: crate::Ranking::prefix_penalty

use std::fmt;
use std::sync::Arc;

use tantivy::fieldnorm::FieldNormReader;
use tantivy::index::SegmentId;
use tantivy::postings::{Postings, SegmentPostings, TermInfo};
use tantivy::query::{EmptyQuery, EnableScoring, Explanation, Occur, Query, Scorer, Weight};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED, Term};

/// BM25 parameters and how prefix completions are ranked.
///
/// ```
/// use ember_search::Ranking;
/// let r = Ranking::default().k1(1.2).b(0.75);
/// assert_eq!(r.get_k1(), 1.2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranking {
    pub(crate) k1: f32,
    pub(crate) b: f32,
    pub(crate) prefix_penalty: f32,
}

impl Default for Ranking {
    /// `k1 = 0.9`, `b = 0.4` (Anserini's defaults, which suit short and medium documents better than
    /// Lucene's 1.2 / 0.75) and prefix completions at 0.9 of a whole word.
    fn default() -> Self {
        Ranking {
            k1: 0.9,
            b: 0.4,
            prefix_penalty: 0.9,
        }
    }
}

impl Ranking {
    /// BM25 term-frequency saturation (≥ 0; 0 ignores frequency).
    #[must_use]
    pub fn k1(mut self, k1: f32) -> Self {
        self.k1 = k1;
        self
    }
    /// BM25 length normalization, 0 (none) to 1 (full).
    #[must_use]
    pub fn b(mut self, b: f32) -> Self {
        self.b = b;
        self
    }
    /// Weight of a prefix completion relative to the whole word (0 < p ≤ 1).
    #[must_use]
    pub fn prefix_penalty(mut self, p: f32) -> Self {
        self.prefix_penalty = p;
        self
    }
    /// The `k1` in use.
    #[must_use]
    pub fn get_k1(&self) -> f32 {
        self.k1
    }
    /// The `b` in use.
    #[must_use]
    pub fn get_b(&self) -> f32 {
        self.b
    }
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(self.k1.is_finite() && self.k1 >= 0.0) {
            return Err(format!("k1 must be >= 0, got {}", self.k1));
        }
        if !(0.0..=1.0).contains(&self.b) {
            return Err(format!("b must be within 0..=1, got {}", self.b));
        }
        if !(self.prefix_penalty > 0.0 && self.prefix_penalty <= 1.0) {
            return Err(format!(
                "prefix_penalty must be within (0, 1], got {}",
                self.prefix_penalty
            ));
        }
        Ok(())
    }
}

/// BM25's inverse document frequency.
pub(crate) fn idf(doc_freq: u64, num_docs: u64) -> f32 {
    let n = num_docs.max(doc_freq) as f32;
    let df = doc_freq as f32;
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// One scoring field of a word query.
#[derive(Debug, Clone)]
pub(crate) struct ScoredField {
    pub field: Field,
    /// By field-norm code: `boost / (1 − b + b · len / avg_len)`.
    pub norm: Arc<[f32; 256]>,
}

/// One way a query word matches: a term per field, how much it counts, and its idf.
#[derive(Debug, Clone)]
pub(crate) struct Expansion {
    /// `(index into fields, term)`.
    pub terms: Vec<(usize, Term)>,
    /// Per term, per segment of the searcher the plan was made for: the term's dictionary entry.
    pub infos: Vec<Vec<Option<TermInfo>>>,
    /// `penalty · idf · (k1 + 1)`.
    pub weight: f32,
}

/// One query word's scoring plan: its fields and its expansions (see the [module docs](self)).
pub(crate) struct WordPlan {
    pub fields: Vec<ScoredField>,
    pub expansions: Vec<Expansion>,
    pub k1: f32,
    /// The segments `Expansion::infos` refer to.
    pub segments: Arc<[SegmentId]>,
}

impl WordPlan {
    /// The dictionary entry of term `t` of expansion `e` in `reader`'s segment: the one found when the
    /// plan was made, when it was made for this segment, else looked up.
    fn term_info(
        &self,
        e: usize,
        t: usize,
        reader: &SegmentReader,
    ) -> tantivy::Result<Option<TermInfo>> {
        let exp = &self.expansions[e];
        let seg = reader.segment_id();
        if let Some(ord) = self.segments.iter().position(|s| *s == seg) {
            if let Some(info) = exp.infos.get(t).and_then(|i| i.get(ord)) {
                return Ok(info.clone());
            }
        }
        let (fi, term) = &exp.terms[t];
        Ok(reader
            .inverted_index(self.fields[*fi].field)?
            .get_term_info(term)?)
    }
}

/// Query words combined as a disjunction: a document matches when any word does and scores the sum of
/// its words' scores, added in word order.
///
/// A top-k search over it ([`Weight::for_each_pruning`]) scores a segment of up to 2^18 documents term at
/// a time when the query has about one posting per four documents there or more: each posting list is
/// read once, block by block, into per-document accumulators, which is cheaper per posting than
/// advancing a union document by document. Larger segments and selective queries are pruned with
/// MaxScore: each word's score is bounded by its best expansion's weight (`penalty · idf · (k1 + 1)`,
/// since `tf / (k1 + tf) < 1`), words are sorted by bound, and the low-bound words whose bounds together
/// cannot lift a document above the current k-th best score are only probed for documents found through
/// the other words. Either way, documents that reach the callback get the same score, added in the same
/// order, as in the exhaustive [`Scorer`], so the top k are identical (tested on both paths).
#[derive(Clone)]
pub(crate) struct WordsQuery {
    words: Vec<Arc<WordPlan>>,
}

impl WordsQuery {
    pub(crate) fn new(words: Vec<Arc<WordPlan>>) -> Self {
        WordsQuery { words }
    }

    /// The `Should` clauses of a boolean query as one disjunction (the same matches and scores),
    /// when every clause is a disjunction of words or matches nothing.
    pub(crate) fn merge(clauses: &[(Occur, Box<dyn Query>)]) -> Option<WordsQuery> {
        let mut words = Vec::new();
        for (occur, q) in clauses {
            if *occur != Occur::Should {
                return None;
            }
            let q: &dyn Query = &**q;
            if let Some(w) = q.as_any().downcast_ref::<WordsQuery>() {
                words.extend(w.words.iter().cloned());
            } else if !q.as_any().is::<EmptyQuery>() {
                return None;
            }
        }
        (!words.is_empty()).then_some(WordsQuery { words })
    }
}

impl fmt::Debug for WordsQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WordsQuery")
            .field("words", &self.words.len())
            .finish()
    }
}

impl Query for WordsQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(WordsWeight {
            words: self.words.clone(),
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for w in self.words.iter() {
            for e in &w.expansions {
                for (_, t) in &e.terms {
                    visitor(t, false);
                }
            }
        }
    }
}

struct WordsWeight {
    words: Vec<Arc<WordPlan>>,
}

/// A relative margin on score bounds, so that float rounding never prunes a document that the
/// exhaustive scorer would keep.
const BOUND_MARGIN: f32 = 1.0 + 1e-5;

impl WordsWeight {
    /// The scorers of the words that occur in this segment, in word order.
    fn word_scorers(
        &self,
        reader: &SegmentReader,
        boost: Score,
    ) -> tantivy::Result<Vec<WordScorer>> {
        let mut out = Vec::with_capacity(self.words.len());
        let mut norm_readers = Vec::new();
        for plan in self.words.iter() {
            let s = word_scorer(plan, reader, boost, &mut norm_readers)?;
            if s.doc != TERMINATED {
                out.push(s);
            }
        }
        Ok(out)
    }

    fn union(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<WordsScorer> {
        let words = self.word_scorers(reader, boost)?;
        let mut s = WordsScorer {
            words,
            doc: TERMINATED,
        };
        s.doc = s.min_doc();
        Ok(s)
    }
}

impl Weight for WordsWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(self.union(reader, boost)?))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut s = self.union(reader, 1.0)?;
        if s.seek(doc) != doc {
            return Err(tantivy::TantivyError::InvalidArgument(format!(
                "document {doc} does not match"
            )));
        }
        Ok(Explanation::new("BM25F words score", s.score()))
    }

    /// Counts matching documents from the doc ids alone (no frequencies, no scores): a bitset union of
    /// the postings.
    fn count(&self, reader: &SegmentReader) -> tantivy::Result<u32> {
        let max = reader.max_doc() as usize;
        let mut bits = vec![0u64; max.div_ceil(64)];
        for plan in self.words.iter() {
            for (ei, e) in plan.expansions.iter().enumerate() {
                for (t, (fi, _)) in e.terms.iter().enumerate() {
                    let Some(info) = plan.term_info(ei, t, reader)? else {
                        continue;
                    };
                    let inv = reader.inverted_index(plan.fields[*fi].field)?;
                    let mut b =
                        inv.read_block_postings_from_terminfo(&info, IndexRecordOption::Basic)?;
                    loop {
                        let docs = b.docs();
                        if docs.is_empty() {
                            break;
                        }
                        for &d in docs {
                            if let Some(w) = bits.get_mut(d as usize >> 6) {
                                *w |= 1u64 << (d & 63);
                            }
                        }
                        b.advance();
                    }
                }
            }
        }
        let n = match reader.alive_bitset() {
            None => bits.iter().map(|w| w.count_ones()).sum(),
            Some(alive) => {
                let mut n = 0u32;
                for (i, &w) in bits.iter().enumerate() {
                    let mut w = w;
                    while w != 0 {
                        let d = (i as u32) * 64 + w.trailing_zeros();
                        n += u32::from(alive.is_alive(d));
                        w &= w - 1;
                    }
                }
                n
            }
        };
        Ok(n)
    }

    fn for_each_pruning(
        &self,
        mut threshold: Score,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(DocId, Score) -> Score,
    ) -> tantivy::Result<()> {
        if reader.max_doc() <= taat_max_docs() && self.dense(reader)? {
            return self.term_at_a_time(threshold, reader, callback);
        }
        let mut ws = self.word_scorers(reader, 1.0)?;
        let n = ws.len();
        if n == 0 {
            return Ok(());
        }
        // words by bound, lowest first; cum[j] bounds the score a document gets from order[..=j]
        let bounds: Vec<f32> = ws.iter().map(WordScorer::max_score).collect();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| bounds[a].total_cmp(&bounds[b]));
        let mut cum = Vec::with_capacity(n);
        let mut acc = 0f32;
        for &i in &order {
            acc += bounds[i];
            cum.push(acc * BOUND_MARGIN);
        }
        // order[first..] are the essential words: a document none of them match cannot beat threshold
        let essential_from =
            |threshold: Score| cum.iter().position(|&c| c > threshold).unwrap_or(n);
        let mut first = essential_from(threshold);
        let mut scores = vec![0f32; n];
        while first < n {
            let mut doc = TERMINATED;
            for &i in &order[first..] {
                doc = doc.min(ws[i].doc);
            }
            if doc == TERMINATED {
                break;
            }
            let mut partial = 0f32;
            for &i in &order[first..] {
                if ws[i].doc == doc {
                    let s = ws[i].score();
                    scores[i] = s;
                    partial += s;
                }
            }
            // probe the other words, highest bound first, while the document can still make it
            let mut viable = true;
            for j in (0..first).rev() {
                if partial * BOUND_MARGIN + cum[j] <= threshold {
                    viable = false;
                    break;
                }
                let w = &mut ws[order[j]];
                if w.doc < doc {
                    w.seek(doc);
                }
                if w.doc == doc {
                    let s = w.score();
                    scores[order[j]] = s;
                    partial += s;
                }
            }
            if viable {
                // the same sum, in the same order, as WordsScorer::score (every word now on `doc` was
                // scored for it above)
                let mut total = 0f32;
                for (w, s) in ws.iter().zip(&scores) {
                    if w.doc == doc {
                        total += s;
                    }
                }
                if total > threshold {
                    threshold = callback(doc, total);
                    first = first.max(essential_from(threshold));
                }
            }
            for &i in &order[first..] {
                if ws[i].doc == doc {
                    ws[i].advance();
                }
            }
        }
        Ok(())
    }
}

/// Segments up to this many documents are scored term at a time (three accumulators of this size);
/// larger ones with MaxScore.
const TAAT_MAX_DOCS: u32 = 1 << 18;

/// Unit tests lower it to run MaxScore on small segments.
#[cfg(test)]
pub(crate) static TAAT_MAX_DOCS_OVERRIDE: std::sync::atomic::AtomicU32 =
    std::sync::atomic::AtomicU32::new(u32::MAX);

fn taat_max_docs() -> u32 {
    #[cfg(test)]
    {
        let o = TAAT_MAX_DOCS_OVERRIDE.load(std::sync::atomic::Ordering::Relaxed);
        if o != u32::MAX {
            return o;
        }
    }
    TAAT_MAX_DOCS
}

impl WordsWeight {
    /// Whether the query's postings in this segment are many enough for term-at-a-time scoring to pay
    /// for its accumulators (about one posting per four documents); selective queries go to MaxScore.
    fn dense(&self, reader: &SegmentReader) -> tantivy::Result<bool> {
        let mut postings = 0u64;
        for plan in self.words.iter() {
            for (e, exp) in plan.expansions.iter().enumerate() {
                for t in 0..exp.terms.len() {
                    if let Some(info) = plan.term_info(e, t, reader)? {
                        postings += u64::from(info.doc_freq);
                    }
                }
            }
        }
        Ok(postings * 4 >= u64::from(reader.max_doc()))
    }

    /// Scores a segment word by word into per-document accumulators (each posting list read block by
    /// block, once), then hands the documents above `threshold` to `callback` in document order.
    ///
    /// Each document gets exactly the sums [`WordScorer::score`] and [`WordsScorer::score`] compute, in
    /// the same order: per expansion, the fields' `tf~` added in posting order from 0; per word, the best
    /// expansion; per document, the words' scores added in word order from 0.
    fn term_at_a_time(
        &self,
        mut threshold: Score,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(DocId, Score) -> Score,
    ) -> tantivy::Result<()> {
        let max = reader.max_doc() as usize;
        let mut acc = vec![0f32; max];
        let mut tf = vec![0f32; max];
        let mut best = vec![0f32; max];
        let mut union = vec![0u64; max.div_ceil(64)];
        let mut exp_docs: Vec<u32> = Vec::new();
        let mut word_docs: Vec<u32> = Vec::new();
        let mut norm_readers: Vec<(Field, FieldNormReader)> = Vec::new();
        for plan in self.words.iter() {
            let norms = field_norms(plan, reader, &mut norm_readers)?;
            word_docs.clear();
            for (e, exp) in plan.expansions.iter().enumerate() {
                exp_docs.clear();
                for (t, (fi, _)) in exp.terms.iter().enumerate() {
                    let Some(info) = plan.term_info(e, t, reader)? else {
                        continue;
                    };
                    let inv = reader.inverted_index(plan.fields[*fi].field)?;
                    let mut b =
                        inv.read_block_postings_from_terminfo(&info, IndexRecordOption::WithFreqs)?;
                    let (norm_reader, table) = &norms[*fi];
                    loop {
                        let docs = b.docs();
                        if docs.is_empty() {
                            break;
                        }
                        for (&d, &f) in docs.iter().zip(b.freqs()) {
                            let Some(x) = tf.get_mut(d as usize) else {
                                continue;
                            };
                            if *x == 0.0 {
                                exp_docs.push(d);
                            }
                            *x += table[norm_reader.fieldnorm_id(d) as usize] * f as f32;
                        }
                        b.advance();
                    }
                }
                let w = exp.weight;
                for &d in &exp_docs {
                    let d = d as usize;
                    let x = std::mem::replace(&mut tf[d], 0.0);
                    if x > 0.0 {
                        let s = w * x / (plan.k1 + x);
                        if best[d] == 0.0 {
                            word_docs.push(d as u32);
                        }
                        if s > best[d] {
                            best[d] = s;
                        }
                    }
                }
            }
            for &d in &word_docs {
                let d = d as usize;
                acc[d] += std::mem::replace(&mut best[d], 0.0);
                union[d >> 6] |= 1u64 << (d & 63);
            }
        }
        for (i, &bits) in union.iter().enumerate() {
            let mut bits = bits;
            while bits != 0 {
                let d = i * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let s = acc[d];
                if s > threshold {
                    threshold = callback(d as DocId, s);
                }
            }
        }
        Ok(())
    }
}

/// The exhaustive disjunction of word scorers.
struct WordsScorer {
    words: Vec<WordScorer>,
    doc: DocId,
}

impl WordsScorer {
    fn min_doc(&self) -> DocId {
        self.words.iter().map(|w| w.doc).min().unwrap_or(TERMINATED)
    }
}

impl DocSet for WordsScorer {
    fn advance(&mut self) -> DocId {
        let cur = self.doc;
        if cur == TERMINATED {
            return TERMINATED;
        }
        for w in &mut self.words {
            if w.doc == cur {
                w.advance();
            }
        }
        self.doc = self.min_doc();
        self.doc
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc >= target {
            return self.doc;
        }
        for w in &mut self.words {
            if w.doc < target {
                w.seek(target);
            }
        }
        self.doc = self.min_doc();
        self.doc
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.words
            .iter()
            .map(DocSet::size_hint)
            .fold(0u32, u32::saturating_add)
    }
}

impl Scorer for WordsScorer {
    fn score(&mut self) -> Score {
        let doc = self.doc;
        let mut total = 0f32;
        for w in &mut self.words {
            if w.doc == doc {
                total += w.score();
            }
        }
        total
    }
}

/// The field-norm reader and the norm table of each of `plan`'s fields in this segment; readers are
/// shared between the words of a query through `norm_readers`.
fn field_norms(
    plan: &WordPlan,
    reader: &SegmentReader,
    norm_readers: &mut Vec<(Field, FieldNormReader)>,
) -> tantivy::Result<Vec<(FieldNormReader, Arc<[f32; 256]>)>> {
    let mut norms = Vec::with_capacity(plan.fields.len());
    for f in &plan.fields {
        let r = match norm_readers.iter().find(|(field, _)| *field == f.field) {
            Some((_, r)) => r.clone(),
            None => {
                let r = reader.get_fieldnorms_reader(f.field)?;
                norm_readers.push((f.field, r.clone()));
                r
            }
        };
        norms.push((r, f.norm.clone()));
    }
    Ok(norms)
}

fn word_scorer(
    plan: &WordPlan,
    reader: &SegmentReader,
    boost: Score,
    norm_readers: &mut Vec<(Field, FieldNormReader)>,
) -> tantivy::Result<WordScorer> {
    let norms = field_norms(plan, reader, norm_readers)?;
    let mut postings =
        Vec::with_capacity(plan.expansions.iter().map(|e| e.terms.len()).sum::<usize>());
    for (e, exp) in plan.expansions.iter().enumerate() {
        for (t, (fi, _)) in exp.terms.iter().enumerate() {
            let Some(info) = plan.term_info(e, t, reader)? else {
                continue;
            };
            let inv = reader.inverted_index(plan.fields[*fi].field)?;
            let p = inv.read_postings_from_terminfo(&info, IndexRecordOption::WithFreqs)?;
            if p.doc() != TERMINATED {
                postings.push(Post {
                    exp: e,
                    field: *fi,
                    p,
                });
            }
        }
    }
    let mut s = WordScorer {
        postings,
        norms,
        weights: plan.expansions.iter().map(|e| e.weight * boost).collect(),
        // the one-expansion fast path keeps its sum in a local
        tf: if plan.expansions.len() > 1 {
            vec![0.0; plan.expansions.len()]
        } else {
            Vec::new()
        },
        k1: plan.k1,
        doc: TERMINATED,
    };
    s.doc = s.min_doc();
    Ok(s)
}

struct Post {
    exp: usize,
    field: usize,
    p: SegmentPostings,
}

/// One word in one segment: the union of its expansions' postings over the fields.
struct WordScorer {
    postings: Vec<Post>,
    norms: Vec<(FieldNormReader, Arc<[f32; 256]>)>,
    weights: Vec<f32>,
    tf: Vec<f32>,
    k1: f32,
    doc: DocId,
}

impl WordScorer {
    fn min_doc(&self) -> DocId {
        self.postings
            .iter()
            .map(|p| p.p.doc())
            .min()
            .unwrap_or(TERMINATED)
    }

    /// An upper bound of [`score`](Scorer::score): `tf / (k1 + tf) < 1`.
    fn max_score(&self) -> f32 {
        self.weights.iter().copied().fold(0f32, f32::max)
    }
}

impl DocSet for WordScorer {
    fn advance(&mut self) -> DocId {
        let cur = self.doc;
        if cur == TERMINATED {
            return TERMINATED;
        }
        for p in &mut self.postings {
            if p.p.doc() == cur {
                p.p.advance();
            }
        }
        self.doc = self.min_doc();
        self.doc
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc >= target {
            return self.doc;
        }
        for p in &mut self.postings {
            if p.p.doc() < target {
                p.p.seek(target);
            }
        }
        self.doc = self.min_doc();
        self.doc
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.postings
            .iter()
            .map(|p| p.p.size_hint())
            .fold(0u32, u32::saturating_add)
    }
}

impl Scorer for WordScorer {
    fn score(&mut self) -> Score {
        let doc = self.doc;
        if doc == TERMINATED {
            return 0.0;
        }
        if self.weights.len() == 1 {
            // the common case of one expansion: the same sum, in a local
            let mut tf = 0f32;
            for p in &self.postings {
                if p.p.doc() == doc {
                    let (reader, table) = &self.norms[p.field];
                    tf += table[reader.fieldnorm_id(doc) as usize] * p.p.term_freq() as f32;
                }
            }
            return if tf > 0.0 {
                self.weights[0] * tf / (self.k1 + tf)
            } else {
                0.0
            };
        }
        for t in &mut self.tf {
            *t = 0.0;
        }
        for p in &self.postings {
            if p.p.doc() == doc {
                let (reader, table) = &self.norms[p.field];
                let id = reader.fieldnorm_id(doc);
                self.tf[p.exp] += table[id as usize] * p.p.term_freq() as f32;
            }
        }
        let mut best = 0f32;
        for (tf, w) in self.tf.iter().zip(&self.weights) {
            if *tf > 0.0 {
                let s = w * tf / (self.k1 + tf);
                if s > best {
                    best = s;
                }
            }
        }
        best
    }
}

/// Optimal string alignment distance (Levenshtein with adjacent transpositions counting as one edit),
/// on chars. Returns `max + 1` as soon as the distance is known to exceed `max`.
pub(crate) fn osa_distance(a: &str, b: &str, max: usize) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return max + 1;
    }
    let (n, m) = (a.len(), b.len());
    let mut prev2 = vec![0usize; m + 1];
    let mut prev: Vec<usize> = (0..=m).collect();
    let mut cur = vec![0usize; m + 1];
    for i in 1..=n {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return max + 1;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[m].min(max + 1)
}

/// The smallest distance between `query` and any prefix of `word` (how many typos a prefix has).
pub(crate) fn prefix_distance(query: &str, word: &str, max: usize) -> usize {
    let qlen = query.chars().count();
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    let mut best = max + 1;
    let lo = qlen.saturating_sub(max);
    let hi = qlen + max;
    for k in lo..=hi.min(chars.len()) {
        let end = if k == chars.len() {
            word.len()
        } else {
            chars[k].0
        };
        best = best.min(osa_distance(query, &word[..end], max));
        if best == 0 {
            break;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osa_counts_transpositions_as_one() {
        assert_eq!(osa_distance("running", "running", 2), 0);
        assert_eq!(osa_distance("runnign", "running", 2), 1);
        assert_eq!(osa_distance("runing", "running", 2), 1);
        assert_eq!(osa_distance("runnning", "running", 2), 1);
        assert_eq!(osa_distance("rxnning", "running", 2), 1);
        assert_eq!(osa_distance("rnnuing", "running", 2), 2);
        assert_eq!(osa_distance("abc", "xyz", 1), 2);
        assert_eq!(osa_distance("a", "abcdef", 2), 3);
        assert_eq!(osa_distance("café", "cafe", 2), 1);
    }

    #[test]
    fn prefix_distance_is_to_the_best_prefix() {
        assert_eq!(prefix_distance("runn", "running", 1), 0);
        assert_eq!(prefix_distance("rnun", "running", 1), 1);
        assert_eq!(prefix_distance("xyz", "running", 1), 2);
    }

    #[test]
    fn term_at_a_time_and_max_score_equal_exhaustive_scoring() {
        use crate::{Document, Query, Schema, SearchIndex, SearchRequest, TextField};
        use rand::rngs::SmallRng;
        use rand::{Rng, SeedableRng};
        let schema = Schema::builder()
            .id("id")
            .text_with("title", TextField::new().boost(2.0))
            .text("body")
            .build()
            .unwrap();
        let index = SearchIndex::builder(schema).build().unwrap();
        let mut rng = SmallRng::seed_from_u64(9);
        // a skewed vocabulary, so that some words are common and some rare
        let vocab: Vec<String> = (0..300).map(|i| format!("w{i}x")).collect();
        let word = |rng: &mut SmallRng| {
            let r: f64 = rng.random();
            vocab[((r * r * r) * vocab.len() as f64) as usize].clone()
        };
        for id in 0..600 {
            let title: Vec<String> = (0..rng.random_range(1..6))
                .map(|_| word(&mut rng))
                .collect();
            let body: Vec<String> = (0..rng.random_range(0..60))
                .map(|_| word(&mut rng))
                .collect();
            index
                .upsert(
                    Document::new()
                        .with("id", id.to_string())
                        .with("title", title.join(" "))
                        .with("body", body.join(" ")),
                )
                .unwrap();
            if id % 200 == 199 {
                index.refresh().unwrap(); // several segments
            }
        }
        index.delete("5").unwrap();
        index.refresh().unwrap();
        let key = |r: &crate::SearchResults| -> Vec<(String, u32)> {
            r.hits
                .iter()
                .map(|h| (h.id.clone(), h.score.to_bits()))
                .collect()
        };
        for _ in 0..60 {
            let q: Vec<String> = (0..rng.random_range(1..8))
                .map(|_| word(&mut rng))
                .collect();
            let q = q.join(" ");
            let limit = rng.random_range(1..30);
            let req = || {
                SearchRequest::new(Query::text(&q))
                    .limit(limit)
                    .with_documents(false)
            };
            let full = index.search(req().filter(Query::all())).unwrap();
            for taat_limit in [u32::MAX, 0] {
                TAAT_MAX_DOCS_OVERRIDE.store(taat_limit, std::sync::atomic::Ordering::Relaxed);
                let fast = index.search(req().track_total_hits(false)).unwrap();
                let counted = index.search(req()).unwrap();
                assert_eq!(key(&fast), key(&full), "{q:?} limit {limit}");
                assert_eq!(key(&counted), key(&full), "{q:?} limit {limit}");
                assert_eq!(counted.total, full.total);
            }
            TAAT_MAX_DOCS_OVERRIDE.store(u32::MAX, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn idf_decreases_with_doc_freq() {
        assert!(idf(1, 100) > idf(10, 100));
        assert!(idf(100, 100) > 0.0);
    }
}
