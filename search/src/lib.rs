//! # ember-search
//!
//! Full-text search in your process, the way Elasticsearch or Meilisearch is used for product search,
//! "posts containing this keyword, most liked first" and autocomplete — built on
//! [tantivy](https://docs.rs/tantivy), with the parts that are hard to get right with tantivy alone done
//! for you:
//!
//! - **a schema** of text fields (analyzed, boosted), keyword, numeric, date and stored fields plus an
//!   id ([`Schema`]); in RAM by default, on disk with [`SearchIndexBuilder::path`] and reopened there;
//! - **analysis** per field: tokenizing, lowercasing, ASCII folding, English stemming and stopwords by
//!   default, other languages, or raw ([`Analyzer`]);
//! - **writes by id**: [`SearchIndex::upsert`] replaces, [`SearchIndex::delete`], real-time
//!   [`SearchIndex::get`], batches ([`WriteBatch`]), `serde` structs or field maps ([`Document`]) with
//!   typed errors for bad documents;
//! - **near-real-time visibility** without managing commits: a [`CommitPolicy`] (every N writes or
//!   every interval by the [`Clock`](ember_core::Clock)), [`SearchIndex::refresh`] for read-your-writes,
//!   [`SearchIndex::wait_visible`], the freshness delay in [`SearchStats`], and a guard against the
//!   segment pile-up that frequent small commits cause in tantivy;
//! - **queries**: a forgiving query-string syntax and a typed builder ([`Query`]), filters that do not
//!   change scores, sort by score or by a field, offset/limit and search-after, total hits
//!   ([`SearchRequest`]);
//! - **ranking**: BM25F over the text fields with tunable `k1`/`b` and field boosts ([`Ranking`]);
//! - **typo tolerance** as Meilisearch does it ([`TypoTolerance`]): allowed typos by word length,
//!   transpositions as one typo, exact matches above fuzzy ones, each fuzzy match scored by its own BM25
//!   weight, misspelled inflected words still finding their stem;
//! - **search as you type**: the last word matched as a prefix even on stemmed fields (`runnin` finds
//!   `running`, indexed as `run`);
//! - **highlights** that mark typo and prefix matches too, **facets**, and [`SearchIndex::stats`].
//!
//! ```
//! use ember_search::{Document, Order, Query, Schema, SearchIndex, SearchRequest, TextField};
//!
//! let schema = Schema::builder()
//!     .id("id")
//!     .text_with("title", TextField::new().boost(2.0))
//!     .text("body")
//!     .keyword("tag")
//!     .u64("likes")
//!     .build()?;
//! let index = SearchIndex::builder(schema).build()?;
//! index.upsert(Document::new().with("id", "1").with("title", "Running in the rain")
//!     .with("body", "Wet shoes and happy runners.").with("tag", "sport").with("likes", 12u64))?;
//! index.upsert(Document::new().with("id", "2").with("title", "Baking bread")
//!     .with("body", "A slow run to the bakery first.").with("tag", "food").with("likes", 40u64))?;
//! index.refresh()?; // or let the commit policy publish within 100 ms
//!
//! // stemming: "runs" finds "Running" and "run"; a typo is forgiven
//! let res = index.search("runs in the rian")?;
//! assert_eq!(res.total, 2);
//! assert_eq!(res.hits[0].id, "1"); // title match (boost 2) and more words
//!
//! // filters, "most liked first", highlights, facets
//! let res = index.search(SearchRequest::new("run").filter(Query::range("likes", 10u64..))
//!     .sort_by("likes", Order::Desc).highlight("body").facet("tag"))?;
//! assert_eq!(res.hits[0].id, "2");
//! assert_eq!(res.hits[0].highlights[0].to_html(), "A slow <em>run</em> to the bakery first.");
//! assert_eq!(res.facets["tag"].len(), 2);
//! # Ok::<(), ember_search::Error>(())
//! ```
//!
//! ## Semantics worth knowing
//! - A write is visible to [`SearchIndex::get`] at once and to searches after the next commit: within
//!   [`CommitPolicy::interval`] (100 ms by default) or at once after [`SearchIndex::refresh`].
//! - Text fields are scored together (BM25F): a word's frequency in each field is weighted by the
//!   field's boost and length-normalized per field, then saturated once. See [`scoring`].
//! - Query words are OR-ed (ranked by how many and how rare); `+word` requires, `-word` excludes.
//! - Scores with typos and prefixes: see [`scoring`] and [`typo`].
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]

pub mod analysis;
mod collect;
pub mod document;
mod error;
mod highlight;
mod index;
pub mod query;
pub mod schema;
pub mod scoring;
pub mod search;
pub mod typo;

pub use analysis::{Analyzer, Language};
pub use document::{Document, Value};
pub use error::{Error, Result};
pub use index::{CommitPolicy, SearchIndex, SearchIndexBuilder, SearchStats, WriteBatch, WriteSeq};
pub use query::{BoolBuilder, Query};
pub use schema::{FieldDef, FieldKind, Schema, SchemaBuilder, TextField};
pub use scoring::Ranking;
pub use search::{Cursor, Highlight, Hit, Order, SearchRequest, SearchResults, Sort};
pub use typo::TypoTolerance;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<SearchIndex>();
        check::<Query>();
        check::<SearchRequest>();
        check::<SearchResults>();
        check::<Error>();
        check::<WriteBatch>();
    }
}
