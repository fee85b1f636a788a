//! No planted secret or personal datum reaches what `sweep` prints: stdout (the JSON result,
//! the worklog) or stderr (warnings about malformed entries).

use serde_json::{Value, json};
use std::io::Write;
use std::process::Command;

#[path = "support/secrets.rs"]
mod secrets;
use secrets::PLANTED;

/// A Cloud Run stderr entry.
fn entry(second: usize, severity: &str, text: &str) -> Value {
    json!({
        "textPayload": text,
        "severity": severity,
        "timestamp": format!("2025-09-15T12:{:02}:{:02}Z", second / 60, second % 60),
        "logName": "projects/p/logs/run.googleapis.com%2Fstderr",
        "resource": {"type": "cloud_run_revision", "labels": {
            "service_name": "api", "revision_name": "api-00042-xyz"}},
        "labels": {"instanceId": "00abc"},
    })
}

#[test]
fn no_planted_secret_reaches_stdout_or_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.jsonl");
    let mut file = std::fs::File::create(&path).unwrap();
    // Malformed entries whose fields hold secrets: the warnings quote those fields.
    let mut malformed = 0;
    for (i, (text, _)) in PLANTED.iter().enumerate().take(10) {
        writeln!(file, "{}", entry(i, text, "ValueError: bad severity")).unwrap();
        malformed += 1;
    }
    let mut timestamp = entry(0, "ERROR", "x");
    timestamp["timestamp"] = json!("Authorization: Bearer q1w2e3r4t5y6u7");
    writeln!(file, "{timestamp}").unwrap();
    malformed += 1;
    // Each secret three times, as an error, in text and in a structured payload.
    let mut second = 0;
    for (text, _) in PLANTED {
        for _ in 0..3 {
            second += 1;
            writeln!(file, "{}", entry(second, "ERROR", text)).unwrap();
        }
        second += 1;
        let mut structured = entry(second, "ERROR", "");
        structured.as_object_mut().unwrap().remove("textPayload");
        structured["jsonPayload"] = json!({"message": format!("RuntimeError: {text}")});
        writeln!(file, "{structured}").unwrap();
    }
    drop(file);

    for format in ["json", "markdown"] {
        let out = Command::new(env!("CARGO_BIN_EXE_log-gardener"))
            .args([
                "sweep",
                "--logs",
                path.to_str().unwrap(),
                "--format",
                format,
            ])
            .env_remove("GITHUB_TOKEN")
            .env_remove("APP_ID")
            .output()
            .expect("run log-gardener");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "sweep failed: {stderr}");
        // The secrets were there to leak: the entries were read and the warnings printed.
        assert!(stderr.contains("unknown severity"), "{stderr}");
        assert!(
            stderr.contains(&format!("{malformed} malformed entries skipped")),
            "{stderr}"
        );
        for marker in ["[REDACTED]", "[EMAIL]", "[IP]"] {
            assert!(
                stdout.contains(marker),
                "{format}: no {marker} in\n{stdout}"
            );
        }
        for (text, secret) in PLANTED {
            assert!(
                !stdout.contains(secret),
                "{format} stdout leaked {secret:?} of {text:?}"
            );
            assert!(
                !stderr.contains(secret),
                "stderr leaked {secret:?} of {text:?}:\n{stderr}"
            );
        }
        assert!(!stderr.contains("q1w2e3r4t5y6u7"), "{stderr}");
    }
}
