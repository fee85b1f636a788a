//! The corpus of `tests/scenarios/`: outages of several stacks, each with the root causes an
//! on-call engineer would file. The real binary sweeps every one; any miss fails, and the
//! table printed (`cargo test --test scenarios -- --nocapture`) is the one in the README.

use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Deserialize)]
struct Expected {
    summary: String,
    stack: String,
    #[serde(default)]
    classes: Vec<u8>,
    reasoning: String,
    sources: Vec<String>,
    root_causes: Vec<ExpectedRootCause>,
    #[serde(default)]
    not_filed: Vec<String>,
}

#[derive(Deserialize)]
struct ExpectedRootCause {
    service: String,
    priority: String,
    title_contains: Vec<String>,
    #[serde(default)]
    includes: Vec<String>,
}

/// Scenarios the engine still gets wrong, named so that the rest cannot regress: a listed
/// scenario that starts passing fails the test too, so the list only shrinks. Each is a known
/// miss of issue 7, shown in the README's table.
const KNOWN_MISSES: [&str; 2] = [
    // The crash is right (the Cloud SQL 403 for orders-pg, not Hibernate's dialect error),
    // but a duplicate key error the app handles (an idempotent replay answered 200) is filed
    // as P1: its lines carry no trace that ties them to the request that succeeded.
    "hold12-java-spring-cloudsql-403-hibernate-dialect-wrapper-restart-loop",
    // Folded as expected (the liveness kills head the callee's 503s and the caller's calls
    // to it), but filed P1, not P0: most requests kept succeeding while instances were
    // replaced, which class 8 calls loud, not down; the scenario's author says P0.
    "hold12-platform-uvicorn-liveness-restart-loop-go-caller-503-and-missing-column",
];

/// Priorities that get issues by default.
const FILED: [&str; 2] = ["P0", "P1"];

fn scenarios() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/scenarios")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("expected.json").exists())
        .collect();
    dirs.sort();
    dirs
}

fn sweep(entries: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_log-gardener"))
        .args(["sweep", "--logs"])
        .arg(entries)
        .args(["--format", "json"])
        .env_remove("GITHUB_TOKEN")
        .output()
        .expect("run log-gardener");
    assert!(
        out.status.success(),
        "{}: exit {:?}\n{}",
        entries.display(),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON result")
}

/// Everything a root cause shows a reader: title, templates, examples.
fn texts(rc: &Value) -> String {
    let mut out = rc["title"].as_str().unwrap_or("").to_lowercase();
    for c in rc["clusters"].as_array().into_iter().flatten() {
        out.push('\n');
        out.push_str(&c["template"].as_str().unwrap_or("").to_lowercase());
        for e in c["examples"].as_array().into_iter().flatten() {
            out.push('\n');
            out.push_str(&e.as_str().unwrap_or("").to_lowercase());
        }
    }
    out
}

/// The misses of one scenario, each a sentence.
fn score(expected: &Expected, result: &Value) -> Vec<String> {
    let mut misses = Vec::new();
    let found = result["root_causes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut matched = vec![false; found.len()];
    for want in &expected.root_causes {
        let hits: Vec<usize> = found
            .iter()
            .enumerate()
            .filter(|(_, rc)| {
                let title = rc["title"].as_str().unwrap_or("").to_lowercase();
                rc["service"] == want.service.as_str()
                    && want
                        .title_contains
                        .iter()
                        .all(|t| title.contains(&t.to_lowercase()))
            })
            .map(|(i, _)| i)
            .collect();
        let name = format!("{} {:?}", want.service, want.title_contains);
        match hits.as_slice() {
            [] => misses.push(format!("not found: {name}")),
            [i] => {
                matched[*i] = true;
                let rc = &found[*i];
                if rc["priority"] != want.priority.as_str() {
                    misses.push(format!(
                        "{name}: priority {} instead of {}",
                        rc["priority"], want.priority
                    ));
                }
                let all = texts(rc);
                for inc in &want.includes {
                    if !all.contains(&inc.to_lowercase()) {
                        misses.push(format!("{name}: does not include {inc:?}"));
                    }
                }
            }
            many => {
                for i in many {
                    matched[*i] = true;
                }
                misses.push(format!("{name}: found {} times", many.len()));
            }
        }
    }
    for (i, rc) in found.iter().enumerate() {
        let priority = rc["priority"].as_str().unwrap_or("");
        if !FILED.contains(&priority) {
            continue;
        }
        if !matched[i] {
            misses.push(format!(
                "filed but not expected: [{priority}] {}",
                rc["title"].as_str().unwrap_or("")
            ));
        }
        let all = texts(rc);
        for noise in &expected.not_filed {
            if all.contains(&noise.to_lowercase()) {
                misses.push(format!(
                    "noise {noise:?} filed in [{priority}] {}",
                    rc["title"].as_str().unwrap_or("")
                ));
            }
        }
    }
    misses
}

#[test]
fn every_scenario_finds_its_root_causes_once_and_files_no_noise() {
    let dirs = scenarios();
    assert!(dirs.len() >= 30, "the corpus has {} scenarios", dirs.len());
    let mut table = vec![
        "| scenario | stack | classes | expected | result |".to_string(),
        "|---|---|---|---|---|".to_string(),
    ];
    let mut failures = Vec::new();
    let mut passed = 0;
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(dir.join("expected.json")).unwrap();
        let expected: Expected =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}/expected.json: {e}"));
        assert!(
            !expected.summary.is_empty()
                && !expected.reasoning.is_empty()
                && !expected.sources.is_empty(),
            "{name}: summary, reasoning and sources are required"
        );
        let result = sweep(&dir.join("entries.jsonl"));
        let misses = score(&expected, &result);
        let wanted: Vec<String> = expected
            .root_causes
            .iter()
            .map(|r| format!("{} {}", r.priority, r.title_contains.join(" · ")))
            .collect();
        let classes: Vec<String> = expected.classes.iter().map(u8::to_string).collect();
        table.push(format!(
            "| {name} | {} | {} | {} | {} |",
            expected.stack,
            classes.join(", "),
            if wanted.is_empty() {
                "nothing to file".to_string()
            } else {
                wanted.join("; ")
            },
            if misses.is_empty() {
                "pass".to_string()
            } else {
                format!("**miss**: {}", misses.join("; "))
            }
        ));
        let known = KNOWN_MISSES.contains(&name.as_str());
        if misses.is_empty() {
            passed += 1;
            if known {
                failures.push(format!("{name}: passes now; take it off KNOWN_MISSES"));
            }
        } else if !known {
            for m in misses {
                failures.push(format!("{name}: {m}"));
            }
        }
    }
    println!(
        "{}\n\n{passed} of {} scenarios pass",
        table.join("\n"),
        dirs.len()
    );
    assert!(
        failures.is_empty(),
        "{} miss(es):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
