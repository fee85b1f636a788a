//! A running App against the fakes: the real server (router, worker, store) wired to a
//! stateful fake GitHub and a fake Cloud Logging, and the user's actions as methods.

#![allow(dead_code)]

use super::fake_github::{FakeGitHub, IssueSnapshot, TEST_ONLY_APP_PRIVATE_KEY_PEM};
use super::fake_logging::FakeLogging;
use super::webhooks;
use log_gardener::server::{self, Running, ServerConfig};
use log_gardener::source::cloud::GcpAuth;
use serde_json::{Value, json};
use std::time::Duration;

pub const REPO: &str = "acme/netra";
pub const INSTALLATION: u64 = 7;
pub const SECRET: &str = "webhook-s3cret";
pub const CONFIG: &str = "gcp_project: netra-staging\nservices: [netra-backend]\nwindow: 1h\n";

/// The seed outage, moved so that it ends a minute ago.
pub fn seed_entries_now() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/seed-outage.json"
    ))
    .expect("the bundled example");
    let mut entries: Vec<Value> = serde_json::from_str(&text).expect("JSON array");
    let latest = entries
        .iter()
        .filter_map(|e| e["timestamp"].as_str())
        .filter_map(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .max()
        .expect("timestamps");
    let shift =
        chrono::Utc::now() - chrono::Duration::minutes(1) - latest.with_timezone(&chrono::Utc);
    for e in &mut entries {
        for field in ["timestamp", "receiveTimestamp"] {
            if let Some(t) = e[field]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            {
                e[field] = json!(
                    (t.with_timezone(&chrono::Utc) + shift)
                        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                );
            }
        }
    }
    entries
}

pub struct Harness {
    pub github: FakeGitHub,
    pub logging: FakeLogging,
    pub server: Option<Running>,
    pub url: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    next_comment: std::sync::atomic::AtomicU64,
}

pub fn config(github: &FakeGitHub, logging: &FakeLogging, database_url: String) -> ServerConfig {
    ServerConfig {
        app_id: 1,
        private_key: TEST_ONLY_APP_PRIVATE_KEY_PEM.to_string(),
        webhook_secret: SECRET.to_string(),
        github_api_url: github.url.clone(),
        logging_endpoint: Some(logging.url.clone()),
        gcp_auth: GcpAuth::Anonymous,
        logging_backoff: Duration::from_millis(20),
        database_url,
        listen: "127.0.0.1:0".to_string(),
        sweep_interval: None,
        sweep_token: Some("sweep-token".to_string()),
        job_backoff: Duration::from_millis(50),
        job_attempts: 5,
        job_lease: chrono::Duration::seconds(30),
        http_timeouts: log_gardener::server::HttpTimeouts::default(),
    }
}

impl Harness {
    /// An App on a fresh SQLite file.
    pub async fn new() -> Harness {
        Harness::with_database(None).await
    }

    /// An App on `database_url`, or on a fresh SQLite file.
    pub async fn with_database(database_url: Option<String>) -> Harness {
        let github = FakeGitHub::start().await;
        github.add_repo(REPO);
        github.set_file(REPO, ".github/log-gardener.yml", CONFIG);
        github.add_installation(INSTALLATION, "acme", &[REPO]);
        github.set_permission(REPO, "alice", "write");
        github.set_permission(REPO, "rob", "read");
        let logging = FakeLogging::start().await;
        logging.add_entries(seed_entries_now());
        let dir = tempfile::tempdir().expect("temp dir");
        let db = database_url
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("state.db").display()));
        let mut h = Harness {
            github,
            logging,
            server: None,
            url: String::new(),
            http: reqwest::Client::new(),
            dir,
            next_comment: std::sync::atomic::AtomicU64::new(1),
        };
        let server = h.start_server(&db, |_| {}).await;
        h.url = format!("http://{}", server.addr);
        h.server = Some(server);
        h
    }

    /// Starts another App process on `database_url` (a replica), its configuration adjusted
    /// by `adjust`.
    pub async fn start_server(
        &self,
        database_url: &str,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let mut cfg = config(&self.github, &self.logging, database_url.to_string());
        adjust(&mut cfg);
        server::start(cfg, listener).await.expect("server starts")
    }

    /// The running App's store.
    pub fn store(&self) -> &log_gardener::store::Store {
        &self.server.as_ref().expect("running").state.store
    }

    pub async fn deliver(&self, event: &str, delivery: &str, body: &Value) -> u16 {
        self.deliver_to(&self.url, event, delivery, body).await
    }

    /// Delivers a webhook to the App at `url`.
    pub async fn deliver_to(&self, url: &str, event: &str, delivery: &str, body: &Value) -> u16 {
        self.delivery(url, event, delivery, body)
            .await
            .expect("the delivery task")
    }

    /// A delivery as a task of its own, to send many at once.
    pub fn delivery(
        &self,
        url: &str,
        event: &str,
        delivery: &str,
        body: &Value,
    ) -> tokio::task::JoinHandle<u16> {
        let bytes = serde_json::to_vec(body).expect("JSON");
        let mut req = self.http.post(format!("{url}/api/github/webhooks"));
        for (k, v) in webhooks::headers(event, delivery, SECRET, &bytes) {
            req = req.header(k, v);
        }
        tokio::spawn(async move {
            req.body(bytes)
                .send()
                .await
                .expect("POST webhook")
                .status()
                .as_u16()
        })
    }

    /// The delivery of a new comment (added to the fake first) and the comment's id.
    pub fn comment_payload(
        &self,
        issue: u64,
        author: &str,
        author_type: &str,
        body: &str,
    ) -> (Value, u64) {
        let comment_id = self
            .github
            .add_comment(REPO, issue, body, author, author_type);
        let payload = webhooks::issue_comment_created_from(
            REPO,
            INSTALLATION,
            self.github.issue_json(REPO, issue),
            self.github.comment_json(REPO, comment_id),
        );
        (payload, comment_id)
    }

    /// A person comments on an issue; the delivery id is returned for redelivery.
    pub async fn comment(
        &self,
        issue: u64,
        author: &str,
        author_type: &str,
        body: &str,
    ) -> (String, u64) {
        let (payload, comment_id) = self.comment_payload(issue, author, author_type, body);
        let n = self
            .next_comment
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let delivery = format!("delivery-{n}-{comment_id}");
        assert_eq!(
            self.deliver("issue_comment", &delivery, &payload).await,
            202
        );
        (delivery, comment_id)
    }

    /// A maintainer comments `/gardener sweep` on `issue`; returns the reactions once it ran.
    pub async fn sweep(&self, issue: u64) -> Vec<String> {
        let (_, comment) = self
            .comment(issue, "alice", "User", "/gardener sweep")
            .await;
        self.done(comment).await
    }

    /// An issue of the repository, by number.
    pub fn issue(&self, number: u64) -> IssueSnapshot {
        self.github
            .issues(REPO)
            .into_iter()
            .find(|i| i.number == number)
            .expect("the issue exists")
    }

    /// Waits until the command's comment got its last reaction (🚀 or 😕).
    pub async fn done(&self, comment_id: u64) -> Vec<String> {
        self.github
            .until(&format!("the last reaction to comment {comment_id}"), |g| {
                let reactions = g.reactions(REPO, comment_id);
                reactions
                    .iter()
                    .any(|r| r == "rocket" || r == "confused")
                    .then_some(reactions)
            })
            .await
    }

    /// Waits until the queue is empty (every job done or failed), looking again each time a
    /// worker finishes a job.
    pub async fn idle(&self) {
        let state = &self.server.as_ref().expect("running").state;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let finished = state.finished.notified();
            let counts = state.store.job_counts().await.expect("job counts");
            if counts.get("queued").copied().unwrap_or(0) == 0
                && counts.get("running").copied().unwrap_or(0) == 0
            {
                return;
            }
            // A job queued for later (a retry's backoff) finishes without a worker's wake-up
            // on time: look again at least every second.
            let step = (tokio::time::Instant::now() + Duration::from_secs(1)).min(deadline);
            if tokio::time::timeout_at(step, finished).await.is_err()
                && tokio::time::Instant::now() >= deadline
            {
                panic!("jobs never finished: {counts:?}");
            }
        }
    }

    pub fn p0_issues(&self) -> Vec<IssueSnapshot> {
        self.github
            .issues(REPO)
            .into_iter()
            .filter(|i| i.labels.iter().any(|l| l == "P0"))
            .collect()
    }

    /// The App's comments on an issue, oldest first.
    pub fn replies(&self, issue: u64) -> Vec<super::fake_github::CommentSnapshot> {
        let bot = self.github.app_bot_login();
        self.github
            .comments(REPO, issue)
            .into_iter()
            .filter(|c| c.author == bot)
            .collect()
    }

    /// Whether a scheduled sweep has moved the service's cursor.
    pub async fn has_cursor(&self, service: &str) -> bool {
        self.store()
            .cursor(REPO, service)
            .await
            .expect("read the cursor")
            .is_some()
    }

    /// The issue where people talk to the App.
    pub fn help_issue(&self) -> u64 {
        self.github
            .add_issue(REPO, "Ops chat", "Talk to the gardener here.", &[], "alice")
    }
}
