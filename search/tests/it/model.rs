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
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

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
