//! `log-gardener serve` as a deployment runs it: the real binary, configured only through the
//! environment of SPEC section 3, against the fakes.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::fake_github::{FakeGitHub, TEST_ONLY_APP_PRIVATE_KEY_PEM};
use support::fake_logging::FakeLogging;
use support::harness::{CONFIG, INSTALLATION, REPO, SECRET, seed_entries_now};
use support::webhooks;

/// Stops the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_files_the_seed_outage_from_a_signed_command() {
    let github = FakeGitHub::start().await;
    github.add_repo(REPO);
    github.set_file(REPO, ".github/log-gardener.yml", CONFIG);
    github.add_installation(INSTALLATION, "acme", &[REPO]);
    github.set_permission(REPO, "alice", "admin");
    let logging = FakeLogging::start().await;
    logging.add_entries(seed_entries_now());
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_log-gardener"))
            .arg("serve")
            .env_clear()
            .env("APP_ID", "1")
            .env("PRIVATE_KEY", TEST_ONLY_APP_PRIVATE_KEY_PEM)
            .env("WEBHOOK_SECRET", SECRET)
            .env("GITHUB_API_URL", &github.url)
            .env("GCP_LOGGING_ENDPOINT", &logging.url)
            .env("GCP_AUTH", "anonymous")
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("app.db").display()),
            )
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("SWEEP_INTERVAL", "off")
            .env("SWEEP_TOKEN", "tok")
            .env("LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start log-gardener serve"),
    );
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status().as_u16() == 200
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the server never became ready");

    let chat = github.add_issue(REPO, "Ops chat", "", &[], "alice");
    let comment = github.add_comment(REPO, chat, "/gardener sweep", "alice", "User");
    let payload = webhooks::issue_comment_created_from(
        REPO,
        INSTALLATION,
        github.issue_json(REPO, chat),
        github.comment_json(REPO, comment),
    );
    let body = serde_json::to_vec(&payload).expect("JSON");
    let mut req = http.post(format!("{base}/api/github/webhooks"));
    for (k, v) in webhooks::headers("issue_comment", "binary-1", SECRET, &body) {
        req = req.header(k, v);
    }
    assert_eq!(
        req.body(body).send().await.expect("POST").status().as_u16(),
        202
    );

    let reactions = github
        .until("a reaction to the command", |g| {
            let r = g.reactions(REPO, comment);
            r.iter()
                .any(|r| r == "rocket" || r == "confused")
                .then_some(r)
        })
        .await;
    assert!(reactions.contains(&"rocket".to_string()), "{reactions:?}");
    let p0: Vec<_> = github
        .issues(REPO)
        .into_iter()
        .filter(|i| {
            i.title
                .starts_with("[P0] netra-backend: ModuleNotFoundError")
        })
        .collect();
    assert_eq!(p0.len(), 1, "{:#?}", github.issues(REPO));
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("log_gardener_issues_created_total 1"),
        "{metrics}"
    );
}

#[test]
fn serve_lists_its_variables_and_names_a_bad_one() {
    let help = Command::new(env!("CARGO_BIN_EXE_log-gardener"))
        .args(["serve", "--help"])
        .output()
        .expect("serve --help");
    let text = String::from_utf8_lossy(&help.stdout);
    for variable in [
        "APP_ID",
        "PRIVATE_KEY",
        "PRIVATE_KEY_PATH",
        "WEBHOOK_SECRET",
        "GITHUB_API_URL",
        "GCP_LOGGING_ENDPOINT",
        "GCP_AUTH",
        "DATABASE_URL",
        "HOST",
        "PORT",
        "SWEEP_INTERVAL",
        "SWEEP_TOKEN",
        "GCP_BACKOFF_MS",
        "JOB_BACKOFF_MS",
    ] {
        assert!(
            text.contains(&format!("env: {variable}")),
            "{variable}: {text}"
        );
    }
    for (variable, value) in [
        ("JOB_BACKOFF_MS", "soon"),
        ("APP_ID", "abc"),
        ("PORT", "99999"),
        ("SWEEP_INTERVAL", "0s"),
        ("GCP_AUTH", "magic"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_log-gardener"))
            .arg("serve")
            .env("APP_ID", "1")
            .env("PRIVATE_KEY", TEST_ONLY_APP_PRIVATE_KEY_PEM)
            .env("WEBHOOK_SECRET", SECRET)
            .env("DATABASE_URL", "sqlite::memory:")
            .env(variable, value)
            .output()
            .expect("serve");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{variable}={value}: {stderr}");
        assert!(stderr.contains(variable), "{variable}={value}: {stderr}");
    }
}
