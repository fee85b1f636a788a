//! Template accuracy on Loghub-2k with Loghub-2.0's corrected labels: GA, PA, FGA and FTA
//! per dataset, one configuration for all, both sides normalised the same way
//! ([`support::loghub::normalise`]).
//!
//! `cargo test --test loghub_templates -- --nocapture` prints the table;
//! `TEMPLATE_DIFF=Linux` (or `all`) also prints each wrong template beside the true one.

mod support;

use support::loghub::{DATASETS, Labelled, accuracy, load_corrected, mine_templates, normalise};

/// The GA of each dataset on the corrected labels before templates were worked on (issue 11):
/// grouping must not get worse, with one exception that the labels force. Linux's labels make
/// three events of `authentication failure; ... rhost=<*> user=root`, `user=guest` and
/// `user=test` (351, 17 and 4 lines); user names are personal data and always a variable here,
/// so those 372 lines are one template and their three groups count as wrong (0.186 of GA).
/// Thunderbird's 14 lines of `(root) CMD (run-parts <*>)` now share a template with the five
/// of `(root) CMD (<*> <*>)`: a masked value in both columns matches the other's word, and
/// they stood apart before only because `(supports C1)` was masked to `(supports <*>)` and lent
/// `<*>)` the frequency that made `run-parts` a pattern of its own (0.007 of GA).
const GA_BEFORE: [(&str, f64); 8] = [
    ("Apache", 1.0),
    ("BGL", 1.0),
    ("HDFS", 1.0),
    ("HealthApp", 1.0),
    ("Linux", 0.8705 - 372.0 / 2000.0),
    ("OpenStack", 1.0),
    ("Spark", 1.0),
    ("Thunderbird", 0.993 - 14.0 / 2000.0),
];

/// Floors on the means over the datasets: (GA, PA, FTA).
const MEAN_AT_LEAST: (f64, f64, f64) = (0.97, 0.90, 0.85);

#[test]
fn templates_match_the_corrected_labels() {
    let diff = std::env::var("TEMPLATE_DIFF").unwrap_or_default();
    let mut report = String::from("| dataset | GA | PA | FGA | FTA |\n|---|---:|---:|---:|---:|\n");
    let mut sum = [0.0; 4];
    let mut worse = Vec::new();
    for (name, _) in DATASETS {
        let Some(data) = load_corrected(name) else {
            return;
        };
        assert_eq!(data.len(), 2000, "{name} should have 2,000 labelled lines");
        let messages: Vec<String> = data.iter().map(|l| l.message.clone()).collect();
        let predicted = mine_templates(&messages);
        let a = accuracy(&predicted, &data);
        report.push_str(&format!(
            "| {name} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
            a.ga, a.pa, a.fga, a.fta
        ));
        let before = GA_BEFORE
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(1.0, |b| b.1);
        if a.ga + 1e-9 < before {
            worse.push(format!("{name} GA {:.4} < {before:.4}", a.ga));
        }
        for (s, v) in sum.iter_mut().zip([a.ga, a.pa, a.fga, a.fta]) {
            *s += v;
        }
        if diff == name || diff == "all" {
            eprintln!("{}", wrong_templates(name, &predicted, &data));
        }
    }
    let n = DATASETS.len() as f64;
    let [ga, pa, fga, fta] = sum.map(|s| s / n);
    report.push_str(&format!(
        "| **mean** | **{ga:.3}** | **{pa:.3}** | **{fga:.3}** | **{fta:.3}** |\n"
    ));
    eprintln!("{report}");
    assert!(worse.is_empty(), "grouping got worse: {worse:?}\n{report}");
    let (min_ga, min_pa, min_fta) = MEAN_AT_LEAST;
    assert!(ga >= min_ga, "mean GA {ga:.3} < {min_ga}\n{report}");
    assert!(pa >= min_pa, "mean PA {pa:.3} < {min_pa}\n{report}");
    assert!(fta >= min_fta, "mean FTA {fta:.3} < {min_fta}\n{report}");
}

/// Each distinct (predicted, true) pair that differs, with its number of lines and one message.
fn wrong_templates(name: &str, predicted: &[String], truth: &[Labelled]) -> String {
    let mut pairs: std::collections::BTreeMap<(String, String), (usize, &str)> = Default::default();
    for (p, t) in predicted.iter().zip(truth) {
        let (p, want) = (normalise(p), normalise(&t.template));
        if p != want {
            pairs.entry((want, p)).or_insert((0, &t.message)).0 += 1;
        }
    }
    let mut out = format!("== {name}: {} wrong pairs\n", pairs.len());
    // Groups that are not exact: each true event spread over several templates, or sharing
    // one with another event.
    let mut of_template: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> =
        Default::default();
    let mut of_event: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, usize>> =
        Default::default();
    for (p, t) in predicted.iter().zip(truth) {
        of_template.entry(p).or_default().insert(&t.template);
        *of_event
            .entry(&t.template)
            .or_default()
            .entry(p)
            .or_default() += 1;
    }
    for (event, templates) in &of_event {
        let shared = templates.keys().any(|p| of_template[p].len() > 1);
        if templates.len() > 1 || shared {
            out.push_str(&format!("GROUP {event}\n"));
            for (p, n) in templates {
                out.push_str(&format!(
                    "{n:>5}  as {p} (shared by {})\n",
                    of_template[p].len()
                ));
            }
        }
    }
    for ((want, got), (count, message)) in pairs {
        out.push_str(&format!(
            "{count:>5}  want {want}\n       got  {got}\n       line {message}\n"
        ));
    }
    out
}

#[test]
fn normalisation_joins_split_values_on_both_sides() {
    assert_eq!(normalise("a <*>:<*> b"), "a <*> b");
    assert_eq!(normalise("<*>.<*>.<*>.<*>"), "<*>");
    assert_eq!(normalise("x=<*>-<*><*>  y"), "x=<*> y");
    assert_eq!(normalise("<*> <*>"), "<*> <*>");
    assert_eq!(normalise("size <*>:"), "size <*>:");
    assert_eq!(normalise("<*>..end"), "<*>..end");
}

#[test]
fn accuracies_count_exact_groups_and_templates() {
    let labelled = |e: &str, t: &str| Labelled {
        message: String::new(),
        event: e.to_string(),
        template: t.to_string(),
    };
    let truth = [
        labelled("E1", "open <*>"),
        labelled("E1", "open <*>"),
        labelled("E2", "close <*>"),
        labelled("E3", "user <*> left"),
    ];
    let predicted: Vec<String> = ["open <*>", "open <*>", "close x", "<*> <*> left"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let a = accuracy(&predicted, &truth);
    assert_eq!(a.ga, 1.0);
    assert_eq!(a.pa, 0.5);
    assert_eq!(a.fga, 1.0);
    // One of three templates right: precision and recall 1/3.
    assert!((a.fta - 1.0 / 3.0).abs() < 1e-9);
    // Merging E2 and E3: E1 alone is right (two groups predicted, three true).
    let merged: Vec<String> = ["open <*>", "open <*>", "<*>", "<*>"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let a = accuracy(&merged, &truth);
    assert_eq!(a.ga, 0.5);
    assert!((a.fga - 2.0 * (0.5 * (1.0 / 3.0)) / (0.5 + 1.0 / 3.0)).abs() < 1e-9);
}
