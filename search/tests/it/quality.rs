//! Retrieval quality on BEIR SciFact (the shared IR collection), with the same code as the `ir_eval`
//! binary: nDCG@10 and Recall@100 with defaults, typo'd queries, search as you type.

#[path = "../../../benches/src/bin/ir/mod.rs"]
#[allow(dead_code)]
mod ir;

#[test]
fn scifact_quality_targets() {
    let Some(dir) = ember_core::data::require("ir/scifact") else {
        return;
    };
    use ember_core::Clock;
    let clock = ember_core::SystemClock;
    let t0 = clock.now();
    let coll = ir::load(&dir).unwrap();
    assert_eq!(coll.queries.len(), 300);
    let index = ir::index(&coll, true).unwrap();

    eprintln!("indexed after {:?}", clock.now() - t0);
    let clean = ir::evaluate(&index, &coll, &coll.queries, true).unwrap();
    eprintln!("clean, typo tolerance on: {clean:?}");
    assert!(clean.ndcg10 >= 0.68, "nDCG@10 {:.4} < 0.68", clean.ndcg10);
    assert!(
        clean.recall100 >= 0.92,
        "Recall@100 {:.4} < 0.92",
        clean.recall100
    );

    eprintln!("clean after {:?}", clock.now() - t0);
    let typod = ir::typo_queries(&coll, 42);
    let typo = ir::evaluate(&index, &coll, &typod, true).unwrap();
    eprintln!("typo'd, typo tolerance on: {typo:?}");
    assert!(
        typo.ndcg10 >= 0.65,
        "typo'd nDCG@10 {:.4} < 0.65",
        typo.ndcg10
    );

    eprintln!("typo after {:?}", clock.now() - t0);
    for cut in [1, 2] {
        let p = ir::prefix_eval(&index, &coll, cut).unwrap();
        eprintln!("prefix cut {cut}: {p:?}");
        assert!(p.found >= 0.95, "cut {cut}: found {:.4} < 0.95", p.found);
    }
    eprintln!("prefix after {:?}", clock.now() - t0);

    // top-k pruning (MaxScore) returns exactly what scoring every match returns
    let mut checked = 0;
    for (queries, typos, prefix, limit) in [
        (&coll.queries, true, false, 10),
        (&coll.queries, false, false, 100),
        (&typod, true, false, 10),
        (&coll.queries, true, true, 10),
    ] {
        checked += pruned_equals_exhaustive(&index, queries, typos, prefix, limit);
    }
    eprintln!(
        "pruned == exhaustive on {checked} queries, after {:?}",
        clock.now() - t0
    );

    // turning typo tolerance on does not lower clean-query quality
    let off = ir::evaluate(&index, &coll, &coll.queries, false).unwrap();
    eprintln!("clean, typo tolerance off: {off:?}");
    assert!(
        clean.ndcg10 >= off.ndcg10 - 1e-9,
        "on {:.4} < off {:.4}",
        clean.ndcg10,
        off.ndcg10
    );
}

/// Runs each query pruned (no exact total), pruned with the exact total, and exhaustively (a no-op
/// filter turns pruning off), and checks the same hits with bit-identical scores, and the same total.
fn pruned_equals_exhaustive(
    index: &ember_search::SearchIndex,
    queries: &[(String, String)],
    typos: bool,
    prefix: bool,
    limit: usize,
) -> usize {
    use ember_search::{Query, SearchRequest};
    let request = |text: &str| {
        // as you type: the query string syntax (its last word is a prefix); else plain text
        let r = if prefix {
            SearchRequest::new(text)
        } else {
            SearchRequest::new(Query::text(text))
        };
        r.typo_tolerance(typos)
            .as_you_type(prefix)
            .limit(limit)
            .with_documents(false)
    };
    let key = |r: &ember_search::SearchResults| -> Vec<(String, u32)> {
        r.hits
            .iter()
            .map(|h| (h.id.clone(), h.score.to_bits()))
            .collect()
    };
    let (mut n, mut pruned) = (0, 0);
    // every other query keeps the debug-build test short
    for (qid, text) in queries.iter().step_by(2) {
        let Ok(full) = index.search(request(text).filter(Query::all())) else {
            assert!(prefix, "query {qid} failed");
            continue; // not a valid query string
        };
        assert!(full.total_is_exact);
        let fast = index.search(request(text).track_total_hits(false)).unwrap();
        let counted = index.search(request(text)).unwrap();
        assert!(counted.total_is_exact);
        assert_eq!(counted.total, full.total, "query {qid}: total");
        if fast.total_is_exact {
            assert_eq!(fast.total, full.total, "query {qid}: total");
        } else {
            pruned += 1;
            assert!(fast.total <= full.total && fast.total >= fast.hits.len() as u64);
        }
        assert_eq!(
            key(&fast),
            key(&full),
            "query {qid} {text:?}: pruned hits differ"
        );
        assert_eq!(
            key(&counted),
            key(&full),
            "query {qid} {text:?}: pruned hits differ"
        );
        n += 1;
    }
    // nearly every query here is a disjunction of words, which is pruned
    assert!(
        pruned * 10 >= n * 9,
        "only {pruned} of {n} queries were pruned"
    );
    n
}
