//! GitHub: App and token authentication, and the calls the App makes on a repository (with
//! retries only where a retry cannot duplicate anything). It sends the texts `report`
//! renders and knows nothing of root causes.

use crate::metrics;
use crate::plan::{IssueState, KnownIssue};
use anyhow::{Context, anyhow, bail};
use base64::Engine;
use chrono::{DateTime, Utc};
use octocrab::Octocrab;
use octocrab::models::{AppId, InstallationId};
use serde_json::{Value, json};
use std::future::Future;
use std::time::Duration;

/// How the App authenticates.
#[derive(Clone)]
pub enum Credentials {
    /// A token allowed to write issues (`GITHUB_TOKEN` of a GitHub Actions workflow).
    Token(String),
    /// The GitHub App: its id and RSA private key (PEM).
    App { app_id: u64, private_key: String },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret, not even in a debug log.
        match self {
            Credentials::Token(_) => f.write_str("Credentials::Token(..)"),
            Credentials::App { app_id, .. } => write!(f, "Credentials::App {{ app_id: {app_id} }}"),
        }
    }
}

impl Credentials {
    /// `GITHUB_TOKEN`, else `APP_ID` with `PRIVATE_KEY` or `PRIVATE_KEY_PATH`; none of them
    /// set is `None`. An `APP_ID` that is not a number, or without its key, is an error: the
    /// user meant to write, and a dry run in its place would hide the mistake.
    pub fn from_env() -> anyhow::Result<Option<Self>> {
        if let Ok(token) = std::env::var("GITHUB_TOKEN")
            && !token.trim().is_empty()
        {
            return Ok(Some(Credentials::Token(token.trim().to_string())));
        }
        let Some(app_id) = std::env::var("APP_ID")
            .ok()
            .filter(|v| !v.trim().is_empty())
        else {
            return Ok(None);
        };
        let app_id = app_id
            .trim()
            .parse()
            .map_err(|_| anyhow!("APP_ID must be the App's numeric id, not {app_id:?}"))?;
        let private_key = private_key_from_env().context("APP_ID is set")?;
        Ok(Some(Credentials::App {
            app_id,
            private_key,
        }))
    }
}

/// `PRIVATE_KEY` (PEM, `\n` escapes allowed) or the file at `PRIVATE_KEY_PATH`.
pub fn private_key_from_env() -> anyhow::Result<String> {
    if let Ok(key) = std::env::var("PRIVATE_KEY")
        && !key.trim().is_empty()
    {
        return Ok(key.replace("\\n", "\n"));
    }
    let path = std::env::var("PRIVATE_KEY_PATH")
        .map_err(|_| anyhow!("PRIVATE_KEY or PRIVATE_KEY_PATH is required"))?;
    std::fs::read_to_string(&path).with_context(|| format!("cannot read PRIVATE_KEY_PATH {path}"))
}

/// `GITHUB_API_URL`, else api.github.com.
pub fn api_url_from_env() -> String {
    std::env::var("GITHUB_API_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| crate::model::GITHUB_API_URL.to_string())
}

fn builder(
    api_url: &str,
) -> anyhow::Result<
    octocrab::OctocrabBuilder<
        octocrab::NoSvc,
        octocrab::DefaultOctocrabBuilderConfig,
        octocrab::NoAuth,
        octocrab::NotLayerReady,
    >,
> {
    Ok(Octocrab::builder()
        .base_uri(api_url)
        .with_context(|| format!("GITHUB_API_URL {api_url:?} is not a URL"))?
        .set_connect_timeout(Some(Duration::from_secs(10)))
        .set_read_timeout(Some(Duration::from_secs(60)))
        .set_write_timeout(Some(Duration::from_secs(60))))
}

/// The GitHub App itself (JWT auth): installations, and clients for each.
#[derive(Clone)]
pub struct App {
    app: Octocrab,
}

impl App {
    pub fn new(api_url: &str, app_id: u64, private_key: &str) -> anyhow::Result<App> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key.as_bytes())
            .context("the App's private key is not an RSA key in PEM form")?;
        let app = builder(api_url)?
            .app(AppId(app_id), key)
            .build()
            .context("building the GitHub client")?;
        Ok(App { app })
    }

    /// The App's slug (`@slug` in comments, `slug[bot]` as the author of its comments).
    pub async fn slug(&self) -> anyhow::Result<String> {
        let v: Value = retry(true, || self.app.get("/app", None::<&()>)).await?;
        v["slug"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("GET /app answered without a slug"))
    }

    /// A client acting as one installation.
    pub fn installation(&self, id: u64) -> anyhow::Result<Octocrab> {
        Ok(self.app.installation(InstallationId(id))?)
    }

    /// Every installation and the repositories it covers.
    pub async fn installations(&self) -> anyhow::Result<Vec<(u64, Vec<String>)>> {
        let mut out = Vec::new();
        for page in 1u32..=20 {
            let route = with_query(
                "/app/installations",
                &[("per_page", "100"), ("page", &page.to_string())],
            );
            let installs: Vec<Value> = retry(true, || self.app.get(&route, None::<&()>)).await?;
            if installs.is_empty() {
                break;
            }
            for i in &installs {
                let Some(id) = i["id"].as_u64() else { continue };
                let client = self.installation(id)?;
                out.push((id, installation_repos(&client).await?));
            }
            if installs.len() < 100 {
                break;
            }
        }
        Ok(out)
    }

    /// The installation that covers a repository.
    pub async fn installation_for(&self, repo: &str) -> anyhow::Result<u64> {
        let route = format!("/repos/{repo}/installation");
        let v: Value = retry(true, || self.app.get(&route, None::<&()>)).await?;
        v["id"]
            .as_u64()
            .ok_or_else(|| anyhow!("the App is not installed on {repo}"))
    }
}

async fn installation_repos(client: &Octocrab) -> anyhow::Result<Vec<String>> {
    let mut repos = Vec::new();
    for page in 1u32..=50 {
        let route = with_query(
            "/installation/repositories",
            &[("per_page", "100"), ("page", &page.to_string())],
        );
        let v: Value = retry(true, || client.get(&route, None::<&()>)).await?;
        let batch = v["repositories"].as_array().cloned().unwrap_or_default();
        repos.extend(
            batch
                .iter()
                .filter_map(|r| r["full_name"].as_str().map(str::to_string)),
        );
        if batch.len() < 100 {
            break;
        }
    }
    Ok(repos)
}

/// A repository's name must be `OWNER/NAME`.
/// A client for `repo_name` with the CLI's credentials (a token, or the App's installation).
pub async fn connect(repo_name: &str, credentials: Credentials) -> anyhow::Result<Repo> {
    let api_url = api_url_from_env();
    match credentials {
        Credentials::Token(token) => Repo::with_token(&api_url, &token, repo_name),
        Credentials::App {
            app_id,
            private_key,
        } => {
            let app = App::new(&api_url, app_id, &private_key)?;
            let installation = app.installation_for(repo_name).await?;
            Repo::new(app.installation(installation)?, repo_name)
        }
    }
}

pub fn check_repo_name(full_name: &str) -> anyhow::Result<()> {
    if full_name.split('/').count() != 2 || full_name.split('/').any(str::is_empty) {
        bail!("--repo must be OWNER/NAME, not {full_name:?}");
    }
    Ok(())
}

/// A client for one repository.
#[derive(Clone)]
pub struct Repo {
    gh: Octocrab,
    /// `owner/name`.
    pub full_name: String,
}

/// A comment of an issue, as the App reads it.
#[derive(Debug, Clone)]
pub struct IssueComment {
    pub id: u64,
    pub body: String,
    pub author: String,
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Repo {
    pub fn new(gh: Octocrab, full_name: &str) -> anyhow::Result<Repo> {
        check_repo_name(full_name)?;
        Ok(Repo {
            gh,
            full_name: full_name.to_string(),
        })
    }

    /// A client with a token (`GITHUB_TOKEN`).
    pub fn with_token(api_url: &str, token: &str, full_name: &str) -> anyhow::Result<Repo> {
        let gh = builder(api_url)?
            .personal_token(token.to_string())
            .build()
            .context("building the GitHub client")?;
        Repo::new(gh, full_name)
    }

    fn route(&self, rest: &str) -> String {
        format!("/repos/{}{rest}", self.full_name)
    }

    /// The repository's default branch.
    pub async fn default_branch(&self) -> anyhow::Result<String> {
        let route = self.route("");
        let v: Value = retry(true, || self.gh.get(&route, None::<&()>)).await?;
        Ok(v["default_branch"].as_str().unwrap_or("main").to_string())
    }

    /// A file of the default branch; `None` when it does not exist.
    pub async fn file(&self, path: &str) -> anyhow::Result<Option<String>> {
        let route = self.route(&format!("/contents/{path}"));
        match retry(true, || self.gh.get::<Value, _, _>(&route, None::<&()>)).await {
            Ok(v) => {
                let content: String = v["content"]
                    .as_str()
                    .unwrap_or("")
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(content)
                    .with_context(|| format!("{path} in {} is not valid base64", self.full_name))?;
                Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
            }
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Issues with a label (open and closed, newest first), their marker read from the body.
    pub async fn issues_labelled(&self, label: &str) -> anyhow::Result<Vec<KnownIssue>> {
        let route = self.route("/issues");
        let mut out = Vec::new();
        for page in 1u32..=10 {
            let url = with_query(
                &route,
                &[
                    ("state", "all"),
                    ("labels", label),
                    ("per_page", "100"),
                    ("page", &page.to_string()),
                ],
            );
            let batch: Vec<Value> = retry(true, || self.gh.get(&url, None::<&()>)).await?;
            out.extend(
                batch
                    .iter()
                    .filter(|i| i.get("pull_request").is_none_or(Value::is_null))
                    .filter_map(known_issue),
            );
            if batch.len() < 100 {
                break;
            }
        }
        Ok(out)
    }

    /// One issue.
    pub async fn issue(&self, number: u64) -> anyhow::Result<Option<KnownIssue>> {
        let route = self.route(&format!("/issues/{number}"));
        match retry(true, || self.gh.get::<Value, _, _>(&route, None::<&()>)).await {
            Ok(v) => Ok(known_issue(&v)),
            Err(e) if matches!(status_of(&e), Some(404) | Some(410)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The body of an issue.
    pub async fn issue_body(&self, number: u64) -> anyhow::Result<Option<String>> {
        let route = self.route(&format!("/issues/{number}"));
        match retry(true, || self.gh.get::<Value, _, _>(&route, None::<&()>)).await {
            Ok(v) => Ok(v["body"].as_str().map(str::to_string)),
            Err(e) if matches!(status_of(&e), Some(404) | Some(410)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Issues found by the search API (its index lags by minutes: a fallback only).
    pub async fn search(&self, query: &str) -> anyhow::Result<Vec<KnownIssue>> {
        let q = format!("repo:{} is:issue {query}", self.full_name);
        let url = with_query("/search/issues", &[("q", &q), ("per_page", "50")]);
        let v: Value = retry(true, || self.gh.get(&url, None::<&()>)).await?;
        Ok(v["items"]
            .as_array()
            .map(|items| items.iter().filter_map(known_issue).collect())
            .unwrap_or_default())
    }

    /// Files an issue. A 5xx or a timeout may hide an issue that was created anyway, so
    /// before trying again the marker is looked for; it is never filed twice.
    pub async fn create_issue(
        &self,
        title: &str,
        body: &str,
        labels: &[String],
        fingerprint: &str,
        find_label: &str,
    ) -> anyhow::Result<u64> {
        let route = self.route("/issues");
        let payload = json!({"title": title, "body": body, "labels": labels});
        let mut attempt = 0u32;
        loop {
            let result: anyhow::Result<Value> =
                retry(false, || self.gh.post(&route, Some(&payload))).await;
            match result {
                Ok(v) => {
                    return v["number"]
                        .as_u64()
                        .ok_or_else(|| anyhow!("GitHub answered without an issue number"));
                }
                Err(e) if attempt < 4 && is_transient(&e) => {
                    attempt += 1;
                    metrics::GITHUB_RETRIES.inc();
                    tracing::warn!(repo = %self.full_name, error = %e, "creating an issue failed; looking for it before trying again");
                    tokio::time::sleep(backoff(attempt)).await;
                    if let Some(found) = self
                        .issues_labelled(find_label)
                        .await?
                        .into_iter()
                        .find(|i| i.fingerprint.as_deref() == Some(fingerprint))
                    {
                        return Ok(found.number);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Comments on an issue; after a 5xx, the comment is looked for before trying again.
    pub async fn comment(&self, number: u64, body: &str) -> anyhow::Result<u64> {
        let route = self.route(&format!("/issues/{number}/comments"));
        let payload = json!({"body": body});
        let mut attempt = 0u32;
        // A comment that GitHub made although it answered 5xx is newer than this (with a
        // margin for clocks that differ).
        let asked = Utc::now() - chrono::Duration::minutes(5);
        loop {
            match retry(false, || self.gh.post::<_, Value>(&route, Some(&payload))).await {
                Ok(v) => return Ok(v["id"].as_u64().unwrap_or(0)),
                Err(e) if attempt < 4 && is_transient(&e) => {
                    attempt += 1;
                    metrics::GITHUB_RETRIES.inc();
                    tokio::time::sleep(backoff(attempt)).await;
                    if let Some(c) = self
                        .comments(number, Some(asked))
                        .await?
                        .into_iter()
                        .rev()
                        .find(|c| c.body == body)
                    {
                        return Ok(c.id);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The comments of an issue, oldest first, to the newest (read to the last page, so that
    /// a long issue's latest comments are never missed); with `since`, only those updated at
    /// or after it.
    pub async fn comments(
        &self,
        number: u64,
        since: Option<DateTime<Utc>>,
    ) -> anyhow::Result<Vec<IssueComment>> {
        let route = self.route(&format!("/issues/{number}/comments"));
        let since = since.map(|t| crate::model::rfc3339(&t));
        let mut out = Vec::new();
        // 100 pages are 10,000 comments: far beyond GitHub's own limit of 2,500 per issue.
        for page in 1u32..=100 {
            let page = page.to_string();
            let mut query = vec![("per_page", "100"), ("page", page.as_str())];
            if let Some(since) = &since {
                query.push(("since", since.as_str()));
            }
            let url = with_query(&route, &query);
            let batch: Vec<Value> = retry(true, || self.gh.get(&url, None::<&()>)).await?;
            out.extend(batch.iter().map(|c| IssueComment {
                id: c["id"].as_u64().unwrap_or(0),
                body: c["body"].as_str().unwrap_or("").to_string(),
                author: c["user"]["login"].as_str().unwrap_or("").to_string(),
                created_at: time_of(&c["created_at"]),
            }));
            if batch.len() < 100 {
                break;
            }
        }
        Ok(out)
    }

    /// Reopens an issue (PATCH is idempotent, so retried).
    pub async fn reopen(&self, number: u64) -> anyhow::Result<()> {
        let route = self.route(&format!("/issues/{number}"));
        let payload = json!({"state": "open", "state_reason": "reopened"});
        let _: Value = retry(true, || self.gh.patch(&route, Some(&payload))).await?;
        Ok(())
    }

    /// Closes an issue as completed (PATCH is idempotent, so retried).
    pub async fn close(&self, number: u64) -> anyhow::Result<()> {
        let route = self.route(&format!("/issues/{number}"));
        let payload = json!({"state": "closed", "state_reason": "completed"});
        let _: Value = retry(true, || self.gh.patch(&route, Some(&payload))).await?;
        Ok(())
    }

    /// Adds labels (a set union on GitHub's side, so retried).
    pub async fn add_labels(&self, number: u64, labels: &[String]) -> anyhow::Result<()> {
        let route = self.route(&format!("/issues/{number}/labels"));
        let payload = json!({"labels": labels});
        let _: Value = retry(true, || self.gh.post(&route, Some(&payload))).await?;
        Ok(())
    }

    /// Removes a label; a label that is not there is fine.
    pub async fn remove_label(&self, number: u64, label: &str) -> anyhow::Result<()> {
        let name: String =
            percent_encoding::utf8_percent_encode(label, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let route = self.route(&format!("/issues/{number}/labels/{name}"));
        match retry(true, || self.gh.delete::<Value, _, ()>(&route, None)).await {
            Ok(_) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Reacts to a comment (`eyes`, `rocket`, `confused`); GitHub keeps one per kind.
    pub async fn react(&self, comment_id: u64, content: &str) -> anyhow::Result<()> {
        let route = self.route(&format!("/issues/comments/{comment_id}/reactions"));
        let payload = json!({"content": content});
        let _: Value = retry(true, || self.gh.post(&route, Some(&payload))).await?;
        Ok(())
    }

    /// A user's permission on the repository: `admin`, `maintain`, `write`, `triage`,
    /// `read` or `none`. Read raw: octocrab's typed call cannot parse `write`.
    pub async fn permission(&self, user: &str) -> anyhow::Result<String> {
        let route = self.route(&format!("/collaborators/{user}/permission"));
        match retry(true, || self.gh.get::<Value, _, _>(&route, None::<&()>)).await {
            Ok(v) => {
                // `role_name` knows maintain and triage, which `permission` folds into write/read.
                let role = v["role_name"].as_str().or(v["permission"].as_str());
                Ok(role.unwrap_or("none").to_string())
            }
            Err(e) if status_of(&e) == Some(404) => Ok("none".to_string()),
            Err(e) => Err(e),
        }
    }
}

/// A route with its query string, each value percent-encoded.
fn with_query(route: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect();
    format!("{route}?{}", query.join("&"))
}

/// A timestamp field of GitHub's JSON.
fn time_of(v: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    v.as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

fn known_issue(v: &Value) -> Option<KnownIssue> {
    let number = v["number"].as_u64()?;
    let state = match (v["state"].as_str(), v["state_reason"].as_str()) {
        (Some("open"), _) => IssueState::Open,
        // A duplicate is tracked elsewhere: like not planned, it stays closed.
        (_, Some("not_planned" | "duplicate")) => IssueState::ClosedNotPlanned,
        _ => IssueState::ClosedCompleted,
    };
    let labels = v["labels"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .filter_map(|l| l["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Some(KnownIssue {
        number,
        title: v["title"].as_str().unwrap_or("").to_string(),
        state,
        fingerprint: v["body"].as_str().and_then(crate::marker::fingerprint_in),
        labels,
        created_at: time_of(&v["created_at"]),
    })
}

/// The HTTP status of a failed GitHub call.
pub fn status_of(e: &anyhow::Error) -> Option<u16> {
    match e.downcast_ref::<octocrab::Error>()? {
        octocrab::Error::GitHub { source, .. } => Some(source.status_code.as_u16()),
        _ => None,
    }
}

/// A failure that may not have reached GitHub or may be gone on the next try.
fn is_transient(e: &anyhow::Error) -> bool {
    match e.downcast_ref::<octocrab::Error>() {
        Some(octocrab::Error::GitHub { source, .. }) => source.status_code.is_server_error(),
        Some(octocrab::Error::Serde { .. } | octocrab::Error::Json { .. }) => false,
        Some(_) => true,
        None => false,
    }
}

/// How long GitHub asks us to wait: `Retry-After`, else `x-ratelimit-reset` when the
/// remaining quota is zero, else a minute for a secondary limit that names no time.
fn rate_limit_wait(e: &octocrab::Error) -> Option<Duration> {
    let octocrab::Error::GitHub { source, .. } = e else {
        return None;
    };
    let status = source.status_code.as_u16();
    if status != 403 && status != 429 {
        return None;
    }
    let header = |name: &str| {
        source
            .headers
            .as_ref()
            .and_then(|h| h.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if let Some(secs) = header("retry-after").and_then(|s| s.trim().parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs.max(1)));
    }
    if header("x-ratelimit-remaining").as_deref() == Some("0")
        && let Some(reset) = header("x-ratelimit-reset").and_then(|s| s.parse::<i64>().ok())
    {
        let wait = reset - chrono::Utc::now().timestamp();
        return Some(Duration::from_secs(wait.clamp(1, 900) as u64));
    }
    let secondary = source.message.to_lowercase().contains("rate limit");
    (status == 429 || secondary).then(|| Duration::from_secs(60))
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.min(6))
}

/// Calls GitHub, waiting out rate limits (a rejected request changed nothing, so it is
/// always safe to send again) and, when `safe`, retrying 5xx and network failures.
pub async fn retry<T, F, Fut>(safe: bool, mut call: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, octocrab::Error>>,
{
    let mut attempt = 0u32;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                metrics::GITHUB_ERRORS.inc();
                attempt += 1;
                if attempt > 5 {
                    return Err(e.into());
                }
                if let Some(wait) = rate_limit_wait(&e) {
                    metrics::GITHUB_RETRIES.inc();
                    tracing::warn!(seconds = wait.as_secs(), "GitHub rate limit: waiting");
                    tokio::time::sleep(wait.min(Duration::from_secs(900))).await;
                    continue;
                }
                let err: anyhow::Error = e.into();
                if safe && is_transient(&err) {
                    metrics::GITHUB_RETRIES.inc();
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                return Err(err);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_print_their_secret() {
        let c = Credentials::Token("ghp_secret".into());
        assert!(!format!("{c:?}").contains("ghp_secret"));
    }
}
