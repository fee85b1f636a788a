//! "Not seen since" and resolving, with a moving clock: the one sweep against the stateful
//! fake GitHub and a real SQLite store, each sweep an hour or a day after the last.

mod support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use log_gardener::config::{Config, SpanOrOff};
use log_gardener::github::Repo;
use log_gardener::report::{Links, Renderer};
use log_gardener::store::Store;
use log_gardener::sweep::{self, Known, Logs, Sweep};
use support::fake_github::FakeGitHub;

const REPO: &str = "acme/netra";
const TOKEN: &str = "ghs_quiet_clock_token";
const SERVICE: &str = "netra-backend";

fn seed() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/examples/seed-outage.json").to_string()
}

/// An hour of the service answering every request: read, and nothing wrong in it.
fn healthy_hour(dir: &std::path::Path, start: DateTime<Utc>) -> String {
    let path = dir.join(format!("healthy-{}.jsonl", start.timestamp()));
    let lines: Vec<String> = (0..60)
        .map(|m| {
            serde_json::json!({
                "insertId": format!("h{}-{m}", start.timestamp()),
                "logName": "projects/netra-staging/logs/run.googleapis.com%2Frequests",
                "resource": {"type": "cloud_run_revision", "labels": {
                    "service_name": SERVICE, "revision_name": "netra-backend-00088-fix",
                    "project_id": "netra-staging", "location": "us-central1",
                    "configuration_name": SERVICE}},
                "timestamp": (start + Duration::minutes(m)).to_rfc3339(),
                "severity": "INFO",
                "httpRequest": {"requestMethod": "GET", "status": 200,
                    "requestUrl": "https://netra-backend-xyz.a.run.app/health", "latency": "0.004s"},
            })
            .to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path.to_string_lossy().into_owned()
}

struct World {
    gh: FakeGitHub,
    repo: Repo,
    store: Store,
    renderer: Renderer,
    _dir: tempfile::TempDir,
    dir: std::path::PathBuf,
}

impl World {
    async fn new() -> World {
        let gh = FakeGitHub::start().await;
        gh.add_repo(REPO);
        gh.add_token(TOKEN, "log-gardener[bot]", "Bot");
        let repo = Repo::with_token(&gh.url, TOKEN, REPO).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("state.db").display());
        let store = Store::connect(&url).await.unwrap();
        World {
            repo,
            store,
            renderer: Renderer::new().unwrap(),
            dir: dir.path().to_path_buf(),
            _dir: dir,
            gh,
        }
    }

    async fn sweep(&self, logs: &str, config: &Config, now: DateTime<Utc>) -> sweep::Outcome {
        sweep::run(
            Sweep {
                config,
                links: Links {
                    repo: Some(REPO.into()),
                    git_ref: String::new(),
                    source_root: config.source_root.clone(),
                    gcp_project: Some("netra-staging".into()),
                    api_url: self.gh.url.clone(),
                    ..Links::default()
                },
                renderer: &self.renderer,
                dry_run: false,
                now,
            },
            Logs::File {
                path: logs,
                window: None,
                services: &[],
            },
            Known::Store(&self.repo, &self.store),
        )
        .await
        .unwrap()
    }

    /// The world with the seed outage filed at its end (`outage_end`): the issue's number.
    async fn with_the_seed_filed(config: &Config) -> (World, u64) {
        let w = World::new().await;
        w.sweep(&seed(), config, outage_end()).await;
        let issue = w.issue();
        (w, issue)
    }

    fn issue(&self) -> u64 {
        let issues = self.gh.issues(REPO);
        assert_eq!(
            issues.len(),
            1,
            "one issue for the seed outage: {issues:#?}"
        );
        issues[0].number
    }

    fn quiet_comments(&self, issue: u64) -> Vec<String> {
        self.gh
            .comments(REPO, issue)
            .into_iter()
            .map(|c| c.body)
            .filter(|b| b.contains("log-gardener:quiet"))
            .collect()
    }
}

/// The seed outage ends at 22:47 on 2025-09-15.
fn outage_end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 9, 15, 22, 47, 0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_root_cause_is_noted_once_after_quiet_after_and_comes_back_as_before() {
    let config = Config::default();
    let (w, issue) = World::with_the_seed_filed(&config).await;
    let t0 = outage_end();

    // Hourly sweeps of a healthy service: nothing said before quiet_after (24h).
    for h in 1..=23 {
        let now = t0 + Duration::hours(h);
        let out = w
            .sweep(
                &healthy_hour(&w.dir, now - Duration::hours(1)),
                &config,
                now,
            )
            .await;
        assert!(out.quiet.is_empty(), "hour {h}: {:?}", out.quiet);
    }
    assert!(w.quiet_comments(issue).is_empty());

    // Past it: one comment, naming when it was last seen and how many sweeps missed it.
    let now = t0 + Duration::hours(25);
    let out = w
        .sweep(
            &healthy_hour(&w.dir, now - Duration::hours(1)),
            &config,
            now,
        )
        .await;
    assert_eq!(out.quiet.len(), 1);
    let notes = w.quiet_comments(issue);
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(
        notes[0].contains("Not seen since 2025-09-15T22:4"),
        "{}",
        notes[0]
    );
    assert!(notes[0].contains("24 sweeps"), "{}", notes[0]);
    assert!(notes[0].contains("stays open"), "{}", notes[0]);
    assert!(
        out.worklog(&w.renderer, now)
            .unwrap()
            .contains("## Not Seen Since")
    );
    assert_eq!(w.gh.issues(REPO)[0].state, "open");

    // Said once: the next quiet sweeps write nothing more.
    let now = t0 + Duration::hours(26);
    w.sweep(
        &healthy_hour(&w.dir, now - Duration::hours(1)),
        &config,
        now,
    )
    .await;
    assert_eq!(w.quiet_comments(issue).len(), 1);

    // It comes back: the usual update, and quiet counts start over.
    let now = t0 + Duration::hours(30);
    w.sweep(&seed(), &config, now).await;
    let comments = w.gh.comments(REPO, issue);
    assert!(
        comments.last().unwrap().body.contains("Still happening"),
        "{comments:#?}"
    );
    let tracked = w.store.tracked(REPO).await.unwrap();
    let t = tracked.values().next().unwrap();
    assert_eq!((t.quiet_sweeps, t.quiet_noted_at), (0, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_resolve_after_a_quiet_issue_is_closed_as_completed_and_reopened_when_it_returns() {
    let config = Config {
        resolve_after: SpanOrOff(Some(Duration::days(3))),
        ..Config::default()
    };
    let (w, issue) = World::with_the_seed_filed(&config).await;
    let t0 = outage_end();

    // Daily sweeps: noted after a day, closed after three.
    let day = |d: i64| t0 + Duration::days(d) + Duration::minutes(5);
    w.sweep(
        &healthy_hour(&w.dir, day(1) - Duration::hours(1)),
        &config,
        day(1),
    )
    .await;
    let notes = w.quiet_comments(issue);
    assert_eq!(notes.len(), 1);
    assert!(notes[0].contains("closed as completed once it has not been seen for 3d"));
    w.sweep(
        &healthy_hour(&w.dir, day(2) - Duration::hours(1)),
        &config,
        day(2),
    )
    .await;
    assert_eq!(w.quiet_comments(issue).len(), 1);
    assert_eq!(w.gh.issues(REPO)[0].state, "open");

    let out = w
        .sweep(
            &healthy_hour(&w.dir, day(3) - Duration::hours(1)),
            &config,
            day(3),
        )
        .await;
    assert!(out.summary().contains("1 resolved"), "{}", out.summary());
    let notes = w.quiet_comments(issue);
    assert_eq!(notes.len(), 2);
    assert!(notes[1].contains("3 sweeps"), "{}", notes[1]);
    assert!(notes[1].contains("Closed as completed"), "{}", notes[1]);
    let closed = &w.gh.issues(REPO)[0];
    assert_eq!(
        (closed.state.as_str(), closed.state_reason.as_deref()),
        ("closed", Some("completed"))
    );

    // Closed, it is not counted or noted again.
    let out = w
        .sweep(
            &healthy_hour(&w.dir, day(4) - Duration::hours(1)),
            &config,
            day(4),
        )
        .await;
    assert!(out.quiet.is_empty());

    // It comes back: a regression, the same issue reopened.
    w.sweep(&seed(), &config, day(5)).await;
    let issues = w.gh.issues(REPO);
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].state, "open");
    assert!(
        w.gh.comments(REPO, issue)
            .last()
            .unwrap()
            .body
            .contains("Regressed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_that_does_not_read_the_service_counts_no_quiet_sweep() {
    let config = Config::default();
    let (w, issue) = World::with_the_seed_filed(&config).await;
    let t0 = outage_end();
    // Two days of sweeps of another service only (the file names no netra-backend entry).
    let other = w.dir.join("other.jsonl");
    let text = std::fs::read_to_string(healthy_hour(&w.dir, t0)).unwrap();
    std::fs::write(&other, text.replace(SERVICE, "netra-frontend")).unwrap();
    let out = w
        .sweep(other.to_str().unwrap(), &config, t0 + Duration::days(2))
        .await;
    assert!(out.quiet.is_empty());
    assert!(w.quiet_comments(issue).is_empty());
    let tracked = w.store.tracked(REPO).await.unwrap();
    assert_eq!(tracked.values().next().unwrap().quiet_sweeps, 0);
}
