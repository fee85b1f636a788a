//! `sweep` without `--logs`: the real binary reads Cloud Logging through Google's client,
//! pointed at the fake with `GCP_LOGGING_ENDPOINT` and `GCP_AUTH=anonymous`.

mod support;

use serde_json::Value;
use std::process::{Command, Output};
use support::fake_logging::FakeLogging;
use support::harness::seed_entries_now;

async fn run(logging: &FakeLogging, args: &[&str]) -> Output {
    let endpoint = logging.url.clone();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_log-gardener"))
            .args(&args)
            .env("GCP_LOGGING_ENDPOINT", endpoint)
            .env("GCP_AUTH", "anonymous")
            .env("GCP_BACKOFF_MS", "10")
            .env_remove("GITHUB_TOKEN")
            .env_remove("APP_ID")
            .output()
            .expect("run log-gardener")
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeps_the_last_hour_of_a_service_through_pages_and_503s() {
    let logging = FakeLogging::start().await;
    logging.add_entries(seed_entries_now());
    logging.set_empty_pages(1);
    logging.fail_next(503, 2);
    let out = run(
        &logging,
        &[
            "sweep",
            "--project",
            "netra-staging",
            "--service",
            "netra-backend",
            "--since",
            "1h",
            "--format",
            "json",
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let result: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(result["totals"]["entries"], 160);
    let p0: Vec<&Value> = result["root_causes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["priority"] == "P0")
        .collect();
    assert_eq!(p0.len(), 1);
    let requests = logging.requests();
    let body = requests.last().expect("a request");
    assert_eq!(
        body["resourceNames"],
        serde_json::json!(["projects/netra-staging"])
    );
    assert_eq!(body["orderBy"], "timestamp asc");
    let filter = body["filter"].as_str().unwrap();
    assert!(
        filter.contains("resource.labels.service_name=\"netra-backend\""),
        "{filter}"
    );
    assert!(
        filter.contains("timestamp>=") && filter.contains("timestamp<"),
        "{filter}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_that_cannot_be_read_fails_and_says_so() {
    let logging = FakeLogging::start().await;
    logging.add_entries(seed_entries_now());
    logging.fail_next(403, 1);
    let out = run(
        &logging,
        &["sweep", "--project", "netra-staging", "--format", "json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Cloud Logging") && stderr.contains("403"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());

    let out = run(&logging, &["sweep", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--project"));
}
