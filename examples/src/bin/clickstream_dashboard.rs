//! A real-time analytics dashboard over a clickstream, built on ember-stream topics and windows.
//!
//! Page views (user, page, event time) are produced to a `page-views` topic keyed by user, arriving
//! out of order (network delay up to 20 s; 0.5 % of the views come from clients that were offline for
//! minutes). The dashboard consumes the topic partition by partition and runs three window operators:
//!
//! - per-page view counts in 1-minute tumbling windows (watermark bound 30 s, allowed lateness
//!   2 minutes: late views update the minute they belong to), appended as JSON to a
//!   `views-per-minute` topic that a dashboard UI would read;
//! - the top pages of 5-minute hopping windows advancing every minute;
//! - user sessions closed by 30 minutes of inactivity (views and distinct pages per session);
//!
//! and reports the views that came too late to be counted, with how far behind the watermark they
//! were.
//!
//! `cargo run --release -p ember-examples --bin clickstream_dashboard`

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ember_stream::window::topic::append_results_json;
use ember_stream::window::{Event, LateEvent, LateReason, ResultKind, Windower, Windows};
use ember_stream::{Message, Record, Topic};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const USERS: u32 = 1_500;
const PARTITIONS: u32 = 4;
/// 2024-01-01 09:00 UTC.
const START_MS: u64 = 1_704_099_600_000;
const HOURS: u64 = 3;
const PAGES: [&str; 12] = [
    "/home",
    "/search",
    "/product/espresso",
    "/product/grinder",
    "/product/kettle",
    "/cart",
    "/checkout",
    "/blog/latte-art",
    "/blog/cold-brew",
    "/account",
    "/help",
    "/product/scale",
];

/// `hh:mm:ss` of an event time.
fn clock(ms: u64) -> String {
    let s = (ms / 1000) % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn hhmm(ms: u64) -> String {
    clock(ms)[..5].to_string()
}

/// One page view: user, page and event time, plus when it reached the topic.
struct View {
    user: String,
    page: &'static str,
    at: u64,
    arrives: u64,
}

/// Users browse in visits (about 12 views, 40 s apart on average) separated by pauses of 20 minutes
/// to 2 hours (so some visits belong to one 30-minute-gap session); the
/// popular pages get most views. Delivery is delayed by up to 20 s, and by 3–8 minutes for 0.5 %.
fn simulate(rng: &mut SmallRng) -> Vec<View> {
    let end = START_MS + HOURS * 3_600_000;
    let mut views = Vec::new();
    for u in 0..USERS {
        let user = format!("user-{u:03}");
        let mut t = START_MS + rng.random_range(0..3_600_000);
        while t < end {
            let visit_len = rng.random_range(1..24);
            for _ in 0..visit_len {
                // Zipf-like page popularity: the square of a uniform picks low indexes more often.
                let x: f64 = rng.random();
                let page = PAGES[((x * x) * PAGES.len() as f64) as usize];
                let delay = if rng.random_bool(0.005) {
                    rng.random_range(180_000..480_000)
                } else {
                    rng.random_range(0..20_000)
                };
                views.push(View {
                    user: user.clone(),
                    page,
                    at: t,
                    arrives: t + delay,
                });
                t += rng.random_range(2_000..80_000);
            }
            t += rng.random_range(20 * 60_000..120 * 60_000);
        }
    }
    views.sort_by_key(|v| v.arrives);
    views
}

/// The page of a record (its value) as a `&'static str`.
fn page_of(r: &Record) -> &'static str {
    let v = r.value_str().unwrap_or_default();
    PAGES
        .iter()
        .find(|p| **p == v)
        .copied()
        .unwrap_or("/unknown")
}

fn main() {
    let mut rng = SmallRng::seed_from_u64(2024);
    let views = simulate(&mut rng);
    let far_late = views.iter().filter(|v| v.arrives - v.at >= 180_000).count();
    println!(
        "clickstream_dashboard: {} page views by {USERS} users over {HOURS} h from {}, delivered up to \
         20 s out of order ({far_late} views 3-8 min late)",
        views.len(),
        hhmm(START_MS)
    );

    // Produce: the page-views topic, keyed by user, with the event time as record timestamp.
    let topic = Topic::builder("page-views")
        .partitions(PARTITIONS)
        .build()
        .expect("topic");
    let batch: Vec<Message> = views
        .iter()
        .map(|v| Message::keyed(v.user.clone(), v.page).timestamp(v.at))
        .collect();
    topic.append_batch(batch).expect("append");

    // The three operators. Each declares the topic's partitions: one watermark per partition, the
    // minimum across them drives the windows.
    let mut per_minute =
        Windower::<&'static str, ()>::builder(Windows::tumbling(Duration::from_secs(60)))
            .count()
            .partitions(PARTITIONS)
            .max_out_of_orderness(Duration::from_secs(30))
            .allowed_lateness(Duration::from_secs(120))
            .build()
            .expect("tumbling");
    let mut top = Windower::<&'static str, ()>::builder(Windows::hopping(
        Duration::from_secs(300),
        Duration::from_secs(60),
    ))
    .count()
    .partitions(PARTITIONS)
    .max_out_of_orderness(Duration::from_secs(30))
    .build()
    .expect("hopping");
    let mut sessions =
        Windower::<String, &'static str>::builder(Windows::session(Duration::from_secs(30 * 60)))
            .aggregate_with_merge(
                || (0u32, BTreeSet::new()),
                |acc: &mut (u32, BTreeSet<&'static str>), page: &&'static str| {
                    acc.0 += 1;
                    acc.1.insert(*page);
                },
                |acc, other| {
                    acc.0 += other.0;
                    acc.1.extend(other.1);
                },
            )
            .partitions(PARTITIONS)
            .max_out_of_orderness(Duration::from_secs(30))
            .allowed_lateness(Duration::from_secs(600))
            .build()
            .expect("sessions");

    // Consume: round-robin over the partitions, 64 records at a time, as a consumer would poll.
    let dashboard = Topic::builder("views-per-minute")
        .partitions(1)
        .build()
        .expect("topic");
    let mut offsets = vec![0u64; PARTITIONS as usize];
    let mut minutes: BTreeMap<u64, BTreeMap<&'static str, u64>> = BTreeMap::new();
    let (mut finals, mut updates) = (0u64, 0u64);
    let mut hop_results = Vec::new();
    let mut session_results = Vec::new();
    let mut late: Vec<LateEvent<&'static str, ()>> = Vec::new();
    let mut appended = 0usize;
    loop {
        let mut progressed = false;
        for p in 0..PARTITIONS {
            let records = topic.read(p, offsets[p as usize], 64).expect("read");
            offsets[p as usize] += records.len() as u64;
            progressed |= !records.is_empty();
            for r in records {
                let page = page_of(&r);
                let user = r.key_str().unwrap_or_default().to_string();
                per_minute
                    .push(Event::from_record(r.clone(), |_| (page, ())))
                    .expect("partition");
                top.push(Event::from_record(r.clone(), |_| (page, ())))
                    .expect("partition");
                sessions
                    .push(Event::from_record(r, |_| (user, page)))
                    .expect("partition");
            }
        }
        if !progressed {
            per_minute.finish();
            top.finish();
            sessions.finish();
        }
        // The dashboard's sink: every result of the per-minute counts goes to the output topic.
        let results = per_minute.take_results();
        appended += append_results_json(&dashboard, &results)
            .expect("append results")
            .len();
        for r in results {
            match r.kind {
                ResultKind::Final => finals += 1,
                ResultKind::Update => updates += 1,
                _ => {}
            }
            minutes.entry(r.start).or_default().insert(r.key, r.value);
        }
        hop_results.extend(top.take_results());
        session_results.extend(sessions.take_results());
        late.extend(per_minute.take_late());
        if !progressed {
            break;
        }
    }

    println!();
    println!(
        "-- views per page, 1-minute tumbling windows (bound 30 s, allowed lateness 2 min) --"
    );
    for (start, pages) in minutes.iter().skip(45).take(5) {
        let mut ranked: Vec<_> = pages.iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let total: u64 = pages.values().sum();
        let shown: Vec<String> = ranked
            .iter()
            .take(4)
            .map(|(p, n)| format!("{p} {n}"))
            .collect();
        println!("  {}  {total:>4} views: {}", hhmm(*start), shown.join(", "));
    }
    println!(
        "  {} minute windows x pages: {finals} final results, {updates} updates from late views \
         within the lateness",
        minutes.len()
    );

    println!();
    println!("-- top pages, 5-minute hopping windows advancing every minute --");
    let mut by_window: BTreeMap<(u64, u64), Vec<(&'static str, u64)>> = BTreeMap::new();
    for r in &hop_results {
        by_window
            .entry((r.start, r.end))
            .or_default()
            .push((r.key, r.value));
    }
    for ((start, end), mut pages) in by_window.into_iter().skip(60).step_by(15).take(5) {
        pages.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let shown: Vec<String> = pages
            .iter()
            .take(3)
            .map(|(p, n)| format!("{p} {n}"))
            .collect();
        println!("  [{} - {})  {}", hhmm(start), hhmm(end), shown.join(", "));
    }

    println!();
    println!("-- user sessions, 30-minute inactivity gap --");
    let mut live: BTreeMap<(String, u64, u64), (u32, usize)> = BTreeMap::new();
    for r in &session_results {
        let id = (r.key.clone(), r.start, r.end);
        match r.kind {
            ResultKind::Retract => {
                live.remove(&id);
            }
            ResultKind::Final | ResultKind::Update => {
                live.insert(id, (r.value.0, r.value.1.len()));
            }
            _ => {}
        }
    }
    let n = live.len().max(1) as f64;
    let views_total: u32 = live.values().map(|v| v.0).sum();
    let pages_total: usize = live.values().map(|v| v.1).sum();
    let minutes_total: u64 = live.keys().map(|(_, s, e)| (e - s) / 60_000).sum();
    let longest = live
        .iter()
        .max_by_key(|((_, s, e), _)| e - s)
        .map(|((u, s, e), (v, _))| format!("{u} {}-{} ({v} views)", hhmm(*s), hhmm(*e)));
    let ss = sessions.stats();
    println!(
        "  {} sessions: {:.1} views, {:.1} distinct pages, {:.1} minutes on average; longest: {}",
        live.len(),
        f64::from(views_total) / n,
        pages_total as f64 / n,
        minutes_total as f64 / n,
        longest.unwrap_or_default()
    );
    println!(
        "  late views that bridged or extended emitted sessions: {} retractions, {} updates",
        ss.retractions, ss.updates
    );

    println!();
    println!("-- late views (beyond the 2-minute lateness of the per-minute counts) --");
    println!(
        "  {} views sent to the side output (of {far_late} sent 3-8 min late)",
        late.len()
    );
    for l in late.iter().take(4) {
        println!(
            "  {} at {}: arrived when the watermark was {}, {} s behind; {}",
            l.event.key,
            clock(l.event_time),
            l.watermark.map(clock).unwrap_or_default(),
            l.behind_ms() / 1000,
            match l.reason {
                LateReason::WindowClosed { window_end } => format!(
                    "its minute closed for good at {}",
                    clock(window_end + 1 + 120_000)
                ),
                _ => "after the end of input".to_string(),
            }
        );
    }

    println!();
    println!("-- the dashboard topic --");
    let last = dashboard
        .read(0, appended.saturating_sub(1) as u64, 1)
        .expect("read");
    println!(
        "  {appended} per-minute results appended as JSON to \"views-per-minute\"; the last one: {}",
        last.first().and_then(|r| r.value_str()).unwrap_or_default()
    );
    println!();
    println!("per-minute: {}", per_minute.stats());
    println!("top pages:  {}", top.stats());
    println!("sessions:   {}", sessions.stats());
}
