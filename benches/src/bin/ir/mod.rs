//! Retrieval-quality evaluation on a BEIR-format collection (`corpus.jsonl`, `queries.jsonl`,
//! `qrels/test.tsv`): nDCG@10 and Recall@100, typo'd queries, and search-as-you-type prefixes.
//!
//! Shared by the `ir_eval` binary and ember-search's quality tests (included there by path), so that
//! the tests check exactly what the binary reports.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use ember_search::{
    CommitPolicy, Document, Schema, SearchIndex, SearchRequest, TextField, TypoTolerance,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// A BEIR collection: the documents, the judged test queries and their relevance judgments.
pub struct Collection {
    /// `(id, title, text)`.
    pub corpus: Vec<(String, String, String)>,
    /// `(id, text)` of the queries that have judgments in `qrels/test.tsv`, in file order.
    pub queries: Vec<(String, String)>,
    /// query id → document id → relevance grade.
    pub qrels: HashMap<String, HashMap<String, u32>>,
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn str_field(v: &serde_json::Value, key: &str) -> String {
    match v.get(key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Loads a collection from `dir`.
///
/// # Errors
/// When a file is missing or malformed.
pub fn load(dir: &Path) -> io::Result<Collection> {
    let mut qrels: HashMap<String, HashMap<String, u32>> = HashMap::new();
    let qf = BufReader::new(File::open(dir.join("qrels").join("test.tsv"))?);
    for (i, line) in qf.lines().enumerate() {
        let line = line?;
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 {
            continue;
        }
        let Ok(grade) = cols[2].trim().parse::<i64>() else {
            if i == 0 {
                continue; // header
            }
            return Err(bad(format!(
                "qrels line {}: bad score {:?}",
                i + 1,
                cols[2]
            )));
        };
        if grade > 0 {
            qrels
                .entry(cols[0].to_string())
                .or_default()
                .insert(cols[1].to_string(), grade as u32);
        }
    }
    let mut corpus = Vec::new();
    for (i, line) in BufReader::new(File::open(dir.join("corpus.jsonl"))?)
        .lines()
        .enumerate()
    {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| bad(format!("corpus line {}: {e}", i + 1)))?;
        corpus.push((
            str_field(&v, "_id"),
            str_field(&v, "title"),
            str_field(&v, "text"),
        ));
    }
    let mut queries = Vec::new();
    for (i, line) in BufReader::new(File::open(dir.join("queries.jsonl"))?)
        .lines()
        .enumerate()
    {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| bad(format!("queries line {}: {e}", i + 1)))?;
        let id = str_field(&v, "_id");
        if qrels.contains_key(&id) {
            queries.push((id, str_field(&v, "text")));
        }
    }
    Ok(Collection {
        corpus,
        queries,
        qrels,
    })
}

/// Indexes the corpus with ember-search's defaults: `title` and `text` as two English text fields.
///
/// # Errors
/// Index errors.
pub fn index(c: &Collection, typos: bool) -> ember_search::Result<SearchIndex> {
    let schema = Schema::builder()
        .id("id")
        .text_with("title", TextField::new())
        .text_with("text", TextField::new())
        .build()?;
    let tolerance = if typos {
        TypoTolerance::default()
    } else {
        TypoTolerance::disabled()
    };
    let index = SearchIndex::builder(schema)
        .typo_tolerance(tolerance)
        .commit_policy(CommitPolicy::manual())
        .build()?;
    let docs = c.corpus.iter().map(|(id, title, text)| {
        Document::new()
            .with("id", id.as_str())
            .with("title", title.as_str())
            .with("text", text.as_str())
    });
    index.upsert_many(docs)?;
    index.refresh()?;
    Ok(index)
}

/// Injects one typo in one word of at least 5 ASCII letters: an adjacent swap, a deletion, an insertion
/// or a substitution, chosen uniformly. Text without such a word is returned unchanged.
pub fn inject_typo(text: &str, rng: &mut SmallRng) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    let eligible: Vec<usize> = words
        .iter()
        .enumerate()
        .filter(|(_, w)| w.len() >= 5 && w.chars().all(|c| c.is_ascii_alphabetic()))
        .map(|(i, _)| i)
        .collect();
    if eligible.is_empty() {
        return text.to_string();
    }
    let wi = eligible[rng.random_range(0..eligible.len())];
    let mut w: Vec<u8> = words[wi].as_bytes().to_vec();
    let letter = b'a' + rng.random_range(0..26u8);
    match rng.random_range(0..4) {
        0 => {
            let p = rng.random_range(0..w.len() - 1);
            w.swap(p, p + 1);
        }
        1 => {
            w.remove(rng.random_range(0..w.len()));
        }
        2 => w.insert(rng.random_range(0..=w.len()), letter),
        _ => {
            let p = rng.random_range(0..w.len());
            let mut l = letter;
            if w[p].eq_ignore_ascii_case(&l) {
                l = b'a' + (l - b'a' + 1) % 26;
            }
            w[p] = l;
        }
    }
    let mut out: Vec<String> = words.iter().map(|s| s.to_string()).collect();
    out[wi] = String::from_utf8(w).unwrap_or_default();
    out.join(" ")
}

/// Every test query with one seeded typo.
pub fn typo_queries(c: &Collection, seed: u64) -> Vec<(String, String)> {
    let mut rng = SmallRng::seed_from_u64(seed);
    c.queries
        .iter()
        .map(|(id, q)| (id.clone(), inject_typo(q, &mut rng)))
        .collect()
}

/// nDCG@10 and Recall@100 (means over the queries).
#[derive(Debug, Clone, Copy)]
pub struct Quality {
    /// Mean nDCG@10.
    pub ndcg10: f64,
    /// Mean Recall@100.
    pub recall100: f64,
    /// Queries evaluated.
    pub queries: usize,
}

/// Runs `queries` (text searched as typed, no query-string syntax) with typo tolerance on or off and
/// scores them against the qrels.
///
/// # Errors
/// Search errors.
pub fn evaluate(
    index: &SearchIndex,
    c: &Collection,
    queries: &[(String, String)],
    typos: bool,
) -> ember_search::Result<Quality> {
    let mut ndcg = 0.0;
    let mut recall = 0.0;
    for (qid, text) in queries {
        let res = index.search(
            SearchRequest::new(ember_search::Query::text(text))
                .typo_tolerance(typos)
                .limit(100)
                .with_documents(false),
        )?;
        let rels = &c.qrels[qid];
        let ids: Vec<&str> = res.hits.iter().map(|h| h.id.as_str()).collect();
        ndcg += ndcg_at(&ids, rels, 10);
        let found = ids.iter().filter(|id| rels.contains_key(**id)).count();
        recall += found as f64 / rels.len().max(1) as f64;
    }
    let n = queries.len().max(1) as f64;
    Ok(Quality {
        ndcg10: ndcg / n,
        recall100: recall / n,
        queries: queries.len(),
    })
}

fn ndcg_at(ids: &[&str], rels: &HashMap<String, u32>, k: usize) -> f64 {
    let gain = |g: u32| f64::from(g);
    let dcg: f64 = ids
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, id)| gain(rels.get(*id).copied().unwrap_or(0)) / ((i + 2) as f64).log2())
        .sum();
    let mut ideal: Vec<u32> = rels.values().copied().collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, g)| gain(*g) / ((i + 2) as f64).log2())
        .sum();
    if idcg == 0.0 { 0.0 } else { dcg / idcg }
}

/// The result of the search-as-you-type check.
#[derive(Debug, Clone, Copy)]
pub struct PrefixQuality {
    /// Share of the full words' top documents found in the top 10 of their cut prefixes.
    pub found: f64,
    /// Words tried.
    pub words: usize,
}

/// Search as you type: for each query, its longest word of at least `cut + 5` letters is searched
/// alone, then cut by `cut` letters and searched as a prefix (as you type). Reports the share of the
/// full word's top 3 documents that appear in the prefix's top 10.
///
/// # Errors
/// Search errors.
pub fn prefix_eval(
    index: &SearchIndex,
    c: &Collection,
    cut: usize,
) -> ember_search::Result<PrefixQuality> {
    let mut seen = HashSet::new();
    let mut found = 0usize;
    let mut wanted = 0usize;
    let mut words = 0usize;
    for (_, q) in &c.queries {
        let Some(word) = q
            .split(|ch: char| !ch.is_ascii_alphabetic())
            .filter(|w| w.len() >= cut + 5)
            .max_by_key(|w| w.len())
            .map(str::to_lowercase)
        else {
            continue;
        };
        if !seen.insert(word.clone()) {
            continue;
        }
        let full = index.search(
            SearchRequest::new(ember_search::Query::text(&word))
                .limit(3)
                .typo_tolerance(false)
                .with_documents(false),
        )?;
        if full.hits.is_empty() {
            continue;
        }
        let typed = &word[..word.len() - cut];
        let cut_res = index.search(
            SearchRequest::new(typed)
                .as_you_type(true)
                .limit(10)
                .with_documents(false),
        )?;
        let top10: HashSet<&str> = cut_res.hits.iter().map(|h| h.id.as_str()).collect();
        words += 1;
        wanted += full.hits.len();
        found += full
            .hits
            .iter()
            .filter(|h| top10.contains(h.id.as_str()))
            .count();
    }
    Ok(PrefixQuality {
        found: found as f64 / wanted.max(1) as f64,
        words,
    })
}
