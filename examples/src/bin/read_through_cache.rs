//! `read_through_cache`: a slow database behind a write-back ember-cache.
//!
//! 1. Reads: a Zipf-popular catalogue of 2 000 products read through a 400-entry cache; the store is
//!    only asked on misses, and concurrent misses of one product share one store read.
//! 2. Writes: price updates go to the cache at once and to the store in `put_many` batches.
//! 3. An outage: the store goes down; writes keep being acknowledged and served from the cache,
//!    `flush()` reports what is still dirty; when the store is back everything is written.
//!
//! Run: `cargo run --release -p ember-examples --bin read_through_cache`

use std::time::Duration;

use ember_cache::{Cache, Error, WriteBack, WritePolicy};
use ember_core::{MemoryStore, Store};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const PRODUCTS: u32 = 2_000;

fn zipf_sampler(n: u32, s: f64) -> impl FnMut(&mut SmallRng) -> u32 {
    let mut cdf = Vec::with_capacity(n as usize);
    let mut total = 0.0;
    for r in 1..=n {
        total += 1.0 / f64::from(r).powf(s);
        cdf.push(total);
    }
    move |rng| {
        let x = rng.random::<f64>() * total;
        cdf.partition_point(|&c| c < x).min(n as usize - 1) as u32
    }
}

fn main() -> Result<(), Error> {
    // The "database": every call takes 200 µs.
    let db: MemoryStore<u32, u64> = MemoryStore::new();
    for id in 0..PRODUCTS {
        db.seed(id, 1_000 + u64::from(id));
    }
    db.latency(Duration::from_micros(200));

    let cache: Cache<u32, u64> = Cache::builder()
        .max_capacity(400)
        .store(
            db.clone(),
            WritePolicy::WriteBack(
                WriteBack::new()
                    .batch_size(64)
                    .max_delay(Duration::from_millis(20))
                    .retry_backoff(Duration::from_millis(10), Duration::from_millis(200)),
            ),
        )
        .build()?;

    println!("1. reads: 20 000 Zipf(0.9) reads of {PRODUCTS} products through a 400-entry cache");
    let mut rng = SmallRng::seed_from_u64(7);
    let mut next = zipf_sampler(PRODUCTS, 0.9);
    let keys: Vec<u32> = (0..20_000).map(|_| next(&mut rng)).collect();
    std::thread::scope(|s| {
        for chunk in keys.chunks(5_000) {
            let cache = cache.clone();
            s.spawn(move || {
                for id in chunk {
                    cache.fetch(id).expect("store is up");
                }
            });
        }
    });
    let st = cache.stats();
    println!(
        "   hits {} misses {} (hit ratio {}), store reads {}",
        st.hits,
        st.misses,
        st.hit_ratio,
        db.calls().gets
    );

    println!("2. writes: 1 000 price updates to 300 products (write-back, batches of 64)");
    for i in 0..1_000u32 {
        cache.put(i % 300, 2_000 + u64::from(i))?;
    }
    let before = cache.stats();
    println!(
        "   acknowledged at once; dirty right after: {}",
        before.dirty
    );
    cache.flush()?;
    let st = cache.stats();
    println!(
        "   after flush: dirty {}, store batches (put_many) {}, entries written {} (coalesced from 1 000 puts)",
        st.dirty,
        db.calls().put_many,
        st.flushed_entries
    );

    println!("3. outage: the store goes down");
    db.set_down(true);
    for i in 0..200u32 {
        cache.put(1_000 + i, 9_000 + u64::from(i))?;
    }
    println!(
        "   200 writes acknowledged during the outage; a read sees the new value: {:?}",
        cache.fetch(&1_005)?
    );
    match cache.flush() {
        Err(Error::Flush { pending, source }) => {
            println!("   flush() -> error: {pending} entries still dirty ({source})")
        }
        other => println!("   flush() -> {other:?}"),
    }
    println!(
        "   store value of product 1005 meanwhile: {:?}",
        db.peek(&1_005)
    );
    db.set_down(false);
    println!("   store is back");
    cache.flush()?;
    let st = cache.stats();
    let all_there = (0..200u32).all(|i| db.peek(&(1_000 + i)) == Some(9_000 + u64::from(i)));
    println!(
        "   after flush: dirty {}, flush failures so far {}, every outage write in the store: {all_there}",
        st.dirty, st.flush_failures
    );
    assert!(all_there);
    let check = db.get(&1_005).ok().flatten();
    println!("   product 1005 in the store: {check:?}");
    cache.close()?;
    println!("final stats: {}", cache.stats());
    Ok(())
}
