//! The fakes speak the real wire formats: driven here by the real clients (octocrab with a
//! personal token and as an App, google-cloud-logging-v2 with anonymous credentials) and
//! by octocrab's webhook parser. If a fake drifts from what the clients accept, this fails
//! before any product test can be misled by it.

mod support;

use google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder;
use google_cloud_gax::options::RequestOptionsBuilder;
use google_cloud_logging_v2::client::LoggingServiceV2;
use octocrab::Octocrab;
use octocrab::models::issues::IssueStateReason;
use octocrab::models::reactions::ReactionContent;
use octocrab::models::webhook_events::{WebhookEvent, WebhookEventPayload, WebhookEventType};
use octocrab::models::{AppId, InstallationId, IssueState};
use octocrab::params;
use serde_json::{Value, json};
use std::time::Duration;
use support::fake_github::{FakeGitHub, TEST_ONLY_APP_PRIVATE_KEY_PEM};
use support::fake_logging::FakeLogging;
use support::webhooks;

const REPO: &str = "acme/api";

fn pat_client(fake: &FakeGitHub) -> Octocrab {
    Octocrab::builder()
        .base_uri(fake.url.as_str())
        .expect("base uri")
        .personal_token("ghp_test".to_string())
        .build()
        .expect("octocrab with a personal token")
}

fn app_client(fake: &FakeGitHub) -> Octocrab {
    let key =
        octocrab::jsonwebtoken::EncodingKey::from_rsa_pem(TEST_ONLY_APP_PRIVATE_KEY_PEM.as_bytes())
            .expect("test RSA key");
    Octocrab::builder()
        .base_uri(fake.url.as_str())
        .expect("base uri")
        .app(AppId(1), key)
        .build()
        .expect("octocrab as an App")
}

/// The HTTP status of an octocrab error, if GitHub answered one.
fn github_status(e: &octocrab::Error) -> Option<u16> {
    match e {
        octocrab::Error::GitHub { source, .. } => Some(source.status_code.as_u16()),
        _ => None,
    }
}

#[tokio::test]
async fn personal_token_issue_lifecycle() {
    let fake = FakeGitHub::start().await;
    fake.add_repo(REPO);
    let gh = pat_client(&fake);
    let issues = gh.issues("acme", "api");

    let created = issues
        .create("[P0] api: ModuleNotFoundError")
        .body("<!-- log-gardener:fingerprint=00112233aabbccdd -->")
        .labels(vec!["log-gardener".to_string(), "P0".to_string()])
        .send()
        .await
        .expect("create issue");
    assert_eq!(created.number, 1);
    assert_eq!(created.user.login, "token-user");
    assert_eq!(created.state, IssueState::Open);
    assert!(created.pull_request.is_none());
    let names: Vec<&str> = created.labels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["log-gardener", "P0"]);

    issues.create("second").send().await.expect("second issue");

    // Newest first, one a page, Link header followed with the personal token.
    let page = issues
        .list()
        .state(params::State::All)
        .per_page(1u8)
        .send()
        .await
        .expect("list issues");
    assert_eq!(page.items[0].number, 2);
    assert!(page.next.is_some(), "Link rel=next expected");
    let all = gh.all_pages(page).await.expect("all pages");
    let numbers: Vec<u64> = all.iter().map(|i| i.number).collect();
    assert_eq!(numbers, [2, 1]);

    let labelled = issues
        .list()
        .labels(&["P0".to_string()])
        .send()
        .await
        .expect("list by label");
    assert_eq!(labelled.items.len(), 1);

    let comment = issues
        .create_comment(1, "still happening: 12 more")
        .await
        .expect("comment");
    assert_eq!(comment.user.login, "token-user");
    issues
        .create_comment_reaction(comment.id, ReactionContent::Eyes)
        .await
        .expect("reaction on comment");
    issues
        .create_reaction(1, ReactionContent::Rocket)
        .await
        .expect("reaction on issue");
    let listed = issues.list_comments(1).send().await.expect("list comments");
    assert_eq!(listed.items.len(), 1);

    let after_add = issues
        .add_labels(1, &["service:api".to_string()])
        .await
        .expect("add label");
    assert_eq!(after_add.len(), 3);
    let after_remove = issues.remove_label(1, "P0").await.expect("remove label");
    assert_eq!(after_remove.len(), 2);

    let closed = issues
        .update(1)
        .state(IssueState::Closed)
        .state_reason(IssueStateReason::NotPlanned)
        .send()
        .await
        .expect("close");
    assert_eq!(closed.state, IssueState::Closed);
    assert_eq!(closed.state_reason, Some(IssueStateReason::NotPlanned));
    let fetched = issues.get(1).await.expect("get issue");
    assert_eq!(fetched.comments, 1);

    let snap = &fake.issues(REPO)[0];
    assert_eq!(snap.state, "closed");
    assert_eq!(snap.state_reason.as_deref(), Some("not_planned"));
    assert_eq!(snap.labels, ["log-gardener", "service:api"]);
    assert_eq!(fake.comments(REPO, 1)[0].body, "still happening: 12 more");
    assert_eq!(fake.reactions(REPO, comment.id.0), ["eyes"]);
    assert_eq!(fake.issue_reactions(REPO, 1), ["rocket"]);
}

#[tokio::test]
async fn app_installation_reads_and_writes_as_the_bot() {
    let fake = FakeGitHub::start().await;
    fake.add_installation(7, "acme", &[REPO]);
    fake.add_repo("acme/other");
    fake.set_file(
        REPO,
        ".github/log-gardener.yml",
        "gcp_project: acme-prod\nservices: [api]\n",
    );
    let app = app_client(&fake);

    let installs = app
        .apps()
        .installations()
        .send()
        .await
        .expect("list installations");
    assert_eq!(installs.items.len(), 1);
    assert_eq!(installs.items[0].account.login, "acme");

    let inst = app
        .installation(InstallationId(7))
        .expect("installation client");
    let repos = inst
        .apps()
        .installation_repositories()
        .send()
        .await
        .expect("installation repositories");
    assert_eq!(repos.total_count, 1);
    assert_eq!(repos.repositories[0].full_name.as_deref(), Some(REPO));

    let repo = inst.repos("acme", "api").get().await.expect("get repo");
    assert_eq!(repo.default_branch.as_deref(), Some("main"));
    // An installation token only sees its installation's repositories.
    let other = inst
        .repos("acme", "other")
        .get()
        .await
        .expect_err("not installed");
    assert_eq!(github_status(&other), Some(404));

    let mut content = inst
        .repos("acme", "api")
        .get_content()
        .path(".github/log-gardener.yml")
        .r#ref("main")
        .send()
        .await
        .expect("read config");
    let text = content
        .take_items()
        .first()
        .and_then(|c| c.decoded_content());
    assert_eq!(
        text.as_deref(),
        Some("gcp_project: acme-prod\nservices: [api]\n")
    );
    let missing = inst
        .repos("acme", "api")
        .get_content()
        .path("nope.yml")
        .send()
        .await
        .expect_err("missing file");
    assert_eq!(github_status(&missing), Some(404));

    let issue = inst
        .issues("acme", "api")
        .create("[P1] api: KeyError")
        .body("fingerprint 0123456789abcdef")
        .send()
        .await
        .expect("create as the App");
    assert_eq!(issue.user.login, fake.app_bot_login());
    assert_eq!(issue.user.r#type, "Bot");
    let comment = inst
        .issues("acme", "api")
        .create_comment(issue.number, "👀")
        .await
        .expect("comment as the App");
    assert_eq!(comment.user.login, "log-gardener[bot]");

    // Search lags behind API writes; human-filed issues are indexed.
    fake.add_issue(
        REPO,
        "KeyError in handler",
        "saw fingerprint 0123456789ABCDEF too",
        &["bug"],
        "alice",
    );
    let search = |q: &'static str| {
        let inst = inst.clone();
        async move {
            inst.search()
                .issues_and_pull_requests(q)
                .send()
                .await
                .expect("search")
        }
    };
    let q = "repo:acme/api is:issue in:body \"0123456789abcdef\"";
    let lagging = search(q).await;
    assert_eq!(lagging.total_count, Some(1));
    assert_eq!(lagging.items[0].user.login, "alice");
    fake.set_search_lag(false);
    let caught_up = search(q).await;
    assert_eq!(caught_up.total_count, Some(2));
    assert_eq!(
        search("repo:acme/api is:issue label:bug is:open keyerror")
            .await
            .items
            .len(),
        1
    );
    assert_eq!(
        search("repo:acme/api is:closed keyerror").await.items.len(),
        0
    );

    // The permission endpoint speaks GitHub's legacy values ("write"), read as raw JSON.
    fake.set_permission(REPO, "alice", "maintain");
    let perm: Value = inst
        .get(
            "/repos/acme/api/collaborators/alice/permission",
            None::<&()>,
        )
        .await
        .expect("permission");
    assert_eq!(perm["permission"], "write");
    assert_eq!(perm["role_name"], "maintain");
    let nobody: Value = inst
        .get(
            "/repos/acme/api/collaborators/mallory/permission",
            None::<&()>,
        )
        .await
        .expect("permission of a stranger");
    assert_eq!(nobody["permission"], "none");

    // One token minted, then reused: the JWT went only to /app endpoints.
    let requests = fake.requests();
    let minted = requests
        .iter()
        .filter(|(m, p, s)| m == "POST" && p == "/app/installations/7/access_tokens" && *s == 201)
        .count();
    assert_eq!(minted, 1);
}

/// octocrab's typed `get_contributor_permission` models `permission` as
/// pull/push/admin/maintain/triage, but GitHub answers the legacy admin/write/read/none;
/// a real answer does not deserialize. Product code must read this endpoint as raw JSON.
#[tokio::test]
async fn octocrab_typed_permission_rejects_githubs_legacy_values() {
    let fake = FakeGitHub::start().await;
    fake.add_repo(REPO);
    fake.set_permission(REPO, "alice", "write");
    let gh = pat_client(&fake);
    let typed = gh
        .repos("acme", "api")
        .get_contributor_permission("alice")
        .send()
        .await;
    let err = typed.expect_err("octocrab accepted \"write\"");
    assert!(
        format!("{err:?}").contains("unknown variant `write`"),
        "failed for another reason: {err:?}"
    );
}

/// octocrab's App auth attaches the token only to relative URIs or api.github.com, so
/// following an absolute `Link: rel="next"` against another host goes out without it. The
/// fake refuses that with 401; paging with `.page(n)` works.
#[tokio::test]
async fn app_paging_must_use_page_numbers_not_next_links() {
    let fake = FakeGitHub::start().await;
    fake.add_installation(7, "acme", &[REPO]);
    fake.add_issue(REPO, "one", "", &[], "alice");
    fake.add_issue(REPO, "two", "", &[], "alice");
    let inst = app_client(&fake)
        .installation(InstallationId(7))
        .expect("installation client");
    let first = inst
        .issues("acme", "api")
        .list()
        .per_page(1u8)
        .send()
        .await
        .expect("page 1");
    let err = inst
        .get_page::<octocrab::models::issues::Issue>(&first.next)
        .await
        .expect_err("next link goes out unauthenticated");
    assert_eq!(github_status(&err), Some(401));
    let second = inst
        .issues("acme", "api")
        .list()
        .per_page(1u8)
        .page(2u32)
        .send()
        .await
        .expect("page 2 by number");
    assert_eq!(second.items[0].title, "one");
}

#[tokio::test]
async fn unauthenticated_and_bad_credentials_are_refused() {
    let fake = FakeGitHub::start().await;
    fake.add_repo(REPO);
    let anonymous = Octocrab::builder()
        .base_uri(fake.url.as_str())
        .expect("base uri")
        .build()
        .expect("anonymous octocrab");
    let err = anonymous
        .repos("acme", "api")
        .get()
        .await
        .expect_err("no auth");
    assert_eq!(github_status(&err), Some(401));
    let err = anonymous
        .search()
        .issues_and_pull_requests("repo:acme/api is:issue")
        .send()
        .await
        .expect_err("private repo search without auth");
    assert_eq!(github_status(&err), Some(422));

    fake.set_app(99); // the client signs as App 1
    let err = app_client(&fake)
        .apps()
        .installations()
        .send()
        .await
        .expect_err("JWT for another App");
    assert_eq!(github_status(&err), Some(401));
}

#[tokio::test]
async fn fault_injection() {
    let fake = FakeGitHub::start().await;
    fake.add_repo(REPO);
    let gh = pat_client(&fake);
    let issues = gh.issues("acme", "api");

    // A 502 before the write: an error, nothing created.
    fake.fail_next("POST", "/repos/acme/api/issues", 502, &[], 1);
    let err = issues.create("t").send().await.expect_err("502");
    assert_eq!(github_status(&err), Some(502));
    assert!(fake.issues(REPO).is_empty());

    // A 502 after the write: an error, but the issue exists.
    fake.fail_after_apply("POST", "/repos/acme/api/issues", 502, 1);
    let err = issues
        .create("t")
        .send()
        .await
        .expect_err("502 after apply");
    assert_eq!(github_status(&err), Some(502));
    assert_eq!(fake.issues(REPO).len(), 1);

    // A secondary rate limit with Retry-After, visible on the error.
    fake.fail_next("POST", "/comments", 403, &[("retry-after", "7")], 1);
    let err = issues.create_comment(1, "x").await.expect_err("403");
    let retry_after = match &err {
        octocrab::Error::GitHub { source, .. } => source
            .headers
            .as_ref()
            .and_then(|h| h.get("retry-after"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        _ => None,
    };
    assert_eq!(retry_after.as_deref(), Some("7"));
    issues
        .create_comment(1, "x")
        .await
        .expect("second try passes");

    // GitHub's body limit.
    let err = issues
        .create("big")
        .body("x".repeat(65_537))
        .send()
        .await
        .expect_err("body too long");
    assert_eq!(github_status(&err), Some(422));

    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.2).collect();
    assert_eq!(statuses, [502, 502, 403, 201, 422]);
}

#[test]
fn webhook_payloads_parse_with_octocrab() {
    let secret = "s3cret";
    let cases: Vec<(&str, Value)> = vec![
        (
            "issue_comment",
            webhooks::issue_comment_created(REPO, 7, 3, 555, "/gardener status", "alice", "User"),
        ),
        (
            "installation",
            webhooks::installation_created(7, "acme", &[REPO, "acme/web"]),
        ),
        (
            "installation_repositories",
            webhooks::installation_repositories_added(7, &["acme/web"]),
        ),
        ("issues", webhooks::issues_closed(REPO, 7, 3, "not_planned")),
        ("issues", webhooks::issues_reopened(REPO, 7, 3)),
        ("ping", webhooks::ping()),
    ];
    for (event, payload) in cases {
        let body = serde_json::to_vec(&payload).expect("serialize payload");
        let sig = webhooks::sign(secret, &body);
        let ev =
            WebhookEvent::try_from_header_signature_and_body(event, &sig, secret.as_bytes(), &body)
                .unwrap_or_else(|e| panic!("{event}: {e}"));
        assert!(!matches!(ev.kind, WebhookEventType::Unknown(_)), "{event}");
        let headers = webhooks::headers(event, "d-1", secret, &body);
        assert!(headers.contains(&("x-hub-signature-256".to_string(), sig)));
        match ev.specific {
            WebhookEventPayload::IssueComment(p) => {
                assert_eq!(p.comment.body.as_deref(), Some("/gardener status"));
                assert_eq!(p.comment.user.login, "alice");
                assert_eq!(p.issue.number, 3);
                assert!(p.issue.pull_request.is_none());
                assert_eq!(ev.installation.map(|i| i.id()), Some(InstallationId(7)));
                assert_eq!(
                    ev.repository.and_then(|r| r.full_name).as_deref(),
                    Some(REPO)
                );
            }
            WebhookEventPayload::Installation(p) => {
                assert_eq!(p.repositories.map(|r| r.len()), Some(2));
            }
            WebhookEventPayload::InstallationRepositories(p) => {
                assert_eq!(p.repositories_added[0].full_name, "acme/web");
            }
            WebhookEventPayload::Issues(p) => assert_eq!(p.issue.number, 3),
            WebhookEventPayload::Ping(p) => assert!(p.hook.is_some()),
            _ => panic!("{event}: unexpected payload"),
        }
    }
    let body = b"{}";
    assert!(
        WebhookEvent::try_from_header_signature_and_body(
            "ping",
            &webhooks::sign("wrong", body),
            secret.as_bytes(),
            body
        )
        .is_err(),
        "a wrong signature must not verify"
    );
}

#[tokio::test]
async fn webhook_from_fake_state_parses() {
    let fake = FakeGitHub::start().await;
    fake.add_installation(7, "acme", &[REPO]);
    let n = fake.add_issue(REPO, "[P0] api: boom", "body", &["log-gardener"], "alice");
    let c = fake.add_comment(REPO, n, "/gardener ignore", "bob", "User");
    let payload = webhooks::issue_comment_created_from(
        REPO,
        7,
        fake.issue_json(REPO, n),
        fake.comment_json(REPO, c),
    );
    let body = serde_json::to_vec(&payload).expect("serialize");
    let ev = WebhookEvent::try_from_header_and_body("issue_comment", &body).expect("parse");
    let WebhookEventPayload::IssueComment(p) = ev.specific else {
        panic!("not an issue_comment");
    };
    assert_eq!(p.comment.id.0, c);
    assert_eq!(p.issue.labels[0].name, "log-gardener");
    assert_eq!(ev.sender.map(|s| s.login).as_deref(), Some("bob"));
}

// ---------------------------------------------------------------------------------------
// Cloud Logging

async fn logging_client(fake: &FakeLogging) -> LoggingServiceV2 {
    LoggingServiceV2::builder()
        .with_endpoint(fake.url.clone())
        .with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build())
        .build()
        .await
        .expect("logging client")
}

fn entry(service: &str, ts: &str, severity: Value, text: &str) -> Value {
    json!({
        "insertId": format!("{service}-{ts}"),
        "logName": "projects/acme-prod/logs/run.googleapis.com%2Fstderr",
        "receiveTimestamp": ts,
        "resource": {"type": "cloud_run_revision", "labels": {
            "service_name": service, "revision_name": format!("{service}-00042-abc"),
            "location": "europe-west1", "project_id": "acme-prod", "configuration_name": service,
        }},
        "severity": severity,
        "textPayload": text,
        "timestamp": ts,
        "labels": {"instanceId": "00f00d"},
    })
}

fn window_filter() -> &'static str {
    r#"resource.type="cloud_run_revision" AND (resource.labels.service_name="api" OR resource.labels.service_name="worker") AND timestamp>="2025-09-15T21:00:00Z" AND timestamp<"2025-09-15T22:00:00Z""#
}

fn fast_backoff() -> google_cloud_gax::exponential_backoff::ExponentialBackoff {
    ExponentialBackoffBuilder::new()
        .with_initial_delay(Duration::from_millis(10))
        .with_maximum_delay(Duration::from_millis(50))
        .build()
        .expect("backoff")
}

#[tokio::test]
async fn logging_pages_through_empty_pages_and_filters() {
    let fake = FakeLogging::start().await;
    fake.add_entries(vec![
        entry("api", "2025-09-15T21:10:00Z", json!("ERROR"), "boom 1"),
        entry("api", "2025-09-15T21:05:00.123Z", json!(500), "boom 0"),
        entry("worker", "2025-09-15T21:20:00Z", json!("WARNING"), "slow"),
        entry("api", "2025-09-15T21:30:00Z", json!("CRITICAL"), "boom 2"),
        entry(
            "web",
            "2025-09-15T21:15:00Z",
            json!("ERROR"),
            "other service",
        ),
        entry(
            "api",
            "2025-09-15T22:00:00Z",
            json!("ERROR"),
            "outside the window",
        ),
        entry(
            "api",
            "2025-09-15T20:59:59Z",
            json!("ERROR"),
            "before the window",
        ),
    ]);
    fake.set_empty_pages(2);
    let client = logging_client(&fake).await;

    let mut token = String::new();
    let mut texts = Vec::new();
    let mut pages = 0;
    loop {
        let resp = client
            .list_log_entries()
            .set_resource_names(["projects/acme-prod"])
            .set_filter(window_filter())
            .set_order_by("timestamp asc")
            .set_page_size(2)
            .set_page_token(token.clone())
            .send()
            .await
            .expect("list entries");
        pages += 1;
        for e in &resp.entries {
            assert_eq!(
                e.resource.as_ref().map(|r| r.r#type.as_str()),
                Some("cloud_run_revision")
            );
            assert!(e.timestamp.is_some());
            texts.push(e.text_payload().cloned().unwrap_or_default());
        }
        if resp.next_page_token.is_empty() {
            break;
        }
        token = resp.next_page_token;
    }
    assert_eq!(texts, ["boom 0", "boom 1", "slow", "boom 2"]);
    assert_eq!(pages, 4, "two empty pages, then two pages of two");

    let requests = fake.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[0]["resourceNames"], json!(["projects/acme-prod"]));
    assert_eq!(requests[0]["pageSize"], json!(2));
    assert_eq!(requests[0]["orderBy"], json!("timestamp asc"));
    assert!(
        requests[0].get("pageToken").is_none(),
        "empty token is omitted"
    );

    let desc = client
        .list_log_entries()
        .set_resource_names(["projects/acme-prod"])
        .set_filter(r#"resource.labels.service_name="api" AND timestamp>="2025-09-15T21:00:00Z" AND timestamp<="2025-09-15T22:00:00Z""#)
        .set_order_by("timestamp desc")
        .set_page_token(first_data_page_token(&client).await)
        .send()
        .await
        .expect("descending");
    let sev: Vec<&str> = desc
        .entries
        .iter()
        .map(|e| e.severity.name().unwrap_or("?"))
        .collect();
    assert_eq!(sev, ["ERROR", "CRITICAL", "ERROR", "ERROR"]);
}

/// Walks past the two empty pages (`set_empty_pages` applies to every listing) of the
/// descending query below and returns the token of its first data page.
async fn first_data_page_token(client: &LoggingServiceV2) -> String {
    let mut token = String::new();
    for _ in 0..2 {
        token = client
            .list_log_entries()
            .set_resource_names(["projects/acme-prod"])
            .set_filter(r#"resource.labels.service_name="api" AND timestamp>="2025-09-15T21:00:00Z" AND timestamp<="2025-09-15T22:00:00Z""#)
            .set_order_by("timestamp desc")
            .set_page_token(token)
            .send()
            .await
            .expect("empty page")
            .next_page_token;
    }
    token
}

#[tokio::test]
async fn logging_retries_503_only_when_idempotent() {
    let fake = FakeLogging::start().await;
    fake.add_entries(vec![entry(
        "api",
        "2025-09-15T21:10:00Z",
        json!("ERROR"),
        "boom",
    )]);
    let client = logging_client(&fake).await;
    let request = || {
        client
            .list_log_entries()
            .set_resource_names(["projects/acme-prod"])
            .set_filter(window_filter())
            .with_backoff_policy(fast_backoff())
    };

    // entries.list is a POST: not retried by default.
    fake.fail_next(503, 1);
    let err = request().send().await.expect_err("503 surfaces");
    assert_eq!(err.http_status_code(), Some(503));
    assert_eq!(
        err.status().map(|s| s.code),
        Some(google_cloud_gax::error::rpc::Code::Unavailable)
    );
    assert_eq!(fake.requests().len(), 1);

    fake.fail_next(503, 1);
    let ok = request()
        .with_idempotency(true)
        .send()
        .await
        .expect("503 retried when idempotent");
    assert_eq!(ok.entries.len(), 1);
    assert_eq!(fake.requests().len(), 3);

    // 429 is not retried even when idempotent (Aip194Strict retries UNAVAILABLE only).
    fake.fail_next(429, 1);
    let err = request()
        .with_idempotency(true)
        .send()
        .await
        .expect_err("429 surfaces");
    assert_eq!(err.http_status_code(), Some(429));
    assert_eq!(
        err.status().map(|s| s.code),
        Some(google_cloud_gax::error::rpc::Code::ResourceExhausted)
    );
}

#[tokio::test]
async fn logging_fails_mid_window_and_validates_requests() {
    let fake = FakeLogging::start().await;
    fake.add_entries(vec![
        entry("api", "2025-09-15T21:10:00Z", json!("ERROR"), "a"),
        entry("api", "2025-09-15T21:11:00Z", json!("ERROR"), "b"),
    ]);
    fake.fail_on_page(1, 503, 1);
    let client = logging_client(&fake).await;
    let page = |token: String| {
        client
            .list_log_entries()
            .set_resource_names(["projects/acme-prod"])
            .set_filter(window_filter())
            .set_page_size(1)
            .set_page_token(token)
            .send()
    };
    let first = page(String::new()).await.expect("page 0");
    let err = page(first.next_page_token.clone())
        .await
        .expect_err("page 1 fails");
    assert_eq!(err.http_status_code(), Some(503));
    let second = page(first.next_page_token.clone())
        .await
        .expect("page 1 on retry");
    assert_eq!(second.entries.len(), 1);
    assert!(second.next_page_token.is_empty());

    // A token is bound to its query.
    let err = client
        .list_log_entries()
        .set_resource_names(["projects/acme-prod"])
        .set_filter("timestamp>=\"2025-09-15T21:00:00Z\"")
        .set_page_token(first.next_page_token)
        .send()
        .await
        .expect_err("token from another query");
    assert_eq!(err.http_status_code(), Some(400));

    let err = client
        .list_log_entries()
        .set_filter(window_filter())
        .send()
        .await
        .expect_err("resourceNames required");
    assert_eq!(err.http_status_code(), Some(400));
    assert_eq!(
        err.status().map(|s| s.code),
        Some(google_cloud_gax::error::rpc::Code::InvalidArgument)
    );
}
