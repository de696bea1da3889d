//! Product search: a generated catalogue searched the way a shop's search box is used — with typos,
//! as-you-type prefixes, filters, facets and "most liked first".
//!
//! `cargo run --release -p ember-examples --no-default-features --features search --bin product_search`

use ember_search::{
    Document, Order, Query, Schema, SearchIndex, SearchRequest, SearchResults, TextField,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const BRANDS: [&str; 6] = [
    "Northpeak",
    "Riverstone",
    "Altitude",
    "Kestrel",
    "Bluefin",
    "Ember",
];
const KINDS: [(&str, &str, &[&str]); 6] = [
    (
        "shoes",
        "running shoes",
        &["trail", "road", "waterproof", "lightweight", "cushioned"],
    ),
    (
        "jackets",
        "jacket",
        &["waterproof", "insulated", "windproof", "packable", "hooded"],
    ),
    (
        "backpacks",
        "backpack",
        &["hiking", "daypack", "waterproof", "ultralight", "travel"],
    ),
    (
        "tents",
        "tent",
        &[
            "two-person",
            "four-season",
            "ultralight",
            "family",
            "backpacking",
        ],
    ),
    (
        "socks",
        "socks",
        &["wool", "running", "hiking", "compression", "cushioned"],
    ),
    (
        "lamps",
        "headlamp",
        &[
            "rechargeable",
            "waterproof",
            "bright",
            "compact",
            "red-light",
        ],
    ),
];

fn catalogue(n: usize) -> Vec<Document> {
    let mut rng = SmallRng::seed_from_u64(2024);
    (0..n)
        .map(|i| {
            let (category, noun, adjectives) = KINDS[rng.random_range(0..KINDS.len())];
            let brand = BRANDS[rng.random_range(0..BRANDS.len())];
            let a = adjectives[rng.random_range(0..adjectives.len())];
            let b = adjectives[rng.random_range(0..adjectives.len())];
            let name = format!("{brand} {a} {noun}");
            let description = format!(
                "A {b} {noun} by {brand}, made for {} adventures. {}",
                ["mountain", "city", "weekend", "winter", "summer"][rng.random_range(0..5)],
                if rng.random_bool(0.3) {
                    "Customers love the fit."
                } else {
                    "Built to last."
                }
            );
            Document::new()
                .with("id", format!("p{i:04}"))
                .with("name", name)
                .with("description", description)
                .with("brand", brand)
                .with("category", category)
                .with("price", (rng.random_range(1500..30000) as f64) / 100.0)
                .with("likes", rng.random_range(0..5000u64))
        })
        .collect()
}

fn show(title: &str, res: &SearchResults) {
    println!("\n{title}: {} matching, {:?}", res.total, res.took);
    for h in &res.hits {
        let name = h
            .highlights
            .first()
            .map(|hl| hl.marked("[", "]"))
            .unwrap_or_else(|| h.doc.get_str("name").unwrap_or_default().to_string());
        println!(
            "  {:>5}  {:<48} {:>8} likes={:<5} score={:.2}",
            h.id,
            name,
            h.doc
                .get("price")
                .map(|p| format!("${p}"))
                .unwrap_or_default(),
            h.doc
                .get("likes")
                .map(ToString::to_string)
                .unwrap_or_default(),
            h.score
        );
    }
    for (field, counts) in &res.facets {
        let shown: Vec<String> = counts.iter().map(|(v, n)| format!("{v} ({n})")).collect();
        println!("  facet {field}: {}", shown.join(", "));
    }
}

fn main() -> ember_search::Result<()> {
    let schema = Schema::builder()
        .id("id")
        .text_with("name", TextField::new().boost(2.0))
        .text("description")
        .keyword("brand")
        .keyword("category")
        .f64("price")
        .u64("likes")
        .build()?;
    let index = SearchIndex::builder(schema).build()?;
    let docs = catalogue(2000);
    index.upsert_many(docs)?;
    index.refresh()?;
    println!("catalogue: {}", index.stats());

    // a typo: "waterprof jakcet" still finds waterproof jackets, exact matches first
    let res = index.search(
        SearchRequest::new("waterprof jakcet")
            .highlight("name")
            .facet("category")
            .limit(5),
    )?;
    show("\"waterprof jakcet\" (two typos forgiven)", &res);

    // search as you type: each keystroke of "headl"
    for typed in ["he", "hea", "head", "headl"] {
        let res = index.search(
            SearchRequest::new(typed)
                .as_you_type(true)
                .highlight("name")
                .limit(3),
        )?;
        show(&format!("as you type {typed:?}"), &res);
    }

    // filters and "most liked first": ultralight gear under $100 from two brands
    let res = index.search(
        SearchRequest::new("ultralight")
            .filter(Query::range("price", ..100.0))
            .filter(Query::any_of("brand", ["Kestrel", "Northpeak"]))
            .sort_by("likes", Order::Desc)
            .highlight("name")
            .facet("brand")
            .limit(5),
    )?;
    show(
        "ultralight, price < $100, Kestrel or Northpeak, most liked first",
        &res,
    );

    // the query-string syntax: required, excluded, field and range clauses
    let res = index.search(
        SearchRequest::new(r#"+category:socks "running socks" -compression +likes:>=1000"#)
            .highlight("name")
            .limit(5),
    )?;
    show(
        "+category:socks \"running socks\" -compression +likes:>=1000",
        &res,
    );

    // a price drop and a discontinued product show up after the next refresh
    index.upsert(
        Document::new()
            .with("id", "p0000")
            .with("name", "Ember glacier jacket")
            .with("description", "Limited edition waterproof jacket.")
            .with("brand", "Ember")
            .with("category", "jackets")
            .with("price", 99.0)
            .with("likes", 9999u64),
    )?;
    index.delete("p0001")?;
    index.refresh()?;
    let res = index.search(SearchRequest::new("glacier").highlight("name"))?;
    show("after an update: \"glacier\"", &res);
    println!("\n{}", index.stats());
    Ok(())
}
