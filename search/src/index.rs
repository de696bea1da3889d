//! [`SearchIndex`]: the index, its writes, its commit policy and its searches.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ember_core::clock::{Clock, SharedClock, Signal, SystemClock};
use ember_core::stats::{Snapshot, write_fields};
use parking_lot::Mutex;
use tantivy::directory::MmapDirectory;
use tantivy::fieldnorm::FieldNormReader;
use tantivy::index::SegmentId;
use tantivy::indexer::NoMergePolicy;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery, FuzzyTermQuery, Occur,
    PhraseQuery, Query as TQuery, RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{
    DateOptions, DateTimePrecision, FAST, Field, INDEXED, IndexRecordOption, JsonObjectOptions,
    NumericOptions, OwnedValue, STORED, STRING, Schema as TSchema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{
    DateTime, DocAddress, DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher,
    TERMINATED, TantivyDocument, Term,
};

use crate::analysis::{Analyzer, stem_word, tokens};
use crate::collect::{CollectMode, HitCollector, SortSpec};
use crate::document::{Document, Value};
use crate::error::{Error, Result};
use crate::highlight::snippet;
use crate::query::{Node, PrefixMode, parse};
use crate::schema::{FieldKind, Schema};
use crate::scoring::{
    Expansion, Ranking, ScoredField, WordPlan, WordsQuery, idf, osa_distance, prefix_distance,
};
use crate::search::{Hit, SearchRequest, SearchResults, Sort, SortKey};
use crate::typo::TypoTolerance;

/// When pending writes become visible without an explicit [`SearchIndex::refresh`].
///
/// Writes are committed (and the reader reloaded) when `every_docs` writes are pending or when the oldest
/// pending write is `interval` old by the index's clock, whichever comes first. The interval is enforced
/// by a background thread (waiting on the clock, so a `ManualClock` drives it in tests) and also checked
/// on every write.
///
/// ```
/// use std::time::Duration;
/// use ember_search::CommitPolicy;
/// let p = CommitPolicy::default().every_docs(500).interval(Duration::from_millis(50));
/// assert_eq!(p.get_interval(), Duration::from_millis(50));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitPolicy {
    every_docs: usize,
    interval: Duration,
    background: bool,
}

impl Default for CommitPolicy {
    /// Every 1 000 writes or 100 ms, with a background committer.
    fn default() -> Self {
        CommitPolicy {
            every_docs: 1000,
            interval: Duration::from_millis(100),
            background: true,
        }
    }
}

impl CommitPolicy {
    /// Only explicit [`SearchIndex::commit`]/[`SearchIndex::refresh`] make writes visible.
    #[must_use]
    pub fn manual() -> Self {
        CommitPolicy {
            every_docs: usize::MAX,
            interval: Duration::MAX,
            background: false,
        }
    }
    /// Commit once this many writes are pending (≥ 1).
    #[must_use]
    pub fn every_docs(mut self, n: usize) -> Self {
        self.every_docs = n.max(1);
        self
    }
    /// Commit once the oldest pending write is this old.
    #[must_use]
    pub fn interval(mut self, d: Duration) -> Self {
        self.interval = d;
        self
    }
    /// Whether a background thread enforces the interval (default true). Without it the interval is
    /// only checked when writing.
    #[must_use]
    pub fn background(mut self, on: bool) -> Self {
        self.background = on;
        self
    }
    /// The interval.
    #[must_use]
    pub fn get_interval(&self) -> Duration {
        self.interval
    }
}

/// A write's sequence number: pass it to [`SearchIndex::wait_visible`] to wait until that write can be
/// searched (Elasticsearch's `refresh=wait_for`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteSeq(pub u64);

/// A batch of writes applied together (one lock, one policy check): [`SearchIndex::apply`].
///
/// Documents are validated when added, so a bad one is reported at once and nothing of it is queued.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    ops: Vec<Op>,
}

#[derive(Debug, Clone)]
enum Op {
    /// A checked document and its id, converted to tantivy's form when applied (so that indexing
    /// threads start on a batch's first documents while the next are converted).
    Upsert(String, Document),
    Delete(String),
}

impl WriteBatch {
    /// An empty batch.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
    /// Number of writes queued.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ops.len()
    }
    /// Whether nothing is queued.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A snapshot of an index's counters ([`SearchIndex::stats`]).
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct SearchStats {
    /// Searchable documents.
    pub docs: u64,
    /// Writes not yet visible.
    pub pending: u64,
    /// Searchable segments.
    pub segments: u64,
    /// Size of the searchable index, bytes.
    pub size_bytes: u64,
    /// Commits done.
    pub commits: u64,
    /// Segment merges done by the pile-up guard.
    pub merges: u64,
    /// Documents upserted.
    pub upserts: u64,
    /// Documents deleted.
    pub deletes: u64,
    /// Searches run.
    pub queries: u64,
    /// Mean search latency, microseconds (by the index's clock).
    pub avg_query_micros: f64,
    /// Freshness delay of the last commit: from the oldest write it published to visible, microseconds.
    pub last_freshness_micros: u64,
    /// Mean freshness delay over all commits, microseconds.
    pub avg_freshness_micros: f64,
    /// Worst freshness delay seen, microseconds.
    pub max_freshness_micros: u64,
}

impl fmt::Display for SearchStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let avg_q = format!("{:.1}", self.avg_query_micros);
        let avg_f = format!("{:.1}", self.avg_freshness_micros);
        write_fields(
            f,
            &[
                ("docs", &self.docs),
                ("pending", &self.pending),
                ("segments", &self.segments),
                ("size_bytes", &self.size_bytes),
                ("commits", &self.commits),
                ("merges", &self.merges),
                ("upserts", &self.upserts),
                ("deletes", &self.deletes),
                ("queries", &self.queries),
                ("avg_query_us", &avg_q),
                ("last_freshness_us", &self.last_freshness_micros),
                ("avg_freshness_us", &avg_f),
                ("max_freshness_us", &self.max_freshness_micros),
            ],
        )
    }
}

impl Snapshot for SearchStats {}

/// Builds a [`SearchIndex`]: [`SearchIndex::builder`].
#[derive(Debug)]
#[must_use]
pub struct SearchIndexBuilder {
    schema: Schema,
    path: Option<PathBuf>,
    clock: SharedClock,
    ranking: Ranking,
    typos: TypoTolerance,
    as_you_type: bool,
    policy: CommitPolicy,
    max_segments: usize,
    writer_memory: usize,
    writer_threads: Option<usize>,
}

impl SearchIndexBuilder {
    /// Keeps the index in `dir` (created if needed) instead of RAM; an existing index there is reopened.
    pub fn path(mut self, dir: impl AsRef<Path>) -> Self {
        self.path = Some(dir.as_ref().to_path_buf());
        self
    }
    /// The clock for the commit interval, freshness and latency figures (default: system clock).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }
    /// A shared clock.
    pub fn shared_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }
    /// BM25 parameters (see [`Ranking`]).
    pub fn ranking(mut self, ranking: Ranking) -> Self {
        self.ranking = ranking;
        self
    }
    /// Typo tolerance (on by default, see [`TypoTolerance`]).
    pub fn typo_tolerance(mut self, typos: TypoTolerance) -> Self {
        self.typos = typos;
        self
    }
    /// Search as you type by default: the last word of a query string (not followed by a space) also
    /// matches as a prefix. Off by default; a request can override it.
    pub fn as_you_type(mut self, on: bool) -> Self {
        self.as_you_type = on;
        self
    }
    /// The automatic commit policy.
    pub fn commit_policy(mut self, policy: CommitPolicy) -> Self {
        self.policy = policy;
        self
    }
    /// After a commit, when there are more searchable segments than this, the smallest are merged before
    /// the commit returns, so that a stream of small commits cannot pile segments up (default 8, ≥ 2).
    pub fn max_segments(mut self, n: usize) -> Self {
        self.max_segments = n;
        self
    }
    /// The indexing memory budget in bytes (default 64 MB; tantivy needs at least 15 MB per thread).
    pub fn writer_memory(mut self, bytes: usize) -> Self {
        self.writer_memory = bytes;
        self
    }
    /// Indexing threads (default: tantivy's choice, one per core up to 8).
    pub fn writer_threads(mut self, n: usize) -> Self {
        self.writer_threads = Some(n);
        self
    }

    /// Creates (or reopens) the index.
    ///
    /// # Errors
    /// [`Error::Config`] for invalid settings, [`Error::SchemaMismatch`] when the directory holds an
    /// index with another schema, [`Error::Index`] when it cannot be opened (including another writer
    /// holding its lock).
    pub fn build(self) -> Result<SearchIndex> {
        self.ranking.validate().map_err(Error::Config)?;
        self.typos.validate().map_err(Error::Config)?;
        if self.max_segments < 2 {
            return Err(Error::Config("max_segments must be at least 2".into()));
        }
        let threads = self.writer_threads.unwrap_or(0);
        let per_thread_min = 15_000_000usize;
        if self.writer_memory < per_thread_min * threads.max(1) {
            return Err(Error::Config(format!(
                "writer_memory must be at least {} bytes for {} thread(s)",
                per_thread_min * threads.max(1),
                threads.max(1)
            )));
        }
        let (tschema, fields) = tantivy_schema(&self.schema);
        let index = match &self.path {
            None => Index::create_in_ram(tschema.clone()),
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                let mmap = MmapDirectory::open(dir)?;
                if Index::exists(&mmap).map_err(|e| Error::Index(e.into()))? {
                    let index = Index::open(mmap)?;
                    if index.schema() != tschema {
                        return Err(Error::SchemaMismatch(format!(
                            "the index in {} was created with another schema",
                            dir.display()
                        )));
                    }
                    index
                } else {
                    Index::create(mmap, tschema.clone(), tantivy::IndexSettings::default())?
                }
            }
        };
        crate::analysis::Analyzer::register_all(
            self.schema.fields.iter().filter_map(|f| match &f.kind {
                FieldKind::Text(t) => Some(&t.analyzer),
                _ => None,
            }),
            index.tokenizers(),
        );
        let writer: IndexWriter = match self.writer_threads {
            Some(n) => index.writer_with_num_threads(n, self.writer_memory)?,
            None => index.writer(self.writer_memory)?,
        };
        writer.set_merge_policy(Box::new(NoMergePolicy));
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let analyzers = fields
            .text
            .iter()
            .map(|t| (t.analyzer.build(), t.analyzer.words_analyzer().build()))
            .collect();
        let inner = Arc::new(Inner {
            schema: self.schema,
            fields,
            reader,
            writer: Mutex::new(WriterState {
                writer,
                ids_current: true,
                next_seq: 1,
                pending_ops: 0,
                oldest_pending: None,
            }),
            pending: Mutex::new(HashMap::new()),
            id_cache: Mutex::new(HashMap::new()),
            analyzers: Mutex::new(Vec::new()),
            analyzer_template: Mutex::new(analyzers),
            plans: Mutex::new(PlanCache::default()),
            clock: self.clock,
            ranking: self.ranking,
            typos: self.typos,
            as_you_type: self.as_you_type,
            policy: self.policy,
            max_segments: self.max_segments,
            signal: Signal::new(),
            visible: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            counters: Counters::default(),
        });
        let mut thread = None;
        if inner.policy.background && inner.policy.interval != Duration::MAX {
            let it = inner.clone();
            thread = Some(
                std::thread::Builder::new()
                    .name("ember-search-commit".into())
                    .spawn(move || committer(it))?,
            );
        }
        let life = Arc::new(Life {
            inner: inner.clone(),
            thread: Mutex::new(thread),
        });
        Ok(SearchIndex { inner, _life: life })
    }
}

/// The background committer: waits (on the clock) until the oldest pending write is `interval` old.
fn committer(inner: Arc<Inner>) {
    let (signal, clock) = (inner.signal.clone(), inner.clock.clone());
    loop {
        let seen = signal.epoch();
        let deadline = {
            if inner.closed.load(Ordering::SeqCst) {
                return;
            }
            let oldest = inner.writer.lock().oldest_pending;
            match oldest {
                Some(t) => {
                    let due = t.checked_add(inner.policy.interval);
                    match due {
                        Some(due) if clock.now() >= due => {
                            // errors are kept for the next explicit commit to report
                            let _ = inner.commit();
                            continue;
                        }
                        other => other,
                    }
                }
                None => None,
            }
        };
        signal.wait(&*clock, seen, deadline);
    }
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    merges: AtomicU64,
    upserts: AtomicU64,
    deletes: AtomicU64,
    queries: AtomicU64,
    query_nanos: AtomicU64,
    freshness_sum_nanos: AtomicU64,
    freshness_last_nanos: AtomicU64,
    freshness_max_nanos: AtomicU64,
}

struct WriterState {
    writer: IndexWriter,
    /// Whether the reader holds every committed document (false from the start of a commit until its
    /// reload succeeded): writes then skip deleting ids it has never seen.
    ids_current: bool,
    next_seq: u64,
    pending_ops: u64,
    oldest_pending: Option<Instant>,
}

pub(crate) struct TextInfo {
    pub name: String,
    pub field: Field,
    pub words: Option<Field>,
    pub boost: f32,
    pub analyzer: Analyzer,
}

pub(crate) struct Fields {
    id: Field,
    by_name: HashMap<String, (Field, FieldKind, Option<usize>)>,
    pub text: Vec<TextInfo>,
}

fn tantivy_schema(schema: &Schema) -> (TSchema, Fields) {
    let mut b = TSchema::builder();
    let id = b.add_text_field(&schema.id, STRING | STORED | FAST);
    let mut by_name = HashMap::new();
    let mut text = Vec::new();
    let mut words_fields: HashMap<String, Field> = HashMap::new();
    for f in &schema.fields {
        let (field, text_idx) = match &f.kind {
            FieldKind::Text(t) => {
                let indexing = TextFieldIndexing::default()
                    .set_tokenizer(&t.analyzer.name())
                    .set_index_option(if t.analyzer.is_tokenized() {
                        IndexRecordOption::WithFreqsAndPositions
                    } else {
                        IndexRecordOption::WithFreqs
                    });
                let mut opts = TextOptions::default().set_indexing_options(indexing);
                if t.stored {
                    opts = opts.set_stored();
                }
                let field = b.add_text_field(&f.name, opts);
                // one companion field per words analyzer, shared by the text fields using it
                let words = t.analyzer.is_tokenized().then(|| {
                    let name = t.analyzer.words_name();
                    *words_fields.entry(name.clone()).or_insert_with(|| {
                        let idx = TextFieldIndexing::default()
                            .set_tokenizer(&name)
                            .set_index_option(IndexRecordOption::Basic)
                            .set_fieldnorms(false);
                        b.add_text_field(
                            &format!("__words_{name}"),
                            TextOptions::default().set_indexing_options(idx),
                        )
                    })
                });
                text.push(TextInfo {
                    name: f.name.clone(),
                    field,
                    words,
                    boost: t.boost,
                    analyzer: t.analyzer,
                });
                (field, Some(text.len() - 1))
            }
            FieldKind::Keyword => (b.add_text_field(&f.name, STRING | STORED | FAST), None),
            FieldKind::I64 => (b.add_i64_field(&f.name, num_opts()), None),
            FieldKind::U64 => (b.add_u64_field(&f.name, num_opts()), None),
            FieldKind::F64 => (b.add_f64_field(&f.name, num_opts()), None),
            FieldKind::Date => (
                b.add_date_field(
                    &f.name,
                    DateOptions::from(INDEXED | STORED | FAST)
                        .set_precision(DateTimePrecision::Milliseconds),
                ),
                None,
            ),
            FieldKind::Stored => (
                b.add_json_field(&f.name, JsonObjectOptions::default().set_stored()),
                None,
            ),
        };
        by_name.insert(f.name.clone(), (field, f.kind.clone(), text_idx));
    }
    (b.build(), Fields { id, by_name, text })
}

fn num_opts() -> NumericOptions {
    NumericOptions::default()
        .set_indexed()
        .set_stored()
        .set_fast()
}

/// A segment's id column and its ids by ordinal.
type IdTable = (tantivy::columnar::StrColumn, Arc<Vec<String>>);

pub(crate) struct Inner {
    schema: Schema,
    fields: Fields,
    reader: IndexReader,
    writer: Mutex<WriterState>,
    /// Writes not yet visible, for real-time `get`: id → (seq, document or deleted).
    pending: Mutex<HashMap<String, (u64, Option<Document>)>>,
    /// Per segment: its ids by fast-column ordinal (hits' ids without reading stored documents).
    id_cache: Mutex<HashMap<SegmentId, IdTable>>,
    /// (analyzer, words analyzer) per text field, reused across searches.
    /// Idle sets of (analyzer, words analyzer) per text field, taken by a search and given back (a
    /// search with none idle clones one).
    analyzers: Mutex<Vec<Vec<(TextAnalyzer, TextAnalyzer)>>>,
    analyzer_template: Mutex<Vec<(TextAnalyzer, TextAnalyzer)>>,
    /// Query words' plans for the current searcher.
    plans: Mutex<PlanCache>,
    clock: SharedClock,
    ranking: Ranking,
    typos: TypoTolerance,
    as_you_type: bool,
    policy: CommitPolicy,
    max_segments: usize,
    signal: Signal,
    visible: AtomicU64,
    closed: AtomicBool,
    counters: Counters,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
        self.signal.notify_all();
        let st = self.writer.get_mut();
        if st.pending_ops > 0 {
            let _ = st.writer.commit();
        }
    }
}

/// A full-text search index on tantivy: see the [crate docs](crate).
///
/// Cloning gives another handle to the same index. All methods take `&self` and may be called from
/// many threads.
#[derive(Clone)]
pub struct SearchIndex {
    inner: Arc<Inner>,
    _life: Arc<Life>,
}

/// Shared by the user's handles only: when the last one goes, the committer is stopped and joined, so
/// the index (and its writer lock) is released before the drop returns.
struct Life {
    inner: Arc<Inner>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Life {
    fn drop(&mut self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.signal.notify_all();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

impl fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchIndex")
            .field("id", &self.inner.schema.id)
            .field("fields", &self.inner.schema.fields.len())
            .finish()
    }
}

impl SearchIndex {
    /// Starts building an index with `schema`: in RAM, English analysis, BM25 `k1 = 0.9`, `b = 0.4`,
    /// typo tolerance on, commits every 1 000 writes or 100 ms.
    pub fn builder(schema: Schema) -> SearchIndexBuilder {
        SearchIndexBuilder {
            schema,
            path: None,
            clock: Arc::new(SystemClock),
            ranking: Ranking::default(),
            typos: TypoTolerance::default(),
            as_you_type: false,
            policy: CommitPolicy::default(),
            max_segments: 8,
            writer_memory: 64_000_000,
            writer_threads: None,
        }
    }

    /// The schema.
    #[must_use]
    pub fn schema(&self) -> &Schema {
        &self.inner.schema
    }

    /// Inserts or replaces (by id) a document.
    ///
    /// The document is returned by [`get`](Self::get) at once and is searchable after the next commit
    /// (see [`CommitPolicy`]).
    ///
    /// # Errors
    /// [`Error::MissingId`], [`Error::UnknownField`], [`Error::WrongType`] for a bad document (nothing is
    /// written), [`Error::Index`] when the automatic commit this write triggered failed.
    pub fn upsert(&self, doc: Document) -> Result<WriteSeq> {
        let mut b = WriteBatch::new();
        self.batch_upsert(&mut b, doc)?;
        self.apply(b)
    }

    /// Upserts a `serde` struct (see [`Document::from_serde`]).
    ///
    /// # Errors
    /// As [`upsert`](Self::upsert), plus [`Error::Serde`].
    #[cfg(feature = "serde")]
    pub fn upsert_serde<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<WriteSeq> {
        self.upsert(Document::from_serde(value)?)
    }

    /// Upserts many documents as one batch: all are validated first, and if one is bad nothing is
    /// written.
    ///
    /// # Errors
    /// As [`upsert`](Self::upsert).
    pub fn upsert_many(&self, docs: impl IntoIterator<Item = Document>) -> Result<WriteSeq> {
        let mut b = WriteBatch::new();
        for d in docs {
            self.batch_upsert(&mut b, d)?;
        }
        self.apply(b)
    }

    /// Deletes a document by id (a no-op for an unknown id).
    ///
    /// # Errors
    /// [`Error::Index`] when the automatic commit this write triggered failed.
    pub fn delete(&self, id: &str) -> Result<WriteSeq> {
        let mut b = WriteBatch::new();
        b.ops.push(Op::Delete(id.to_string()));
        self.apply(b)
    }

    /// Validates `doc` and queues it in `batch`.
    ///
    /// # Errors
    /// [`Error::MissingId`], [`Error::UnknownField`], [`Error::WrongType`]: the batch is unchanged.
    pub fn batch_upsert(&self, batch: &mut WriteBatch, doc: Document) -> Result<()> {
        let id = self.inner.check(&doc)?;
        batch.ops.push(Op::Upsert(id, doc));
        Ok(())
    }

    /// Queues a delete in `batch`.
    pub fn batch_delete(&self, batch: &mut WriteBatch, id: &str) {
        batch.ops.push(Op::Delete(id.to_string()));
    }

    /// Applies a batch of writes in order; returns the sequence number of the last.
    ///
    /// # Errors
    /// [`Error::Closed`], or [`Error::Index`] when the automatic commit this write triggered failed (the
    /// writes themselves are kept and published by the next commit).
    pub fn apply(&self, batch: WriteBatch) -> Result<WriteSeq> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        let now = inner.clock.now();
        let mut st = inner.writer.lock();
        let converted = batch.ops.into_iter().map(|op| match op {
            Op::Upsert(id, doc) => (id, Some(doc)),
            Op::Delete(id) => (id, None),
        });
        let mut seq = st.next_seq - 1;
        let mut n = 0u64;
        {
            let mut pending = inner.pending.lock();
            // the committed documents (the reader is reloaded after every commit, under this lock)
            let committed = st.ids_current.then(|| inner.reader.searcher());
            for (id, op) in converted {
                // checked when queued: the conversion finds nothing wrong
                let tdoc = match &op {
                    Some(doc) => Some(inner.to_tantivy(doc)?.1),
                    None => None,
                };
                n += 1;
                seq = st.next_seq;
                st.next_seq += 1;
                // a write replaces any earlier document of its id; an id with no committed document and
                // no write since the last commit has none to replace, and tantivy's delete operations
                // are costly (each is run against every segment it may touch), so none is queued
                let term = Term::from_field_text(inner.fields.id, &id);
                let may_exist = pending.contains_key(&id)
                    || committed
                        .as_ref()
                        .is_none_or(|s| !matches!(s.doc_freq(&term), Ok(0)));
                if may_exist {
                    st.writer.delete_term(term);
                }
                match (op, tdoc) {
                    (Some(doc), Some(tdoc)) => {
                        st.writer.add_document(tdoc)?;
                        inner.counters.upserts.fetch_add(1, Ordering::Relaxed);
                        pending.insert(id, (seq, Some(doc)));
                    }
                    _ => {
                        inner.counters.deletes.fetch_add(1, Ordering::Relaxed);
                        pending.insert(id, (seq, None));
                    }
                }
            }
        }
        if n == 0 {
            return Ok(WriteSeq(seq));
        }
        st.pending_ops += n;
        if st.oldest_pending.is_none() {
            st.oldest_pending = Some(now);
            inner.signal.notify_all();
        }
        let due = st
            .oldest_pending
            .and_then(|t| t.checked_add(inner.policy.interval))
            .is_some_and(|due| now >= due);
        if st.pending_ops >= inner.policy.every_docs as u64 || due {
            inner.commit_locked(&mut st)?;
        }
        Ok(WriteSeq(seq))
    }

    /// Makes every write so far searchable and durable (on disk): tantivy commit plus reader reload.
    ///
    /// # Errors
    /// [`Error::Index`] when tantivy fails to commit (the writes stay pending).
    pub fn commit(&self) -> Result<()> {
        self.inner.commit()
    }

    /// Read-your-writes: the same as [`commit`](Self::commit) (Elasticsearch's `_refresh`).
    ///
    /// # Errors
    /// As [`commit`](Self::commit).
    pub fn refresh(&self) -> Result<()> {
        self.inner.commit()
    }

    /// The sequence number of the last write that is searchable.
    #[must_use]
    pub fn visible_seq(&self) -> WriteSeq {
        WriteSeq(self.inner.visible.load(Ordering::SeqCst))
    }

    /// Blocks until write `seq` is searchable (published by the commit policy or another thread's
    /// commit), or until `timeout` passes on the index's clock. Returns whether it is visible.
    pub fn wait_visible(&self, seq: WriteSeq, timeout: Option<Duration>) -> bool {
        let inner = &self.inner;
        let deadline = timeout.and_then(|t| inner.clock.now().checked_add(t));
        loop {
            let seen = inner.signal.epoch();
            if inner.visible.load(Ordering::SeqCst) >= seq.0 {
                return true;
            }
            if inner.closed.load(Ordering::SeqCst) {
                return false;
            }
            if inner.signal.wait(&*inner.clock, seen, deadline)
                == ember_core::clock::WaitOutcome::TimedOut
            {
                return inner.visible.load(Ordering::SeqCst) >= seq.0;
            }
        }
    }

    /// The document with this id, including writes not yet searchable (a real-time get).
    ///
    /// # Errors
    /// [`Error::Index`] when the stored document cannot be read.
    pub fn get(&self, id: &str) -> Result<Option<Document>> {
        if let Some((_, d)) = self.inner.pending.lock().get(id) {
            return Ok(d.clone());
        }
        let searcher = self.inner.reader.searcher();
        match self.inner.find(&searcher, id)? {
            Some(addr) => Ok(Some(self.inner.load(&searcher, addr)?)),
            None => Ok(None),
        }
    }

    /// [`get`](Self::get) into a `serde` struct.
    ///
    /// # Errors
    /// As [`get`](Self::get), plus [`Error::Serde`].
    #[cfg(feature = "serde")]
    pub fn get_serde<T: serde::de::DeserializeOwned>(&self, id: &str) -> Result<Option<T>> {
        self.get(id)?.map(|d| d.to_serde()).transpose()
    }

    /// Runs a search.
    ///
    /// # Errors
    /// [`Error::QuerySyntax`] for a query string that does not parse, [`Error::UnknownField`] and
    /// [`Error::FieldUsage`] for queries (`field:value` included), filters, sorts, facets or highlights
    /// on missing or unsuitable fields,
    /// [`Error::WrongType`] for a value of the wrong type, [`Error::Index`] on an index failure.
    pub fn search(&self, request: impl Into<SearchRequest>) -> Result<SearchResults> {
        let start = self.inner.clock.now();
        let r = self.inner.search(request.into(), start);
        let took = self.inner.clock.now().saturating_duration_since(start);
        let c = &self.inner.counters;
        c.queries.fetch_add(1, Ordering::Relaxed);
        c.query_nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        r.map(|mut res| {
            res.took = took;
            res
        })
    }

    /// The counters.
    #[must_use]
    pub fn stats(&self) -> SearchStats {
        let inner = &self.inner;
        let searcher = inner.reader.searcher();
        let c = &inner.counters;
        let commits = c.commits.load(Ordering::Relaxed);
        let queries = c.queries.load(Ordering::Relaxed);
        SearchStats {
            docs: searcher.num_docs(),
            pending: inner.writer.lock().pending_ops,
            segments: searcher.segment_readers().len() as u64,
            size_bytes: searcher
                .space_usage()
                .map(|s| s.total().get_bytes())
                .unwrap_or(0),
            commits,
            merges: c.merges.load(Ordering::Relaxed),
            upserts: c.upserts.load(Ordering::Relaxed),
            deletes: c.deletes.load(Ordering::Relaxed),
            queries,
            avg_query_micros: if queries == 0 {
                0.0
            } else {
                c.query_nanos.load(Ordering::Relaxed) as f64 / queries as f64 / 1000.0
            },
            last_freshness_micros: c.freshness_last_nanos.load(Ordering::Relaxed) / 1000,
            avg_freshness_micros: if commits == 0 {
                0.0
            } else {
                c.freshness_sum_nanos.load(Ordering::Relaxed) as f64 / commits as f64 / 1000.0
            },
            max_freshness_micros: c.freshness_max_nanos.load(Ordering::Relaxed) / 1000,
        }
    }

    /// Commits pending writes and stops the background committer. Later writes fail with
    /// [`Error::Closed`]; searches still work.
    ///
    /// # Errors
    /// As [`commit`](Self::commit).
    pub fn close(&self) -> Result<()> {
        let r = self.inner.commit();
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.signal.notify_all();
        r
    }
}

impl Inner {
    fn commit(&self) -> Result<()> {
        let mut st = self.writer.lock();
        self.commit_locked(&mut st)
    }

    fn commit_locked(&self, st: &mut WriterState) -> Result<()> {
        let committed_seq = st.next_seq - 1;
        let oldest = st.oldest_pending;
        st.ids_current = false;
        st.writer.commit()?;
        self.reader.reload()?;
        st.ids_current = true;
        st.pending_ops = 0;
        st.oldest_pending = None;
        self.pending.lock().retain(|_, (s, _)| *s > committed_seq);
        self.visible.fetch_max(committed_seq, Ordering::SeqCst);
        let c = &self.counters;
        c.commits.fetch_add(1, Ordering::Relaxed);
        if let Some(t) = oldest {
            let d = self.clock.now().saturating_duration_since(t).as_nanos() as u64;
            c.freshness_sum_nanos.fetch_add(d, Ordering::Relaxed);
            c.freshness_last_nanos.store(d, Ordering::Relaxed);
            c.freshness_max_nanos.fetch_max(d, Ordering::Relaxed);
        }
        self.guard_segments(st)?;
        self.signal.notify_all();
        Ok(())
    }

    /// The pile-up guard: merges the smallest segments when there are more than `max_segments`.
    fn guard_segments(&self, st: &mut WriterState) -> Result<()> {
        let searcher = self.reader.searcher();
        let mut segs: Vec<(u32, tantivy::index::SegmentId)> = searcher
            .segment_readers()
            .iter()
            .map(|s| (s.num_docs(), s.segment_id()))
            .collect();
        if segs.len() <= self.max_segments {
            return Ok(());
        }
        segs.sort_by_key(|(n, _)| *n);
        // merge enough of the smallest to come back to half the limit
        let take = segs.len() - self.max_segments / 2 + 1;
        let ids: Vec<_> = segs.iter().take(take).map(|(_, id)| *id).collect();
        st.writer.merge(&ids).wait()?;
        self.reader.reload()?;
        self.counters.merges.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Checks a document against the schema and builds the tantivy document.
    fn to_tantivy(&self, doc: &Document) -> Result<(String, TantivyDocument)> {
        let mut out = TantivyDocument::new();
        let id = self.convert(doc, Some(&mut out))?;
        Ok((id, out))
    }

    /// Checks a document against the schema and returns its id: what [`Inner::to_tantivy`] checks,
    /// without building the tantivy document.
    fn check(&self, doc: &Document) -> Result<String> {
        self.convert(doc, None)
    }

    /// Checks a document against the schema and, with `out`, fills the tantivy document; returns
    /// the id.
    fn convert(&self, doc: &Document, mut out: Option<&mut TantivyDocument>) -> Result<String> {
        let mut id = None;
        for (name, value) in doc.iter() {
            if name == self.schema.id {
                let s = match value {
                    Value::Text(s) => s.clone(),
                    Value::I64(v) => v.to_string(),
                    Value::U64(v) => v.to_string(),
                    other => {
                        return Err(Error::WrongType {
                            field: name.to_string(),
                            expected: "a string id",
                            found: other.type_name(),
                        });
                    }
                };
                id = Some(s);
                continue;
            }
            let (field, kind, _) = self
                .fields
                .by_name
                .get(name)
                .ok_or_else(|| Error::UnknownField(name.to_string()))?;
            let words = match kind {
                FieldKind::Text(_) => self
                    .fields
                    .text
                    .iter()
                    .find(|t| t.name == name)
                    .and_then(|t| t.words),
                _ => None,
            };
            add_value(out.as_deref_mut(), name, *field, kind, words, value, true)?;
        }
        let id = id
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::MissingId {
                field: self.schema.id.clone(),
            })?;
        if let Some(out) = out {
            out.add_text(self.fields.id, &id);
        }
        Ok(id)
    }

    fn find(&self, searcher: &Searcher, id: &str) -> Result<Option<DocAddress>> {
        let term = Term::from_field_text(self.fields.id, id);
        for (ord, seg) in searcher.segment_readers().iter().enumerate() {
            let inv = seg.inverted_index(self.fields.id)?;
            if let Some(mut p) = inv.read_postings(&term, IndexRecordOption::Basic)? {
                let mut doc = p.doc();
                while doc != TERMINATED {
                    if !seg.is_deleted(doc) {
                        return Ok(Some(DocAddress::new(ord as u32, doc)));
                    }
                    doc = p.advance();
                }
            }
        }
        Ok(None)
    }

    /// The ids of hits from the id's fast column, reading each dictionary block once per segment.
    fn ids_of(&self, searcher: &Searcher, page: &[crate::collect::Entry]) -> Result<Vec<String>> {
        let mut out = vec![String::new(); page.len()];
        let mut by_segment: HashMap<u32, Vec<(u64, usize)>> = HashMap::new();
        for (i, e) in page.iter().enumerate() {
            by_segment
                .entry(e.segment)
                .or_default()
                .push((u64::from(e.doc), i));
        }
        for (seg, docs) in by_segment {
            let reader = searcher.segment_reader(seg);
            // the segment's id column and its ids by ordinal, read once per segment (the dictionary
            // blocks are compressed)
            let cached = {
                let mut cache = self.id_cache.lock();
                if cache.len() > 4 * searcher.segment_readers().len() + 8 {
                    let live: HashSet<_> = searcher
                        .segment_readers()
                        .iter()
                        .map(|s| s.segment_id())
                        .collect();
                    cache.retain(|k, _| live.contains(k));
                }
                cache.get(&reader.segment_id()).cloned()
            };
            let (col, table) = match cached {
                Some(c) => c,
                None => {
                    let Some(col) = reader.fast_fields().str(&self.schema.id)? else {
                        continue;
                    };
                    let table = Arc::new(crate::collect::full_dictionary(&col).unwrap_or_default());
                    self.id_cache
                        .lock()
                        .insert(reader.segment_id(), (col.clone(), table.clone()));
                    (col, table)
                }
            };
            for (doc, i) in docs {
                if let Some(ord) = col.term_ords(doc as u32).next() {
                    if let Some(id) = table.get(ord as usize) {
                        out[i].clone_from(id);
                    }
                }
            }
        }
        Ok(out)
    }

    fn load(&self, searcher: &Searcher, addr: DocAddress) -> Result<Document> {
        let tdoc: TantivyDocument = searcher.doc(addr)?;
        let named = tantivy::Document::to_named_doc(&tdoc, searcher.schema());
        let mut doc = Document::new();
        for (name, values) in named.0 {
            if name == self.schema.id {
                if let Some(OwnedValue::Str(s)) = values.into_iter().next() {
                    doc.insert(&name, s);
                }
                continue;
            }
            let Some((_, kind, _)) = self.fields.by_name.get(&name) else {
                continue;
            };
            let multi = matches!(kind, FieldKind::Text(_) | FieldKind::Keyword) && values.len() > 1
                || values.len() > 1;
            let mut converted: Vec<Value> = values
                .into_iter()
                .filter_map(|v| from_owned(kind, v))
                .collect();
            if converted.is_empty() {
                continue;
            }
            let value = if multi {
                Value::List(converted)
            } else {
                converted.swap_remove(0)
            };
            doc.insert(&name, value);
        }
        Ok(doc)
    }

    fn search(&self, req: SearchRequest, _start: Instant) -> Result<SearchResults> {
        let idle = self.analyzers.lock().pop();
        let mut analyzers = match idle {
            Some(a) => a,
            None => self.analyzer_template.lock().clone(),
        };
        let r = self.search_with(req, &mut analyzers);
        let mut idle = self.analyzers.lock();
        if idle.len() < 8 {
            idle.push(analyzers);
        }
        r
    }

    fn search_with(
        &self,
        req: SearchRequest,
        analyzers: &mut Vec<(TextAnalyzer, TextAnalyzer)>,
    ) -> Result<SearchResults> {
        let searcher = self.reader.searcher();
        let mut c = Compiler {
            inner: self,
            searcher: &searcher,
            analyzers,
            typos: req.typo_tolerance.unwrap_or(self.typos.enabled),
            as_you_type: req.as_you_type.unwrap_or(self.as_you_type),
            highlight_terms: vec![HashSet::new(); self.fields.text.len()],
            avg_lens: None,
            norms: Vec::new(),
            segment_ids: None,
        };
        let main = c.compile(&req.query.node, true)?;
        let mut clauses: Vec<(Occur, Box<dyn TQuery>)> = vec![(Occur::Must, main)];
        for f in &req.filters {
            let q = c.compile(&f.node, false)?;
            clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(q, 0.0))));
        }
        let query: Box<dyn TQuery> = if clauses.len() == 1 {
            clauses
                .pop()
                .map(|(_, q)| q)
                .unwrap_or_else(|| Box::new(EmptyQuery))
        } else {
            Box::new(BooleanQuery::new(clauses))
        };
        let highlight_terms = std::mem::take(&mut c.highlight_terms);
        let sort = self.sort_spec(&req.sort)?;
        let mut facet_fields = Vec::new();
        for f in &req.facets {
            match self.fields.by_name.get(f) {
                Some((_, FieldKind::Keyword, _)) => facet_fields.push(f.clone()),
                Some(_) => {
                    return Err(Error::FieldUsage {
                        field: f.clone(),
                        usage: "facets (keyword fields only)",
                    });
                }
                None => return Err(Error::UnknownField(f.clone())),
            }
        }
        let mut hl_fields = Vec::new();
        for f in &req.highlights {
            match self.fields.by_name.get(f) {
                Some((_, FieldKind::Text(t), Some(i))) if t.stored => hl_fields.push(*i),
                Some(_) => {
                    return Err(Error::FieldUsage {
                        field: f.clone(),
                        usage: "highlighting (stored text fields only)",
                    });
                }
                None => return Err(Error::UnknownField(f.clone())),
            }
        }
        // a disjunction of words, by score, with nothing that needs every match: prune the top k
        let prunable = matches!(sort, SortSpec::Score)
            && facet_fields.is_empty()
            && req.after.is_none()
            && (*query).as_any().is::<WordsQuery>();
        let mode = if prunable {
            CollectMode::Pruned {
                count: req.track_total,
            }
        } else {
            CollectMode::Exhaustive
        };
        let collector = HitCollector {
            k: req.offset.saturating_add(req.limit),
            sort,
            after: req.after.clone(),
            facets: facet_fields.clone(),
            mode,
        };
        let harvest = searcher.search(&*query, &collector)?;
        let page: Vec<_> = harvest.top.into_iter().skip(req.offset).collect();
        let next = if page.len() == req.limit && req.limit > 0 {
            page.last().map(|e| e.cursor())
        } else {
            None
        };
        let ids = if req.with_docs || !hl_fields.is_empty() {
            Vec::new()
        } else {
            self.ids_of(&searcher, &page)?
        };
        let mut hits = Vec::with_capacity(page.len());
        for (i, e) in page.into_iter().enumerate() {
            let addr = DocAddress::new(e.segment, e.doc);
            // the stored document only when it is wanted: the id comes from its fast column
            let full = if req.with_docs || !hl_fields.is_empty() {
                self.load(&searcher, addr)?
            } else {
                Document::new()
            };
            let id = match full.get_str(&self.schema.id) {
                Some(id) => id.to_string(),
                None => ids.get(i).cloned().unwrap_or_default(),
            };
            let mut highlights = Vec::new();
            for &ti in &hl_fields {
                let t = &self.fields.text[ti];
                let text = match full.get(&t.name) {
                    Some(Value::Text(s)) => s.clone(),
                    Some(Value::List(items)) => items
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" … "),
                    _ => continue,
                };
                highlights.push(snippet(
                    &t.name,
                    &mut analyzers[ti].0,
                    &text,
                    &highlight_terms[ti],
                    req.snippet_chars,
                ));
            }
            let sort_value = match &e.key {
                SortKey::Score(_) => None,
                SortKey::I64(v) => v.map(Value::I64),
                SortKey::U64(v) => v.map(Value::U64),
                SortKey::F64(v) => v.map(Value::F64),
                SortKey::Str(v) => v.clone().map(Value::Text),
            };
            let sort_value = match (&req.sort, sort_value) {
                (Sort::Field { name, .. }, Some(Value::I64(v)))
                    if matches!(self.fields.by_name.get(name), Some((_, FieldKind::Date, _))) =>
                {
                    Some(Value::Date(v))
                }
                (_, v) => v,
            };
            hits.push(Hit {
                id,
                score: e.score,
                sort_value,
                doc: if req.with_docs { full } else { Document::new() },
                highlights,
                cursor: e.cursor(),
            });
        }
        let mut facets = BTreeMap::new();
        for (name, counts) in facet_fields.into_iter().zip(harvest.facets) {
            let mut v: Vec<(String, u64)> = counts.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            facets.insert(name, v);
        }
        Ok(SearchResults {
            hits,
            total: harvest.total,
            total_is_exact: mode != CollectMode::Pruned { count: false },
            facets,
            next,
            took: Duration::ZERO,
        })
    }

    fn sort_spec(&self, sort: &Sort) -> Result<SortSpec> {
        Ok(match sort {
            Sort::Score => SortSpec::Score,
            Sort::Field { name, order } => {
                let (_, kind, _) = self
                    .fields
                    .by_name
                    .get(name)
                    .ok_or_else(|| Error::UnknownField(name.clone()))?;
                let (n, o) = (name.clone(), *order);
                match kind {
                    FieldKind::I64 => SortSpec::I64(n, o),
                    FieldKind::U64 => SortSpec::U64(n, o),
                    FieldKind::F64 => SortSpec::F64(n, o),
                    FieldKind::Date => SortSpec::Date(n, o),
                    FieldKind::Keyword => SortSpec::Str(n, o),
                    _ => {
                        return Err(Error::FieldUsage {
                            field: name.clone(),
                            usage: "sorting (keyword, numeric and date fields only)",
                        });
                    }
                }
            }
        })
    }
}

/// Checks `value` against the field's kind and, with `out`, adds it to the tantivy document (without,
/// only checks: the same errors, nothing copied).
fn add_value(
    mut out: Option<&mut TantivyDocument>,
    name: &str,
    field: Field,
    kind: &FieldKind,
    words: Option<Field>,
    value: &Value,
    top: bool,
) -> Result<()> {
    let wrong = |v: &Value| Error::WrongType {
        field: name.to_string(),
        expected: kind.describe(),
        found: v.type_name(),
    };
    if let (FieldKind::Stored, true) = (kind, top) {
        if let Some(out) = out {
            let mut obj = BTreeMap::new();
            obj.insert("v".to_string(), to_owned(value));
            out.add_object(field, obj);
        }
        return Ok(());
    }
    if let Value::List(items) = value {
        if !top {
            return Err(wrong(value));
        }
        for v in items {
            add_value(out.as_deref_mut(), name, field, kind, words, v, false)?;
        }
        return Ok(());
    }
    match (kind, value) {
        (FieldKind::Text(_), Value::Text(s)) => {
            if let Some(out) = out {
                out.add_text(field, s);
                if let Some(w) = words {
                    out.add_text(w, s);
                }
            }
        }
        (FieldKind::Keyword, Value::Text(s)) => {
            if let Some(out) = out {
                out.add_text(field, s);
            }
        }
        (FieldKind::I64, v) => {
            let i = int_i64(v).ok_or_else(|| wrong(v))?;
            if let Some(out) = out {
                out.add_i64(field, i);
            }
        }
        (FieldKind::U64, v) => {
            let u = int_u64(v).ok_or_else(|| wrong(v))?;
            if let Some(out) = out {
                out.add_u64(field, u);
            }
        }
        (FieldKind::F64, v) => {
            let f = match v {
                Value::F64(f) if f.is_finite() => *f,
                Value::I64(i) => *i as f64,
                Value::U64(u) => *u as f64,
                _ => return Err(wrong(v)),
            };
            if let Some(out) = out {
                out.add_f64(field, f);
            }
        }
        (FieldKind::Date, v) => {
            let ms = int_i64(v).ok_or_else(|| wrong(v))?;
            if let Some(out) = out {
                out.add_date(field, DateTime::from_timestamp_millis(ms));
            }
        }
        (_, v) => return Err(wrong(v)),
    }
    Ok(())
}

fn int_i64(v: &Value) -> Option<i64> {
    match *v {
        Value::I64(i) | Value::Date(i) => Some(i),
        Value::U64(u) => i64::try_from(u).ok(),
        _ => None,
    }
}

fn int_u64(v: &Value) -> Option<u64> {
    match *v {
        Value::U64(u) => Some(u),
        Value::I64(i) => u64::try_from(i).ok(),
        _ => None,
    }
}

fn to_owned(v: &Value) -> OwnedValue {
    match v {
        Value::Text(s) => OwnedValue::Str(s.clone()),
        Value::I64(i) => OwnedValue::I64(*i),
        Value::U64(u) => OwnedValue::U64(*u),
        Value::F64(f) => OwnedValue::F64(*f),
        Value::Bool(b) => OwnedValue::Bool(*b),
        Value::Date(ms) => OwnedValue::Date(DateTime::from_timestamp_millis(*ms)),
        Value::List(items) => OwnedValue::Array(items.iter().map(to_owned).collect()),
        Value::Object(map) => {
            OwnedValue::Object(map.iter().map(|(k, v)| (k.clone(), to_owned(v))).collect())
        }
    }
}

fn from_owned_any(v: OwnedValue) -> Option<Value> {
    Some(match v {
        OwnedValue::Str(s) => Value::Text(s),
        OwnedValue::I64(i) => Value::I64(i),
        OwnedValue::U64(u) => Value::U64(u),
        OwnedValue::F64(f) => Value::F64(f),
        OwnedValue::Bool(b) => Value::Bool(b),
        OwnedValue::Date(d) => Value::Date(d.into_timestamp_millis()),
        OwnedValue::Array(items) => {
            Value::List(items.into_iter().filter_map(from_owned_any).collect())
        }
        OwnedValue::Object(map) => Value::Object(
            map.into_iter()
                .filter_map(|(k, v)| from_owned_any(v).map(|v| (k, v)))
                .collect(),
        ),
        _ => return None,
    })
}

fn from_owned(kind: &FieldKind, v: OwnedValue) -> Option<Value> {
    match (kind, v) {
        (FieldKind::Stored, OwnedValue::Object(map)) => map
            .into_iter()
            .find(|(k, _)| k == "v")
            .and_then(|(_, v)| from_owned_any(v)),
        (_, v) => from_owned_any(v),
    }
}

/// What a query word's plan depends on, besides the searcher.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct WordKey {
    surface: String,
    targets: Vec<usize>,
    typos: bool,
    prefix: bool,
}

/// A query word's plan and the terms it highlights.
struct CachedWord {
    plan: Option<Arc<WordPlan>>,
    highlights: Vec<(usize, String)>,
}

/// Plans of the query words seen since the last refresh: a plan (the word's analysis, typo and prefix
/// expansions, dictionary entries and weights) is valid for one searcher, so the cache empties when the
/// searcher changes. Bounded: emptied when full.
#[derive(Default)]
struct PlanCache {
    generation: u64,
    words: HashMap<WordKey, Arc<CachedWord>>,
}

/// Words kept per searcher.
const PLAN_CACHE_WORDS: usize = 10_000;

impl PlanCache {
    fn get(&self, generation: u64, key: &WordKey) -> Option<Arc<CachedWord>> {
        if generation != self.generation {
            return None;
        }
        self.words.get(key).cloned()
    }

    fn put(&mut self, generation: u64, key: WordKey, word: Arc<CachedWord>) {
        if generation != self.generation {
            if generation < self.generation {
                return; // a search on an older searcher: do not evict the current one's
            }
            self.generation = generation;
            self.words.clear();
        }
        if self.words.len() >= PLAN_CACHE_WORDS {
            self.words.clear();
        }
        self.words.insert(key, word);
    }
}

/// Compiles a query tree into tantivy queries, expanding words against the term dictionaries.
struct Compiler<'a> {
    inner: &'a Inner,
    searcher: &'a Searcher,
    analyzers: &'a mut Vec<(TextAnalyzer, TextAnalyzer)>,
    typos: bool,
    as_you_type: bool,
    /// Per text field: the terms the query matched, for highlighting.
    highlight_terms: Vec<HashSet<String>>,
    avg_lens: Option<Vec<f32>>,
    /// Per text field: its norm table for this search.
    norms: Vec<Option<Arc<[f32; 256]>>>,
    segment_ids: Option<Arc<[SegmentId]>>,
}

impl Compiler<'_> {
    fn compile(&mut self, node: &Node, scoring: bool) -> Result<Box<dyn TQuery>> {
        Ok(match node {
            Node::All => Box::new(ConstScoreQuery::new(Box::new(AllQuery), 0.0)),
            Node::Unparsed(s) => {
                let parsed = parse(s)?;
                self.compile(&parsed, scoring)?
            }
            Node::Words {
                text,
                fields,
                require_all,
                prefix,
                typos,
            } => {
                let targets = self.targets(fields.as_deref())?;
                self.words(text, &targets, *require_all, *prefix, *typos, scoring)?
            }
            Node::Phrase { text, fields, slop } => {
                let targets = self.targets(fields.as_deref())?;
                self.phrase(text, &targets, *slop, scoring)?
            }
            Node::FieldValue {
                field,
                value,
                prefix,
                quoted,
            } => {
                if field == &self.inner.schema.id {
                    return self.term_query(field, &Value::Text(value.clone()), scoring);
                }
                match self.inner.fields.by_name.get(field) {
                    None => {
                        // not a field: the user meant text ("ratio:3" or "note: ...")
                        let targets = self.targets(None)?;
                        let word =
                            self.words(field, &targets, false, PrefixMode::No, true, scoring)?;
                        let rest = match quoted {
                            Some(slop) => self.phrase(value, &targets, *slop, scoring)?,
                            None => {
                                self.words(value, &targets, false, PrefixMode::No, true, scoring)?
                            }
                        };
                        Box::new(BooleanQuery::new(vec![
                            (Occur::Should, word),
                            (Occur::Should, rest),
                        ]))
                    }
                    Some((_, FieldKind::Text(_), Some(i))) if quoted.is_some() => {
                        let i = *i;
                        self.phrase(value, &[i], quoted.unwrap_or(0), scoring)?
                    }
                    Some((_, FieldKind::Text(_), Some(i))) => {
                        let i = *i;
                        let mode = if *prefix {
                            PrefixMode::Always
                        } else {
                            PrefixMode::No
                        };
                        self.words(value, &[i], false, mode, !prefix, scoring)?
                    }
                    Some((f, FieldKind::Keyword, _)) if *prefix => {
                        let f = *f;
                        let q = Box::new(keyword_prefix(self.searcher, f, value)?);
                        Box::new(ConstScoreQuery::new(q, if scoring { 1.0 } else { 0.0 }))
                    }
                    Some((_, kind, _)) => {
                        let v = parse_value_for(kind, value).ok_or_else(|| Error::WrongType {
                            field: field.clone(),
                            expected: kind.describe(),
                            found: format!("{value:?}"),
                        })?;
                        self.term_query(field, &v, scoring)?
                    }
                }
            }
            Node::Term { field, value } => self.term_query(field, value, scoring)?,
            Node::AnyOf { field, values } => {
                let mut terms = Vec::with_capacity(values.len());
                for v in values {
                    terms.push(self.term_for(field, v)?);
                }
                Box::new(ConstScoreQuery::new(
                    Box::new(TermSetQuery::new(terms)),
                    if scoring { 1.0 } else { 0.0 },
                ))
            }
            Node::Range {
                field,
                lower,
                upper,
            } => {
                let (_, kind, _) = self.field(field)?;
                if !matches!(
                    kind,
                    FieldKind::I64
                        | FieldKind::U64
                        | FieldKind::F64
                        | FieldKind::Date
                        | FieldKind::Keyword
                ) {
                    return Err(Error::FieldUsage {
                        field: field.clone(),
                        usage: "range queries (numeric, date and keyword fields only)",
                    });
                }
                let lo = self.bound(field, lower)?;
                let hi = self.bound(field, upper)?;
                Box::new(ConstScoreQuery::new(
                    Box::new(RangeQuery::new(lo, hi)),
                    if scoring { 1.0 } else { 0.0 },
                ))
            }
            Node::Bool {
                must,
                should,
                must_not,
                filter,
            } => {
                let mut clauses: Vec<(Occur, Box<dyn TQuery>)> = Vec::new();
                for n in must {
                    clauses.push((Occur::Must, self.compile(n, scoring)?));
                }
                for n in should {
                    clauses.push((Occur::Should, self.compile(n, scoring)?));
                }
                if must.is_empty() && filter.is_empty() && must_not.is_empty() {
                    // a disjunction of words (a query string's plain terms): one query, so that
                    // top-k searches over it can be pruned
                    if let Some(q) = WordsQuery::merge(&clauses) {
                        return Ok(Box::new(q));
                    }
                }
                for n in filter {
                    let q = self.compile(n, false)?;
                    clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(q, 0.0))));
                }
                let positive = !clauses.is_empty();
                for n in must_not {
                    clauses.push((Occur::MustNot, self.compile_negative(n)?));
                }
                if !positive {
                    clauses.push((
                        Occur::Must,
                        Box::new(ConstScoreQuery::new(Box::new(AllQuery), 0.0)),
                    ));
                }
                if clauses.len() == 1 && clauses[0].0 != Occur::MustNot {
                    clauses
                        .pop()
                        .map(|(_, q)| q)
                        .unwrap_or_else(|| Box::new(EmptyQuery))
                } else {
                    Box::new(BooleanQuery::new(clauses))
                }
            }
            Node::Boost(inner, b) => Box::new(BoostQuery::new(self.compile(inner, scoring)?, *b)),
        })
    }

    /// A clause under `must_not`: its matches must not feed highlights.
    fn compile_negative(&mut self, node: &Node) -> Result<Box<dyn TQuery>> {
        let saved = self.highlight_terms.clone();
        let q = self.compile(node, false);
        self.highlight_terms = saved;
        q
    }

    fn field(&self, name: &str) -> Result<&(Field, FieldKind, Option<usize>)> {
        self.inner
            .fields
            .by_name
            .get(name)
            .ok_or_else(|| Error::UnknownField(name.to_string()))
    }

    fn targets(&self, fields: Option<&[String]>) -> Result<Vec<usize>> {
        match fields {
            None => Ok((0..self.inner.fields.text.len()).collect()),
            Some(names) => {
                let mut out = Vec::new();
                for n in names {
                    match self.field(n)? {
                        (_, FieldKind::Text(_), Some(i)) => out.push(*i),
                        _ => {
                            return Err(Error::FieldUsage {
                                field: n.clone(),
                                usage: "text search (text fields only)",
                            });
                        }
                    }
                }
                Ok(out)
            }
        }
    }

    fn term_for(&self, field: &str, value: &Value) -> Result<Term> {
        if field == self.inner.schema.id {
            let s = match value {
                Value::Text(s) => s.clone(),
                Value::I64(i) => i.to_string(),
                Value::U64(u) => u.to_string(),
                v => {
                    return Err(Error::WrongType {
                        field: field.to_string(),
                        expected: "a string id",
                        found: v.type_name(),
                    });
                }
            };
            return Ok(Term::from_field_text(self.inner.fields.id, &s));
        }
        let (f, kind, _) = self.field(field)?;
        let wrong = || Error::WrongType {
            field: field.to_string(),
            expected: kind.describe(),
            found: value.type_name(),
        };
        Ok(match kind {
            FieldKind::Keyword => Term::from_field_text(*f, value.as_str().ok_or_else(wrong)?),
            FieldKind::Text(_) => {
                return Err(Error::FieldUsage {
                    field: field.to_string(),
                    usage: "exact terms (use a text query for text fields)",
                });
            }
            FieldKind::I64 => Term::from_field_i64(*f, int_i64(value).ok_or_else(wrong)?),
            FieldKind::U64 => Term::from_field_u64(*f, int_u64(value).ok_or_else(wrong)?),
            FieldKind::F64 => Term::from_field_f64(*f, value.as_f64().ok_or_else(wrong)?),
            FieldKind::Date => Term::from_field_date(
                *f,
                DateTime::from_timestamp_millis(int_i64(value).ok_or_else(wrong)?),
            ),
            FieldKind::Stored => {
                return Err(Error::FieldUsage {
                    field: field.to_string(),
                    usage: "queries (stored-only field)",
                });
            }
        })
    }

    fn term_query(&self, field: &str, value: &Value, scoring: bool) -> Result<Box<dyn TQuery>> {
        let term = self.term_for(field, value)?;
        Ok(Box::new(ConstScoreQuery::new(
            Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
            if scoring { 1.0 } else { 0.0 },
        )))
    }

    fn bound(&self, field: &str, b: &Bound<Value>) -> Result<Bound<Term>> {
        let (_, kind, _) = self.field(field)?;
        let conv = |v: &Value| -> Result<Term> {
            // a float bound on an integer field: round so the comparison stays right
            let v = match (kind, v) {
                (FieldKind::I64 | FieldKind::Date | FieldKind::U64, Value::F64(x)) => {
                    return Err(Error::WrongType {
                        field: field.to_string(),
                        expected: kind.describe(),
                        found: format!("f64 {x}"),
                    });
                }
                (FieldKind::F64, v) => Value::F64(v.as_f64().unwrap_or(f64::NAN)),
                (FieldKind::U64, Value::I64(i)) if *i < 0 => Value::U64(0),
                (_, v) => v.clone(),
            };
            self.term_for(field, &v)
        };
        Ok(match b {
            Bound::Included(v) => Bound::Included(conv(v)?),
            Bound::Excluded(v) => Bound::Excluded(conv(v)?),
            Bound::Unbounded => Bound::Unbounded,
        })
    }

    fn avg_lens(&mut self) -> Result<Vec<f32>> {
        if let Some(a) = &self.avg_lens {
            return Ok(a.clone());
        }
        let mut out = Vec::with_capacity(self.inner.fields.text.len());
        let docs: u64 = self
            .searcher
            .segment_readers()
            .iter()
            .map(|s| u64::from(s.max_doc()))
            .sum();
        for t in &self.inner.fields.text {
            let mut tokens = 0u64;
            for s in self.searcher.segment_readers() {
                tokens += s.inverted_index(t.field)?.total_num_tokens();
            }
            out.push(if docs == 0 {
                1.0
            } else {
                (tokens as f32 / docs as f32).max(f32::MIN_POSITIVE)
            });
        }
        self.avg_lens = Some(out.clone());
        Ok(out)
    }

    fn words(
        &mut self,
        text: &str,
        targets: &[usize],
        require_all: bool,
        prefix: PrefixMode,
        typos: bool,
        scoring: bool,
    ) -> Result<Box<dyn TQuery>> {
        let tokenized: Vec<usize> = targets
            .iter()
            .copied()
            .filter(|&i| self.inner.fields.text[i].analyzer.is_tokenized())
            .collect();
        let mut clauses: Vec<(Occur, Box<dyn TQuery>)> = Vec::new();
        // raw-analyzed text fields: the whole text is one exact term
        for &i in targets.iter().filter(|i| !tokenized.contains(i)) {
            let t = &self.inner.fields.text[i];
            let term = Term::from_field_text(t.field, text);
            clauses.push((
                Occur::Should,
                Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
            ));
        }
        if let Some(&first) = tokenized.first() {
            let words = tokens(&mut self.analyzers[first].1, text);
            let last = words.len().saturating_sub(1);
            let mut any = Vec::new();
            for (k, w) in words.iter().enumerate() {
                let is_prefix = match prefix {
                    PrefixMode::No => false,
                    PrefixMode::Always => true,
                    PrefixMode::AsYouType => self.as_you_type && k == last,
                };
                let plan =
                    self.word(&w.text, &tokenized, typos && self.typos, is_prefix, scoring)?;
                match (plan, require_all) {
                    (Some(p), true) => {
                        clauses.push((Occur::Must, Box::new(WordsQuery::new(vec![p]))));
                    }
                    (None, true) => clauses.push((Occur::Must, Box::new(EmptyQuery))),
                    (Some(p), false) => any.push(p),
                    (None, false) => {}
                }
            }
            // the words of a disjunction are scored together, so that top-k searches can be pruned
            if !any.is_empty() {
                clauses.push((Occur::Should, Box::new(WordsQuery::new(any))));
            }
        }
        Ok(match clauses.len() {
            0 => Box::new(EmptyQuery),
            1 => clauses
                .pop()
                .map(|(_, q)| q)
                .unwrap_or_else(|| Box::new(EmptyQuery)),
            _ => Box::new(BooleanQuery::new(clauses)),
        })
    }

    /// Expands one query word (already normalized, not stemmed) into its scored alternatives.
    fn word(
        &mut self,
        surface: &str,
        targets: &[usize],
        typos: bool,
        prefix: bool,
        record: bool,
    ) -> Result<Option<Arc<WordPlan>>> {
        // plans depend only on the word, its settings and the searcher: kept until the next refresh
        let generation = self.searcher.generation().generation_id();
        let key = WordKey {
            surface: surface.to_string(),
            targets: targets.to_vec(),
            typos,
            prefix,
        };
        let cached = self.inner.plans.lock().get(generation, &key);
        let word = match cached {
            Some(w) => w,
            None => {
                let mut highlights = Vec::new();
                let plan = self
                    .plan_word(surface, targets, typos, prefix, &mut highlights)?
                    .map(Arc::new);
                let w = Arc::new(CachedWord { plan, highlights });
                self.inner.plans.lock().put(generation, key, w.clone());
                w
            }
        };
        if record {
            for (ti, stem) in &word.highlights {
                self.highlight_terms[*ti].insert(stem.clone());
            }
        }
        Ok(word.plan.clone())
    }

    /// Expands one query word into its scoring plan; `highlights` receives the `(text field, term)`
    /// pairs it reaches.
    fn plan_word(
        &mut self,
        surface: &str,
        targets: &[usize],
        typos: bool,
        prefix: bool,
        highlights: &mut Vec<(usize, String)>,
    ) -> Result<Option<WordPlan>> {
        let inner = self.inner;
        let cfg = &inner.typos;
        let max_typos = if typos { cfg.max_typos(surface) } else { 0 };
        // candidate surface words → (penalty, typos, completion, doc freq, whether the doc freq is the
        // word's own)
        let mut cands: HashMap<String, (f32, bool, bool, u64, bool)> = HashMap::new();
        cands.insert(surface.to_string(), (1.0, false, false, 0, true));
        // the dictionaries of surface words, and whether their doc freqs are the words' own: the words
        // companion fields (the words that stemming changes; every word in indexes written before
        // 0.3) and the fields themselves (whose terms include every word that stems to itself, with
        // the doc freq of all the words stemming to it)
        let mut words_fields: Vec<(Field, bool)> = Vec::new();
        let mut typo_fields: Vec<(Field, bool)> = Vec::new();
        for &i in targets {
            let t = &inner.fields.text[i];
            if let Some(w) = t.words {
                for f in [(w, true), (t.field, !t.analyzer.stems())] {
                    if !words_fields.contains(&f) {
                        words_fields.push(f);
                    }
                    if !cfg.disable_on_fields.contains(&t.name) && !typo_fields.contains(&f) {
                        typo_fields.push(f);
                    }
                }
            }
        }
        let limit = cfg.max_expansions;
        // a word found in enough documents is taken as spelled right (see TypoTolerance::known_word_docs)
        let mut known = false;
        if max_typos > 0 && cfg.known_word_docs > 0 {
            let mut df = 0u64;
            for &(wf, _) in &typo_fields {
                df = df.max(
                    self.searcher
                        .doc_freq(&Term::from_field_text(wf, surface))?,
                );
            }
            known = df >= cfg.known_word_docs;
        }
        if max_typos > 0 && !known {
            // candidate → (distance, (doc freq summed over segments, whether it is the word's own))
            let mut found: HashMap<String, (usize, DictDf)> = HashMap::new();
            for &(wf, own) in &typo_fields {
                let term = Term::from_field_text(wf, surface);
                let fq = if prefix {
                    FuzzyTermQuery::new_prefix(term, max_typos, true)
                } else {
                    FuzzyTermQuery::new(term, max_typos, true)
                };
                let automaton = fq.automaton()?;
                let mut here: HashMap<String, u64> = HashMap::new();
                for seg in self.searcher.segment_readers() {
                    let inv = seg.inverted_index(wf)?;
                    let mut stream = inv.terms().search(&automaton).into_stream()?;
                    while stream.advance() {
                        let Ok(m) = std::str::from_utf8(stream.key()) else {
                            continue;
                        };
                        *here.entry(m.to_string()).or_default() +=
                            u64::from(stream.value().doc_freq);
                    }
                }
                for (m, df) in here {
                    if let Some(e) = found.get_mut(&m) {
                        merge_df(&mut e.1, df, own);
                        continue;
                    }
                    let d = if prefix {
                        prefix_distance(surface, &m, max_typos as usize)
                    } else {
                        osa_distance(surface, &m, max_typos as usize)
                    };
                    found.insert(m, (d, (df, own)));
                }
            }
            let mut found: Vec<(String, (usize, DictDf))> = found
                .into_iter()
                .filter(|(_, (d, _))| *d <= max_typos as usize)
                .collect();
            // fewest typos first, then most frequent
            found.sort_by(|a, b| a.1.0.cmp(&b.1.0).then(b.1.1.0.cmp(&a.1.1.0)));
            for (m, (d, (df, own))) in found.into_iter().take(limit) {
                let completion = prefix && m != surface;
                let mut p = cfg.penalty(d);
                if completion {
                    p *= inner.ranking.prefix_penalty;
                }
                let e = cands.entry(m).or_insert((0.0, d > 0, completion, df, own));
                if p > e.0 {
                    *e = (p, d > 0, completion, df, own);
                }
            }
        }
        if prefix {
            // completions → (doc freq summed over segments, whether it is the word's own)
            let mut found: HashMap<String, DictDf> = HashMap::new();
            for &(wf, own) in &words_fields {
                let mut here: HashMap<String, u64> = HashMap::new();
                for seg in self.searcher.segment_readers() {
                    let inv = seg.inverted_index(wf)?;
                    let mut stream = inv.terms().range().ge(surface.as_bytes()).into_stream()?;
                    let mut scanned = 0;
                    while stream.advance() && scanned < 20_000 {
                        scanned += 1;
                        let key = stream.key();
                        if !key.starts_with(surface.as_bytes()) {
                            break;
                        }
                        if let Ok(m) = std::str::from_utf8(key) {
                            *here.entry(m.to_string()).or_default() +=
                                u64::from(stream.value().doc_freq);
                        }
                    }
                }
                for (m, df) in here {
                    match found.get_mut(&m) {
                        Some(e) => merge_df(e, df, own),
                        None => {
                            found.insert(m, (df, own));
                        }
                    }
                }
            }
            let mut found: Vec<(String, DictDf)> = found.into_iter().collect();
            found.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(&b.0)));
            for (m, (df, own)) in found.into_iter().take(limit) {
                let completion = m != surface;
                let p = if completion {
                    inner.ranking.prefix_penalty
                } else {
                    1.0
                };
                let e = cands.entry(m).or_insert((0.0, false, completion, df, own));
                if p > e.0 {
                    *e = (p, false, completion, df, own);
                }
            }
        }
        // group candidates by the terms they stem to: the best penalty of the word or its typos, and
        // the completions as (penalty, doc freq, whether it is the word's own)
        type Completions = Vec<(f32, u64, bool)>;
        let mut groups: HashMap<Vec<(usize, String)>, (f32, Completions)> = HashMap::new();
        for (m, (penalty, is_typo, completion, df, own)) in cands {
            let mut key = Vec::with_capacity(targets.len());
            for (slot, &ti) in targets.iter().enumerate() {
                if is_typo && cfg.disable_on_fields.contains(&inner.fields.text[ti].name) {
                    continue;
                }
                if let Some(stem) = stem_word(&mut self.analyzers[ti].0, &m) {
                    key.push((slot, stem));
                }
            }
            if key.is_empty() {
                continue;
            }
            let g = groups.entry(key).or_insert((0.0, Vec::new()));
            if completion {
                g.1.push((penalty, df, own));
            } else {
                g.0 = g.0.max(penalty);
            }
        }
        // completions: a frequency prior, so the likely word outranks rare ones (square root of its
        // document frequency relative to the most frequent completion's). A word read from a stemmed
        // field's dictionary has the doc freq of every word stemming to it: its own is estimated as
        // that minus its group's other words' (which the words companion holds with their own)
        for (_, comps) in groups.values_mut() {
            let others: u64 = comps.iter().filter(|c| c.2).map(|c| c.1).sum();
            for c in comps.iter_mut().filter(|c| !c.2) {
                c.1 = c.1.saturating_sub(others);
            }
        }
        let top_df = groups
            .values()
            .flat_map(|(_, comps)| comps.iter().map(|c| c.1))
            .max()
            .unwrap_or(1)
            .max(1) as f32;
        let groups = groups.into_iter().map(|(key, (plain, comps))| {
            let completion = comps
                .iter()
                .map(|&(p, df, _)| p * (df as f32 / top_df).sqrt())
                .fold(0.0f32, f32::max);
            (key, (plain, completion))
        });
        let n = self.searcher.num_docs();
        let k1 = inner.ranking.k1;
        // (terms, their term infos per segment, penalty, completion penalty, doc freq) per group
        let mut found = Vec::with_capacity(groups.len());
        for (key, (penalty, completion)) in groups {
            let mut df = 0u64;
            let mut terms = Vec::with_capacity(key.len());
            let mut infos = Vec::with_capacity(key.len());
            for (slot, stem) in &key {
                let f = inner.fields.text[targets[*slot]].field;
                let term = Term::from_field_text(f, stem);
                // one dictionary lookup per segment, kept for the scorers
                let mut per_segment = Vec::with_capacity(self.searcher.segment_readers().len());
                let mut term_df = 0u64;
                for seg in self.searcher.segment_readers() {
                    let info = seg.inverted_index(f)?.get_term_info(&term)?;
                    term_df += info.as_ref().map_or(0, |i| u64::from(i.doc_freq));
                    per_segment.push(info);
                }
                df = df.max(term_df);
                terms.push((*slot, term));
                infos.push(per_segment);
            }
            if df == 0 {
                continue;
            }
            for (slot, stem) in &key {
                highlights.push((targets[*slot], stem.clone()));
            }
            found.push((terms, infos, penalty, completion, df));
        }
        // completions: a frequency prior, so the likely word outranks rare ones (square root of the
        // doc freq of the terms it stems to, relative to the most frequent completion's)
        let mut expansions = Vec::with_capacity(found.len());
        for (terms, infos, penalty, completion, df) in found {
            expansions.push(Expansion {
                terms,
                infos,
                weight: penalty.max(completion) * idf(df, n) * (k1 + 1.0),
            });
        }
        if expansions.is_empty() {
            return Ok(None);
        }
        let mut fields = Vec::with_capacity(targets.len());
        for &ti in targets {
            fields.push(ScoredField {
                field: inner.fields.text[ti].field,
                norm: self.norm_table(ti)?,
            });
        }
        Ok(Some(WordPlan {
            fields,
            expansions,
            k1,
            segments: self.segment_ids(),
        }))
    }

    /// `boost / (1 − b + b · len / avg_len)` for each of the 256 field-norm codes of text field `ti`,
    /// computed once per search.
    fn norm_table(&mut self, ti: usize) -> Result<Arc<[f32; 256]>> {
        if let Some(Some(t)) = self.norms.get(ti) {
            return Ok(t.clone());
        }
        let avg = self.avg_lens()?[ti];
        let avg = if avg > 0.0 { avg } else { 1.0 };
        let b = self.inner.ranking.b;
        let boost = self.inner.fields.text[ti].boost;
        let mut table = [0f32; 256];
        for (id, slot) in table.iter_mut().enumerate() {
            let len = FieldNormReader::id_to_fieldnorm(id as u8) as f32;
            *slot = boost / (1.0 - b + b * len / avg);
        }
        let t = Arc::new(table);
        if self.norms.len() <= ti {
            self.norms.resize(ti + 1, None);
        }
        self.norms[ti] = Some(t.clone());
        Ok(t)
    }

    /// The searcher's segments, in order (term lookups made while compiling are kept per segment).
    fn segment_ids(&mut self) -> Arc<[SegmentId]> {
        self.segment_ids
            .get_or_insert_with(|| {
                self.searcher
                    .segment_readers()
                    .iter()
                    .map(|s| s.segment_id())
                    .collect()
            })
            .clone()
    }

    fn phrase(
        &mut self,
        text: &str,
        targets: &[usize],
        slop: u32,
        scoring: bool,
    ) -> Result<Box<dyn TQuery>> {
        let mut matchers: Vec<(Occur, Box<dyn TQuery>)> = Vec::new();
        let mut max_terms = 0;
        for &ti in targets {
            let t = &self.inner.fields.text[ti];
            if !t.analyzer.is_tokenized() {
                continue;
            }
            let toks = tokens(&mut self.analyzers[ti].0, text);
            max_terms = max_terms.max(toks.len());
            if toks.len() < 2 {
                continue;
            }
            let base = toks[0].position;
            let terms: Vec<(usize, Term)> = toks
                .iter()
                .map(|k| (k.position - base, Term::from_field_text(t.field, &k.text)))
                .collect();
            let q = PhraseQuery::new_with_offset_and_slop(terms, slop);
            matchers.push((
                Occur::Should,
                Box::new(ConstScoreQuery::new(Box::new(q), 0.0)),
            ));
        }
        let words = self.words(text, targets, true, PrefixMode::No, false, scoring)?;
        if max_terms < 2 || matchers.is_empty() {
            return Ok(words);
        }
        Ok(Box::new(BooleanQuery::new(vec![
            (Occur::Must, Box::new(BooleanQuery::new(matchers))),
            (Occur::Must, words),
        ])))
    }
}

/// A word's doc freq in a dictionary, and whether it is the word's own (a dictionary of surface words)
/// or the stemmed field's (every word stemming to it).
type DictDf = (u64, bool);

/// Merges a dictionary's doc freq of a word into `e`: the word's own doc freq wins over a stemmed
/// field's, else the larger.
fn merge_df(e: &mut DictDf, df: u64, own: bool) {
    if own && !e.1 {
        *e = (df, true);
    } else if own == e.1 {
        e.0 = e.0.max(df);
    }
}

fn keyword_prefix(searcher: &Searcher, field: Field, prefix: &str) -> Result<TermSetQuery> {
    let mut terms = Vec::new();
    for seg in searcher.segment_readers() {
        let inv = seg.inverted_index(field)?;
        let mut stream = inv.terms().range().ge(prefix.as_bytes()).into_stream()?;
        while stream.advance() && terms.len() < 10_000 {
            if !stream.key().starts_with(prefix.as_bytes()) {
                break;
            }
            if let Ok(s) = std::str::from_utf8(stream.key()) {
                terms.push(Term::from_field_text(field, s));
            }
        }
    }
    Ok(TermSetQuery::new(terms))
}

fn parse_value_for(kind: &FieldKind, s: &str) -> Option<Value> {
    match kind {
        FieldKind::Keyword => Some(Value::Text(s.to_string())),
        FieldKind::I64 | FieldKind::Date => s.parse::<i64>().ok().map(Value::I64),
        FieldKind::U64 => s.parse::<u64>().ok().map(Value::U64),
        FieldKind::F64 => s.parse::<f64>().ok().map(Value::F64),
        _ => None,
    }
}
