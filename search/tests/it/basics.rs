//! Documents, analysis, filters, sorting, facets, persistence, errors.

use ember_search::{
    CommitPolicy, Document, Error, Order, Query, Schema, SearchIndex, SearchRequest, TextField,
    Value,
};

use crate::{ids, product_schema, products};

#[test]
fn stemming_matches_inflections() {
    let index = products();
    // "runs" stems to "run": finds running, runner is a different stem
    let res = index.search("runs").unwrap();
    let found = ids(&res);
    for id in ["1", "2", "3", "6"] {
        assert!(found.contains(&id), "{id} missing from {found:?}");
    }
    assert!(!found.contains(&"7"));
    // and the other way round
    let res = index.search("RUNNING").unwrap();
    assert!(ids(&res).contains(&"6")); // "runs" in the body
}

#[test]
fn stopwords_are_not_searched() {
    let index = products();
    let res = index.search("the of a").unwrap();
    assert_eq!(res.total, 0);
    // a stopword in a query does not change the ranking of the other words
    let a = index.search("art").unwrap();
    let b = index.search("the art").unwrap();
    assert_eq!(ids(&a), ids(&b));
    assert_eq!(a.hits[0].score, b.hits[0].score);
}

#[test]
fn phrase_requires_adjacent_words_in_order() {
    let index = products();
    let res = index.search(r#""running shoes""#).unwrap();
    assert_eq!(ids(&res), ["1"]);
    let res = index.search(r#""shoes running""#).unwrap();
    assert_eq!(res.total, 0);
    // slop lets words sit apart: "keep feet dry" ~ "keep dry"
    assert_eq!(index.search(r#""keep dry""#).unwrap().total, 0);
    assert_eq!(ids(&index.search(r#""keep dry"~1"#).unwrap()), ["3"]);
    // stopwords inside a phrase keep their place
    assert_eq!(ids(&index.search(r#""art of running""#).unwrap()), ["6"]);
}

#[test]
fn prefix_queries_on_stemmed_fields() {
    let index = products();
    // "runnin" is not a prefix of the stem "run", but of the word "running"
    let res = index.search("runnin*").unwrap();
    for id in ["1", "3", "6"] {
        assert!(ids(&res).contains(&id), "{id} missing");
    }
    let res = index
        .search(SearchRequest::new("photog").as_you_type(true))
        .unwrap();
    assert_eq!(ids(&res), ["7"]);
    // without search-as-you-type the last word is whole
    let res = index
        .search(SearchRequest::new("photog").as_you_type(false))
        .unwrap();
    assert_eq!(res.total, 0);
    // only the last word is a prefix
    let res = index
        .search(SearchRequest::new("photog camera").as_you_type(true))
        .unwrap();
    assert_eq!(ids(&res), ["7"]);
    assert_eq!(res.hits[0].score, {
        let r = index.search("camera").unwrap();
        r.hits[0].score
    });
}

#[test]
fn typo_distance_depends_on_word_length() {
    let index = products();
    // 5+ letters: one typo allowed
    assert_eq!(ids(&index.search("jackt").unwrap()), ["4"]); // deletion
    assert_eq!(ids(&index.search("jakcet").unwrap()), ["4"]); // transposition = 1
    // 4 letters: no typo allowed
    assert_eq!(index.search("sokcs").unwrap().total, 2); // 5 letters: ok
    assert_eq!(index.search("wol").unwrap().total, 0);
    assert_eq!(index.search("wooll").unwrap().total, 1);
    assert_eq!(index.search("rian").unwrap().total, 0);
    // 5..8 letters: two typos are too many
    assert_eq!(index.search("jxckxt").unwrap().total, 0);
    // 9+ letters: two typos allowed
    assert_eq!(ids(&index.search("waterprofo").unwrap()), ["4"]);
    assert_eq!(ids(&index.search("wattrprofo").unwrap()), ["4"]);
    // a misspelled inflected word still finds the stem: "photograpy" → photography
    assert_eq!(ids(&index.search("photograpy").unwrap()), ["7"]);
    // typo tolerance can be turned off per request
    assert_eq!(
        index
            .search(SearchRequest::new("jackt").typo_tolerance(false))
            .unwrap()
            .total,
        0
    );
}

#[test]
fn exact_matches_rank_above_typo_matches() {
    let schema = Schema::builder().id("id").text("t").build().unwrap();
    let index = SearchIndex::builder(schema).build().unwrap();
    // "hikes" is one typo from "bikes"; documents otherwise alike
    index
        .upsert_many([
            Document::new()
                .with("id", "typo")
                .with("t", "hikes in the hills"),
            Document::new()
                .with("id", "exact")
                .with("t", "bikes in the hills"),
            Document::new()
                .with("id", "none")
                .with("t", "walks in the hills"),
        ])
        .unwrap();
    index.refresh().unwrap();
    let res = index.search("bikes").unwrap();
    assert_eq!(ids(&res), ["exact", "typo"]);
    assert!(res.hits[0].score > res.hits[1].score * 1.5);

    // a word found in enough documents is taken as spelled right
    let schema = Schema::builder().id("id").text("t").build().unwrap();
    let index = SearchIndex::builder(schema)
        .typo_tolerance(ember_search::TypoTolerance::default().known_word_docs(1))
        .build()
        .unwrap();
    index
        .upsert_many([
            Document::new()
                .with("id", "typo")
                .with("t", "hikes in the hills"),
            Document::new()
                .with("id", "exact")
                .with("t", "bikes in the hills"),
        ])
        .unwrap();
    index.refresh().unwrap();
    assert_eq!(ids(&index.search("bikes").unwrap()), ["exact"]);
    assert_eq!(ids(&index.search("bikse").unwrap()), ["exact"]);
}

#[test]
fn highlights_mark_stemmed_typo_and_prefix_matches() {
    let index = products();
    let res = index
        .search(
            SearchRequest::new("waterprof jacket")
                .highlight("title")
                .highlight("body"),
        )
        .unwrap();
    let h = &res.hits[0];
    assert_eq!(h.id, "4");
    assert_eq!(
        h.highlights[0].to_html(),
        "<em>Waterproof</em> <em>jacket</em>"
    );
    assert_eq!(h.highlights[1].matched().collect::<Vec<_>>(), ["jacket"]);
    let res = index
        .search(
            SearchRequest::new("photogr")
                .as_you_type(true)
                .highlight("body"),
        )
        .unwrap();
    assert_eq!(
        res.hits[0].highlights[0].to_html(),
        "Learn <em>photography</em> with your camera."
    );
    // excluded words are not highlighted
    let res = index
        .search(SearchRequest::new("socks -wool").highlight("title"))
        .unwrap();
    assert_eq!(ids(&res), ["3"]);
}

#[test]
fn filters_do_not_change_scores() {
    let index = products();
    let all = index.search("socks").unwrap();
    let filtered = index
        .search(SearchRequest::new("socks").filter(Query::range("price", ..15.0)))
        .unwrap();
    assert_eq!(ids(&filtered), ["3"]);
    let s = all.hits.iter().find(|h| h.id == "3").unwrap().score;
    assert_eq!(filtered.hits[0].score, s);
    // keyword, any-of, numeric and date filters
    let n = |r: SearchRequest| index.search(r).unwrap().total;
    assert_eq!(
        n(SearchRequest::new(Query::all()).filter(Query::term("tag", "socks"))),
        2
    );
    assert_eq!(
        n(SearchRequest::new(Query::all()).filter(Query::any_of("tag", ["socks", "books"]))),
        4
    );
    assert_eq!(
        n(SearchRequest::new(Query::all()).filter(Query::range("likes", 100u64..))),
        3
    );
    assert_eq!(
        n(SearchRequest::new(Query::all()).filter(Query::term("likes", 40u64))),
        1
    );
    assert_eq!(
        n(SearchRequest::new(Query::all()).filter(Query::range(
            "added",
            Value::Date(2_000)..=Value::Date(4_000)
        ))),
        3
    );
    // filters from the query string
    assert_eq!(n(SearchRequest::new("+tag:socks")), 2);
    assert_eq!(n(SearchRequest::new("+likes:>=300")), 2);
    assert_eq!(n(SearchRequest::new("running -tag:shoes")), 2);
    // a filter-only query scores 0
    let r = index
        .search(SearchRequest::new(Query::all()).filter(Query::term("tag", "books")))
        .unwrap();
    assert!(r.hits.iter().all(|h| h.score == 0.0));
}

#[test]
fn sort_by_field_both_ways_and_missing_last() {
    let index = products();
    index
        .upsert(Document::new().with("id", "9").with("title", "Running cap"))
        .unwrap();
    index.refresh().unwrap();
    let res = index
        .search(SearchRequest::new("running").sort_by("likes", Order::Desc))
        .unwrap();
    assert_eq!(ids(&res), ["6", "2", "1", "3", "9"]);
    assert_eq!(res.hits[0].sort_value, Some(Value::U64(500)));
    let res = index
        .search(SearchRequest::new("running").sort_by("price", Order::Asc))
        .unwrap();
    assert_eq!(ids(&res), ["3", "6", "1", "2", "9"]);
    let res = index
        .search(
            SearchRequest::new(Query::all())
                .sort_by("tag", Order::Asc)
                .limit(3),
        )
        .unwrap();
    assert_eq!(ids(&res), ["8", "6", "7"]);
    let res = index
        .search(
            SearchRequest::new(Query::all())
                .sort_by("added", Order::Desc)
                .limit(1),
        )
        .unwrap();
    assert_eq!(res.hits[0].sort_value, Some(Value::Date(8_000)));
    assert!(matches!(
        index.search(SearchRequest::new("x").sort_by("body", Order::Asc)),
        Err(Error::FieldUsage { .. })
    ));
}

#[test]
fn pagination_offset_and_search_after_agree() {
    let index = products();
    let all = index
        .search(
            SearchRequest::new(Query::all())
                .sort_by("likes", Order::Desc)
                .limit(100),
        )
        .unwrap();
    assert_eq!(all.total, 8);
    let mut by_cursor = Vec::new();
    let mut req = SearchRequest::new(Query::all())
        .sort_by("likes", Order::Desc)
        .limit(3);
    loop {
        let page = index.search(req.clone()).unwrap();
        by_cursor.extend(page.hits.iter().map(|h| h.id.clone()));
        match page.next {
            Some(c) => req = req.search_after(c),
            None => break,
        }
    }
    assert_eq!(by_cursor, ids(&all));
    let page2 = index
        .search(
            SearchRequest::new(Query::all())
                .sort_by("likes", Order::Desc)
                .offset(3)
                .limit(3),
        )
        .unwrap();
    assert_eq!(ids(&page2), &ids(&all)[3..6]);
    assert_eq!(page2.total, 8);
    // by score too
    let first = index
        .search(SearchRequest::new("running socks").limit(2))
        .unwrap();
    let rest = index
        .search(SearchRequest::new("running socks").search_after(first.next.clone().unwrap()))
        .unwrap();
    let whole = index.search(SearchRequest::new("running socks")).unwrap();
    let mut joined = ids(&first);
    joined.extend(ids(&rest));
    assert_eq!(joined, ids(&whole));
}

#[test]
fn facets_count_the_matching_documents() {
    let index = products();
    let res = index
        .search(SearchRequest::new("running socks").facet("tag").limit(1))
        .unwrap();
    let expected: Vec<(String, u64)> = [("shoes", 2), ("socks", 2), ("books", 1)]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b))
        .collect();
    assert_eq!(res.facets["tag"], expected);
    assert_eq!(res.total, 5);
    assert!(matches!(
        index.search(SearchRequest::new("x").facet("likes")),
        Err(Error::FieldUsage { .. })
    ));
    // multi-valued keywords count once per value
    let schema = Schema::builder()
        .id("id")
        .text("t")
        .keyword("tags")
        .build()
        .unwrap();
    let idx = SearchIndex::builder(schema).build().unwrap();
    idx.upsert(
        Document::new()
            .with("id", "a")
            .with("t", "x")
            .with("tags", vec!["p", "q"]),
    )
    .unwrap();
    idx.upsert(
        Document::new()
            .with("id", "b")
            .with("t", "x")
            .with("tags", vec!["q"]),
    )
    .unwrap();
    idx.refresh().unwrap();
    let res = idx.search(SearchRequest::new("x").facet("tags")).unwrap();
    assert_eq!(
        res.facets["tags"],
        [("q".to_string(), 2), ("p".to_string(), 1)]
    );
    assert_eq!(
        idx.get("a").unwrap().unwrap().get("tags"),
        Some(&Value::from(vec!["p", "q"]))
    );
}

#[test]
fn upsert_replaces_and_delete_removes() {
    let index = products();
    index
        .upsert(
            Document::new()
                .with("id", "4")
                .with("title", "Down parka")
                .with("tag", "jackets"),
        )
        .unwrap();
    // get is real time, before any commit
    assert_eq!(
        index.get("4").unwrap().unwrap().get_str("title"),
        Some("Down parka")
    );
    index.refresh().unwrap();
    assert_eq!(index.search("waterproof").unwrap().total, 0);
    assert_eq!(ids(&index.search("parka").unwrap()), ["4"]);
    assert_eq!(index.stats().docs, 8);
    // replacing twice within one batch keeps the last
    index
        .upsert_many([
            Document::new().with("id", "x").with("title", "first"),
            Document::new().with("id", "x").with("title", "second"),
        ])
        .unwrap();
    index.refresh().unwrap();
    assert_eq!(index.search("first").unwrap().total, 0);
    assert_eq!(index.search("second").unwrap().total, 1);
    index.delete("4").unwrap();
    assert_eq!(index.get("4").unwrap(), None);
    index.refresh().unwrap();
    assert_eq!(index.search("parka").unwrap().total, 0);
    assert_eq!(index.get("4").unwrap(), None);
    assert_eq!(index.stats().docs, 8);
    index.delete("does-not-exist").unwrap();
    // a mixed batch applies in order
    let mut b = ember_search::WriteBatch::new();
    index
        .batch_upsert(
            &mut b,
            Document::new().with("id", "y").with("title", "temp"),
        )
        .unwrap();
    index.batch_delete(&mut b, "y");
    index
        .batch_upsert(
            &mut b,
            Document::new().with("id", "z").with("title", "kept"),
        )
        .unwrap();
    index.apply(b).unwrap();
    index.refresh().unwrap();
    assert_eq!(index.get("y").unwrap(), None);
    assert_eq!(index.search("temp").unwrap().total, 0);
    assert_eq!(index.search("kept").unwrap().total, 1);
}

#[test]
fn documents_round_trip_through_get() {
    let index = products();
    let extra = Value::Object(
        [
            ("color".to_string(), Value::from("red")),
            ("sizes".to_string(), Value::from(vec![40u64, 41])),
        ]
        .into_iter()
        .collect(),
    );
    let doc = Document::new()
        .with("id", "r")
        .with("title", "Round trip")
        .with("tag", "t")
        .with("likes", 7u64)
        .with("price", 1.5)
        .with("added", Value::Date(1_700_000_000_123))
        .with("extra", extra);
    index.upsert(doc.clone()).unwrap();
    assert_eq!(index.get("r").unwrap().unwrap(), doc);
    index.refresh().unwrap();
    assert_eq!(index.get("r").unwrap().unwrap(), doc);
}

#[cfg(feature = "serde")]
#[test]
fn serde_structs_in_and_out() {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Product {
        id: String,
        title: String,
        tag: String,
        likes: u64,
        price: f64,
    }
    let index = products();
    let p = Product {
        id: "s".into(),
        title: "Serde socks".into(),
        tag: "socks".into(),
        likes: 3,
        price: 9.0,
    };
    index.upsert_serde(&p).unwrap();
    index.refresh().unwrap();
    assert_eq!(index.get_serde::<Product>("s").unwrap(), Some(p));
    assert_eq!(ids(&index.search("serde").unwrap()), ["s"]);
}

#[test]
fn bad_documents_get_typed_errors_and_nothing_is_written() {
    let index = products();
    let before = index.stats();
    type Check = fn(&Error) -> bool;
    let cases: Vec<(Document, Check)> = vec![
        (Document::new().with("title", "no id"), |e| {
            matches!(e, Error::MissingId { .. })
        }),
        (
            Document::new().with("id", "").with("title", "empty id"),
            |e| matches!(e, Error::MissingId { .. }),
        ),
        (
            Document::new().with("id", "b").with("colour", "red"),
            |e| matches!(e, Error::UnknownField(f) if f == "colour"),
        ),
        (
            Document::new().with("id", "b").with("likes", "many"),
            |e| matches!(e, Error::WrongType { field, .. } if field == "likes"),
        ),
        (Document::new().with("id", "b").with("likes", -1i64), |e| {
            matches!(e, Error::WrongType { .. })
        }),
        (Document::new().with("id", "b").with("title", 5u64), |e| {
            matches!(e, Error::WrongType { .. })
        }),
        (
            Document::new().with("id", "b").with("price", f64::NAN),
            |e| matches!(e, Error::WrongType { .. }),
        ),
        (
            Document::new().with("id", 1.5).with("title", "float id"),
            |e| matches!(e, Error::WrongType { .. }),
        ),
        (
            Document::new()
                .with("id", "b")
                .with("tag", Value::List(vec![Value::List(vec![])])),
            |e| matches!(e, Error::WrongType { .. }),
        ),
    ];
    for (doc, check) in cases {
        let err = index.upsert(doc.clone()).unwrap_err();
        assert!(check(&err), "{doc:?} gave {err}");
    }
    // one bad document in a batch: nothing written
    let err = index
        .upsert_many([
            Document::new().with("id", "ok").with("title", "fine"),
            Document::new().with("id", "bad").with("nope", 1u64),
        ])
        .unwrap_err();
    assert!(matches!(err, Error::UnknownField(_)));
    assert_eq!(index.get("ok").unwrap(), None);
    index.refresh().unwrap();
    assert_eq!(index.stats().upserts, before.upserts);
    assert_eq!(index.stats().docs, before.docs);
    // integer ids are accepted
    index
        .upsert(Document::new().with("id", 42u64).with("title", "numbered"))
        .unwrap();
    assert!(index.get("42").unwrap().is_some());
}

#[test]
fn bad_queries_get_typed_errors() {
    let index = products();
    for q in [r#"say "hello"#, "title:", "likes:>lots", "likes:abc"] {
        let err = index.search(q).unwrap_err();
        assert!(
            matches!(err, Error::QuerySyntax { .. } | Error::WrongType { .. }),
            "{q}: {err}"
        );
    }
    assert!(matches!(
        index.search(SearchRequest::new(Query::term("nope", "x"))),
        Err(Error::UnknownField(_))
    ));
    // the same from a query string naming a field the schema lacks
    assert!(matches!(
        index.search("ANDlikes:>0"),
        Err(Error::UnknownField(f)) if f == "ANDlikes"
    ));
    assert!(matches!(
        index.search(SearchRequest::new(Query::term("body", "x"))),
        Err(Error::FieldUsage { .. })
    ));
    assert!(matches!(
        index.search(SearchRequest::new(Query::range("likes", 1.5..2.5))),
        Err(Error::WrongType { .. })
    ));
    assert!(matches!(
        index.search(SearchRequest::new("x").highlight("likes")),
        Err(Error::FieldUsage { .. })
    ));
    // unknown `field:` in user text is text, not an error
    assert_eq!(ids(&index.search("colour:jacket").unwrap()), ["4"]);
}

#[test]
fn reopen_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = SearchIndex::builder(product_schema())
            .path(dir.path())
            .build()
            .unwrap();
        index
            .upsert(
                Document::new()
                    .with("id", "a")
                    .with("title", "Persistent lantern"),
            )
            .unwrap();
        index
            .upsert(
                Document::new()
                    .with("id", "b")
                    .with("title", "Forgotten until drop"),
            )
            .unwrap();
        index.commit().unwrap();
        index.delete("a").unwrap();
        index
            .upsert(
                Document::new()
                    .with("id", "c")
                    .with("title", "Lantern batteries"),
            )
            .unwrap();
        // pending writes are committed when the last handle goes
    }
    let index = SearchIndex::builder(product_schema())
        .path(dir.path())
        .build()
        .unwrap();
    assert_eq!(index.stats().docs, 2);
    assert_eq!(index.get("a").unwrap(), None);
    assert_eq!(ids(&index.search("lanterns").unwrap()), ["c"]);
    assert_eq!(
        index.get("b").unwrap().unwrap().get_str("title"),
        Some("Forgotten until drop")
    );
    // a document committed before the reopen is replaced, not duplicated
    index
        .upsert(
            Document::new()
                .with("id", "b")
                .with("title", "Remembered lantern"),
        )
        .unwrap();
    index.refresh().unwrap();
    assert_eq!(index.stats().docs, 2);
    assert_eq!(index.search("forgotten").unwrap().total, 0);
    drop(index);
    // another schema is refused
    let other = Schema::builder().id("id").text("x").build().unwrap();
    assert!(matches!(
        SearchIndex::builder(other).path(dir.path()).build(),
        Err(Error::SchemaMismatch(_))
    ));
}

#[test]
fn other_analyzers() {
    use ember_search::{Analyzer, Language};
    let schema = Schema::builder()
        .id("id")
        .text_with(
            "fr",
            TextField::new().analyzer(Analyzer::language(Language::French)),
        )
        .text_with("code", TextField::new().analyzer(Analyzer::raw()))
        .text_with("plain", TextField::new().analyzer(Analyzer::simple()))
        .build()
        .unwrap();
    let index = SearchIndex::builder(schema).build().unwrap();
    index
        .upsert(
            Document::new()
                .with("id", "1")
                .with("fr", "Les chanteuses célèbres")
                .with("code", "AB-12 x")
                .with("plain", "The running man"),
        )
        .unwrap();
    index.refresh().unwrap();
    assert_eq!(index.search("chanteuse").unwrap().total, 1);
    assert_eq!(
        index
            .search(Query::text_in(&["code"], "AB-12 x"))
            .unwrap()
            .total,
        1
    );
    assert_eq!(
        index
            .search(Query::text_in(&["code"], "ab-12 x"))
            .unwrap()
            .total,
        0
    );
    // simple: no stemming, stopwords kept
    assert_eq!(
        index
            .search(Query::text_in(&["plain"], "the"))
            .unwrap()
            .total,
        1
    );
    assert_eq!(
        index
            .search(Query::text_in(&["plain"], "runs"))
            .unwrap()
            .total,
        0
    );
}

#[test]
fn stats_report_the_index() {
    let index = products();
    index.search("running").unwrap();
    let s = index.stats();
    assert_eq!(s.docs, 8);
    assert_eq!(s.upserts, 8);
    assert_eq!(s.queries, 1);
    assert!(s.segments >= 1);
    assert!(s.size_bytes > 0);
    assert_eq!(s.commits, 1);
    assert_eq!(s.pending, 0);
    let line = s.to_string();
    assert!(line.starts_with("docs=8 pending=0 segments="), "{line}");
}

#[test]
fn builder_rejects_bad_settings() {
    use ember_search::{Ranking, TypoTolerance};
    let b = || SearchIndex::builder(product_schema());
    assert!(matches!(
        b().ranking(Ranking::default().b(1.5)).build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        b().ranking(Ranking::default().k1(-1.0)).build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        b().typo_tolerance(TypoTolerance::default().two_typos_penalty(2.0))
            .build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(b().max_segments(1).build(), Err(Error::Config(_))));
    assert!(matches!(
        b().writer_memory(1000).build(),
        Err(Error::Config(_))
    ));
    assert!(b().commit_policy(CommitPolicy::manual()).build().is_ok());
}

#[test]
fn word_plans_follow_refreshes() {
    // a query word's plan (terms, typo expansions, weights) is reused between searches until the
    // next refresh: after one, new words, new documents and new weights are seen
    let schema = Schema::builder().id("id").text("title").build().unwrap();
    let index = SearchIndex::builder(schema)
        .commit_policy(CommitPolicy::manual())
        .build()
        .unwrap();
    let doc = |id: &str, title: &str| Document::new().with("id", id).with("title", title);
    index.upsert(doc("1", "zebra crossing")).unwrap();
    index.refresh().unwrap();
    let first = index.search("zebra").unwrap();
    assert_eq!(ids(&first), ["1"]);
    assert_eq!(index.search("zebras").unwrap().total, 1); // stem
    assert_eq!(index.search("zebar").unwrap().total, 1); // typo
    assert_eq!(index.search("giraffe").unwrap().total, 0);
    index.upsert(doc("2", "giraffe and zebra")).unwrap();
    index.upsert(doc("3", "zebra zebra zebra")).unwrap();
    // not refreshed: the same results
    assert_eq!(index.search("giraffe").unwrap().total, 0);
    assert_eq!(index.search("zebra").unwrap().total, 1);
    index.refresh().unwrap();
    assert_eq!(ids(&index.search("giraffe").unwrap()), ["2"]);
    let after = index.search("zebra").unwrap();
    assert_eq!(after.total, 3);
    assert_eq!(after.hits[0].id, "3");
    // the word's weight changed with its document frequency
    let one = after.hits.iter().find(|h| h.id == "1").unwrap();
    assert!(one.score < first.hits[0].score);
    assert_eq!(index.search("zebar").unwrap().total, 3);
    index.delete("1").unwrap();
    index.refresh().unwrap();
    assert_eq!(index.search("crossing").unwrap().total, 0);
}

/// A text field without stemming shares its analyzer's name with the words companion of a stemmed
/// field of the same language; it must keep its term frequencies whatever the field order.
#[test]
fn unstemmed_field_keeps_term_frequencies_beside_a_stemmed_one() {
    use ember_search::Analyzer;
    for title_first in [true, false] {
        let plain = TextField::new().analyzer(Analyzer::english().with_stemming(false));
        let b = Schema::builder().id("id");
        let b = if title_first {
            b.text_with("title", plain).text("body")
        } else {
            b.text("body").text_with("title", plain)
        };
        let index = SearchIndex::builder(b.build().unwrap())
            .commit_policy(CommitPolicy::manual())
            .build()
            .unwrap();
        for (id, title) in [
            ("repeated", "cell cell cell membrane tissue sample"),
            ("once", "cell tissue"),
        ] {
            index
                .upsert(
                    Document::new()
                        .with("id", id)
                        .with("title", title)
                        .with("body", "cells"),
                )
                .unwrap();
        }
        index.commit().unwrap();
        // BM25 with the word counted three times ranks the longer title first; counted once (the
        // words companion's analysis), the short title would win.
        let res = index.search("title:cell").unwrap();
        assert_eq!(
            ids(&res),
            ["repeated", "once"],
            "title first: {title_first}"
        );
    }
}

/// An index written by the previous version (session 2, whose words companion field held every word,
/// not only those stemming changes) reopens: same schema, and typo and prefix matching read a
/// companion holding every word as well as one holding fewer, also when new segments are added.
#[test]
fn index_written_by_the_previous_version_reopens() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/index-session2");
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    let schema = Schema::builder()
        .id("id")
        .text("title")
        .text("body")
        .build()
        .unwrap();
    let index = SearchIndex::builder(schema)
        .path(dir.path())
        .commit_policy(ember_search::CommitPolicy::manual())
        .build()
        .unwrap();
    assert_eq!(index.stats().docs, 5);
    let found = |q: &str, as_you_type: bool| -> Vec<String> {
        let res = index
            .search(ember_search::SearchRequest::new(q).as_you_type(as_you_type))
            .unwrap();
        let mut v: Vec<String> = res.hits.iter().map(|h| h.id.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(found("proteins", false), ["1", "2", "5"]);
    // a typo, and prefixes of words that stem to themselves and of words that do not
    assert_eq!(found("protien", false), ["1", "2", "5"]);
    assert_eq!(found("runn", true), ["3"]);
    assert_eq!(found("stud", true), ["1", "4"]);
    assert_eq!(found("inflammat", true), ["5"]);
    // a write after the upgrade goes to a new segment with the smaller companion field
    index
        .upsert(
            Document::new()
                .with("id", "6")
                .with("title", "Protein running study")
                .with("body", "Runners' inflammatory markers"),
        )
        .unwrap();
    index.refresh().unwrap();
    assert_eq!(found("protien", false), ["1", "2", "5", "6"]);
    assert_eq!(found("runn", true), ["3", "6"]);
    assert_eq!(found("stud", true), ["1", "4", "6"]);
    assert_eq!(found("inflammat", true), ["5", "6"]);
}
