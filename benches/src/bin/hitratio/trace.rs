//! Reading cache traces: the formats of `cache-traces/SOURCES.md`, and synthetic Zipf traces.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// How a trace file encodes its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// ARC traces: text lines `start count ignored request_no`, expanded to `start..start+count`.
    Arc,
    /// LIRS traces: one decimal key per line; `*` and empty lines skipped.
    Lirs,
    /// Big-endian u32 keys.
    U32Be,
    /// Big-endian i64 keys.
    I64Be,
    /// One decimal key per line.
    Text,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "arc" => Format::Arc,
            "lirs" => Format::Lirs,
            "u32be" => Format::U32Be,
            "i64be" => Format::I64Be,
            "text" => Format::Text,
            _ => return None,
        })
    }

    /// Guesses the format from the path (the layout of the shared data set, then file names).
    pub fn guess(path: &str) -> Format {
        let p = path.to_ascii_lowercase();
        if p.contains(".lis") || p.contains("/arc/") {
            Format::Arc
        } else if p.contains("/lirs/") {
            Format::Lirs
        } else if p.contains("scarab") || p.contains("corda") {
            Format::I64Be
        } else if p.contains("/cache2k/") || p.contains("cloudphysics") {
            Format::U32Be
        } else {
            Format::Text
        }
    }
}

fn open(path: &Path) -> io::Result<Box<dyn Read>> {
    let file = BufReader::with_capacity(1 << 20, File::open(path)?);
    let name = path.to_string_lossy();
    Ok(if name.ends_with(".zst") {
        Box::new(zstd::stream::read::Decoder::new(file)?)
    } else if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else if name.ends_with(".xz") {
        Box::new(xz2::read::XzDecoder::new_multi_decoder(file))
    } else {
        Box::new(file)
    })
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Reads every key of a trace file.
pub fn read(path: &Path, format: Format) -> io::Result<Vec<u64>> {
    let mut reader = BufReader::with_capacity(1 << 20, open(path)?);
    let mut keys = Vec::new();
    match format {
        Format::Arc | Format::Lirs | Format::Text => {
            let mut line = String::new();
            let mut n = 0usize;
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 {
                    break;
                }
                n += 1;
                let t = line.trim();
                if t.is_empty() || (format == Format::Lirs && t == "*") {
                    continue;
                }
                if format == Format::Arc {
                    let mut it = t.split_ascii_whitespace();
                    let start: u64 = it
                        .next()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| bad(format!("line {n}: bad start in {t:?}")))?;
                    let count: u64 = it
                        .next()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| bad(format!("line {n}: bad count in {t:?}")))?;
                    keys.extend(start..start + count);
                } else {
                    let key: i64 = t
                        .parse()
                        .map_err(|_| bad(format!("line {n}: not a key: {t:?}")))?;
                    keys.push(key as u64);
                }
            }
        }
        Format::U32Be => {
            let mut buf = [0u8; 4];
            while read_exact_or_eof(&mut reader, &mut buf)? {
                keys.push(u64::from(u32::from_be_bytes(buf)));
            }
        }
        Format::I64Be => {
            let mut buf = [0u8; 8];
            while read_exact_or_eof(&mut reader, &mut buf)? {
                keys.push(i64::from_be_bytes(buf) as u64);
            }
        }
    }
    Ok(keys)
}

fn read_exact_or_eof(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = r.read(&mut buf[filled..])?;
        if n == 0 {
            if filled == 0 {
                return Ok(false);
            }
            return Err(bad("trailing partial key".into()));
        }
        filled += n;
    }
    Ok(true)
}

/// `requests` keys drawn from a Zipf distribution of exponent `s` over `ranks` keys (fixed seed).
pub fn zipf(s: f64, requests: usize, ranks: usize, seed: u64) -> Vec<u64> {
    let mut cdf = Vec::with_capacity(ranks);
    let mut total = 0.0;
    for r in 1..=ranks {
        total += 1.0 / (r as f64).powf(s);
        cdf.push(total);
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..requests)
        .map(|_| {
            let x = rng.random::<f64>() * total;
            cdf.partition_point(|&c| c < x).min(ranks - 1) as u64
        })
        .collect()
}
