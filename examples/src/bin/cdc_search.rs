//! Change data capture into a search index (the DynamoDB Streams → Elasticsearch pattern).
//!
//! Product writes go to a store (the source of truth) and every change is appended to an ember-stream
//! topic keyed by product id (the change stream, in order per product). A consumer group applies the
//! changes to an ember-search index and commits its offsets after the index has them. Each change carries
//! the product's version: the indexer skips a change whose version it already has, so a change redelivered
//! after a crash is never applied twice, and a restarted consumer resumes from its committed offset
//! without missing anything.
//!
//! `cargo run --release -p ember-examples --no-default-features --features stream,search --bin cdc_search`

use std::time::Duration;

use ember_core::{MemoryStore, Store};
use ember_search::{CommitPolicy, Document, Query, Schema, SearchIndex, SearchRequest, TextField};
use ember_stream::{AutoOffsetReset, ConsumerGroup, GroupConsumer, Record, Topic};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Product {
    id: String,
    name: String,
    description: String,
    category: String,
    price: f64,
    version: u64,
}

/// One entry of the change stream.
#[derive(Debug, Serialize, Deserialize)]
enum Change {
    Upsert(Product),
    Delete { id: String, version: u64 },
}

/// The application's write path: the store first, then the change stream.
struct Catalogue {
    store: MemoryStore<String, Product>,
    changes: Topic,
    next_version: u64,
}

impl Catalogue {
    fn put(&mut self, mut p: Product) -> Result<(), Box<dyn std::error::Error>> {
        self.next_version += 1;
        p.version = self.next_version;
        self.store.put(&p.id, &p)?;
        self.changes
            .append(p.id.clone(), serde_json::to_string(&Change::Upsert(p))?)?;
        Ok(())
    }

    fn delete(&mut self, id: &str) -> Result<(), Box<dyn std::error::Error>> {
        self.next_version += 1;
        self.store.delete(&id.to_string())?;
        let change = Change::Delete {
            id: id.to_string(),
            version: self.next_version,
        };
        self.changes
            .append(id.to_string(), serde_json::to_string(&change)?)?;
        Ok(())
    }
}

/// The indexer: applies polled changes to the index, skipping versions it already has.
struct Indexer {
    index: SearchIndex,
    applied: u64,
    skipped: u64,
}

impl Indexer {
    fn indexed_version(&self, id: &str) -> Result<u64, ember_search::Error> {
        Ok(self
            .index
            .get(id)?
            .and_then(|d| d.get("version").and_then(ember_search::Value::as_u64))
            .unwrap_or(0))
    }

    fn apply(&mut self, records: &[Record]) -> Result<(), Box<dyn std::error::Error>> {
        for r in records {
            let change: Change = serde_json::from_str(r.value_str().unwrap_or("null"))?;
            match change {
                Change::Upsert(p) => {
                    if p.version <= self.indexed_version(&p.id)? {
                        self.skipped += 1;
                        continue;
                    }
                    self.index.upsert_serde(&p)?;
                }
                Change::Delete { id, version } => {
                    // a delete leaves a tombstone holding its version, so an older upsert redelivered later
                    // cannot resurrect the product
                    if version <= self.indexed_version(&id)? {
                        self.skipped += 1;
                        continue;
                    }
                    self.index.upsert(
                        Document::new()
                            .with("id", id.as_str())
                            .with("version", version)
                            .with("deleted", "true"),
                    )?;
                }
            }
            self.applied += 1;
        }
        Ok(())
    }

    /// Polls and applies until the stream is drained; commits offsets after each applied batch.
    fn drain(&mut self, member: &mut GroupConsumer) -> Result<usize, Box<dyn std::error::Error>> {
        let mut n = 0;
        loop {
            let batch = member.poll(64, Duration::from_millis(20))?;
            if batch.is_empty() {
                return Ok(n);
            }
            self.apply(&batch)?;
            member.commit()?;
            n += batch.len();
        }
    }
}

fn search(index: &SearchIndex, q: &str) -> Result<Vec<String>, ember_search::Error> {
    let res = index.search(
        SearchRequest::new(q)
            .filter(Query::bool().must_not(Query::term("deleted", "true")))
            .limit(5),
    )?;
    Ok(res
        .hits
        .iter()
        .map(|h| {
            format!(
                "{} {:?} ${}",
                h.id,
                h.doc.get_str("name").unwrap_or_default(),
                h.doc
                    .get("price")
                    .map(ToString::to_string)
                    .unwrap_or_default()
            )
        })
        .collect())
}

fn product(i: usize) -> Product {
    let kinds = ["rain jacket", "trail shoe", "wool sock", "headlamp", "tent"];
    let adjectives = ["waterproof", "ultralight", "warm", "bright", "roomy"];
    let k = i % kinds.len();
    Product {
        id: format!("p{i:03}"),
        name: format!("{} {} {i}", adjectives[(i / 5) % 5], kinds[k]),
        description: format!("A {} for every season.", kinds[k]),
        category: kinds[k]
            .split(' ')
            .next_back()
            .unwrap_or_default()
            .to_string(),
        price: 10.0 + (i % 17) as f64 * 5.0,
        version: 0,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let topic = Topic::builder("product-changes").partitions(3).build()?;
    let mut catalogue = Catalogue {
        store: MemoryStore::new(),
        changes: topic.clone(),
        next_version: 0,
    };
    let schema = Schema::builder()
        .id("id")
        .text_with("name", TextField::new().boost(2.0))
        .text("description")
        .keyword("category")
        .keyword("deleted")
        .f64("price")
        .u64("version")
        .build()?;
    let index = SearchIndex::builder(schema)
        .commit_policy(CommitPolicy::default().interval(Duration::from_millis(50)))
        .build()?;
    let group: ConsumerGroup = topic
        .consumer_group("search-indexer")
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .build()?;
    let mut indexer = Indexer {
        index: index.clone(),
        applied: 0,
        skipped: 0,
    };

    // 1. initial load
    for i in 0..100 {
        catalogue.put(product(i))?;
    }
    let mut member = group.join("indexer-1")?;
    let n = indexer.drain(&mut member)?;
    // searchable after the commit interval; no explicit refresh
    let seq = index.upsert(Document::new().with("id", "_probe").with("deleted", "true"))?;
    index.wait_visible(seq, Some(Duration::from_secs(5)));
    println!(
        "initial load: {n} changes applied; waterproof: {:?}",
        search(&index, "waterproof jacket")?
    );

    // 2. an update and a delete flow through the stream
    let mut p = product(0);
    p.name = "Stormproof rain jacket 0".into();
    p.price = 79.0;
    catalogue.put(p)?;
    catalogue.delete("p005")?;
    indexer.drain(&mut member)?;
    let seq = index.upsert(Document::new().with("id", "_probe").with("deleted", "true"))?;
    index.wait_visible(seq, Some(Duration::from_secs(5)));
    println!(
        "after update: stormproof -> {:?}",
        search(&index, "stormproof")?
    );
    println!(
        "after delete: p005 in results of \"{}\": {}",
        product(5).name,
        search(&index, &product(5).name)?
            .iter()
            .any(|h| h.starts_with("p005"))
    );
    println!("freshness (oldest write -> searchable): {}", index.stats());

    // 3. crash after applying but before committing: the batch is redelivered, versions make it a no-op
    for i in 10..15 {
        let mut p = product(i);
        p.price += 1.0;
        catalogue.put(p)?;
    }
    let batch = member.poll(64, Duration::from_millis(20))?;
    indexer.apply(&batch)?;
    drop(member); // leaves the group without committing
    println!(
        "crash after applying {} changes, before committing offsets",
        batch.len()
    );

    // 4. crash before applying: polled, never applied, not committed
    let mut member = group.join("indexer-2")?;
    for i in 20..23 {
        let mut p = product(i);
        p.name = format!("Refurbished {}", p.name);
        catalogue.put(p)?;
    }
    let lost = member.poll(64, Duration::from_millis(20))?;
    println!(
        "indexer-2 polled {} records (the uncommitted ones and 3 new), then crashed before applying them",
        lost.len()
    );
    drop(member);

    // 5. restart: resume from the committed offsets
    let mut member = group.join("indexer-3")?;
    let before = (indexer.applied, indexer.skipped);
    let n = indexer.drain(&mut member)?;
    index.refresh()?;
    println!(
        "restarted: {n} records redelivered from the committed offsets, {} applied, {} skipped as already applied",
        indexer.applied - before.0,
        indexer.skipped - before.1
    );

    // the index now agrees with the store, product by product
    let mut agree = 0;
    let mut disagree = 0;
    for i in 0..100 {
        let id = format!("p{i:03}");
        let in_store = catalogue.store.get(&id)?;
        let doc = index.get(&id)?.filter(|d| d.get_str("deleted").is_none());
        let in_index: Option<Product> = doc.map(|d| d.to_serde()).transpose()?;
        if in_store == in_index {
            agree += 1;
        } else {
            disagree += 1;
        }
    }
    println!(
        "store vs index: {agree} products agree, {disagree} differ; changes appended {}, applied {}, skipped duplicates {}",
        catalogue.next_version, indexer.applied, indexer.skipped
    );
    println!("refurbished: {:?}", search(&index, "refurbished")?);
    println!("group: {}", group.stats());
    assert_eq!(disagree, 0);
    assert_eq!(indexer.applied, catalogue.next_version);
    Ok(())
}
