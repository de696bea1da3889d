//! Query strings from raw user text never panic; boolean logic behaves.

use ember_search::{Error, Query, SearchRequest};
use proptest::prelude::*;

use crate::{ids, products};

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::cases(64), .. ProptestConfig::default() })]

    #[test]
    fn any_user_text_parses_or_errors_but_never_panics(s in "\\PC{0,40}") {
        let _ = Query::parse(&s);
    }

    #[test]
    fn syntax_heavy_text_searches_without_panic(
        s in proptest::collection::vec(
            prop_oneof![
                Just("\"".to_string()), Just("+".to_string()), Just("-".to_string()),
                Just(":".to_string()), Just("*".to_string()), Just("~".to_string()),
                Just(" ".to_string()), Just("title:".to_string()), Just("likes:>".to_string()),
                Just("AND".to_string()), Just("(".to_string()), Just("é".to_string()),
                "[a-z]{1,8}".prop_map(|s| s), "[0-9]{1,3}".prop_map(|s| s),
            ],
            0..12,
        )
    ) {
        let index = products();
        let q = s.concat();
        match index.search(SearchRequest::new(q.as_str()).as_you_type(true).highlight("title")) {
            Ok(r) => prop_assert!(r.hits.len() as u64 <= r.total),
            // A word run into `likes:>` names a field the schema lacks ("ANDlikes:>0"): UnknownField.
            Err(e) => prop_assert!(
                matches!(
                    e,
                    Error::QuerySyntax { .. } | Error::WrongType { .. } | Error::UnknownField(_)
                ),
                "{q:?}: {e}"
            ),
        }
    }
}

/// The syntax proptest's input class, exhaustively for short inputs: every run of up to 4 of its
/// tokens (a word and a number standing for the generated ones), with and without as-you-type. A
/// rare draw of this class ("ANDlikes:>0") once failed CI; here no draw is needed.
#[test]
fn every_short_run_of_syntax_tokens_searches_or_fails_with_a_typed_error() {
    const TOKENS: [&str; 14] = [
        "\"", "+", "-", ":", "*", "~", " ", "title:", "likes:>", "AND", "(", "é", "ab", "7",
    ];
    let index = products();
    let mut runs: Vec<String> = vec![String::new()];
    let mut last: Vec<String> = vec![String::new()];
    for _ in 0..4 {
        last = last
            .iter()
            .flat_map(|q| TOKENS.iter().map(move |t| format!("{q}{t}")))
            .collect();
        runs.extend(last.iter().cloned());
    }
    assert_eq!(
        runs.len(),
        1 + 14 + 14 * 14 + 14 * 14 * 14 + 14 * 14 * 14 * 14
    );
    for q in &runs {
        for as_you_type in [true, false] {
            let request = SearchRequest::new(q.as_str())
                .as_you_type(as_you_type)
                .highlight("title");
            match index.search(request) {
                Ok(r) => assert!(r.hits.len() as u64 <= r.total, "{q:?}"),
                Err(e) => assert!(
                    matches!(
                        e,
                        Error::QuerySyntax { .. }
                            | Error::WrongType { .. }
                            | Error::UnknownField(_)
                    ),
                    "{q:?} (as you type: {as_you_type}): {e}"
                ),
            }
        }
    }
}

#[test]
fn must_should_must_not() {
    let index = products();
    assert_eq!(ids(&index.search("+socks +wool").unwrap()), ["5"]);
    let r = index.search("socks -wool").unwrap();
    assert_eq!(ids(&r), ["3"]);
    // OR ranks documents with more query words first
    let r = index.search("running socks").unwrap();
    assert_eq!(r.hits[0].id, "3");
    // only exclusions: everything else
    assert_eq!(index.search("-socks").unwrap().total, 6);
    // empty query: everything (score 0)
    assert_eq!(index.search("").unwrap().total, 8);
}

#[test]
fn typed_builder() {
    let index = products();
    let q = Query::bool()
        .must(Query::text("socks"))
        .must_not(Query::term("tag", "shoes"))
        .filter(Query::range("likes", 20u64..))
        .build();
    assert_eq!(ids(&index.search(q).unwrap()), ["3"]);
    let q = Query::bool()
        .should(Query::phrase("rain cover"))
        .should(Query::text_in(&["title"], "jacket").boost(3.0))
        .build();
    let r = index.search(q).unwrap();
    assert_eq!(ids(&r), ["4", "8"]);
    // both words, in any field: 1 (title) before 2 (body)
    assert_eq!(
        ids(&index.search(Query::all_words("running shoes")).unwrap()),
        ["1", "2"]
    );
    assert_eq!(ids(&index.search(Query::prefix("photo")).unwrap()), ["7"]);
    assert_eq!(index.search(Query::term("id", "3")).unwrap().total, 1);
    assert_eq!(index.search("id:3").unwrap().total, 1);
    assert_eq!(index.search("tag:sock*").unwrap().total, 2);
    assert_eq!(
        ids(&index.search(r#"title:"running shoes""#).unwrap()),
        ["1"]
    );
    assert_eq!(index.search(r#"body:"running shoes""#).unwrap().total, 0);
    assert_eq!(index.search(r#"+tag:"socks""#).unwrap().total, 2);
    // an unknown field before a quote is text
    assert_eq!(
        ids(&index.search(r#"colour:"waterproof jacket""#).unwrap()),
        ["4"]
    );
}

#[test]
fn field_boost_ranks_title_matches_first() {
    let index = products();
    // "jacket" is in the title and body of 4; "rain" is in the title of 8 and the body of 4
    let r = index.search("rain").unwrap();
    assert_eq!(r.hits[0].id, "8");
    let r = index.search(Query::text_in(&["body"], "rain")).unwrap();
    assert_eq!(r.hits[0].id, "4");
}
