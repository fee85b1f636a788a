//! Template mining throughput, one core: Loghub-2k messages repeated with a varying number
//! in each line, so every repeat is new text as in a real stream.
//!
//! `cargo bench --bench templates` (the Loghub data: `$LOGHUB_DIR`).

#[path = "../tests/support/loghub.rs"]
mod loghub;

use log_gardener::analyze::miner::Miner;
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let repeat: usize = std::env::var("REPEAT")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(100);
    let base: Vec<String> = loghub::DATASETS
        .iter()
        .flat_map(|(name, _)| {
            loghub::load(name)
                .expect("the Loghub-2k data: set LOGHUB_DIR")
                .into_iter()
                .map(|(m, _)| m)
        })
        .collect();
    let lines: Vec<String> = (0..repeat)
        .flat_map(|r| {
            base.iter()
                .enumerate()
                .map(move |(i, l)| format!("{l} seq {}", r * 100_003 + i))
        })
        .collect();
    let bytes: usize = lines.iter().map(String::len).sum();
    let mut best = f64::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let mut miner = Miner::new();
        for l in &lines {
            black_box(miner.add(l));
        }
        let templates = miner.finish();
        black_box(templates.len());
        best = best.min(started.elapsed().as_secs_f64());
    }
    println!(
        "templates: {} lines ({:.0} MB) in {:.3} s: {:.2} M lines/s, {:.0} MB/s (best of 3, one core)",
        lines.len(),
        bytes as f64 / 1e6,
        best,
        lines.len() as f64 / best / 1e6,
        bytes as f64 / 1e6 / best
    );
}
