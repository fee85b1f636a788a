//! The GitHub App end to end: the real server (router, worker, store), the real octocrab and
//! the real Google client, against a stateful fake GitHub and a fake Cloud Logging. Tests read
//! as a user's actions: a maintainer comments a command, the repository ends up with issues.

mod support;

use serde_json::json;
use std::time::Duration;
use support::harness::{CONFIG, Harness, INSTALLATION, REPO};
use support::webhooks;

#[tokio::test]
async fn a_sweep_command_files_one_p0_issue_for_the_seed_outage() {
    let h = Harness::new().await;
    let chat = h.help_issue();
    let reactions = h.sweep(chat).await;
    assert!(
        reactions.contains(&"eyes".to_string()) && reactions.contains(&"rocket".to_string()),
        "{reactions:?}"
    );

    let p0 = h.p0_issues();
    assert_eq!(p0.len(), 1, "{:#?}", h.github.issues(REPO));
    let issue = &p0[0];
    assert!(
        issue.title.starts_with("[P0] netra-backend: ModuleNotFoundError: No module named 'netra_backend.app.services.monitoring'"),
        "{}",
        issue.title
    );
    for label in ["log-gardener", "P0", "service:netra-backend"] {
        assert!(
            issue.labels.contains(&label.to_string()),
            "{:?}",
            issue.labels
        );
    }
    assert_eq!(issue.author, h.github.app_bot_login());
    let body = &issue.body;
    assert!(body.contains("<!-- log-gardener:fingerprint="), "{body}");
    assert!(body.contains("```mermaid\nflowchart TD"), "{body}");
    assert!(body.contains("xychart-beta"), "{body}");
    assert!(
        body.contains("RuntimeError: Failed to setup enhanced middleware"),
        "{body}"
    );
    // Links to the code go to the repository on the GitHub the App talks to.
    let link = format!(
        "{}/acme/netra/blob/main/netra_backend/app/middleware/gcp_auth_context_middleware.py#L23",
        h.github.url
    );
    assert!(body.contains(&link), "{body}");
    assert!(
        body.contains("console.cloud.google.com/logs/query"),
        "{body}"
    );
    assert!(body.len() < 65_536);

    // The reply is the worklog, with a link to the issue it filed.
    let replies = h.replies(chat);
    let reply = replies.first().expect("a reply");
    assert!(
        reply.body.contains("# GCP Log Gardener Worklog"),
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains(&format!("#{}", issue.number)),
        "{}",
        reply.body
    );

    // Cloud Logging was asked for the window with explicit bounds.
    let requests = h.logging.requests();
    let filter = requests[0]["filter"].as_str().unwrap_or_default();
    assert!(
        filter.contains("timestamp>=") && filter.contains("timestamp<"),
        "{filter}"
    );
    assert!(
        filter.contains("resource.labels.service_name=\"netra-backend\""),
        "{filter}"
    );
    assert_eq!(requests[0]["pageSize"], 1000);
}

#[tokio::test]
async fn a_redelivery_does_nothing_and_a_second_sweep_comments() {
    let h = Harness::new().await;
    let chat = h.help_issue();
    let (delivery, comment) = h.comment(chat, "alice", "User", "/gardener sweep").await;
    h.done(comment).await;
    let comments_before = h.github.comments(REPO, chat).len();

    // GitHub redelivers the same delivery: answered 200, not run again.
    let payload = webhooks::issue_comment_created_from(
        REPO,
        INSTALLATION,
        h.github.issue_json(REPO, chat),
        h.github.comment_json(REPO, comment),
    );
    assert_eq!(h.deliver("issue_comment", &delivery, &payload).await, 200);
    h.idle().await;
    assert_eq!(h.github.comments(REPO, chat).len(), comments_before);

    // Filing was the first update: a second sweep inside comment_cooldown writes nothing.
    h.sweep(chat).await;
    let p0 = h.p0_issues();
    assert_eq!(p0.len(), 1);
    assert!(h.github.comments(REPO, p0[0].number).is_empty());

    // Once the cooldown is over, the next sweep comments on the issue instead of filing.
    h.github.set_file(
        REPO,
        ".github/log-gardener.yml",
        &format!("{CONFIG}comment_cooldown: 0s\n"),
    );
    h.sweep(chat).await;
    let updates = h.github.comments(REPO, p0[0].number);
    assert_eq!(updates.len(), 1, "{updates:#?}");
    assert!(
        updates[0].body.contains("Still happening"),
        "{}",
        updates[0].body
    );
    assert_eq!(h.p0_issues().len(), 1);
}

#[tokio::test]
async fn a_human_filed_issue_is_adopted() {
    let h = Harness::new().await;
    let human = h.github.add_issue(
        REPO,
        "Backend down: ModuleNotFoundError: No module named 'netra_backend.app.services.monitoring'",
        "Seen in staging, please look.",
        &[],
        "bob",
    );
    let chat = h.help_issue();
    h.sweep(chat).await;
    assert!(h.p0_issues().is_empty(), "{:#?}", h.github.issues(REPO));
    let adopted = h.github.comments(REPO, human);
    assert_eq!(adopted.len(), 1);
    assert!(
        adopted[0]
            .body
            .contains("log-gardener tracks this root cause here"),
        "{}",
        adopted[0].body
    );
    // And the next sweep finds it again rather than filing.
    h.sweep(chat).await;
    let issues = h.github.issues(REPO);
    assert_eq!(issues.len(), 2, "{issues:#?}");
}

#[tokio::test]
async fn a_closed_root_cause_that_returns_is_reopened_unless_not_planned() {
    let h = Harness::new().await;
    let chat = h.help_issue();
    h.sweep(chat).await;
    let issue = h.p0_issues()[0].number;

    h.github.close_issue(REPO, issue, "completed");
    let closed = webhooks::issues_event(
        "closed",
        REPO,
        INSTALLATION,
        h.github.issue_json(REPO, issue),
    );
    assert_eq!(h.deliver("issues", "closed-1", &closed).await, 202);
    h.sweep(chat).await;
    let now = h.issue(issue);
    assert_eq!(now.state, "open");
    let last = h.github.comments(REPO, issue).pop().expect("a comment");
    assert!(last.body.contains("Regressed"), "{}", last.body);
    assert_eq!(h.p0_issues().len(), 1);

    h.github.close_issue(REPO, issue, "not_planned");
    h.sweep(chat).await;
    let now = h.issue(issue);
    assert_eq!(now.state, "closed");
    assert_eq!(
        h.p0_issues().len(),
        1,
        "no new issue for a not-planned root cause"
    );
}

#[tokio::test]
async fn read_only_users_and_bots_cannot_run_commands() {
    let h = Harness::new().await;
    let chat = h.help_issue();
    let (_, rob) = h.comment(chat, "rob", "User", "/gardener sweep").await;
    h.idle().await;
    assert!(h.github.reactions(REPO, rob).is_empty());
    let replies = h.replies(chat);
    let refusal = replies.first().expect("a refusal");
    assert!(
        refusal.body.contains("only people with write"),
        "{}",
        refusal.body
    );
    assert!(
        h.github
            .issues(REPO)
            .iter()
            .all(|i| !i.title.starts_with("[P0]"))
    );

    let bot = h.github.app_bot_login();
    let (_, own) = h
        .comment(chat, &bot, "Bot", "/gardener sweep\n/gardener help")
        .await;
    h.idle().await;
    assert!(h.github.reactions(REPO, own).is_empty());
    // The App's own comment got no answer: its replies are still the one refusal.
    assert_eq!(
        h.replies(chat).len(),
        2,
        "the refusal and the bot's own comment only"
    );
    assert!(
        h.logging.requests().is_empty(),
        "nobody's command read any logs"
    );
}

#[tokio::test]
async fn a_hostile_comment_or_payload_never_stops_the_worker() {
    let h = Harness::new().await;
    let chat = h.help_issue();
    // Someone with no permission at all, and a window that overflows time: refused unread.
    let (_, mallory) = h
        .comment(
            chat,
            "mallory",
            "User",
            "/gardener sweep last 9223372036854775s9223372036854775s",
        )
        .await;
    h.idle().await;
    assert!(h.github.reactions(REPO, mallory).is_empty());
    assert!(
        h.replies(chat)
            .last()
            .is_some_and(|c| c.body.contains("Sorry @mallory")),
        "{:?}",
        h.replies(chat)
    );
    // A maintainer's overflowing durations are answered as errors, not run.
    let (_, alice) = h
        .comment(
            chat,
            "alice",
            "User",
            "/gardener ignore for 9223372036854775s\n/gardener sweep last 9223372036854775807d",
        )
        .await;
    assert!(h.done(alice).await.contains(&"confused".to_string()));
    let replies = h.replies(chat);
    assert!(
        replies[replies.len() - 2..]
            .iter()
            .all(|c| c.body.contains("I could not read")),
        "{replies:?}"
    );
    // Commands hidden in an HTML comment or inline code are not commands.
    let before = h.replies(chat).len();
    h.comment(
        chat,
        "alice",
        "User",
        "<!-- /gardener sweep -->\n\n`/gardener sweep`",
    )
    .await;
    h.idle().await;
    assert_eq!(h.replies(chat).len(), before);
    // A payload without its installation fails its job for good and stores nothing.
    let (mut payload, _) = h.comment_payload(chat, "alice", "User", "/gardener help");
    payload
        .as_object_mut()
        .expect("object")
        .remove("installation");
    assert_eq!(
        h.deliver("issue_comment", "no-installation", &payload)
            .await,
        202
    );
    h.idle().await;
    let failed = h.store().failed_jobs(5).await.expect("failed jobs");
    assert!(
        failed.iter().any(|(_, e)| e.contains("installation")),
        "{failed:?}"
    );
    assert!(
        h.store()
            .installations()
            .await
            .expect("installations")
            .iter()
            .all(|(_, id)| *id == INSTALLATION as i64)
    );
    // The worker is still there: the next command runs, and the App says it is ready.
    let (_, help) = h.comment(chat, "alice", "User", "/gardener help").await;
    assert!(h.done(help).await.contains(&"rocket".to_string()));
    let ready = h.http.get(format!("{}/readyz", h.url)).send().await;
    assert_eq!(ready.expect("readyz").status().as_u16(), 200);
}

#[tokio::test]
async fn slow_or_heavy_unsigned_requests_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::new().await;
    let db = format!("sqlite://{}", h.dir.path().join("slow.db").display());
    let server = h
        .start_server(&db, |c| {
            c.http_timeouts = log_gardener::server::HttpTimeouts {
                headers: Duration::from_millis(300),
                request: Duration::from_millis(600),
                body_budget: Duration::from_millis(200),
            };
        })
        .await;
    let addr = server.addr;
    // Half-sent headers: the connection is closed.
    let mut half = tokio::net::TcpStream::connect(addr).await.expect("connect");
    half.write_all(b"POST /api/github/webhooks HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), half.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "a half-sent request was still open after 5 s");
    // Headers, then a body that never comes: 408.
    let started = |length: usize| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "POST /api/github/webhooks HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: ping\r\nX-GitHub-Delivery: d\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: {length}\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.expect("write");
        s
    };
    let status_of = |mut s: tokio::net::TcpStream| async move {
        let mut buf = vec![0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let slow = started(1000).await;
    assert!(status_of(slow).await.starts_with("HTTP/1.1 408"));
    // Bodies announced at 25 MB: two fit the budget, the third waits and is answered 503.
    let big = 25 * 1024 * 1024;
    let (a, b) = (started(big).await, started(big).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let third = started(big).await;
    assert!(status_of(third).await.starts_with("HTTP/1.1 503"));
    drop((a, b));
    // Without a signature nothing is read at all: 401 at once.
    let unsigned = tokio::net::TcpStream::connect(addr).await;
    let mut unsigned = unsigned.expect("connect");
    unsigned
        .write_all(b"POST /api/github/webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        .await
        .expect("write");
    assert!(status_of(unsigned).await.starts_with("HTTP/1.1 401"));
    // The server still answers.
    let ok = h.http.get(format!("http://{addr}/healthz")).send().await;
    assert_eq!(ok.expect("healthz").status().as_u16(), 200);
    server.stop().await;
}

#[tokio::test]
async fn readiness_fails_without_a_worker() {
    let h = Harness::new().await;
    // The same App's routes, served with no worker behind them.
    let config = support::harness::config(
        &h.github,
        &h.logging,
        format!("sqlite://{}", h.dir.path().join("other.db").display()),
    );
    let state = log_gardener::server::AppState::new(config)
        .await
        .expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = log_gardener::server::router(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let get = || h.http.get(format!("http://{addr}/readyz")).send();
    let response = get().await.expect("readyz");
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.text().await.expect("text").contains("no worker"));
    // Once a worker runs, it is ready.
    let (_stop, watch) = tokio::sync::watch::channel(false);
    tokio::spawn(log_gardener::server::jobs::supervised_worker(state, watch));
    assert_eq!(get().await.expect("readyz").status().as_u16(), 200);
}

#[tokio::test]
async fn a_bad_signature_gets_401_and_changes_nothing() {
    let h = Harness::new().await;
    let body = serde_json::to_vec(&webhooks::ping()).expect("JSON");
    let mut req = h.http.post(format!("{}/api/github/webhooks", h.url));
    for (k, v) in webhooks::headers("ping", "bad-1", "wrong-secret", &body) {
        req = req.header(k, v);
    }
    let status = req.body(body.clone()).send().await.expect("POST").status();
    assert_eq!(status.as_u16(), 401);
    let unsigned = h
        .http
        .post(format!("{}/api/github/webhooks", h.url))
        .header("x-github-event", "ping")
        .header("x-github-delivery", "bad-2")
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(unsigned.status().as_u16(), 401);
    let counts = h
        .server
        .as_ref()
        .expect("running")
        .state
        .store
        .job_counts()
        .await
        .expect("counts");
    assert!(counts.is_empty(), "{counts:?}");
}

#[tokio::test]
async fn a_bad_configuration_is_answered_with_the_key() {
    let h = Harness::new().await;
    h.github.set_file(
        REPO,
        ".github/log-gardener.yml",
        "gcp_project: netra-staging\nwindw: 1h\n",
    );
    let chat = h.help_issue();
    let reactions = h.sweep(chat).await;
    assert!(reactions.contains(&"confused".to_string()), "{reactions:?}");
    let reply = h.github.comments(REPO, chat).pop().expect("a reply");
    assert!(reply.body.contains("windw"), "{}", reply.body);
    assert!(h.p0_issues().is_empty());
}

#[tokio::test]
async fn cloud_logging_503s_and_github_rate_limits_leave_exactly_one_issue() {
    let h = Harness::new().await;
    h.logging.fail_next(503, 2);
    h.github.fail_next(
        "POST",
        "/repos/acme/netra/issues",
        403,
        &[("retry-after", "1"), ("x-ratelimit-remaining", "4000")],
        1,
    );
    // And a create whose response is lost after GitHub filed the issue.
    h.github
        .fail_after_apply("POST", "/repos/acme/netra/issues", 502, 1);
    let chat = h.help_issue();
    let reactions = h.sweep(chat).await;
    assert!(reactions.contains(&"rocket".to_string()), "{reactions:?}");
    assert_eq!(h.p0_issues().len(), 1, "{:#?}", h.github.issues(REPO));
}

#[tokio::test]
async fn ignore_and_merge_steer_later_sweeps() {
    let h = Harness::new().await;
    let chat = h.help_issue();
    h.sweep(chat).await;
    let issue = h.p0_issues()[0].number;
    let (_, mute) = h
        .comment(issue, "alice", "User", "/gardener ignore for 7d")
        .await;
    h.done(mute).await;
    let muted_reply = h.github.comments(REPO, issue).pop().expect("reply");
    assert!(
        muted_reply.body.starts_with("Muted"),
        "{}",
        muted_reply.body
    );
    let before = h.github.comments(REPO, issue).len();
    h.sweep(chat).await;
    assert_eq!(
        h.github.comments(REPO, issue).len(),
        before,
        "a muted root cause gets no comment"
    );

    let (_, bad) = h
        .comment(issue, "alice", "User", "/gardener merge #999")
        .await;
    let reactions = h.done(bad).await;
    assert!(reactions.contains(&"confused".to_string()));
}

#[tokio::test]
async fn status_help_health_readiness_metrics_and_the_sweep_endpoint() {
    let h = Harness::new().await;
    let chat = h.help_issue();
    let (_, help) = h.comment(chat, "alice", "User", "/gardener help").await;
    h.done(help).await;
    assert!(
        h.github
            .comments(REPO, chat)
            .iter()
            .any(|c| c.body.contains("/gardener merge #N"))
    );
    let (_, status) = h.comment(chat, "alice", "User", "/gardener status").await;
    h.done(status).await;
    let reply = h.github.comments(REPO, chat).pop().expect("status");
    assert!(
        reply.body.contains("gcp_project: netra-staging"),
        "{}",
        reply.body
    );

    let get = |path: &str| h.http.get(format!("{}{path}", h.url)).send();
    assert_eq!(
        get("/healthz").await.expect("healthz").status().as_u16(),
        200
    );
    assert_eq!(get("/readyz").await.expect("readyz").status().as_u16(), 200);
    let metrics = get("/metrics")
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("log_gardener_webhooks_total"), "{metrics}");
    assert!(
        metrics.contains("log_gardener_jobs{status=\"done\"}"),
        "{metrics}"
    );

    let sweep = |token: &str| {
        h.http
            .post(format!("{}/api/sweep", h.url))
            .header("authorization", format!("Bearer {token}"))
            .send()
    };
    assert_eq!(sweep("wrong").await.expect("POST").status().as_u16(), 401);
    // The installation is known from the start-up listing; the sweep files the P0 issue.
    for _ in 0..100 {
        if !h
            .server
            .as_ref()
            .expect("running")
            .state
            .store
            .installations()
            .await
            .expect("installations")
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sweep("sweep-token").await.expect("POST").status().as_u16(),
        202
    );
    h.idle().await;
    assert_eq!(h.p0_issues().len(), 1);
}

#[tokio::test]
async fn without_a_configuration_the_app_is_idle_and_says_so() {
    let h = Harness::new().await;
    h.github.remove_file(REPO, ".github/log-gardener.yml");
    let chat = h.help_issue();
    let reactions = h.sweep(chat).await;
    assert!(reactions.contains(&"confused".to_string()), "{reactions:?}");
    let reply = h.replies(chat).pop().expect("a reply");
    assert!(reply.body.contains("idle"), "{}", reply.body);
    assert!(
        reply.body.contains(".github/log-gardener.yml"),
        "{}",
        reply.body
    );
    assert!(h.logging.requests().is_empty(), "no logs were read");
    assert!(h.p0_issues().is_empty());
}

#[tokio::test]
async fn max_new_issues_holds_per_sweep_of_the_repository_not_per_service() {
    let h = Harness::new().await;
    h.github.set_file(
        REPO,
        ".github/log-gardener.yml",
        "gcp_project: netra-staging\nservices: [netra-backend, billing]\nwindow: 1h\nmax_new_issues: 1\n",
    );
    // Besides the seed outage of netra-backend, billing fails requests all hour.
    let now = chrono::Utc::now();
    h.logging.add_entries((0..20).map(|i| {
        json!({
            "textPayload": "psycopg2.OperationalError: connection to server at \"10.0.0.9\", port 5432 failed: Connection refused",
            "severity": "ERROR",
            "timestamp": (now - chrono::Duration::minutes(2 + 2 * i)).to_rfc3339(),
            "resource": {"type": "cloud_run_revision", "labels": {"service_name": "billing"}},
            "labels": {"instanceId": "b1"},
        })
    }).collect());
    let chat = h.help_issue();
    h.sweep(chat).await;
    let worklog: String = h.replies(chat).iter().map(|c| c.body.clone()).collect();
    let filed: Vec<_> = h
        .github
        .issues(REPO)
        .into_iter()
        .filter(|i| i.number != chat)
        .collect();
    assert_eq!(filed.len(), 1, "{filed:#?}");
    assert!(
        worklog.contains("the limit of 1 new issues per sweep was reached"),
        "{worklog}"
    );
}
