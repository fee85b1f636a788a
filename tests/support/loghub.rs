//! Loghub-2k: reading the labelled datasets and computing the accuracy of mined templates
//! (Grouping Accuracy on the original labels; GA, PA, FGA and FTA on Loghub-2.0's corrected ones).
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
    let rows = read(name, "log_structured.csv")?;
    Some(rows.into_iter().map(|l| (l.message, l.event)).collect())
}

/// One labelled line: the message, its true event and that event's template.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub message: String,
    pub event: String,
    pub template: String,
}

/// The lines of a dataset with Loghub-2.0's corrected labels (Jiang et al., ISSTA 2024);
/// `None` (and a line on stderr saying so) when `LOGHUB_DIR` is not set.
pub fn load_corrected(name: &str) -> Option<Vec<Labelled>> {
    read(name, "log_structured_corrected.csv")
}

fn read(name: &str, suffix: &str) -> Option<Vec<Labelled>> {
    let Some(dir) = data_dir() else {
        eprintln!("NOT RUN: the Loghub-2k data is needed; set LOGHUB_DIR to its folder");
        return None;
    };
    let path = dir.join(name).join(format!("{name}_2k.{suffix}"));
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e} (set LOGHUB_DIR)", path.display()));
    let rows = parse_csv(&String::from_utf8_lossy(&bytes));
    let header = &rows[0];
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("{} has no {name} column", path.display()))
    };
    let (content, event, template) = (
        column("Content"),
        column("EventId"),
        column("EventTemplate"),
    );
    let needed = content.max(event).max(template);
    Some(
        rows[1..]
            .iter()
            .filter(|r| r.len() > needed)
            .map(|r| Labelled {
                message: r[content].clone(),
                event: r[event].clone(),
                template: r[template].clone(),
            })
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

/// The miner's template text for each message.
pub fn mine_templates(messages: &[String]) -> Vec<String> {
    let mut miner = Miner::new();
    let keys: Vec<u32> = messages.iter().map(|m| miner.add(m)).collect();
    let templates = miner.finish();
    keys.iter()
        .map(|&k| templates.template(templates.template_of(k)).to_owned())
        .collect()
}

/// A template as both sides are compared: runs of whitespace are one space, and a run of
/// `<*>` joined by `:`, `.`, `-` or nothing is one `<*>` (`<*>:<*>` and `<*>.<*>.<*>` are
/// one value written in parts, which parsers and labels split differently).
pub fn normalise(template: &str) -> String {
    const W: &str = "<*>";
    let spaced = template.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::with_capacity(spaced.len());
    let mut rest = spaced.as_str();
    while let Some(at) = rest.find(W) {
        out.push_str(&rest[..at]);
        out.push_str(W);
        rest = &rest[at + W.len()..];
        // Swallow `[:.-]*<*>` as long as it repeats.
        loop {
            let joint = rest.len() - rest.trim_start_matches([':', '.', '-']).len();
            if rest[joint..].starts_with(W) {
                rest = &rest[joint + W.len()..];
            } else {
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The four accuracies of Loghub-2.0 (Jiang et al., ISSTA 2024) for one dataset.
#[derive(Debug, Clone, Copy, Default)]
pub struct Accuracy {
    /// Grouping Accuracy: messages whose predicted group is exactly their true group.
    pub ga: f64,
    /// Parsing Accuracy: messages whose predicted template equals the true one.
    pub pa: f64,
    /// F1 of groups: a predicted group is right when it is exactly a true group.
    pub fga: f64,
    /// F1 of templates: a predicted group is right when it is exactly a true group and its
    /// template equals that group's true template.
    pub fta: f64,
}

/// The accuracies of `predicted` (a template per message) against `truth`, both sides
/// normalised by [`normalise`]; messages are grouped by their predicted template's text.
pub fn accuracy(predicted: &[String], truth: &[Labelled]) -> Accuracy {
    assert_eq!(predicted.len(), truth.len());
    let n = truth.len();
    if n == 0 {
        return Accuracy::default();
    }
    let mut truth_groups: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, t) in truth.iter().enumerate() {
        truth_groups.entry(&t.event).or_default().push(i);
    }
    let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in predicted.iter().enumerate() {
        groups.entry(p).or_default().push(i);
    }
    let (mut grouped, mut right_groups, mut right_templates) = (0, 0, 0);
    for (template, members) in &groups {
        let event = &truth[members[0]].event;
        let exact = members.iter().all(|&i| &truth[i].event == event)
            && truth_groups[event.as_str()].len() == members.len();
        if exact {
            grouped += members.len();
            right_groups += 1;
            if normalise(template) == normalise(&truth[members[0]].template) {
                right_templates += 1;
            }
        }
    }
    let parsed = predicted
        .iter()
        .zip(truth)
        .filter(|(p, t)| normalise(p) == normalise(&t.template))
        .count();
    let f1 = |right: usize| {
        let precision = right as f64 / groups.len() as f64;
        let recall = right as f64 / truth_groups.len() as f64;
        if right == 0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        }
    };
    Accuracy {
        ga: grouped as f64 / n as f64,
        pa: parsed as f64 / n as f64,
        fga: f1(right_groups),
        fta: f1(right_templates),
    }
}
