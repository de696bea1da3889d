//! Cross-checks the Redis compatibility mode against a live Redis, and times Redis's GEOSEARCH.
//!
//! Optional tool, never run by tests or CI. Start a throwaway server on the loopback interface:
//!
//! ```text
//! redis-server --port 6399 --bind 127.0.0.1 --save "" --appendonly no
//! cargo run --release -p ember-geo --example redis_crosscheck -- 127.0.0.1:6399 1000000 5000
//! ```
//!
//! Arguments: address (default 127.0.0.1:6379), points (default 100000), queries per kind (default
//! 2000). It loads the same seeded random points (lon -125..-66, lat 24..50) into a scratch key and
//! into a Redis-mode `GeoIndex`, runs radius, box, ASC/DESC/COUNT and FROMMEMBER searches on both, and
//! compares members, order and distances printed with 4 decimals. Then it reports Redis's round trip
//! and server time (from `INFO commandstats`) for the two benchmark queries.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Instant;

use ember_geo::{AddOptions, GeoIndex, Unit};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const KEY: &str = "ember-geo-crosscheck";

/// A RESP reply (fields are read through `Debug` when a reply is unexpected).
#[derive(Debug)]
#[allow(dead_code)]
enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<String>),
    Array(Vec<Reply>),
}

struct Conn {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Conn {
    fn connect(addr: &str) -> std::io::Result<Conn> {
        let w = TcpStream::connect(addr)?;
        let r = BufReader::new(w.try_clone()?);
        Ok(Conn { w, r })
    }

    fn encode(args: &[String]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        out
    }

    fn read(&mut self) -> std::io::Result<Reply> {
        let mut line = String::new();
        self.r.read_line(&mut line)?;
        let line = line.trim_end();
        let (tag, rest) = line.split_at(1);
        Ok(match tag {
            "+" => Reply::Simple(rest.to_string()),
            "-" => Reply::Error(rest.to_string()),
            ":" => Reply::Int(rest.parse().unwrap_or(0)),
            "$" => {
                let n: i64 = rest.parse().unwrap_or(-1);
                if n < 0 {
                    Reply::Bulk(None)
                } else {
                    let mut buf = vec![0u8; n as usize + 2];
                    std::io::Read::read_exact(&mut self.r, &mut buf)?;
                    buf.truncate(n as usize);
                    Reply::Bulk(Some(String::from_utf8_lossy(&buf).into_owned()))
                }
            }
            "*" => {
                let n: i64 = rest.parse().unwrap_or(-1);
                let mut items = Vec::new();
                for _ in 0..n.max(0) {
                    items.push(self.read()?);
                }
                Reply::Array(items)
            }
            _ => Reply::Error(format!("unexpected reply {line}")),
        })
    }

    fn cmd(&mut self, args: &[String]) -> std::io::Result<Reply> {
        self.w.write_all(&Self::encode(args))?;
        self.read()
    }
}

fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// Redis's GEOSEARCH reply with WITHDIST as (member, "dist with 4 decimals").
fn parse_hits(reply: Reply) -> Vec<(String, String)> {
    match reply {
        Reply::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Reply::Array(mut pair) => {
                    let dist = match pair.pop() {
                        Some(Reply::Bulk(Some(d))) => d,
                        other => panic!("unexpected {other:?}"),
                    };
                    let name = match pair.pop() {
                        Some(Reply::Bulk(Some(n))) => n,
                        other => panic!("unexpected {other:?}"),
                    };
                    (name, dist)
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect(),
        other => panic!("unexpected reply {other:?}"),
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Radius5Count10,
    Radius50Asc,
    Radius50Desc,
    Box60x40Asc,
    MemberRadius20Asc,
}

/// `--fixture PATH`: records a small data set, queries and Redis's answers as JSON for the test suite
/// (`tests/it/redis_fixture.json`), so CI checks Redis compatibility without a Redis.
fn write_fixture(conn: &mut Conn, path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = SmallRng::seed_from_u64(99);
    let key = "ember-geo-fixture";
    conn.cmd(&args(&["DEL", key]))?;
    let mut points = Vec::new();
    for i in 0..1500 {
        // Sicily, and a cluster straddling the antimeridian.
        let (lon, lat): (f64, f64) = if i < 1000 {
            (rng.random_range(12.0..16.0), rng.random_range(36.5..38.5))
        } else {
            let lon: f64 = rng.random_range(179.0..181.0);
            (
                if lon > 180.0 { lon - 360.0 } else { lon },
                rng.random_range(-1.0..1.0),
            )
        };
        // Round to 6 decimals so the JSON text is exactly what Redis parsed.
        let (lon, lat) = ((lon * 1e6).round() / 1e6, (lat * 1e6).round() / 1e6);
        let name = format!("m{i}");
        conn.cmd(&args(&[
            "GEOADD",
            key,
            &lon.to_string(),
            &lat.to_string(),
            &name,
        ]))?;
        points.push(serde_json::json!([name, lon, lat]));
    }
    let mut queries = Vec::new();
    for q in 0..200 {
        let (lon, lat): (f64, f64) = if q % 4 == 3 {
            (
                if q % 8 == 3 { 179.9 } else { -179.95 },
                rng.random_range(-0.5..0.5),
            )
        } else {
            (rng.random_range(12.5..15.5), rng.random_range(36.8..38.2))
        };
        let (lon, lat) = ((lon * 1e4).round() / 1e4, (lat * 1e4).round() / 1e4);
        let mut cmd = args(&["GEOSEARCH", key]);
        if q % 5 == 0 {
            cmd.extend(args(&[
                "FROMMEMBER",
                &format!("m{}", rng.random_range(0..1500)),
            ]));
        } else {
            cmd.extend(args(&["FROMLONLAT", &lon.to_string(), &lat.to_string()]));
        }
        let unit = ["m", "km", "mi", "ft"][q % 4];
        let scale = match unit {
            "m" => 1000.0,
            "km" => 1.0,
            "mi" => 0.621371,
            _ => 3280.84,
        };
        if q % 3 == 0 {
            let w = (rng.random_range(2.0..120.0) * scale * 10.0f64).round() / 10.0;
            let h = (rng.random_range(2.0..120.0) * scale * 10.0f64).round() / 10.0;
            cmd.extend(args(&["BYBOX", &w.to_string(), &h.to_string(), unit]));
        } else {
            let r = (rng.random_range(1.0..60.0) * scale * 10.0f64).round() / 10.0;
            cmd.extend(args(&["BYRADIUS", &r.to_string(), unit]));
        }
        match q % 6 {
            0 | 1 => cmd.push("ASC".into()),
            2 => cmd.push("DESC".into()),
            3 => cmd.extend(args(&["COUNT", "7"])),
            4 => cmd.extend(args(&["COUNT", "5", "DESC"])),
            _ => cmd.push("ASC".into()),
        }
        cmd.push("WITHDIST".into());
        let hits = parse_hits(conn.cmd(&cmd)?);
        queries.push(serde_json::json!({ "cmd": cmd[2..], "expected": hits }));
    }
    conn.cmd(&args(&["DEL", key]))?;
    let doc = serde_json::json!({
        "note": "Recorded from redis-server 7.0.15 by geo/examples/redis_crosscheck.rs --fixture",
        "points": points,
        "queries": queries,
    });
    std::fs::write(path, serde_json::to_string(&doc)?)?;
    println!(
        "wrote {path}: {} points, {} queries",
        points.len(),
        queries.len()
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut argv = std::env::args().skip(1).peekable();
    if argv.peek().map(String::as_str) == Some("--fixture") {
        argv.next();
        let path = argv.next().ok_or("--fixture needs a path")?;
        let addr = argv.next().unwrap_or_else(|| "127.0.0.1:6379".into());
        let mut conn = Conn::connect(&addr)?;
        return write_fixture(&mut conn, &path);
    }
    let addr = argv.next().unwrap_or_else(|| "127.0.0.1:6379".into());
    let n: usize = argv.next().map_or(Ok(100_000), |s| s.parse())?;
    let queries: usize = argv.next().map_or(Ok(2000), |s| s.parse())?;
    let mut conn = match Conn::connect(&addr) {
        Ok(c) => c,
        Err(e) => {
            println!("skipped: no Redis at {addr} ({e})");
            return Ok(());
        }
    };
    let mut rng = SmallRng::seed_from_u64(42);
    let points: Vec<(String, f64, f64)> = (0..n)
        .map(|i| {
            (
                format!("p{i}"),
                rng.random_range(-125.0..-66.0),
                rng.random_range(24.0..50.0),
            )
        })
        .collect();

    conn.cmd(&args(&["DEL", KEY]))?;
    for chunk in points.chunks(10_000) {
        let mut c = args(&["GEOADD", KEY]);
        for (m, lon, lat) in chunk {
            c.push(format!("{lon}"));
            c.push(format!("{lat}"));
            c.push(m.clone());
        }
        conn.cmd(&c)?;
    }
    let index: GeoIndex<String> = GeoIndex::builder().redis_compat().build()?;
    index.add_many(points.iter().cloned(), AddOptions::new())?;
    println!("loaded {n} points into Redis at {addr} and into a Redis-mode GeoIndex");

    let kinds = [
        Kind::Radius5Count10,
        Kind::Radius50Asc,
        Kind::Radius50Desc,
        Kind::Box60x40Asc,
        Kind::MemberRadius20Asc,
    ];
    let mut total_mismatch = 0;
    for kind in kinds {
        let mut mismatches = 0;
        let mut hits_total = 0;
        for q in 0..queries {
            let lon: f64 = rng.random_range(-125.0..-66.0);
            let lat: f64 = rng.random_range(24.0..50.0);
            let member = &points[rng.random_range(0..n)].0;
            let (cmd, ours) = match kind {
                Kind::Radius5Count10 => (
                    args(&[
                        "GEOSEARCH",
                        KEY,
                        "FROMLONLAT",
                        &lon.to_string(),
                        &lat.to_string(),
                        "BYRADIUS",
                        "5",
                        "km",
                        "ASC",
                        "COUNT",
                        "10",
                        "WITHDIST",
                    ]),
                    index
                        .search()
                        .from_point(lon, lat)
                        .radius(5.0, Unit::Kilometers)
                        .asc()
                        .count(10)
                        .with_dist()
                        .run()?,
                ),
                Kind::Radius50Asc => (
                    args(&[
                        "GEOSEARCH",
                        KEY,
                        "FROMLONLAT",
                        &lon.to_string(),
                        &lat.to_string(),
                        "BYRADIUS",
                        "50",
                        "km",
                        "ASC",
                        "WITHDIST",
                    ]),
                    index
                        .search()
                        .from_point(lon, lat)
                        .radius(50.0, Unit::Kilometers)
                        .asc()
                        .with_dist()
                        .run()?,
                ),
                Kind::Radius50Desc => (
                    args(&[
                        "GEOSEARCH",
                        KEY,
                        "FROMLONLAT",
                        &lon.to_string(),
                        &lat.to_string(),
                        "BYRADIUS",
                        "50000",
                        "m",
                        "DESC",
                        "WITHDIST",
                    ]),
                    index
                        .search()
                        .from_point(lon, lat)
                        .radius(50_000.0, Unit::Meters)
                        .desc()
                        .with_dist()
                        .run()?,
                ),
                Kind::Box60x40Asc => (
                    args(&[
                        "GEOSEARCH",
                        KEY,
                        "FROMLONLAT",
                        &lon.to_string(),
                        &lat.to_string(),
                        "BYBOX",
                        "60",
                        "40",
                        "mi",
                        "ASC",
                        "WITHDIST",
                    ]),
                    index
                        .search()
                        .from_point(lon, lat)
                        .by_box(60.0, 40.0, Unit::Miles)
                        .asc()
                        .with_dist()
                        .run()?,
                ),
                Kind::MemberRadius20Asc => (
                    args(&[
                        "GEOSEARCH",
                        KEY,
                        "FROMMEMBER",
                        member,
                        "BYRADIUS",
                        "20",
                        "km",
                        "ASC",
                        "WITHDIST",
                    ]),
                    index
                        .search()
                        .from_member(member.as_str())
                        .radius(20.0, Unit::Kilometers)
                        .asc()
                        .with_dist()
                        .run()?,
                ),
            };
            // Rust's `{}` for f64 prints the shortest string that round-trips, as Redis needs.
            let theirs = parse_hits(conn.cmd(&cmd)?);
            let ours: Vec<(String, String)> = ours
                .into_iter()
                .map(|h| (h.member, format!("{:.4}", h.distance.unwrap_or(f64::NAN))))
                .collect();
            hits_total += theirs.len();
            if ours != theirs {
                mismatches += 1;
                if mismatches <= 3 {
                    println!(
                        "  mismatch {kind:?} q{q} at {lon},{lat}:\n    redis {theirs:?}\n    ours  {ours:?}"
                    );
                }
            }
        }
        println!(
            "{kind:?}: {queries} queries, {hits_total} hits, {mismatches} mismatches (members, order, 4-decimal distances)"
        );
        total_mismatch += mismatches;
    }

    // Timing of the two benchmark queries in Redis: round trip and server time.
    for (label, radius, count) in [
        ("5 km ASC COUNT 10", "5", true),
        ("50 km all results", "50", false),
    ] {
        conn.cmd(&args(&["CONFIG", "RESETSTAT"]))?;
        let reps = 2000;
        let cmds: Vec<Vec<String>> = (0..reps)
            .map(|_| {
                let lon: f64 = rng.random_range(-125.0..-66.0);
                let lat: f64 = rng.random_range(24.0..50.0);
                let mut c = args(&[
                    "GEOSEARCH",
                    KEY,
                    "FROMLONLAT",
                    &lon.to_string(),
                    &lat.to_string(),
                    "BYRADIUS",
                    radius,
                    "km",
                ]);
                if count {
                    c.extend(args(&["ASC", "COUNT", "10"]));
                }
                c
            })
            .collect();
        let t = Instant::now();
        for c in &cmds {
            conn.cmd(c)?;
        }
        let rtt = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
        let info = match conn.cmd(&args(&["INFO", "commandstats"]))? {
            Reply::Bulk(Some(s)) => s,
            _ => String::new(),
        };
        let server = info
            .lines()
            .find(|l| l.starts_with("cmdstat_geosearch:"))
            .and_then(|l| l.split(',').find(|f| f.starts_with("usec_per_call=")))
            .map(|f| f.trim_start_matches("usec_per_call=").to_string())
            .unwrap_or_else(|| "?".into());
        println!(
            "redis {label}: round trip {rtt:.1} µs, server {server} µs per call ({reps} calls)"
        );
    }
    conn.cmd(&args(&["DEL", KEY]))?;
    println!("total mismatching queries: {total_mismatch}");
    if total_mismatch > 0 {
        std::process::exit(1);
    }
    Ok(())
}
