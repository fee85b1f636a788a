//! GitHub webhook deliveries for tests: the signature header, the other headers GitHub
//! sends, and payloads shaped like GitHub's (complete enough that octocrab's
//! `WebhookEvent::try_from_header_and_body` accepts them: its `Issue`, `Comment` and
//! `Author` models have many required fields, and a minimal `installation` needs `node_id`).
//!
//! URLs in these payloads point at `https://api.github.com`, as real deliveries do; user and
//! repository ids come from `fake_github::stable_id`, so they agree with the fake's.

#![allow(dead_code)]

use super::fake_github::{installation_json, repo_json, stable_id, user_json};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// Where real deliveries' API URLs point.
pub const API: &str = "https://api.github.com";
/// The App id the payloads name (the fake's default).
pub const APP_ID: u64 = 1;

/// `X-Hub-Signature-256` for `body`: `sha256=<hex HMAC-SHA256>`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The headers GitHub sends with a delivery (signature included), for `event` ("issue_comment",
/// "installation", ...) and a delivery id (a GUID; reuse one to simulate a redelivery).
pub fn headers(event: &str, delivery: &str, secret: &str, body: &[u8]) -> Vec<(String, String)> {
    vec![
        ("content-type".into(), "application/json".into()),
        ("user-agent".into(), "GitHub-Hookshot/5f3e2a1".into()),
        ("x-github-event".into(), event.into()),
        ("x-github-delivery".into(), delivery.into()),
        ("x-github-hook-id".into(), "512345678".into()),
        (
            "x-github-hook-installation-target-type".into(),
            "integration".into(),
        ),
        (
            "x-github-hook-installation-target-id".into(),
            APP_ID.to_string(),
        ),
        ("x-hub-signature-256".into(), sign(secret, body)),
    ]
}

/// The minimal installation object of non-installation events.
fn installation_ref(installation_id: u64) -> Value {
    json!({"id": installation_id, "node_id": format!("MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u{installation_id}")})
}

fn owner_of(full_name: &str) -> &str {
    full_name.split('/').next().unwrap_or(full_name)
}

/// An issue object as GitHub puts it in webhook payloads (no `pull_request` key: an issue).
#[allow(clippy::too_many_arguments)]
pub fn issue_object(
    repo_full_name: &str,
    number: u64,
    title: &str,
    body: &str,
    state: &str,
    state_reason: Option<&str>,
    labels: &[&str],
    author_login: &str,
    author_type: &str,
) -> Value {
    let u = format!("{API}/repos/{repo_full_name}/issues/{number}");
    let id = stable_id("issue", &format!("{repo_full_name}#{number}"));
    let labels: Vec<Value> = labels
        .iter()
        .map(|l| {
            let lid = stable_id("label", &format!("{repo_full_name}:{l}"));
            json!({
                "id": lid, "node_id": format!("LA_kwDO{lid}"),
                "url": format!("{API}/repos/{repo_full_name}/labels/{l}"),
                "name": l, "color": "ededed", "default": false, "description": null,
            })
        })
        .collect();
    json!({
        "url": u,
        "repository_url": format!("{API}/repos/{repo_full_name}"),
        "labels_url": format!("{u}/labels{{/name}}"),
        "comments_url": format!("{u}/comments"),
        "events_url": format!("{u}/events"),
        "html_url": format!("https://github.com/{repo_full_name}/issues/{number}"),
        "id": id,
        "node_id": format!("I_kwDO{id}"),
        "number": number,
        "title": title,
        "user": user_json(API, author_login, author_type),
        "labels": labels,
        "state": state,
        "locked": false,
        "assignee": null,
        "assignees": [],
        "milestone": null,
        "comments": 1,
        "created_at": "2025-09-15T22:50:00Z",
        "updated_at": "2025-09-15T23:00:00Z",
        "closed_at": if state == "closed" { json!("2025-09-15T23:00:00Z") } else { Value::Null },
        "author_association": "NONE",
        "active_lock_reason": null,
        "body": body,
        "reactions": {
            "url": format!("{u}/reactions"), "total_count": 0, "+1": 0, "-1": 0, "laugh": 0,
            "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0,
        },
        "timeline_url": format!("{u}/timeline"),
        "performed_via_github_app": null,
        "state_reason": state_reason,
    })
}

/// A comment object as GitHub puts it in `issue_comment` payloads.
pub fn comment_object(
    repo_full_name: &str,
    issue_number: u64,
    comment_id: u64,
    body: &str,
    author_login: &str,
    author_type: &str,
) -> Value {
    let u = format!("{API}/repos/{repo_full_name}/issues/comments/{comment_id}");
    json!({
        "url": u,
        "html_url": format!("https://github.com/{repo_full_name}/issues/{issue_number}#issuecomment-{comment_id}"),
        "issue_url": format!("{API}/repos/{repo_full_name}/issues/{issue_number}"),
        "id": comment_id,
        "node_id": format!("IC_kwDO{comment_id}"),
        "user": user_json(API, author_login, author_type),
        "created_at": "2025-09-15T23:00:00Z",
        "updated_at": "2025-09-15T23:00:00Z",
        "author_association": if author_type == "Bot" { "NONE" } else { "COLLABORATOR" },
        "body": body,
        "reactions": {
            "url": format!("{u}/reactions"), "total_count": 0, "+1": 0, "-1": 0, "laugh": 0,
            "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0,
        },
        "performed_via_github_app": null,
    })
}

/// `issue_comment` / `created`: someone commented `body` on issue `issue_number`.
pub fn issue_comment_created(
    repo_full_name: &str,
    installation_id: u64,
    issue_number: u64,
    comment_id: u64,
    body: &str,
    author_login: &str,
    author_type: &str,
) -> Value {
    let issue = issue_object(
        repo_full_name,
        issue_number,
        &format!("Issue {issue_number}"),
        "",
        "open",
        None,
        &[],
        owner_of(repo_full_name),
        "User",
    );
    let comment = comment_object(
        repo_full_name,
        issue_number,
        comment_id,
        body,
        author_login,
        author_type,
    );
    issue_comment_created_from(repo_full_name, installation_id, issue, comment)
}

/// `issue_comment` / `created` around an issue and a comment taken from the fake
/// (`FakeGitHub::issue_json` / `comment_json`), so the delivery matches the fake's state.
/// The sender is the comment's author.
pub fn issue_comment_created_from(
    repo_full_name: &str,
    installation_id: u64,
    issue: Value,
    comment: Value,
) -> Value {
    let sender = comment.get("user").cloned().unwrap_or(Value::Null);
    json!({
        "action": "created",
        "issue": issue,
        "comment": comment,
        "repository": repo_json(API, repo_full_name, "main"),
        "organization": null,
        "installation": installation_ref(installation_id),
        "sender": sender,
    })
}

/// `issues` / `action` around an issue object (`issue_object` or the fake's `issue_json`).
pub fn issues_event(
    action: &str,
    repo_full_name: &str,
    installation_id: u64,
    issue: Value,
) -> Value {
    json!({
        "action": action,
        "issue": issue,
        "repository": repo_json(API, repo_full_name, "main"),
        "installation": installation_ref(installation_id),
        "sender": user_json(API, owner_of(repo_full_name), "User"),
    })
}

/// `issues` / `closed` with `state_reason` "completed" or "not_planned".
pub fn issues_closed(
    repo_full_name: &str,
    installation_id: u64,
    number: u64,
    state_reason: &str,
) -> Value {
    let issue = issue_object(
        repo_full_name,
        number,
        &format!("Issue {number}"),
        "",
        "closed",
        Some(state_reason),
        &[],
        owner_of(repo_full_name),
        "User",
    );
    issues_event("closed", repo_full_name, installation_id, issue)
}

/// `issues` / `reopened`.
pub fn issues_reopened(repo_full_name: &str, installation_id: u64, number: u64) -> Value {
    let issue = issue_object(
        repo_full_name,
        number,
        &format!("Issue {number}"),
        "",
        "open",
        Some("reopened"),
        &[],
        owner_of(repo_full_name),
        "User",
    );
    issues_event("reopened", repo_full_name, installation_id, issue)
}

/// A repository as installation events list them.
fn installation_repo(full_name: &str) -> Value {
    let id = stable_id("repo", full_name);
    json!({
        "id": id,
        "node_id": format!("R_kgDO{id}"),
        "name": full_name.split('/').nth(1).unwrap_or(full_name),
        "full_name": full_name,
        "private": true,
    })
}

/// `installation` / `created`: the App was installed on `account` for `repos`.
pub fn installation_created(installation_id: u64, account: &str, repos: &[&str]) -> Value {
    json!({
        "action": "created",
        "installation": installation_json(API, installation_id, account, APP_ID),
        "repositories": repos.iter().map(|r| installation_repo(r)).collect::<Vec<_>>(),
        "requester": null,
        "sender": user_json(API, &format!("{account}-admin"), "User"),
    })
}

/// `installation_repositories` / `added`: `repos` were added to the installation (its
/// account is the owner of the first repository).
pub fn installation_repositories_added(installation_id: u64, repos: &[&str]) -> Value {
    let account = repos.first().map_or("octo-org", |r| owner_of(r));
    json!({
        "action": "added",
        "installation": installation_json(API, installation_id, account, APP_ID),
        "repository_selection": "selected",
        "repositories_added": repos.iter().map(|r| installation_repo(r)).collect::<Vec<_>>(),
        "repositories_removed": [],
        "requester": null,
        "sender": user_json(API, &format!("{account}-admin"), "User"),
    })
}

/// `ping`, as sent to an App's webhook when it is created.
pub fn ping() -> Value {
    json!({
        "zen": "Keep it logically awesome.",
        "hook_id": 512345678,
        "hook": {
            "type": "App",
            "id": 512345678,
            "name": "web",
            "active": true,
            "events": ["issue_comment", "issues"],
            "config": {
                "content_type": "json",
                "insecure_ssl": "0",
                "url": "https://log-gardener.example.com/api/github/webhooks",
            },
            "updated_at": "2025-09-15T20:00:00Z",
            "created_at": "2025-09-15T20:00:00Z",
            "app_id": APP_ID,
            "deliveries_url": format!("{API}/app/hook/deliveries"),
        },
        "sender": user_json(API, "log-gardener-dev", "User"),
    })
}
