//! The shapes of what GitHub answers, as far as the App reads them. A response that lacks
//! what the App needs is an error naming the field, never a default.

use crate::github::IssueComment;
use crate::plan::{IssueState, KnownIssue};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::IgnoredAny;

/// Anything GitHub names by its `id`: an installation, a comment just created.
#[derive(Debug, Deserialize)]
pub(super) struct Id {
    pub id: u64,
}

/// An issue just created.
#[derive(Debug, Deserialize)]
pub(super) struct Number {
    pub number: u64,
}

/// `GET /app`.
#[derive(Debug, Deserialize)]
pub(super) struct AppJson {
    pub slug: String,
}

/// `GET /installation/repositories`.
#[derive(Debug, Deserialize)]
pub(super) struct RepositoriesJson {
    pub repositories: Vec<RepositoryName>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RepositoryName {
    pub full_name: String,
}

/// `GET /repos/{repo}`.
#[derive(Debug, Deserialize)]
pub(super) struct RepositoryJson {
    pub default_branch: String,
}

/// `GET /repos/{repo}/contents/{path}`: the file, base64 with line breaks.
#[derive(Debug, Deserialize)]
pub(super) struct ContentJson {
    pub content: String,
}

/// An issue (or, in the issues list, a pull request, which has `pull_request`).
#[derive(Debug, Deserialize)]
pub(super) struct IssueJson {
    pub number: u64,
    pub title: String,
    pub state: String,
    #[serde(default)]
    pub state_reason: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub labels: Vec<LabelJson>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub pull_request: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
pub(super) struct LabelJson {
    pub name: String,
}

impl IssueJson {
    /// The issue as the plan knows it, its marker read from the body.
    pub fn known(self) -> KnownIssue {
        let state = match (self.state.as_str(), self.state_reason.as_deref()) {
            ("open", _) => IssueState::Open,
            // A duplicate is tracked elsewhere: like not planned, it stays closed.
            (_, Some("not_planned" | "duplicate")) => IssueState::ClosedNotPlanned,
            _ => IssueState::ClosedCompleted,
        };
        KnownIssue {
            number: self.number,
            fingerprint: self.body.as_deref().and_then(crate::marker::fingerprint_in),
            title: self.title,
            state,
            labels: self.labels.into_iter().map(|l| l.name).collect(),
            created_at: self.created_at,
        }
    }
}

/// `GET /search/issues`.
#[derive(Debug, Deserialize)]
pub(super) struct SearchJson {
    pub items: Vec<IssueJson>,
}

/// A comment of an issue.
#[derive(Debug, Deserialize)]
pub(super) struct CommentJson {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    /// `null` for a deleted account ("ghost").
    #[serde(default)]
    pub user: Option<UserJson>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct UserJson {
    pub login: String,
}

impl CommentJson {
    pub fn comment(self) -> IssueComment {
        IssueComment {
            id: self.id,
            body: self.body.unwrap_or_default(),
            author: self.user.map(|u| u.login).unwrap_or_default(),
            created_at: self.created_at,
        }
    }
}

/// `GET /repos/{repo}/collaborators/{user}/permission`. Read as JSON of its own: octocrab's
/// typed call cannot parse `write`.
#[derive(Debug, Deserialize)]
pub(super) struct PermissionJson {
    pub permission: String,
    #[serde(default)]
    pub role_name: Option<String>,
}

impl PermissionJson {
    /// `role_name` knows maintain and triage, which `permission` folds into write/read.
    pub fn role(self) -> String {
        self.role_name.unwrap_or(self.permission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issue_without_a_number_is_an_error_that_names_it() {
        let e =
            serde_json::from_str::<IssueJson>(r#"{"title": "x", "state": "open"}"#).unwrap_err();
        assert!(e.to_string().contains("number"), "{e}");
    }

    #[test]
    fn issues_read_as_the_plan_knows_them() {
        let issue: IssueJson = serde_json::from_str(
            r#"{"number": 7, "title": "[P1] api: KeyError", "state": "closed",
                "state_reason": "duplicate", "body": "text\n<!-- log-gardener:fingerprint=abc123 -->",
                "labels": [{"name": "log-gardener"}], "created_at": "2026-12-04T10:00:00Z",
                "pull_request": null}"#,
        )
        .unwrap();
        assert!(issue.pull_request.is_none());
        let known = issue.known();
        assert_eq!(known.number, 7);
        assert_eq!(known.state, IssueState::ClosedNotPlanned);
        assert_eq!(known.labels, vec!["log-gardener".to_string()]);
        assert!(known.created_at.is_some());
    }

    #[test]
    fn a_maintainer_is_a_maintainer_though_permission_says_write() {
        let p: PermissionJson =
            serde_json::from_str(r#"{"permission": "write", "role_name": "maintain"}"#).unwrap();
        assert_eq!(p.role(), "maintain");
        let p: PermissionJson = serde_json::from_str(r#"{"permission": "read"}"#).unwrap();
        assert_eq!(p.role(), "read");
    }
}
