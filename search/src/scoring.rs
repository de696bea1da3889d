//! Ranking: BM25F over the text fields with tunable `k1`/`b`, and one query word's expansions (typos,
//! prefix completions) scored by their own BM25 weight.
//!
//! tantivy's BM25 has `k1 = 1.2`, `b = 0.75` built in and scores fuzzy matches with a constant, so a query
//! word is scored here by [`WordQuery`], a tantivy [`Query`] of our own. For one word `w` and a document `d`:
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
use tantivy::postings::{Postings, SegmentPostings};
use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
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
    pub boost: f32,
    pub avg_len: f32,
}

/// One way a query word matches: a term per field, how much it counts, and its idf.
#[derive(Debug, Clone)]
pub(crate) struct Expansion {
    /// `(index into fields, term)`.
    pub terms: Vec<(usize, Term)>,
    /// `penalty · idf · (k1 + 1)`.
    pub weight: f32,
}

/// Scores one query word over several fields: see the [module docs](self).
#[derive(Clone)]
pub(crate) struct WordQuery {
    inner: Arc<WordPlan>,
}

pub(crate) struct WordPlan {
    pub fields: Vec<ScoredField>,
    pub expansions: Vec<Expansion>,
    pub k1: f32,
    pub b: f32,
}

impl WordQuery {
    pub(crate) fn new(plan: WordPlan) -> Self {
        WordQuery {
            inner: Arc::new(plan),
        }
    }
}

impl fmt::Debug for WordQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WordQuery")
            .field("expansions", &self.inner.expansions.len())
            .finish()
    }
}

impl Query for WordQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(WordWeight {
            plan: self.inner.clone(),
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for e in &self.inner.expansions {
            for (_, t) in &e.terms {
                visitor(t, false);
            }
        }
    }
}

struct WordWeight {
    plan: Arc<WordPlan>,
}

impl WordWeight {
    fn word_scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<WordScorer> {
        let plan = &self.plan;
        let mut norms = Vec::with_capacity(plan.fields.len());
        for f in &plan.fields {
            let reader_norms = reader.get_fieldnorms_reader(f.field)?;
            let mut table = [0f32; 256];
            for (id, slot) in table.iter_mut().enumerate() {
                let len = FieldNormReader::id_to_fieldnorm(id as u8) as f32;
                let avg = if f.avg_len > 0.0 { f.avg_len } else { 1.0 };
                *slot = f.boost / (1.0 - plan.b + plan.b * len / avg);
            }
            norms.push((reader_norms, table));
        }
        let mut postings = Vec::new();
        for (e, exp) in plan.expansions.iter().enumerate() {
            for (fi, term) in &exp.terms {
                let inv = reader.inverted_index(plan.fields[*fi].field)?;
                if let Some(p) = inv.read_postings(term, IndexRecordOption::WithFreqs)? {
                    if p.doc() != TERMINATED {
                        postings.push(Post {
                            exp: e,
                            field: *fi,
                            p,
                        });
                    }
                }
            }
        }
        let mut s = WordScorer {
            postings,
            norms,
            weights: plan.expansions.iter().map(|e| e.weight * boost).collect(),
            tf: vec![0.0; plan.expansions.len()],
            k1: plan.k1,
            doc: TERMINATED,
        };
        s.doc = s.min_doc();
        Ok(s)
    }
}

impl Weight for WordWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(self.word_scorer(reader, boost)?))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut s = self.word_scorer(reader, 1.0)?;
        if s.seek(doc) != doc {
            return Err(tantivy::TantivyError::InvalidArgument(format!(
                "document {doc} does not match"
            )));
        }
        Ok(Explanation::new("BM25F word score", s.score()))
    }
}

struct Post {
    exp: usize,
    field: usize,
    p: SegmentPostings,
}

struct WordScorer {
    postings: Vec<Post>,
    norms: Vec<(FieldNormReader, [f32; 256])>,
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
    fn idf_decreases_with_doc_freq() {
        assert!(idf(1, 100) > idf(10, 100));
        assert!(idf(100, 100) > 0.0);
    }
}
