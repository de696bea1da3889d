//! `ir_eval`: retrieval quality of ember-search on any BEIR-format collection.
//!
//! ```text
//! cargo run --release -p ember-benches --bin ir_eval -- --data DIR [--typos SEED] [--no-typo-tolerance] [--prefix-cut N]
//! ```
//!
//! `DIR` holds `corpus.jsonl` (`_id`, `title`, `text`), `queries.jsonl` (`_id`, `text`) and
//! `qrels/test.tsv` (`query-id`, `corpus-id`, `score`); the queries judged in `qrels/test.tsv` are run.
//! The last line is `ndcg@10=<x> recall@100=<y> queries=<n>`; with `--typos SEED` every query first gets
//! one seeded typo; with `--prefix-cut N` the last line is instead
//! `prefix_cut=<N> found=<share> words=<n>`: the share of full words' top-3 documents found in the top 10
//! when the word is typed without its last `N` letters (search as you type).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

mod ir;

struct Args {
    data: PathBuf,
    typos: Option<u64>,
    tolerance: bool,
    prefix_cut: Option<usize>,
}

fn usage() -> String {
    "usage: ir_eval --data DIR [--typos SEED] [--no-typo-tolerance] [--prefix-cut N]".to_string()
}

fn parse_args() -> Result<Args, String> {
    let mut data = None;
    let mut typos = None;
    let mut tolerance = true;
    let mut prefix_cut = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--data" => data = Some(PathBuf::from(it.next().ok_or_else(usage)?)),
            "--typos" => {
                let v = it.next().ok_or_else(usage)?;
                typos = Some(v.parse().map_err(|_| format!("--typos: bad seed {v:?}"))?);
            }
            "--no-typo-tolerance" => tolerance = false,
            "--prefix-cut" => {
                let v = it.next().ok_or_else(usage)?;
                let n: usize = v
                    .parse()
                    .map_err(|_| format!("--prefix-cut: bad number {v:?}"))?;
                if n == 0 {
                    return Err("--prefix-cut must be at least 1".into());
                }
                prefix_cut = Some(n);
            }
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
    Ok(Args {
        data: data.ok_or_else(usage)?,
        typos,
        tolerance,
        prefix_cut,
    })
}

fn run(args: Args) -> Result<(), String> {
    let t = Instant::now();
    let coll = ir::load(&args.data).map_err(|e| format!("{}: {e}", args.data.display()))?;
    println!(
        "collection {}: {} documents, {} judged queries",
        args.data.display(),
        coll.corpus.len(),
        coll.queries.len()
    );
    let index = ir::index(&coll, args.tolerance).map_err(|e| e.to_string())?;
    println!(
        "indexed in {:.2}s (typo tolerance {})",
        t.elapsed().as_secs_f64(),
        if args.tolerance { "on" } else { "off" }
    );
    if let Some(cut) = args.prefix_cut {
        let p = ir::prefix_eval(&index, &coll, cut).map_err(|e| e.to_string())?;
        println!("prefix_cut={cut} found={:.4} words={}", p.found, p.words);
        return Ok(());
    }
    let queries = match args.typos {
        Some(seed) => {
            let q = ir::typo_queries(&coll, seed);
            if let Some((_, example)) = q.first() {
                println!("typo'd queries (seed {seed}), e.g. {example:?}");
            }
            q
        }
        None => coll.queries.clone(),
    };
    let t = Instant::now();
    let q = ir::evaluate(&index, &coll, &queries, args.tolerance).map_err(|e| e.to_string())?;
    println!(
        "searched in {:.2}s ({:.2} ms/query)",
        t.elapsed().as_secs_f64(),
        t.elapsed().as_secs_f64() * 1000.0 / q.queries.max(1) as f64
    );
    println!(
        "ndcg@10={:.4} recall@100={:.4} queries={}",
        q.ndcg10, q.recall100, q.queries
    );
    Ok(())
}

fn main() -> ExitCode {
    match parse_args().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
