//! Loghub-2k: reading the labelled datasets and computing Grouping Accuracy.
//! The data stays where the project's shared folder has it (`../shared/data/loghub-2k`
//! beside the clone, or `$LOGHUB_DIR`); it is never copied into the repository.

#![allow(dead_code)]

use log_gardener::analyze::miner::Miner;
use std::collections::HashMap;
use std::path::PathBuf;

/// The eight datasets and Drain's published GA on their original labels.
pub const DATASETS: [(&str, f64); 8] = [
    ("Apache", 1.000),
    ("BGL", 0.963),
    ("HDFS", 0.998),
    ("HealthApp", 0.780),
    ("Linux", 0.690),
    ("OpenStack", 0.733),
    ("Spark", 0.920),
    ("Thunderbird", 0.955),
];

/// `$LOGHUB_DIR` (`.ci/run` finds the data and sets it); unset, the tests that need the data
/// say so and do not run.
pub fn data_dir() -> Option<PathBuf> {
    std::env::var_os("LOGHUB_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// RFC 4180 CSV: quoted fields, `""` escapes, newlines inside quotes.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            '\r' => {}
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// (message, ground-truth event id) for each line of a dataset; `None` (and a line on
/// stderr saying so) when `LOGHUB_DIR` is not set.
pub fn load(name: &str) -> Option<Vec<(String, String)>> {
    let Some(dir) = data_dir() else {
        eprintln!("NOT RUN: the Loghub-2k data is needed; set LOGHUB_DIR to its folder");
        return None;
    };
    let path = dir.join(name).join(format!("{name}_2k.log_structured.csv"));
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e} (set LOGHUB_DIR)", path.display()));
    let rows = parse_csv(&String::from_utf8_lossy(&bytes));
    let header = &rows[0];
    let content = header
        .iter()
        .position(|h| h == "Content")
        .expect("Content column");
    let event = header
        .iter()
        .position(|h| h == "EventId")
        .expect("EventId column");
    Some(
        rows[1..]
            .iter()
            .filter(|r| r.len() > content.max(event))
            .map(|r| (r[content].clone(), r[event].clone()))
            .collect(),
    )
}

/// Grouping Accuracy: a message counts when the set of messages sharing its predicted
/// template is exactly the set sharing its ground-truth event.
pub fn grouping_accuracy(predicted: &[usize], truth: &[String]) -> f64 {
    let mut truth_size: HashMap<&str, usize> = HashMap::new();
    for t in truth {
        *truth_size.entry(t).or_default() += 1;
    }
    let mut clusters: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, p) in predicted.iter().enumerate() {
        clusters.entry(*p).or_default().push(i);
    }
    let correct: usize = clusters
        .values()
        .filter(|members| {
            let t0 = &truth[members[0]];
            members.iter().all(|&i| &truth[i] == t0) && truth_size[t0.as_str()] == members.len()
        })
        .map(Vec::len)
        .sum();
    correct as f64 / truth.len() as f64
}

/// The miner's template index for each message.
pub fn mine(messages: &[String]) -> Vec<usize> {
    let mut miner = Miner::new();
    let keys: Vec<u32> = messages.iter().map(|m| miner.add(m)).collect();
    let templates = miner.finish();
    keys.iter().map(|&k| templates.template_of(k)).collect()
}
