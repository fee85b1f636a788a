//! Webhook events as the worker reads them: typed payloads (what one lacks is named, never
//! defaulted), and what each event changes: installations, issue state, commands.

use super::AppState;
use super::jobs::{Rejected, typed};
use super::replies::handle_comment;
use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;

/// What a webhook job holds: the event's name and its payload as GitHub sent it.
#[derive(Debug, Deserialize)]
struct WebhookJob {
    event: String,
    body: Value,
}

#[derive(Debug, Deserialize)]
pub(super) struct Id {
    pub(super) id: u64,
}

#[derive(Debug, Deserialize)]
pub(super) struct RepoName {
    pub(super) full_name: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Number {
    pub(super) number: u64,
    #[serde(default)]
    pub(super) state_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct User {
    pub(super) login: String,
    #[serde(rename = "type", default)]
    pub(super) kind: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct CommentBody {
    pub(super) id: u64,
    #[serde(default)]
    pub(super) body: Option<String>,
    pub(super) user: User,
}

/// `installation` (created, deleted, …) and `installation_repositories` events.
#[derive(Debug, Deserialize)]
pub(super) struct InstallationEvent {
    pub(super) action: String,
    pub(super) installation: Id,
    #[serde(default)]
    pub(super) repositories: Vec<RepoName>,
    #[serde(default)]
    pub(super) repositories_added: Vec<RepoName>,
    #[serde(default)]
    pub(super) repositories_removed: Vec<RepoName>,
}

/// `issues` events.
#[derive(Debug, Deserialize)]
pub(super) struct IssuesEvent {
    pub(super) action: String,
    pub(super) repository: RepoName,
    pub(super) issue: Number,
}

/// `issue_comment` events.
#[derive(Debug, Deserialize)]
pub(super) struct CommentEvent {
    pub(super) action: String,
    pub(super) installation: Id,
    pub(super) repository: RepoName,
    pub(super) issue: Number,
    pub(super) comment: CommentBody,
}

/// The `action` of a payload, read first to know whether the event is acted on at all.
fn action_of(body: &Value) -> &str {
    body.get("action").and_then(Value::as_str).unwrap_or("")
}

/// A webhook job's event, typed; what the App does not act on is `Ignored`.
#[derive(Debug)]
enum WebhookEvent {
    /// With the installation's id as the store keeps it.
    Installation(InstallationEvent, i64),
    Issues(IssuesEvent),
    Comment(CommentEvent),
    Ignored,
}

/// A webhook job's payload, read into the event it is, without acting on it. Fails, naming
/// what is missing or wrong, on a payload that cannot be used.
pub fn decode_webhook(payload: &Value) -> anyhow::Result<DecodedWebhook> {
    let job: WebhookJob = typed("webhook job", payload)?;
    let body = &job.body;
    let event = match (job.event.as_str(), action_of(body)) {
        (
            "installation",
            "created" | "new_permissions_accepted" | "unsuspend" | "deleted" | "suspend",
        )
        | ("installation_repositories", _) => {
            let event: InstallationEvent = typed(&job.event, body)?;
            let id = i64::try_from(event.installation.id)
                .map_err(|_| Rejected("installation.id is out of range".into()))?;
            WebhookEvent::Installation(event, id)
        }
        ("issues", "closed" | "reopened") => WebhookEvent::Issues(typed("issues", body)?),
        ("issue_comment", "created") => WebhookEvent::Comment(typed("issue_comment", body)?),
        _ => WebhookEvent::Ignored,
    };
    Ok(DecodedWebhook(event))
}

/// What [`decode_webhook`] read; only the worker looks inside.
#[derive(Debug)]
pub struct DecodedWebhook(WebhookEvent);

pub(super) async fn handle_webhook(state: &AppState, payload: &Value) -> anyhow::Result<()> {
    let now = Utc::now();
    match decode_webhook(payload)?.0 {
        WebhookEvent::Installation(event, id) => {
            if matches!(event.action.as_str(), "deleted" | "suspend") {
                state.store.remove_installation(id).await?;
                return Ok(());
            }
            for r in event.repositories.iter().chain(&event.repositories_added) {
                state.store.add_installation(&r.full_name, id, now).await?;
            }
            for r in &event.repositories_removed {
                state.store.remove_installation_repo(&r.full_name).await?;
            }
        }
        WebhookEvent::Issues(event) => {
            let issue_state = match (event.action.as_str(), event.issue.state_reason.as_deref()) {
                ("reopened", _) => "open",
                (_, Some("not_planned")) => "closed_not_planned",
                _ => "closed_completed",
            };
            state
                .store
                .set_issue_state(
                    &event.repository.full_name,
                    event.issue.number,
                    issue_state,
                    now,
                )
                .await?;
        }
        WebhookEvent::Comment(event) => handle_comment(state, &event).await?,
        WebhookEvent::Ignored => {}
    }
    Ok(())
}

/// Whether a comment was written by a bot (the App itself included): never a command.
pub(super) fn by_bot(user: &User) -> bool {
    // The App comments as `SLUG[bot]`, so its own comments are caught here too.
    user.kind == "Bot" || user.login.ends_with("[bot]")
}
