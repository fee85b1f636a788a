//! `sweep --repo` from a GitHub Actions workflow: the real binary with a `GITHUB_TOKEN`,
//! against the stateful fake GitHub. No server, no store: the issues are the state.

mod support;

use serde_json::Value;
use std::process::Command;
use support::fake_github::FakeGitHub;

const REPO: &str = "acme/netra";
const TOKEN: &str = "ghs_actions_workflow_token";

fn example() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/examples/seed-outage.json").to_string()
}

/// Runs the binary off the async runtime, so the fake keeps answering meanwhile.
async fn sweep(api: &str, token: Option<&str>, extra: &[&str]) -> (Value, String) {
    let api = api.to_string();
    let token = token.map(str::to_string);
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_log-gardener"));
        cmd.args([
            "sweep",
            "--logs",
            &example(),
            "--repo",
            REPO,
            "--format",
            "json",
        ])
        .args(&extra)
        .env("GITHUB_API_URL", &api)
        .env_remove("APP_ID")
        .env_remove("GITHUB_TOKEN");
        if let Some(t) = token {
            cmd.env("GITHUB_TOKEN", t);
        }
        cmd.output().expect("run log-gardener")
    })
    .await
    .expect("join");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (
        serde_json::from_slice(&out.stdout).expect("JSON result"),
        stderr,
    )
}

/// Runs `log-gardener ARGS` with the workflow's token against the fake, off the async runtime.
async fn run_with_token(api: &str, args: &[&str]) -> std::process::Output {
    let api = api.to_string();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_log-gardener"))
            .args(&args)
            .env("GITHUB_API_URL", &api)
            .env("GITHUB_TOKEN", TOKEN)
            .env_remove("APP_ID")
            .output()
            .expect("run log-gardener")
    })
    .await
    .expect("join")
}

fn p0_action(result: &Value) -> Value {
    result["root_causes"]
        .as_array()
        .expect("root causes")
        .iter()
        .find(|r| r["priority"] == "P0")
        .expect("a P0 root cause")["action"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_files_once_keeps_the_cooldown_then_comments() {
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(TOKEN, "github-actions[bot]", "Bot");

    let (first, _) = sweep(&gh.url, Some(TOKEN), &[]).await;
    let action = p0_action(&first);
    assert_eq!(action["kind"], "create");
    let issues = gh.issues(REPO);
    assert_eq!(
        issues.len(),
        1,
        "only the P0 root cause is filed: {issues:#?}"
    );
    assert_eq!(action["issue"], issues[0].number);
    assert!(issues[0].body.contains("<!-- log-gardener:fingerprint="));

    // Filing was the first update: inside comment_cooldown nothing more is written.
    let (second, _) = sweep(&gh.url, Some(TOKEN), &[]).await;
    assert_eq!(p0_action(&second)["kind"], "none");
    assert!(gh.comments(REPO, issues[0].number).is_empty());

    // The repository's own configuration is read when no --config is given.
    gh.set_file(REPO, ".github/log-gardener.yml", "comment_cooldown: 0s\n");
    let (third, _) = sweep(&gh.url, Some(TOKEN), &[]).await;
    assert_eq!(p0_action(&third)["kind"], "comment");
    assert_eq!(gh.comments(REPO, issues[0].number).len(), 1);
    assert_eq!(gh.issues(REPO).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_repository_configuration_is_named() {
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(TOKEN, "github-actions[bot]", "Bot");
    gh.set_file(REPO, ".github/log-gardener.yml", "labelz: [x]\n");
    let out = run_with_token(&gh.url, &["sweep", "--logs", &example(), "--repo", REPO]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("labelz"), "{stderr}");
    assert!(gh.issues(REPO).is_empty());
}

#[tokio::test]
async fn an_app_id_that_is_not_a_number_is_a_usage_error_not_a_dry_run() {
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    let api = gh.url.clone();
    let run = move |app_id: &'static str, key: Option<&'static str>| {
        let api = api.clone();
        move || {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_log-gardener"));
            cmd.args(["sweep", "--logs", &example(), "--repo", REPO])
                .env("GITHUB_API_URL", &api)
                .env("APP_ID", app_id)
                .env_remove("GITHUB_TOKEN")
                .env_remove("PRIVATE_KEY_PATH")
                .env_remove("PRIVATE_KEY");
            if let Some(key) = key {
                cmd.env("PRIVATE_KEY", key);
            }
            cmd.output().expect("run log-gardener")
        }
    };
    for (app_id, key, named) in [
        ("abc", Some("a key"), "APP_ID"),
        ("12", None, "PRIVATE_KEY"),
    ] {
        let out = tokio::task::spawn_blocking(run(app_id, key))
            .await
            .expect("join");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(named), "{stderr}");
        assert!(out.stdout.is_empty(), "no plan was printed");
    }
    assert!(gh.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_and_missing_credentials_write_nothing() {
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(TOKEN, "github-actions[bot]", "Bot");
    let existing = gh.add_issue(
        REPO,
        "ModuleNotFoundError: No module named 'netra_backend.app.services.monitoring'",
        "seen on staging",
        &[],
        "bob",
    );

    // With credentials and --dry-run, issues are read so the plan can say `comment`.
    let (planned, _) = sweep(&gh.url, Some(TOKEN), &["--dry-run"]).await;
    assert_eq!(p0_action(&planned)["kind"], "comment");
    assert_eq!(p0_action(&planned)["issue"], existing);
    assert!(
        gh.requests().iter().all(|(method, _, _)| method == "GET"),
        "{:?}",
        gh.requests()
    );

    let (unplanned, stderr) = sweep(&gh.url, None, &[]).await;
    assert_eq!(p0_action(&unplanned)["kind"], "create");
    assert!(stderr.contains("nothing is written"), "{stderr}");
    assert_eq!(gh.issues(REPO).len(), 1);
    assert!(gh.comments(REPO, existing).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adopted_issue_is_found_again_and_keeps_the_cooldown() {
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(TOKEN, "github-actions[bot]", "Bot");
    let human = gh.add_issue(
        REPO,
        "Staging down: ModuleNotFoundError: No module named 'netra_backend.app.services.monitoring'",
        "seen at 21:50",
        &[],
        "bob",
    );
    let (first, _) = sweep(&gh.url, Some(TOKEN), &[]).await;
    assert_eq!(p0_action(&first)["kind"], "comment");
    assert_eq!(p0_action(&first)["issue"], human);
    assert_eq!(gh.comments(REPO, human).len(), 1);
    // An hour later the search index has caught up with the App's comment.
    gh.set_search_lag(false);
    let (second, _) = sweep(&gh.url, Some(TOKEN), &[]).await;
    assert_eq!(
        p0_action(&second)["kind"],
        "none",
        "inside comment_cooldown"
    );
    assert_eq!(p0_action(&second)["issue"], human);
    assert_eq!(gh.comments(REPO, human).len(), 1);
    assert_eq!(gh.issues(REPO).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cooldown_reads_the_newest_comments_of_a_long_issue() {
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(TOKEN, "github-actions[bot]", "Bot");
    let human = gh.add_issue(
        REPO,
        "ModuleNotFoundError: No module named 'netra_backend.app.services.monitoring'",
        "a long-running discussion",
        &[],
        "bob",
    );
    for i in 0..350 {
        gh.add_comment(REPO, human, &format!("still broken ({i})"), "bob", "User");
    }
    gh.backdate_issue(REPO, human, chrono::Duration::days(2));
    let (first, _) = sweep(&gh.url, Some(TOKEN), &[]).await;
    assert_eq!(p0_action(&first)["kind"], "comment");
    assert_eq!(gh.comments(REPO, human).len(), 351);
    // The App's update is comment 351: past the first three pages, still inside the cooldown.
    gh.set_search_lag(false);
    let (second, _) = sweep(&gh.url, Some(TOKEN), &[]).await;
    assert_eq!(
        p0_action(&second)["kind"],
        "none",
        "inside comment_cooldown"
    );
    assert_eq!(gh.comments(REPO, human).len(), 351);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_issue_names_the_codeowners_of_the_failing_file_and_mentions_only_when_asked() {
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(TOKEN, "github-actions[bot]", "Bot");
    // GitHub's order: .github/CODEOWNERS wins over the root's; the last matching line wins.
    gh.set_file(REPO, "CODEOWNERS", "* @acme/nobody\n");
    gh.set_file(
        REPO,
        ".github/CODEOWNERS",
        "* @acme/platform\nnetra_backend/ @acme/backend\n/netra_backend/app/middleware/*.py @acme/edge lead@acme.example\n",
    );
    sweep(&gh.url, Some(TOKEN), &[]).await;
    let body = gh.issues(REPO)[0].body.clone();
    let row = body
        .lines()
        .find(|l| l.contains("Suggested owners"))
        .unwrap_or_else(|| panic!("no owners in\n{body}"));
    assert!(
        row.contains("`@acme/edge`, `lead@acme.example`")
            && row.contains("netra_backend/app/middleware/gcp_auth_context_middleware.py"),
        "{row}"
    );
    assert!(!body.contains("@acme/platform") && !body.contains("@acme/nobody"));

    // mention_owners: true makes them @-mentions; a repository without CODEOWNERS has none.
    const OTHER: &str = "acme/other";
    gh.add_repo(OTHER);
    gh.set_file(OTHER, ".github/log-gardener.yml", "mention_owners: true\n");
    gh.set_file(OTHER, "docs/CODEOWNERS", "*.py @acme/python-team\n");
    let run = |repo: &'static str| {
        let api = gh.url.clone();
        async move { run_with_token(&api, &["sweep", "--logs", &example(), "--repo", repo]).await }
    };
    assert!(run(OTHER).await.status.success());
    let body = gh.issues(OTHER)[0].body.clone();
    let row = body
        .lines()
        .find(|l| l.contains("Suggested owners"))
        .unwrap();
    assert!(row.contains("| @acme/python-team ("), "{row}");

    const BARE: &str = "acme/bare";
    gh.add_repo(BARE);
    assert!(run(BARE).await.status.success());
    assert!(!gh.issues(BARE)[0].body.contains("Suggested owners"));
}

/// An hour in which revision 00042 replaced 00041 and brought a KeyError with it; the audit
/// log says who deployed which commit.
fn bad_deploy_hour(dir: &std::path::Path) -> String {
    let resource = |rev: &str| {
        serde_json::json!({"type": "cloud_run_revision", "labels": {
            "service_name": "api", "revision_name": rev, "project_id": "acme-prod",
            "location": "europe-west1", "configuration_name": "api"}})
    };
    let t = |m: u32, s: u32| format!("2025-10-01T10:{m:02}:{s:02}.000000Z");
    let audit = |m: u32, rev: &str, sha: &str| {
        serde_json::json!({
            "insertId": format!("audit-{rev}"), "timestamp": t(m, 0), "severity": "NOTICE",
            "logName": "projects/acme-prod/logs/cloudaudit.googleapis.com%2Factivity",
            "resource": {"type": "cloud_run_revision", "labels": {"service_name": "api", "revision_name": "",
                "project_id": "acme-prod", "location": "europe-west1", "configuration_name": ""}},
            "protoPayload": {
                "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
                "authenticationInfo": {"principalEmail": "deployer@acme.example"},
                "methodName": "google.cloud.run.v1.Services.ReplaceService",
                "resourceName": "namespaces/acme-prod/services/api",
                "request": {"service": {"metadata": {"labels": {"commit-sha": sha, "managed-by": "gcp-cloud-build-deploy-cloud-run"}}}},
                "response": {"status": {"latestCreatedRevisionName": rev}},
            },
        })
    };
    let mut lines = vec![audit(
        0,
        "api-00041-abc",
        "1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    )];
    for m in 1..10 {
        lines.push(serde_json::json!({
            "insertId": format!("ok-{m}"), "timestamp": t(m, 5), "severity": "INFO", "resource": resource("api-00041-abc"),
            "logName": "projects/acme-prod/logs/run.googleapis.com%2Frequests", "labels": {"instanceId": "00aa"},
            "httpRequest": {"requestMethod": "GET", "requestUrl": "https://api.example/v1/plans", "status": 200, "latency": "0.02s"},
        }));
    }
    lines.push(audit(
        10,
        "api-00042-xyz",
        "2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
    ));
    for m in 11..40 {
        let trace = format!("projects/acme-prod/traces/{m:032x}");
        lines.push(serde_json::json!({
            "insertId": format!("err-{m}"), "timestamp": t(m, 5), "severity": "ERROR", "resource": resource("api-00042-xyz"),
            "logName": "projects/acme-prod/logs/run.googleapis.com%2Fstderr", "labels": {"instanceId": "00bb"}, "trace": trace,
            "jsonPayload": {"message": "KeyError: 'tier'", "stack_trace": "Traceback (most recent call last):\n  File \"/app/api/plans.py\", line 12, in list_plans\n    return plan['tier']\nKeyError: 'tier'"},
        }));
        lines.push(serde_json::json!({
            "insertId": format!("req-{m}"), "timestamp": t(m, 5), "severity": "ERROR", "resource": resource("api-00042-xyz"),
            "logName": "projects/acme-prod/logs/run.googleapis.com%2Frequests", "labels": {"instanceId": "00bb"}, "trace": trace,
            "httpRequest": {"requestMethod": "GET", "requestUrl": "https://api.example/v1/plans", "status": 500, "latency": "0.03s"},
        }));
    }
    let path = dir.join("bad-deploy.jsonl");
    let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    std::fs::write(&path, text.join("\n") + "\n").unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issue_says_which_deploy_brought_it_and_links_the_suspect_change() {
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(TOKEN, "github-actions[bot]", "Bot");
    let dir = tempfile::tempdir().unwrap();
    let logs = bad_deploy_hour(dir.path());
    let out = run_with_token(
        &gh.url,
        &["sweep", "--logs", &logs, "--repo", REPO, "--format", "json"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rc = &result["root_causes"][0];
    assert!(rc["title"].as_str().unwrap().contains("KeyError"), "{rc:#}");
    assert_eq!(rc["deploy"]["new_in"], "api-00042-xyz");
    assert_eq!(rc["deploy"]["not_in"], "api-00041-abc");
    let body = gh.issues(REPO)[0].body.clone();
    let row = body
        .lines()
        .find(|l| l.contains("**Deploy**"))
        .unwrap_or_else(|| panic!("{body}"));
    assert!(
        row.contains("new in revision `api-00042-xyz`, not seen in `api-00041-abc`"),
        "{row}"
    );
    assert!(row.contains("deployed 2025-10-01T10:10:00"), "{row}");
    // Who deployed is a person's address: masked, like every text the App writes.
    assert!(!row.contains("deployer@acme.example"), "{row}");
    // The fake's API address is its web address too (it is not api.github.com).
    let web = gh.url.trim_end_matches('/');
    assert!(
        row.contains(&format!(
            "by `[EMAIL]`; suspect change [2222222]({web}/{REPO}/commit/2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb)"
        )),
        "{row}"
    );
    assert!(row.contains("compare/1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"), "{row}");
}
