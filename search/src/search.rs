//! Search requests and results.
//!
//! ```
//! use ember_search::{Document, Order, Query, Schema, SearchIndex, SearchRequest};
//! let schema = Schema::builder().id("id").text("title").keyword("tag").u64("likes").build().unwrap();
//! let index = SearchIndex::builder(schema).build().unwrap();
//! for (id, title, tag, likes) in [("1", "Running shoes", "shoe", 5u64), ("2", "Runner's guide", "book", 9), ("3", "Trail shoes", "shoe", 1)] {
//!     index.upsert(Document::new().with("id", id).with("title", title).with("tag", tag).with("likes", likes)).unwrap();
//! }
//! index.refresh().unwrap();
//!
//! let res = index.search(
//!     SearchRequest::new("shoes")
//!         .filter(Query::term("tag", "shoe"))
//!         .sort_by("likes", Order::Desc)
//!         .facet("tag")
//!         .highlight("title")
//!         .limit(10),
//! ).unwrap();
//! assert_eq!(res.total, 2);
//! assert_eq!(res.hits[0].id, "1");
//! assert_eq!(res.hits[0].highlights[0].to_html(), "Running <em>shoes</em>");
//! assert_eq!(res.facets["tag"], vec![("shoe".to_string(), 2)]);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use crate::document::{Document, Value};
use crate::query::Query;

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Smallest first.
    Asc,
    /// Largest first.
    Desc,
}

/// What hits are ordered by.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Sort {
    /// Relevance, best first (the default).
    Score,
    /// A keyword, numeric or date field; documents without a value come last.
    Field {
        /// The field.
        name: String,
        /// The direction.
        order: Order,
    },
}

/// Where the previous page ended, for [`SearchRequest::search_after`]: the last hit's sort value and
/// address.
///
/// A cursor is exact while the index does not change. After a refresh, ties on the sort value may be
/// ordered differently (the address of a document changes when segments merge), as with
/// Elasticsearch's `search_after` without a tiebreaker field.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub(crate) key: SortKey,
    pub(crate) segment: u32,
    pub(crate) doc: u32,
}

/// A comparable sort value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SortKey {
    Score(f32),
    I64(Option<i64>),
    U64(Option<u64>),
    F64(Option<f64>),
    Str(Option<String>),
}

/// A search: the query plus filters, sort, paging, facets and highlights. A `&str` query is parsed as a
/// query string (see [`Query::parse`]) when the search runs.
#[derive(Debug, Clone)]
#[must_use]
pub struct SearchRequest {
    pub(crate) query: Query,
    pub(crate) filters: Vec<Query>,
    pub(crate) sort: Sort,
    pub(crate) offset: usize,
    pub(crate) limit: usize,
    pub(crate) after: Option<Cursor>,
    pub(crate) facets: Vec<String>,
    pub(crate) highlights: Vec<String>,
    pub(crate) snippet_chars: usize,
    pub(crate) typo_tolerance: Option<bool>,
    pub(crate) as_you_type: Option<bool>,
    pub(crate) with_docs: bool,
    pub(crate) track_total: bool,
}

impl SearchRequest {
    /// A request for `query`: the first 10 hits by relevance.
    pub fn new(query: impl Into<Query>) -> Self {
        SearchRequest {
            query: query.into(),
            filters: Vec::new(),
            sort: Sort::Score,
            offset: 0,
            limit: 10,
            after: None,
            facets: Vec::new(),
            highlights: Vec::new(),
            snippet_chars: 150,
            typo_tolerance: None,
            as_you_type: None,
            with_docs: true,
            track_total: true,
        }
    }

    /// Adds a filter: a required clause that does not change scores (a term, any-of or range query on a
    /// keyword, numeric or date field, or any query).
    pub fn filter(mut self, filter: impl Into<Query>) -> Self {
        self.filters.push(filter.into());
        self
    }

    /// Orders by a field instead of relevance.
    pub fn sort_by(mut self, field: &str, order: Order) -> Self {
        self.sort = Sort::Field {
            name: field.to_string(),
            order,
        };
        self
    }

    /// Orders by relevance (the default).
    pub fn sort_by_score(mut self) -> Self {
        self.sort = Sort::Score;
        self
    }

    /// Skips the first `offset` hits.
    pub fn offset(mut self, offset: usize) -> Self {
        self.offset = offset;
        self
    }

    /// Returns at most `limit` hits.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Returns the hits after `cursor` (the [`SearchResults::next`] of the previous page). Deep paging
    /// without the cost of a growing offset.
    pub fn search_after(mut self, cursor: Cursor) -> Self {
        self.after = Some(cursor);
        self
    }

    /// Counts the values of a keyword field over all matching documents.
    pub fn facet(mut self, field: &str) -> Self {
        self.facets.push(field.to_string());
        self
    }

    /// Returns a snippet of a text field with the matched words marked (typo and prefix matches too).
    pub fn highlight(mut self, field: &str) -> Self {
        self.highlights.push(field.to_string());
        self
    }

    /// The length of highlight snippets, in characters (default 150).
    pub fn snippet_chars(mut self, chars: usize) -> Self {
        self.snippet_chars = chars.max(1);
        self
    }

    /// Overrides the index's typo tolerance for this search.
    pub fn typo_tolerance(mut self, on: bool) -> Self {
        self.typo_tolerance = Some(on);
        self
    }

    /// Search as you type: the last word of a query string, when not followed by a space, also matches
    /// as a prefix. Overrides the index's setting.
    pub fn as_you_type(mut self, on: bool) -> Self {
        self.as_you_type = Some(on);
        self
    }

    /// Whether hits carry their stored document (default true; ids, scores and highlights are always
    /// returned).
    pub fn with_documents(mut self, on: bool) -> Self {
        self.with_docs = on;
        self
    }

    /// Whether [`SearchResults::total`] counts every matching document (default true), as
    /// Elasticsearch's `track_total_hits`.
    ///
    /// Off, a search by relevance skips the work only the count needs (the count pass, and on large
    /// segments documents that cannot reach the requested page), so it is faster; `total` is then a
    /// lower bound and [`SearchResults::total_is_exact`] is false. The hits are the same either way.
    /// Searches with facets, a field sort or a cursor always count exactly.
    ///
    /// ```
    /// use ember_search::{Document, Schema, SearchIndex, SearchRequest};
    /// let schema = Schema::builder().id("id").text("title").build().unwrap();
    /// let index = SearchIndex::builder(schema).build().unwrap();
    /// for (id, title) in [("1", "red shoes"), ("2", "red hat"), ("3", "blue shoes")] {
    ///     index.upsert(Document::new().with("id", id).with("title", title)).unwrap();
    /// }
    /// index.refresh().unwrap();
    /// let exact = index.search(SearchRequest::new("red shoes")).unwrap();
    /// assert_eq!((exact.total, exact.total_is_exact), (3, true));
    /// let fast = index.search(SearchRequest::new("red shoes").limit(1).track_total_hits(false)).unwrap();
    /// assert_eq!(fast.hits[0].id, exact.hits[0].id);
    /// assert!(fast.total >= 1 && fast.total <= 3);
    /// ```
    pub fn track_total_hits(mut self, on: bool) -> Self {
        self.track_total = on;
        self
    }
}

impl From<Query> for SearchRequest {
    fn from(q: Query) -> Self {
        SearchRequest::new(q)
    }
}

impl From<&str> for SearchRequest {
    fn from(q: &str) -> Self {
        SearchRequest::new(q)
    }
}

/// A text fragment with matched words marked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Highlight {
    /// The field.
    pub field: String,
    /// The fragment of the field's text.
    pub fragment: String,
    /// Byte ranges of `fragment` that matched.
    pub marks: Vec<Range<usize>>,
}

impl Highlight {
    /// The fragment with matches wrapped in `<em>…</em>`, and `&`, `<`, `>`, `"` escaped.
    #[must_use]
    pub fn to_html(&self) -> String {
        self.render("<em>", "</em>", true)
    }

    /// The fragment with matches wrapped in `open`/`close` (no escaping).
    #[must_use]
    pub fn marked(&self, open: &str, close: &str) -> String {
        self.render(open, close, false)
    }

    /// The matched words, as they appear in the text.
    pub fn matched(&self) -> impl Iterator<Item = &str> {
        self.marks.iter().map(|r| &self.fragment[r.clone()])
    }

    fn render(&self, open: &str, close: &str, escape: bool) -> String {
        let mut out = String::with_capacity(self.fragment.len() + 16);
        let mut at = 0;
        let push = |out: &mut String, s: &str| {
            if escape {
                for c in s.chars() {
                    match c {
                        '&' => out.push_str("&amp;"),
                        '<' => out.push_str("&lt;"),
                        '>' => out.push_str("&gt;"),
                        '"' => out.push_str("&quot;"),
                        c => out.push(c),
                    }
                }
            } else {
                out.push_str(s);
            }
        };
        for r in &self.marks {
            push(&mut out, &self.fragment[at..r.start]);
            out.push_str(open);
            push(&mut out, &self.fragment[r.clone()]);
            out.push_str(close);
            at = r.end;
        }
        push(&mut out, &self.fragment[at..]);
        out
    }
}

impl fmt::Display for Highlight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.marked("[", "]"))
    }
}

/// One result.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The document's id.
    pub id: String,
    /// Its relevance score (0 when only filters matched).
    pub score: f32,
    /// The value it was sorted by, for a field sort.
    pub sort_value: Option<Value>,
    /// The stored document (empty when [`SearchRequest::with_documents`] is off).
    pub doc: Document,
    /// Snippets of the requested fields, in request order (fields with no text are left out).
    pub highlights: Vec<Highlight>,
    /// Where this hit is, for [`SearchRequest::search_after`].
    pub cursor: Cursor,
}

/// What a search returns.
#[derive(Debug, Clone)]
pub struct SearchResults {
    /// The requested page of hits.
    pub hits: Vec<Hit>,
    /// How many documents match in total (before paging; after `search_after` when one is given). A
    /// lower bound when [`total_is_exact`](Self::total_is_exact) is false.
    pub total: u64,
    /// Whether `total` is the exact count (see [`SearchRequest::track_total_hits`]).
    pub total_is_exact: bool,
    /// Value counts per requested facet field, most frequent first (ties by value).
    pub facets: BTreeMap<String, Vec<(String, u64)>>,
    /// The cursor to pass to [`SearchRequest::search_after`] for the next page (`None` when this page
    /// was not full).
    pub next: Option<Cursor>,
    /// How long the search took, by the index's clock.
    pub took: Duration,
}
