//! Example `work_queue`: an image-processing pipeline on ember-queue.
//!
//! A producer uploads "images"; a pool of workers makes thumbnails. Workers fail at random (a flaky
//! storage service) and retry with exponential backoff and jitter; large images extend their
//! visibility timeout while they work; a few corrupt images fail every time and land in the
//! dead-letter queue after their last attempt. Then the decoder is "fixed" and the dead letters are
//! redriven, and this time they go through. Duplicate uploads are absorbed by deduplication ids.
//!
//! `cargo run --release -p ember-examples --bin work_queue`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use ember_queue::{Error, Jitter, Message, NackOutcome, Queue, RetryPolicy};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// One upload to process.
#[derive(Debug, Clone)]
struct Image {
    name: String,
    width: u32,
    height: u32,
}

const IMAGES: u32 = 240;
const WORKERS: u64 = 4;
const FLAKY_PERCENT: u32 = 15;

/// "Decodes" the image and computes a thumbnail checksum: real CPU work proportional to the size.
fn make_thumbnail(image: &Image, decoder_fixed: bool) -> Result<u64, String> {
    if image.name.contains("corrupt") && !decoder_fixed {
        return Err("unsupported colour profile".to_string());
    }
    let (w, h) = (image.width / 16, image.height / 16);
    let mut acc = 0xcbf2_9ce4_8422_2325u64;
    for y in 0..h {
        for x in 0..w {
            acc ^= u64::from(x * 31 + y * 17);
            acc = acc.wrapping_mul(0x100_0000_01b3);
        }
    }
    Ok(acc)
}

fn wait_until(queue: &Queue<Image>, settled: u64) {
    loop {
        let s = queue.stats();
        if s.acks + s.dead_letters >= settled && s.depth() == 0 {
            return;
        }
        thread::yield_now();
    }
}

fn main() -> Result<(), Error> {
    let queue: Queue<Image> = Queue::builder()
        .capacity(64) // backpressure: the uploader waits when workers fall behind
        .visibility_timeout(Duration::from_secs(2))
        .retry(
            RetryPolicy::exponential(Duration::from_millis(5), Duration::from_millis(80))
                .with_jitter(Jitter::Full),
        )
        .max_receives(4)
        .build()?;

    let decoder_fixed = Arc::new(AtomicBool::new(false));
    let thumbnails = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (queue, fixed, thumbnails) =
                (queue.clone(), decoder_fixed.clone(), thumbnails.clone());
            thread::spawn(move || {
                let mut rng = SmallRng::seed_from_u64(w);
                let (mut done, mut failed) = (0u32, 0u32);
                loop {
                    let job = match queue.receive() {
                        Ok(job) => job,
                        Err(Error::Closed) => break,
                        Err(e) => panic!("worker {w}: {e}"),
                    };
                    let image = job.body();
                    if image.width >= 4000 {
                        // A big one: ask for more time before starting.
                        if queue
                            .extend(job.receipt(), Duration::from_secs(10))
                            .is_err()
                        {
                            continue; // too late: the lease ran out and the job will come back
                        }
                    }
                    let result = if rng.random_range(0..100) < FLAKY_PERCENT {
                        Err("storage timed out".to_string())
                    } else {
                        make_thumbnail(image, fixed.load(Ordering::SeqCst))
                    };
                    match result {
                        Ok(_) => match queue.ack(job.receipt()) {
                            Ok(()) => {
                                thumbnails.fetch_add(1, Ordering::SeqCst);
                                done += 1;
                            }
                            // A worker that stalled past its visibility timeout lost the lease: the
                            // job was (or will be) delivered again, and the ack is refused.
                            Err(Error::StaleReceipt(id)) => {
                                println!("  worker {w}: lease of {id} lost")
                            }
                            Err(e) => panic!("worker {w}: {e}"),
                        },
                        Err(why) => {
                            failed += 1;
                            let outcome = queue.nack_with_error(job.receipt(), why.as_str());
                            if outcome == Ok(NackOutcome::DeadLettered) {
                                println!(
                                    "  worker {w}: {} failed {} times ({why}) -> dead-letter queue",
                                    image.name,
                                    job.receive_count()
                                );
                            }
                        }
                    }
                }
                (w, done, failed)
            })
        })
        .collect();

    // The uploader: some images are corrupt, some uploads are retried by the client (duplicates).
    println!("uploading {IMAGES} images to {WORKERS} workers...");
    let mut duplicates = 0;
    for i in 0..IMAGES {
        let corrupt = i % 50 == 7;
        let image = Image {
            name: if corrupt {
                format!("IMG_{i:04}_corrupt.heic")
            } else {
                format!("IMG_{i:04}.jpg")
            },
            width: if i % 40 == 0 {
                6000
            } else {
                1600 + (i % 7) * 200
            },
            height: 1200,
        };
        let upload_id = format!("upload-{i}");
        queue
            .send_message(Message::new(image.clone()).dedup_id(upload_id.clone()))
            .map_err(Error::from)?;
        if i % 30 == 0 {
            // The client did not see our response and uploads again: accepted, not enqueued twice.
            queue
                .send_message(Message::new(image).dedup_id(upload_id))
                .map_err(Error::from)?;
            duplicates += 1;
        }
    }
    wait_until(&queue, u64::from(IMAGES));
    let s = queue.stats();
    println!(
        "first pass: {} thumbnails, {} dead letters, {} retries, {} duplicate uploads absorbed",
        thumbnails.load(Ordering::SeqCst),
        s.dead_letters,
        s.nacks,
        s.deduplicated
    );
    assert_eq!(s.deduplicated, duplicates);
    println!("dead-letter queue:");
    for letter in queue.dead_letters().list() {
        println!(
            "  {} {}: {} attempts, last error: {}",
            letter.id,
            letter.body.name,
            letter.attempts,
            letter.last_error.as_deref().unwrap_or("-")
        );
    }

    println!("deploying the decoder fix, redriving the dead letters...");
    decoder_fixed.store(true, Ordering::SeqCst);
    let mut moved = 0;
    // (A healthy image can also exhaust its attempts on flaky storage; redrive until none is left.)
    while !queue.dead_letters().is_empty() {
        moved += queue.dead_letters().redrive_all()?;
        wait_until(&queue, u64::from(IMAGES));
    }
    println!(
        "redrove {moved}; dead-letter queue now holds {}",
        queue.dead_letters().len()
    );

    queue.close();
    for w in workers {
        let (w, done, failed) = w.join().expect("worker panicked");
        println!("  worker {w}: {done} thumbnails, {failed} failed attempts");
    }
    let s = queue.stats();
    println!("final: {s}");
    assert_eq!(
        s.acks,
        u64::from(IMAGES),
        "every image processed exactly once"
    );
    assert_eq!(s.depth(), 0);
    Ok(())
}
