//! Commands in issue comments, run: the author's permission checked, each command isolated,
//! and a reply for each (a user error said plainly, a failure by reference).

use super::AppState;
use super::commands::{self, Command, HELP};
use super::events::{CommentEvent, by_bot};
use super::jobs::{Panicked, isolated, reference};
use super::sweep::{Trigger, repo_config, run_sweep};
use crate::config::format_span;
use crate::error::UserError;
use crate::github::Repo;
use crate::marker::fingerprint_in;
use crate::report::status::{Status, status_reply};
use chrono::{DateTime, Utc};

pub(super) async fn handle_comment(state: &AppState, event: &CommentEvent) -> anyhow::Result<()> {
    debug_assert_eq!(event.action, "created");
    let comment = &event.comment;
    if by_bot(&comment.user) {
        return Ok(());
    }
    // Only which lines address the App is looked at before the author's permission is known.
    let lines = commands::addressed(comment.body.as_deref().unwrap_or(""), Some(&state.slug));
    if lines.is_empty() {
        return Ok(());
    }
    let installation = event.installation.id;
    let issue = event.issue.number;
    let author = comment.user.login.as_str();
    let repo = Repo::new(
        state.app.installation(installation)?,
        &event.repository.full_name,
    )?;

    let permission = repo.permission(author).await?;
    if !matches!(permission.as_str(), "admin" | "maintain" | "write") {
        repo.comment(
            issue,
            &format!("Sorry @{author}, only people with write, maintain or admin permission on this repository can run log-gardener commands."),
        )
        .await?;
        return Ok(());
    }
    react(&repo, comment.id, "eyes").await;
    let mut failed = false;
    for line in &lines {
        let reply = match commands::parse_addressed(line) {
            Err(e) => Err(UserError(format!(
                "I could not read `{}`: {}.",
                e.line.replace('`', "'"),
                e.message
            ))
            .into()),
            Ok(command) => {
                let (state, repo) = (state.clone(), repo.clone());
                isolated(
                    async move { run_command(&state, &repo, installation, issue, command).await },
                )
                .await
            }
        };
        match reply {
            Ok(text) => {
                repo.comment(issue, &text).await?;
            }
            Err(e) => {
                failed = true;
                let text = match (e.downcast_ref::<UserError>(), e.downcast_ref::<Panicked>()) {
                    (Some(user), _) => format!("😕 {user}"),
                    (None, Some(p)) => format!(
                        "😕 Something went wrong while running this command (reference `{}`); it was logged.",
                        p.reference
                    ),
                    (None, None) => {
                        // A bug or an outage: the details go to the logs, not to the issue.
                        let reference = reference();
                        tracing::error!(error = %format!("{e:#}"), %reference, "command failed");
                        format!(
                            "😕 Something went wrong while running this command (reference `{reference}`); it was logged. Try again later."
                        )
                    }
                };
                repo.comment(issue, &text).await?;
            }
        }
    }
    react(
        &repo,
        comment.id,
        if failed { "confused" } else { "rocket" },
    )
    .await;
    Ok(())
}

/// Reactions say how a command went; failing to add one must not run the command again.
async fn react(repo: &Repo, comment_id: u64, content: &str) {
    if let Err(e) = repo.react(comment_id, content).await {
        tracing::warn!(repo = %repo.full_name, content, error = %format!("{e:#}"), "could not react to a command");
    }
}

async fn run_command(
    state: &AppState,
    repo: &Repo,
    installation: u64,
    issue: u64,
    command: Command,
) -> anyhow::Result<String> {
    let now = Utc::now();
    match command {
        Command::Help => Ok(format!("**log-gardener commands**\n\n{HELP}")),
        Command::Sweep { services, window } => {
            sweep_reply(state, repo, installation, services, window, false, now).await
        }
        Command::DryRun { services, window } => {
            sweep_reply(state, repo, installation, services, window, true, now).await
        }
        Command::Status => status(state, repo).await,
        Command::Ignore { duration } => {
            let fingerprint = tracked_fingerprint(state, repo, issue).await?;
            let until = now
                .checked_add_signed(duration.unwrap_or(chrono::Duration::days(365 * 100)))
                .ok_or_else(|| UserError("that duration is too long".into()))?;
            state
                .store
                .mute(&repo.full_name, &fingerprint, until, now)
                .await?;
            Ok(match duration {
                Some(d) => format!(
                    "Muted: this root cause (`{fingerprint}`) is not commented on or filed for {}.",
                    format_span(d)
                ),
                None => format!(
                    "Muted: this root cause (`{fingerprint}`) is not commented on or filed again."
                ),
            })
        }
        Command::Merge { into } => {
            if into == issue {
                return Err(UserError("an issue cannot be merged into itself".into()).into());
            }
            let fingerprint = tracked_fingerprint(state, repo, issue).await?;
            if repo.issue(into).await?.is_none() {
                return Err(
                    UserError(format!("there is no issue #{into} in {}", repo.full_name)).into(),
                );
            }
            state
                .store
                .merge(&repo.full_name, &fingerprint, into, now)
                .await?;
            Ok(format!(
                "Merged: this root cause (`{fingerprint}`) is tracked on #{into} from now on."
            ))
        }
    }
}

/// The fingerprint an issue tracks: the store's record, else the body's marker.
async fn tracked_fingerprint(state: &AppState, repo: &Repo, issue: u64) -> anyhow::Result<String> {
    if let Some(fp) = state.store.fingerprint_of(&repo.full_name, issue).await? {
        return Ok(fp);
    }
    let body = repo.issue_body(issue).await?;
    let fp = body.as_deref().and_then(fingerprint_in).ok_or_else(|| {
        UserError(format!(
            "#{issue} is not an issue log-gardener tracks: run this command on one of its issues"
        ))
    })?;
    // Remember it, so that mute and merge have a row to change.
    let t = state.store.tracked(&repo.full_name).await?;
    if !t.contains_key(&fp) {
        state
            .store
            .record_issue(
                &repo.full_name,
                &fp,
                issue,
                None,
                "",
                crate::config::Priority::P3,
                0,
                false,
                Utc::now(),
            )
            .await?;
    }
    Ok(fp)
}

async fn sweep_reply(
    state: &AppState,
    repo: &Repo,
    installation: u64,
    services: Vec<String>,
    window: Option<chrono::Duration>,
    dry_run: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let outcome = run_sweep(
        state,
        &repo.full_name,
        installation,
        Trigger::Command {
            services,
            window,
            dry_run,
        },
        now,
    )
    .await?;
    if let Some(reason) = outcome.skipped {
        return Err(UserError(format!("the sweep did not run: {reason}")).into());
    }
    let mut reply = outcome.worklog;
    // A comment has GitHub's body limit too.
    if reply.len() > 60_000 {
        reply = crate::analyze::cluster::truncate(&reply, 55_000);
    }
    Ok(reply)
}

async fn status(state: &AppState, repo: &Repo) -> anyhow::Result<String> {
    let config = repo_config(repo).await?;
    let config_yaml = serde_norway::to_string(&config).unwrap_or_default();
    let sweeps = state.store.last_sweeps(&repo.full_name, 5).await?;
    let failed = state.store.failed_jobs(3).await?;
    Ok(status_reply(
        &Status {
            repo: &repo.full_name,
            config_yaml: &config_yaml,
            schedule: config.schedule,
            interval: state.config.sweep_interval,
            sweeps: &sweeps,
            failed: &failed,
        },
        Utc::now(),
    ))
}
