//! ember-search against tantivy used directly with the same settings, in one run:
//! indexing throughput, query latency (plain, phrase, prefix, typo'd) and freshness (write → visible).
//!
//! Runs on BEIR SciFact when the shared data is present, else on a synthetic corpus. Besides criterion's
//! means, prints p50/p99 per query kind and the segment count after a stream of single-document commits.
//!
//! `cargo bench -p ember-benches --no-default-features --features search --bench search`

use std::hint::black_box;
use std::io::BufRead;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ember_search::{
    Analyzer, CommitPolicy, Document, Query, Schema, SearchIndex, SearchRequest, TextField,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    BooleanQuery, FuzzyTermQuery, Occur, PhrasePrefixQuery, PhraseQuery, Query as TQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter,
    TextAnalyzer, TokenStream,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Term, doc};

type Corpus = Vec<(String, String, String)>;

/// Builds a tantivy query on one field from analyzed terms.
type MakeQuery<'a> = dyn Fn(Field, &[String]) -> Box<dyn TQuery> + 'a;

fn load() -> (Corpus, Vec<String>) {
    if let Some(dir) = ember_core::data::find("ir/scifact") {
        let read = |name: &str| -> Vec<serde_json::Value> {
            let f = std::fs::File::open(dir.join(name)).expect("open");
            std::io::BufReader::new(f)
                .lines()
                .map(|l| serde_json::from_str(&l.expect("line")).expect("json"))
                .collect()
        };
        let s = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
        let corpus = read("corpus.jsonl")
            .iter()
            .map(|v| (s(v, "_id"), s(v, "title"), s(v, "text")))
            .collect();
        let queries = read("queries.jsonl")
            .iter()
            .take(50)
            .map(|v| s(v, "text"))
            .collect();
        println!("corpus: BEIR SciFact");
        return (corpus, queries);
    }
    println!("corpus: synthetic (SciFact not found)");
    let mut rng = SmallRng::seed_from_u64(7);
    let vocab: Vec<String> = (0..3000)
        .map(|i| {
            let len = 4 + i % 7;
            (0..len)
                .map(|_| (b'a' + rng.random_range(0..26u8)) as char)
                .collect()
        })
        .collect();
    let words = |n: usize, rng: &mut SmallRng| -> String {
        (0..n)
            .map(|_| vocab[rng.random_range(0..vocab.len())].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let corpus = (0..5000)
        .map(|i| (i.to_string(), words(8, &mut rng), words(200, &mut rng)))
        .collect();
    let queries = (0..50).map(|_| words(10, &mut rng)).collect();
    (corpus, queries)
}

fn english() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(StopWordFilter::new(tantivy::tokenizer::Language::English).expect("stopwords"))
        .filter(Stemmer::new(tantivy::tokenizer::Language::English))
        .build()
}

/// tantivy used directly: the same two English text fields (stemming, stopwords, folding), Manual
/// reload after each commit, the same writer budget.
struct Raw {
    index: Index,
    writer: IndexWriter,
    reader: IndexReader,
    id: Field,
    title: Field,
    text: Field,
}

/// The raw side's id, title and text fields: the same settings as ember's (English, stemmed, stored).
fn raw_fields(b: &mut tantivy::schema::SchemaBuilder) -> (Field, Field, Field) {
    let id = b.add_text_field("id", STRING | STORED);
    let opts = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("en")
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored();
    let title = b.add_text_field("title", opts.clone());
    let text = b.add_text_field("text", opts);
    (id, title, text)
}

fn raw_index() -> Raw {
    let mut b = tantivy::schema::Schema::builder();
    let (id, title, text) = raw_fields(&mut b);
    let index = Index::create_in_ram(b.build());
    index.tokenizers().register("en", english());
    let writer = index.writer(64_000_000).expect("writer");
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .expect("reader");
    Raw {
        index,
        writer,
        reader,
        id,
        title,
        text,
    }
}

fn raw_fill(raw: &mut Raw, corpus: &Corpus) {
    for (id, title, text) in corpus {
        raw.writer
            .add_document(
                doc!(raw.id => id.as_str(), raw.title => title.as_str(), raw.text => text.as_str()),
            )
            .expect("add");
    }
    raw.writer.commit().expect("commit");
    raw.reader.reload().expect("reload");
}

fn raw_with_words(corpus: &Corpus) -> Index {
    let mut b = tantivy::schema::Schema::builder();
    let (id, title, text) = raw_fields(&mut b);
    let words = b.add_text_field(
        "words",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("en_words")
                .set_index_option(IndexRecordOption::Basic)
                .set_fieldnorms(false),
        ),
    );
    let index = Index::create_in_ram(b.build());
    index.tokenizers().register("en", english());
    index.tokenizers().register(
        "en_words",
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(40))
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .filter(StopWordFilter::new(tantivy::tokenizer::Language::English).expect("stopwords"))
            .build(),
    );
    let mut writer: IndexWriter = index.writer(64_000_000).expect("writer");
    for (i, t, x) in corpus {
        writer
            .add_document(
                doc!(id => i.as_str(), title => t.as_str(), text => x.as_str(),
                words => t.as_str(), words => x.as_str()),
            )
            .expect("add");
    }
    writer.commit().expect("commit");
    index
}

fn ember_index() -> SearchIndex {
    let schema = Schema::builder()
        .id("id")
        .text_with("title", TextField::new().analyzer(Analyzer::english()))
        .text_with("text", TextField::new().analyzer(Analyzer::english()))
        .build()
        .expect("schema");
    SearchIndex::builder(schema)
        .commit_policy(CommitPolicy::manual())
        .build()
        .expect("index")
}

fn ember_fill(index: &SearchIndex, corpus: &Corpus) {
    index
        .upsert_many(corpus.iter().map(|(id, title, text)| {
            Document::new()
                .with("id", id.as_str())
                .with("title", title.as_str())
                .with("text", text.as_str())
        }))
        .expect("upsert");
    index.refresh().expect("refresh");
}

fn analyze(a: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut s = a.token_stream(text);
    let mut out = Vec::new();
    while s.advance() {
        out.push(s.token().text.clone());
    }
    out
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The four query kinds, as ember requests and as tantivy queries with the same meaning.
///
/// Both sides return the top 10 without counting every match (tantivy's `TopDocs`; ember with
/// `track_total_hits(false)`), except the `+count` kinds, where both count (tantivy's `(TopDocs, Count)`,
/// ember's default exact total).
struct Workload {
    kind: &'static str,
    count: bool,
    ember: Vec<SearchRequest>,
    raw: Vec<Box<dyn TQuery>>,
}

impl Workload {
    fn new(kind: &'static str, count: bool) -> Self {
        Workload {
            kind,
            count,
            ember: Vec::new(),
            raw: Vec::new(),
        }
    }

    fn push(&mut self, ember: SearchRequest, raw: Box<dyn TQuery>) {
        self.ember.push(ember.track_total_hits(self.count));
        self.raw.push(raw);
    }

    fn run_raw(&self, searcher: &tantivy::Searcher, q: &dyn TQuery) {
        let top = TopDocs::with_limit(10).order_by_score();
        if self.count {
            black_box(searcher.search(q, &(top, Count)).expect("search"));
        } else {
            black_box(searcher.search(q, &top).expect("search"));
        }
    }
}

fn workloads(raw: &Raw, queries: &[String]) -> Vec<Workload> {
    let mut a = english();
    let fields = [raw.title, raw.text];
    let per_field = |terms: &[String], make: &MakeQuery<'_>| {
        let clauses: Vec<(Occur, Box<dyn TQuery>)> = fields
            .iter()
            .map(|&f| (Occur::Should, make(f, terms)))
            .collect();
        Box::new(BooleanQuery::new(clauses)) as Box<dyn TQuery>
    };
    let terms_query = |f: Field, terms: &[String]| -> Box<dyn TQuery> {
        Box::new(BooleanQuery::new(
            terms
                .iter()
                .map(|t| {
                    (
                        Occur::Should,
                        Box::new(TermQuery::new(
                            Term::from_field_text(f, t),
                            IndexRecordOption::WithFreqs,
                        )) as Box<dyn TQuery>,
                    )
                })
                .collect(),
        ))
    };
    let mut rng = SmallRng::seed_from_u64(42);
    let mut out = vec![
        Workload::new("plain", false),
        Workload::new("phrase", false),
        Workload::new("prefix", false),
        Workload::new("typo", false),
        Workload::new("plain+typo-tolerance", false),
        Workload::new("plain+count", true),
    ];
    for q in queries {
        let stems = analyze(&mut a, q);
        if stems.len() < 2 {
            continue;
        }
        // plain: exact words (tantivy's meaning of a term query)
        let plain = SearchRequest::new(Query::text(q))
            .typo_tolerance(false)
            .with_documents(false);
        out[0].push(plain.clone(), per_field(&stems, &terms_query));
        // the same, counting every match on both sides
        out[5].push(plain, per_field(&stems, &terms_query));
        // the same with ember's default typo tolerance on (tantivy: still exact terms)
        out[4].push(
            SearchRequest::new(Query::text(q)).with_documents(false),
            per_field(&stems, &terms_query),
        );
        // phrase: the first two content words
        let ws: Vec<String> = words(q)
            .into_iter()
            .filter(|w| analyze(&mut a, w).len() == 1)
            .collect();
        if ws.len() >= 2 {
            let phrase = format!("{} {}", ws[0], ws[1]);
            let st = analyze(&mut a, &phrase);
            out[1].push(
                SearchRequest::new(Query::phrase(&phrase)).with_documents(false),
                per_field(&st, &|f, t| {
                    Box::new(PhraseQuery::new(
                        t.iter().map(|x| Term::from_field_text(f, x)).collect(),
                    ))
                }),
            );
        }
        // prefix: the longest word cut by two letters, typed alone
        if let Some(w) = ws.iter().filter(|w| w.len() >= 6).max_by_key(|w| w.len()) {
            let typed = &w[..w.len() - 2];
            let request = SearchRequest::new(typed)
                .as_you_type(true)
                .typo_tolerance(false)
                .with_documents(false);
            let typed = typed.to_string();
            out[2].push(
                request,
                per_field(&[typed], &|f, t| {
                    Box::new(PhrasePrefixQuery::new(vec![Term::from_field_text(
                        f, &t[0],
                    )]))
                }),
            );
        }
        // typo: one typo in one long word; tantivy's fuzzy term queries at distance 1 on the stems
        let mut typod: Vec<String> = words(q);
        let long: Vec<usize> = (0..typod.len()).filter(|&i| typod[i].len() >= 5).collect();
        if !long.is_empty() {
            let i = long[rng.random_range(0..long.len())];
            let mut b = typod[i].clone().into_bytes();
            let p = rng.random_range(0..b.len() - 1);
            b.swap(p, p + 1);
            typod[i] = String::from_utf8(b).unwrap_or_default();
        }
        let typod = typod.join(" ");
        let st = analyze(&mut a, &typod);
        let raw = per_field(&st, &|f, t| {
            Box::new(BooleanQuery::new(
                t.iter()
                    .map(|x| {
                        (
                            Occur::Should,
                            Box::new(FuzzyTermQuery::new(Term::from_field_text(f, x), 1, true))
                                as Box<dyn TQuery>,
                        )
                    })
                    .collect(),
            ))
        });
        out[3].push(
            SearchRequest::new(Query::text(&typod)).with_documents(false),
            raw,
        );
    }
    out
}

/// Indexing, interleaved: the three contestants in turn, rotating who goes first, so that load swings hit
/// all three; besides wall time, the process CPU time each one used (from /proc, all threads), which the
/// other engineers' load on the machine disturbs much less.
fn interleaved_indexing(corpus: &Corpus) {
    // EMBER_BENCH_INDEX_ROUNDS=N runs more rounds (min and median steadier on a loaded machine)
    let index_rounds: usize = std::env::var("EMBER_BENCH_INDEX_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(6);
    let mut wall = [Vec::new(), Vec::new(), Vec::new()];
    let mut cpu = [Duration::ZERO; 3];
    for round in 0..index_rounds {
        for k in 0..3 {
            let who = (round + k) % 3;
            let (s, c) = (Instant::now(), cpu_time());
            match who {
                0 => {
                    let index = ember_index();
                    ember_fill(&index, corpus);
                    drop(index);
                }
                1 => {
                    let mut raw = raw_index();
                    raw_fill(&mut raw, corpus);
                    drop(raw);
                }
                _ => drop(black_box(raw_with_words(corpus))),
            }
            wall[who].push(s.elapsed());
            cpu[who] += cpu_time().saturating_sub(c);
        }
    }
    for t in &mut wall {
        t.sort();
    }
    let rate = |d: Duration| corpus.len() as f64 / d.as_secs_f64();
    println!(
        "\nindexing, {index_rounds} interleaved rounds (docs/s by wall time: best and median round; CPU time per round):"
    );
    println!(
        "| contestant | best | median | best vs tantivy | median vs tantivy | CPU ms/round | CPU vs tantivy |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, name) in ["ember", "tantivy", "tantivy+words-field"]
        .iter()
        .enumerate()
    {
        let t = &wall[i];
        println!(
            "| {name} | {:.0} | {:.0} | {:.2}× | {:.2}× | {:.0} | {:.2}× |",
            rate(t[0]),
            rate(t[index_rounds / 2]),
            t[0].as_secs_f64() / wall[1][0].as_secs_f64(),
            t[index_rounds / 2].as_secs_f64() / wall[1][index_rounds / 2].as_secs_f64(),
            cpu[i].as_secs_f64() * 1e3 / index_rounds as f64,
            cpu[i].as_secs_f64() / cpu[1].as_secs_f64()
        );
    }
}

/// CPU time used by this process so far, all threads (user + system, from `/proc/self/stat`, in clock
/// ticks of 10 ms); zero where that file does not exist.
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // fields after the parenthesized command name; utime and stime are fields 14 and 15
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    Duration::from_millis(f.iter().sum::<u64>() * 10)
}

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    (at(0.5), at(0.99))
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_secs(1))
}

fn bench(c: &mut Criterion) {
    let (corpus, queries) = load();

    // EMBER_BENCH_INDEX_ONLY=ember|tantivy|tantivy+words-field indexes the corpus with that contestant
    // only (EMBER_BENCH_INDEX_ROUNDS times, default 1) and stops: for profilers and instruction counts
    // (`perf stat -e instructions:u`), which other processes' load does not disturb
    if let Ok(who) = std::env::var("EMBER_BENCH_INDEX_ONLY") {
        let rounds: usize = std::env::var("EMBER_BENCH_INDEX_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        for _ in 0..rounds {
            match who.as_str() {
                "ember" => {
                    let index = ember_index();
                    ember_fill(&index, &corpus);
                    drop(black_box(index));
                }
                "tantivy" => {
                    let mut raw = raw_index();
                    raw_fill(&mut raw, &corpus);
                    drop(black_box(raw.index));
                }
                _ => drop(black_box(raw_with_words(&corpus))),
            }
        }
        return;
    }

    // indexing throughput
    let mut g = c.benchmark_group("search/index");
    g.throughput(Throughput::Elements(corpus.len() as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.bench_function("ember", |b| {
        b.iter(|| {
            let index = ember_index();
            ember_fill(&index, &corpus);
            black_box(index)
        })
    });
    g.bench_function("tantivy", |b| {
        b.iter(|| {
            let mut raw = raw_index();
            raw_fill(&mut raw, &corpus);
            black_box(raw.index)
        })
    });
    // tantivy with ember's schema: plus the unstemmed words field that typo tolerance and prefixes use,
    // to separate the cost of that field from the wrapper's own
    g.bench_function("tantivy+words-field", |b| {
        b.iter(|| black_box(raw_with_words(&corpus)))
    });
    g.finish();
    // the same, interleaved (EMBER_BENCH_SKIP_INTERLEAVED_INDEXING skips it, to profile one contestant)
    if std::env::var_os("EMBER_BENCH_SKIP_INTERLEAVED_INDEXING").is_none() {
        interleaved_indexing(&corpus);
    }
    // EMBER_BENCH_ONLY_INDEXING stops here (the indexing figures alone, in a minute or two)
    if std::env::var_os("EMBER_BENCH_ONLY_INDEXING").is_some() {
        return;
    }

    // query latency
    let index = ember_index();
    ember_fill(&index, &corpus);
    let mut raw = raw_index();
    raw_fill(&mut raw, &corpus);
    let loads = workloads(&raw, &queries);
    let mut g = c.benchmark_group("search/query");
    for w in &loads {
        g.throughput(Throughput::Elements(w.ember.len() as u64));
        g.bench_with_input(BenchmarkId::new("ember", w.kind), w, |b, w| {
            b.iter(|| {
                for r in &w.ember {
                    black_box(index.search(r.clone()).expect("search"));
                }
            })
        });
        g.bench_with_input(BenchmarkId::new("tantivy", w.kind), w, |b, w| {
            b.iter(|| {
                let searcher = raw.reader.searcher();
                for q in &w.raw {
                    w.run_raw(&searcher, &**q);
                }
            })
        });
    }
    g.finish();
    // interleaved: each query runs on ember then on tantivy, ROUNDS times, so load swings hit both
    const ROUNDS: usize = 9;
    println!("\nper-query latency over {ROUNDS} interleaved runs of each query:");
    println!(
        "| kind | queries | ember p50 | ember p99 | tantivy p50 | tantivy p99 | p50 ratio | median of per-query ratios (best run each) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for w in &loads {
        let n = w.ember.len();
        let mut e = Vec::with_capacity(n * ROUNDS);
        let mut t = Vec::with_capacity(n * ROUNDS);
        let mut best = vec![(Duration::MAX, Duration::MAX); n];
        for _ in 0..ROUNDS {
            let searcher = raw.reader.searcher();
            for (i, (r, q)) in w.ember.iter().zip(&w.raw).enumerate() {
                let s = Instant::now();
                black_box(index.search(r.clone()).expect("search"));
                let de = s.elapsed();
                let s = Instant::now();
                w.run_raw(&searcher, &**q);
                let dt = s.elapsed();
                e.push(de);
                t.push(dt);
                best[i] = (best[i].0.min(de), best[i].1.min(dt));
            }
        }
        let mut ratios: Vec<f64> = best
            .iter()
            .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64())
            .collect();
        ratios.sort_by(f64::total_cmp);
        let (e50, e99) = percentiles(e);
        let (t50, t99) = percentiles(t);
        println!(
            "| {} | {} | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs | {:.2}× | {:.2}× |",
            w.kind,
            n,
            e50.as_secs_f64() * 1e6,
            e99.as_secs_f64() * 1e6,
            t50.as_secs_f64() * 1e6,
            t99.as_secs_f64() * 1e6,
            e50.as_secs_f64() / t50.as_secs_f64(),
            ratios[n / 2]
        );
    }

    // freshness: one write, then visible (ember: upsert + refresh; tantivy: add + commit + reload)
    let mut g = c.benchmark_group("search/freshness");
    let mut n = 0u64;
    g.bench_function("ember", |b| {
        b.iter(|| {
            n += 1;
            index
                .upsert(
                    Document::new()
                        .with("id", format!("fresh{}", n % 64))
                        .with("title", "fresh document")
                        .with("text", "visible after refresh"),
                )
                .expect("upsert");
            index.refresh().expect("refresh");
        })
    });
    g.bench_function("tantivy", |b| {
        b.iter(|| {
            n += 1;
            let id = format!("fresh{}", n % 64);
            raw.writer.delete_term(Term::from_field_text(raw.id, &id));
            raw.writer
                .add_document(doc!(raw.id => id.as_str(), raw.title => "fresh document", raw.text => "visible after refresh"))
                .expect("add");
            raw.writer.commit().expect("commit");
            raw.reader.reload().expect("reload");
        })
    });
    g.finish();
    let mut e = Vec::new();
    let mut t = Vec::new();
    for i in 0..200 {
        let s = Instant::now();
        index
            .upsert(
                Document::new()
                    .with("id", format!("p{i}"))
                    .with("title", "x"),
            )
            .expect("upsert");
        index.refresh().expect("refresh");
        e.push(s.elapsed());
        let s = Instant::now();
        raw.writer
            .add_document(doc!(raw.id => format!("p{i}"), raw.title => "x"))
            .expect("add");
        raw.writer.commit().expect("commit");
        raw.reader.reload().expect("reload");
        t.push(s.elapsed());
    }
    let raw_segments = raw.reader.searcher().segment_readers().len();
    let (e50, e99) = percentiles(e);
    let (t50, t99) = percentiles(t);
    println!("\nfreshness (write → visible) over 200 single-document commits:");
    println!("| | p50 | p99 | segments after |");
    println!("|---|---|---|---|");
    println!(
        "| ember upsert+refresh | {:.2} ms | {:.2} ms | {} |",
        e50.as_secs_f64() * 1e3,
        e99.as_secs_f64() * 1e3,
        index.stats().segments
    );
    println!(
        "| tantivy add+commit+reload | {:.2} ms | {:.2} ms | {} |",
        t50.as_secs_f64() * 1e3,
        t99.as_secs_f64() * 1e3,
        raw_segments
    );
    println!("p50 ratio {:.2}×", e50.as_secs_f64() / t50.as_secs_f64());
}

criterion_group! { name = benches; config = config(); targets = bench }
criterion_main!(benches);
