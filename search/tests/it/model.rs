//! Ranking against a hand-computed BM25.

use std::collections::HashMap;

use ember_search::{CommitPolicy, Document, Query, Ranking, Schema, SearchIndex, TypoTolerance};
use proptest::prelude::*;

const VOCAB: [&str; 6] = ["apple", "pear", "plum", "fig", "kiwi", "lime"];

fn bm25(docs: &[Vec<usize>], query: &[usize], k1: f64, b: f64) -> Vec<f64> {
    let n = docs.len() as f64;
    let avg = docs.iter().map(Vec::len).sum::<usize>() as f64 / n;
    docs.iter()
        .map(|d| {
            query
                .iter()
                .map(|&t| {
                    let df = docs.iter().filter(|x| x.contains(&t)).count() as f64;
                    let tf = d.iter().filter(|&&x| x == t).count() as f64;
                    if tf == 0.0 {
                        return 0.0;
                    }
                    let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                    let norm = 1.0 - b + b * d.len() as f64 / avg;
                    idf * (k1 + 1.0) * (tf / norm) / (k1 + tf / norm)
                })
                .sum()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::cases(12), .. ProptestConfig::default() })]

    #[test]
    fn scores_match_bm25(
        docs in proptest::collection::vec(proptest::collection::vec(0..VOCAB.len(), 1..12), 2..15),
        query in proptest::collection::vec(0..VOCAB.len(), 1..4),
        k1 in 0.1f64..2.0,
        b in 0.0f64..1.0,
    ) {
        let schema = Schema::builder().id("id").text("t").build().unwrap();
        let index = SearchIndex::builder(schema)
            .ranking(Ranking::default().k1(k1 as f32).b(b as f32))
            .typo_tolerance(TypoTolerance::disabled())
            .commit_policy(CommitPolicy::manual())
            .build()
            .unwrap();
        for (i, d) in docs.iter().enumerate() {
            let text: Vec<&str> = d.iter().map(|&t| VOCAB[t]).collect();
            index.upsert(Document::new().with("id", i.to_string()).with("t", text.join(" "))).unwrap();
        }
        index.refresh().unwrap();
        let qtext: Vec<&str> = query.iter().map(|&t| VOCAB[t]).collect();
        let res = index
            .search(ember_search::SearchRequest::new(Query::text(&qtext.join(" "))).limit(100))
            .unwrap();
        let expected = bm25(&docs, &query, k1, b);
        let got: HashMap<usize, f32> = res.hits.iter().map(|h| (h.id.parse().unwrap(), h.score)).collect();
        for (i, e) in expected.iter().enumerate() {
            let g = got.get(&i).copied().unwrap_or(0.0) as f64;
            prop_assert!((g - e).abs() <= 1e-3 * e.max(1.0), "doc {i}: got {g}, expected {e}");
        }
        prop_assert_eq!(res.total as usize, expected.iter().filter(|&&e| e > 0.0).count());
    }
}

/// A write step of [`writes_match_a_map`]: upsert (id, word), delete id, or commit.
#[derive(Debug, Clone)]
enum Step {
    Upsert(usize, usize),
    Delete(usize),
    Commit,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..6usize, 0..VOCAB.len()).prop_map(|(i, w)| Step::Upsert(i, w)),
        2 => (0..6usize).prop_map(Step::Delete),
        1 => Just(Step::Commit),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::cases(24), .. ProptestConfig::default() })]

    /// Upserts replace, deletes remove, whatever mix of committed and pending writes an id has (the
    /// index skips the delete of ids it has never seen: this checks it never skips one it has).
    #[test]
    fn writes_match_a_map(
        steps in proptest::collection::vec(step(), 1..40),
        batched in any::<bool>(),
    ) {
        let schema = Schema::builder().id("id").text("t").build().unwrap();
        let index = SearchIndex::builder(schema)
            .commit_policy(CommitPolicy::manual())
            .build()
            .unwrap();
        let mut model: HashMap<String, &str> = HashMap::new();
        let mut batch = ember_search::WriteBatch::new();
        let check = |index: &SearchIndex, model: &HashMap<String, &str>| -> Result<(), TestCaseError> {
            index.refresh().unwrap();
            let res = index
                .search(ember_search::SearchRequest::new(Query::all()).limit(100))
                .unwrap();
            let mut got: Vec<(String, String)> = res
                .hits
                .iter()
                .map(|h| {
                    let doc = index.get(&h.id).unwrap().unwrap();
                    (h.id.clone(), doc.get_str("t").unwrap().to_string())
                })
                .collect();
            got.sort();
            let mut want: Vec<(String, String)> =
                model.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
            want.sort();
            prop_assert_eq!(got, want);
            prop_assert_eq!(index.stats().docs as usize, model.len());
            Ok(())
        };
        for s in steps {
            match s {
                Step::Upsert(i, w) => {
                    let doc = Document::new().with("id", i.to_string()).with("t", VOCAB[w]);
                    if batched {
                        index.batch_upsert(&mut batch, doc).unwrap();
                    } else {
                        index.upsert(doc).unwrap();
                    }
                    model.insert(i.to_string(), VOCAB[w]);
                }
                Step::Delete(i) => {
                    if batched {
                        index.batch_delete(&mut batch, &i.to_string());
                    } else {
                        index.delete(&i.to_string()).unwrap();
                    }
                    model.remove(&i.to_string());
                }
                Step::Commit => {
                    index.apply(std::mem::take(&mut batch)).unwrap();
                    check(&index, &model)?;
                }
            }
        }
        index.apply(batch).unwrap();
        check(&index, &model)?;
    }
}
