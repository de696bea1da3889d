//! Integration tests of ember-search.

mod basics;
mod model;
mod nrt;
mod quality;
mod queries;

/// Proptest cases for a property: `default`, or `PROPTEST_CASES` when it is set, so a hunt for rare
/// inputs can run many more cases than CI does (an explicit `cases` in a config ignores the variable).
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

use ember_search::{Document, Schema, SearchIndex, TextField};

/// A small product catalogue: title (boost 2), body, tag keyword, likes, price, added date.
pub fn products() -> SearchIndex {
    let index = SearchIndex::builder(product_schema())
        .commit_policy(ember_search::CommitPolicy::manual())
        .build()
        .unwrap();
    let rows: [(&str, &str, &str, &str, u64, f64, i64); 8] = [
        (
            "1",
            "Trail running shoes",
            "Grippy shoes for muddy trails.",
            "shoes",
            120,
            89.0,
            1_000,
        ),
        (
            "2",
            "Road runner",
            "A light shoe for running on roads.",
            "shoes",
            300,
            120.0,
            2_000,
        ),
        (
            "3",
            "Running socks",
            "Socks that keep feet dry while running.",
            "socks",
            40,
            12.5,
            3_000,
        ),
        (
            "4",
            "Waterproof jacket",
            "Stay dry in the rain with this jacket.",
            "jackets",
            75,
            150.0,
            4_000,
        ),
        (
            "5",
            "Wool hiking socks",
            "Warm socks for the hiking season.",
            "socks",
            10,
            18.0,
            5_000,
        ),
        (
            "6",
            "The art of running",
            "A book about the joy of long runs.",
            "books",
            500,
            25.0,
            6_000,
        ),
        (
            "7",
            "Photography basics",
            "Learn photography with your camera.",
            "books",
            60,
            30.0,
            7_000,
        ),
        (
            "8",
            "Rain cover",
            "Covers a backpack when it rains.",
            "accessories",
            5,
            15.0,
            8_000,
        ),
    ];
    for (id, title, body, tag, likes, price, added) in rows {
        index
            .upsert(
                Document::new()
                    .with("id", id)
                    .with("title", title)
                    .with("body", body)
                    .with("tag", tag)
                    .with("likes", likes)
                    .with("price", price)
                    .with("added", ember_search::Value::Date(added)),
            )
            .unwrap();
    }
    index.refresh().unwrap();
    index
}

/// The schema of [`products`].
pub fn product_schema() -> Schema {
    Schema::builder()
        .id("id")
        .text_with("title", TextField::new().boost(2.0))
        .text("body")
        .keyword("tag")
        .u64("likes")
        .f64("price")
        .date("added")
        .stored("extra")
        .build()
        .unwrap()
}

/// The ids of the hits, in order.
pub fn ids(res: &ember_search::SearchResults) -> Vec<&str> {
    res.hits.iter().map(|h| h.id.as_str()).collect()
}
