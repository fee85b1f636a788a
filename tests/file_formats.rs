//! Log files as they come: a JSON array with bad elements, what follows its `]`, a line cut
//! short, a pretty-printed entry, a timestamp far from the rest. The real binary reads them all
//! and counts what it could not read.

use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

/// Runs a dry sweep of `path`; the JSON result and what was said on stderr.
fn sweep(path: &Path, extra: &[&str]) -> (Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_log-gardener"))
        .args(["sweep", "--logs", path.to_str().unwrap()])
        .args(["--dry-run", "--format", "json"])
        .args(extra)
        .env_remove("GITHUB_TOKEN")
        .env_remove("APP_ID")
        .output()
        .expect("run log-gardener");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "sweep failed: {stderr}");
    let result = serde_json::from_slice(&out.stdout).expect("stdout is the JSON result");
    (result, stderr)
}

fn entry(timestamp: &str, text: &str) -> Value {
    json!({
        "textPayload": text,
        "severity": "ERROR",
        "timestamp": timestamp,
        "logName": "projects/p/logs/run.googleapis.com%2Fstderr",
        "resource": {"type": "cloud_run_revision", "labels": {
            "service_name": "api", "revision_name": "api-00001-abc"}},
        "labels": {"instanceId": "00f4a9"},
    })
}

fn at_minute(minute: u32) -> String {
    format!("2025-09-15T12:{minute:02}:00Z")
}

/// Six good entries, one of them in year 9999, and five bad ones, in every shape at once.
fn mixed_file(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let good = |minute, text| entry(&at_minute(minute), text).to_string();
    let deep = format!(
        r#"{{"textPayload": "deep", "jsonPayload": {{"x": {}{}}}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let array = [
        good(0, "KeyError: 'user'"),
        deep,
        good(10, "KeyError: 'user'"),
        r#"{"textPayload": "when?", "timestamp": {"seconds": "x"}}"#.to_string(),
        r#"{"textPayload": "big", "jsonPayload": {"n": 1e999}}"#.to_string(),
        entry("9999-12-31T23:59:59Z", "KeyError: 'user'").to_string(),
        good(20, "KeyError: 'user'"),
    ]
    .join(",\n  ");
    let pretty = serde_json::to_string_pretty(&entry(&at_minute(40), "KeyError: 'user'")).unwrap();
    let text = format!(
        "[\n  {array},\n]\n{}\n{{\"textPayload\": \"cut\", \"sev\n{pretty}\n",
        good(30, "KeyError: 'user'")
    );
    let path = dir.path().join("mixed.json");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn bad_elements_are_counted_and_the_rest_of_the_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = mixed_file(&dir);

    // The last hour of the file counts back from 12:40, not from year 9999.
    let (result, stderr) = sweep(&path, &["--since", "1h"]);
    let totals = &result["totals"];
    assert_eq!(totals["entries"], 5, "{totals} {stderr}");
    assert_eq!(totals["malformed"], 5, "{totals} {stderr}");
    assert!(stderr.contains("5 malformed entries skipped"), "{stderr}");
    for location in [
        "entry 2 (line 3)",
        "entry 4 (line 5)",
        "entry 5 (line 6)",
        "entry 8 (line 9)",
        "line 11",
    ] {
        assert!(
            stderr.contains(&format!("{location}: ")),
            "{location}: {stderr}"
        );
    }
    assert!(stderr.contains("timestamp.seconds"), "{stderr}");
    assert!(
        stderr.contains("1 entries with timestamps far from the rest"),
        "{stderr}"
    );

    // Without a window the entries' own span is taken, and the one far away is pointed at.
    let (result, stderr) = sweep(&path, &[]);
    assert_eq!(result["totals"]["entries"], 6);
    assert!(
        stderr.contains("1 entries have timestamps far from the rest"),
        "{stderr}"
    );

    // A window that holds none of the file's entries is said so.
    let (result, stderr) = sweep(&path, &["--since", "1h", "--until", "2020-01-01T00:00:00Z"]);
    assert_eq!(result["totals"]["entries"], 0);
    assert!(stderr.contains("holds none of its entries"), "{stderr}");
}
