//! Tour section of ember-search: full-text search over BEIR SciFact when the shared data is present,
//! else over a small built-in catalogue.

use std::io::BufRead;

use ember_search::{Document, Schema, SearchIndex, SearchRequest, TextField};

fn scifact() -> Option<Vec<Document>> {
    let dir = ember_core::data::find("ir/scifact")?;
    let file = std::fs::File::open(dir.join("corpus.jsonl")).ok()?;
    let mut docs = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let v: serde_json::Value = serde_json::from_str(&line.ok()?).ok()?;
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        docs.push(
            Document::new()
                .with("id", s("_id"))
                .with("title", s("title"))
                .with("text", s("text")),
        );
    }
    Some(docs)
}

fn catalogue() -> Vec<Document> {
    [
        (
            "1",
            "Trail running shoes",
            "Grippy soles for muddy trails and long runs.",
        ),
        (
            "2",
            "Waterproof hiking jacket",
            "Stays dry in heavy rain; packs into its pocket.",
        ),
        (
            "3",
            "Wool running socks",
            "Warm, breathable socks for winter runners.",
        ),
        (
            "4",
            "Rechargeable headlamp",
            "Bright beam for night running and camping.",
        ),
        (
            "5",
            "Ultralight tent",
            "A two-person tent for backpacking trips.",
        ),
    ]
    .into_iter()
    .map(|(id, title, text)| {
        Document::new()
            .with("id", id)
            .with("title", title)
            .with("text", text)
    })
    .collect()
}

fn first_hit(index: &SearchIndex, req: SearchRequest) -> ember_search::Result<String> {
    let res = index.search(req)?;
    Ok(match res.hits.first() {
        Some(h) => format!(
            "{} hits in {:?}; best {}: {}",
            res.total,
            res.took,
            h.id,
            h.highlights
                .first()
                .map(|s| s.marked("[", "]"))
                .unwrap_or_default()
        ),
        None => "no hits".to_string(),
    })
}

fn tour() -> ember_search::Result<()> {
    let (docs, name, queries) = match scifact() {
        Some(d) => (
            d,
            "BEIR SciFact abstracts",
            [
                "vitamin D deficiency increases the risk of cancer",
                "microbiome antibiotcs resistence", // two typos
                "mitochon",                         // as you type
            ],
        ),
        None => (
            catalogue(),
            "a built-in catalogue (SciFact not found)",
            ["running in the rain", "waterprof jakcet", "headl"],
        ),
    };
    let schema = Schema::builder()
        .id("id")
        .text_with("title", TextField::new())
        .text("text")
        .build()?;
    let index = SearchIndex::builder(schema).build()?;
    let n = docs.len();
    index.upsert_many(docs)?;
    index.refresh()?;
    println!("indexed {n} documents of {name}");
    println!(
        "  {:?}: {}",
        queries[0],
        first_hit(
            &index,
            SearchRequest::new(queries[0])
                .highlight("text")
                .snippet_chars(80)
        )?
    );
    println!(
        "  {:?} (typos): {}",
        queries[1],
        first_hit(
            &index,
            SearchRequest::new(queries[1])
                .highlight("text")
                .snippet_chars(80)
        )?
    );
    println!(
        "  {:?} (as you type): {}",
        queries[2],
        first_hit(
            &index,
            SearchRequest::new(queries[2])
                .as_you_type(true)
                .highlight("text")
                .snippet_chars(80)
        )?
    );
    println!("  stats: {}", index.stats());
    Ok(())
}

/// Runs this section.
pub fn run() {
    super::heading("ember-search");
    if let Err(e) = tour() {
        println!("search tour failed: {e}");
    }
}
