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
