//! No secret from the logs reaches GitHub or the App's own log lines. Alone in its process,
//! so that its log subscriber can be the global one.

#[path = "support/secrets.rs"]
mod secrets;
mod support;

use secrets::PLANTED;
use serde_json::{Value, json};
use support::harness::{Harness, REPO};

#[tokio::test]
async fn no_secret_from_the_entries_reaches_github() {
    // The App's own log lines as Cloud Run gets them, at every level.
    let logs = LogBuffer::default();
    // The only test of this process: its subscriber is the global one, so every thread's
    // call sites see it (a thread-local one loses events whose interest another test cached).
    tracing::subscriber::set_global_default(log_gardener::logging::subscriber(
        true,
        tracing_subscriber::EnvFilter::new("trace"),
        logs.clone(),
    ))
    .expect("the first subscriber of this process");
    let h = Harness::new().await;
    let secret = "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789";
    let password = "hunter2hunter2";
    let now = chrono::Utc::now();
    let leaks: Vec<Value> = (0..6)
        .map(|i| {
            json!({
                "textPayload": format!("psycopg2.OperationalError: connection to postgres://app:{password}@db:5432/app failed; token {secret} for ops@example.com"),
                "severity": "ERROR",
                "timestamp": (now - chrono::Duration::minutes(10 + i)).to_rfc3339(),
                "resource": {"type": "cloud_run_revision", "labels": {"service_name": "netra-backend"}},
                "labels": {"instanceId": format!("i{i}")},
            })
        })
        .collect();
    h.logging.add_entries(leaks);
    // Every other kind, each as the message of a crash loop's fatal error.
    let kinds: Vec<Value> = PLANTED
        .iter()
        .enumerate()
        .map(|(i, (message, _))| {
            json!({
                "textPayload": format!("RuntimeError: {message}"),
                "severity": "ERROR",
                "timestamp": (now - chrono::Duration::seconds(300 + i as i64)).to_rfc3339(),
                "resource": {"type": "cloud_run_revision", "labels": {"service_name": "netra-backend"}},
                "labels": {"instanceId": "k"},
            })
        })
        .collect();
    h.logging.add_entries(kinds);
    let chat = h.help_issue();
    h.sweep(chat).await;
    let mut written = String::new();
    for issue in h.github.issues(REPO) {
        written.push_str(&issue.title);
        written.push_str(&issue.body);
        for c in h.github.comments(REPO, issue.number) {
            written.push_str(&c.body);
        }
    }
    assert!(written.contains("OperationalError"), "the error was filed");
    for s in [secret, password, "ops@example.com"] {
        assert!(!written.contains(s), "{s} reached GitHub");
    }
    // The worklog replied to the command shows every cluster, the planted ones too.
    let worklog: String = h.replies(chat).iter().map(|c| c.body.clone()).collect();
    assert!(worklog.contains("RuntimeError"), "{worklog}");
    let logged = logs.text();
    assert!(logged.contains("webhook received"), "the App logged");
    for (_, part) in PLANTED {
        assert!(!written.contains(part), "{part} reached an issue");
        assert!(
            !worklog.contains(part),
            "{part} reached the worklog comment"
        );
        assert!(!logged.contains(part), "{part} reached the App's logs");
    }
}

/// Log lines written by a subscriber, kept for the test to read.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> LogBuffer {
        self.clone()
    }
}
