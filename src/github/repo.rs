//! The calls the App makes on one repository. Each retries only where a retry cannot
//! duplicate anything; a create or a comment that may have happened is looked for first.

use super::responses::{
    CommentJson, ContentJson, Id, IssueJson, Number, PermissionJson, RepositoryJson, SearchJson,
};
use super::{backoff, builder, check_repo_name, is_transient, retry, status_of, with_query};
use crate::metrics;
use crate::plan::KnownIssue;
use anyhow::Context;
use base64::Engine;
use chrono::{DateTime, Utc};
use octocrab::Octocrab;
use serde_json::{Value, json};

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
        let repo: RepositoryJson = retry(true, || self.gh.get(&route, None::<&()>)).await?;
        Ok(repo.default_branch)
    }

    /// A file of the default branch; `None` when it does not exist.
    pub async fn file(&self, path: &str) -> anyhow::Result<Option<String>> {
        let route = self.route(&format!("/contents/{path}"));
        match retry(true, || {
            self.gh.get::<ContentJson, _, _>(&route, None::<&()>)
        })
        .await
        {
            Ok(file) => {
                let content: String = file
                    .content
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
            let batch: Vec<IssueJson> = retry(true, || self.gh.get(&url, None::<&()>)).await?;
            let n = batch.len();
            out.extend(
                batch
                    .into_iter()
                    .filter(|i| i.pull_request.is_none())
                    .map(IssueJson::known),
            );
            if n < 100 {
                break;
            }
        }
        Ok(out)
    }

    /// One issue.
    pub async fn issue(&self, number: u64) -> anyhow::Result<Option<KnownIssue>> {
        let route = self.route(&format!("/issues/{number}"));
        match retry(true, || self.gh.get::<IssueJson, _, _>(&route, None::<&()>)).await {
            Ok(issue) => Ok(Some(issue.known())),
            Err(e) if matches!(status_of(&e), Some(404) | Some(410)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The body of an issue.
    pub async fn issue_body(&self, number: u64) -> anyhow::Result<Option<String>> {
        let route = self.route(&format!("/issues/{number}"));
        match retry(true, || self.gh.get::<IssueJson, _, _>(&route, None::<&()>)).await {
            Ok(issue) => Ok(issue.body),
            Err(e) if matches!(status_of(&e), Some(404) | Some(410)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Issues found by the search API (its index lags by minutes: a fallback only).
    pub async fn search(&self, query: &str) -> anyhow::Result<Vec<KnownIssue>> {
        let q = format!("repo:{} is:issue {query}", self.full_name);
        let url = with_query("/search/issues", &[("q", &q), ("per_page", "50")]);
        let found: SearchJson = retry(true, || self.gh.get(&url, None::<&()>)).await?;
        Ok(found.items.into_iter().map(IssueJson::known).collect())
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
            let result: anyhow::Result<Number> =
                retry(false, || self.gh.post(&route, Some(&payload))).await;
            match result {
                Ok(created) => return Ok(created.number),
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
            match retry(false, || self.gh.post::<_, Id>(&route, Some(&payload))).await {
                Ok(created) => return Ok(created.id),
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
            let batch: Vec<CommentJson> = retry(true, || self.gh.get(&url, None::<&()>)).await?;
            let n = batch.len();
            out.extend(batch.into_iter().map(CommentJson::comment));
            if n < 100 {
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
        match retry(true, || {
            self.gh.get::<PermissionJson, _, _>(&route, None::<&()>)
        })
        .await
        {
            Ok(p) => Ok(p.role()),
            Err(e) if status_of(&e) == Some(404) => Ok("none".to_string()),
            Err(e) => Err(e),
        }
    }
}
