//! The durable job queue's worker and scheduler, and what each job does: webhook events
//! (commands, installations, issue state) and sweeps.

use super::AppState;
use super::commands::{self, Command, HELP};
use super::sweep::{Trigger, repo_config, run_sweep};
use crate::config::format_span;
use crate::error::UserError;
use crate::github::Repo;
use crate::marker::fingerprint_in;
use crate::metrics;
use crate::store::Job;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// Queues a sweep of every installed repository, once per repository and interval slot, so
/// that several replicas' schedulers (or Cloud Scheduler calling twice) queue it once.
pub async fn enqueue_scheduled_sweeps(state: &AppState, kind: &str) -> anyhow::Result<usize> {
    let now = Utc::now();
    let slot_secs = state
        .config
        .sweep_interval
        .map_or(3600, |d| d.as_secs().max(1)) as i64;
    let slot = now.timestamp() / slot_secs;
    let mut queued = 0;
    for (repo, installation) in state.store.installations().await? {
        let payload = json!({"repo": repo, "installation": installation, "trigger": kind});
        // The API may be called again within a slot (Cloud Scheduler retries): one sweep.
        let key = format!("sweep:{repo}:{kind}:{slot}");
        if state
            .store
            .enqueue("sweep", &payload, Some(&key), now)
            .await?
        {
            queued += 1;
        }
    }
    Ok(queued)
}

/// Lists the App's installations from the API (at start-up: events may have been missed).
pub async fn sync_installations(state: &AppState) -> anyhow::Result<()> {
    let now = Utc::now();
    for (installation, repos) in state.app.installations().await? {
        for repo in repos {
            state
                .store
                .add_installation(&repo, installation as i64, now)
                .await?;
        }
    }
    Ok(())
}

/// Queues sweeps every `interval` until shutdown.
pub async fn scheduler(
    state: AppState,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate: wait a full interval after start-up instead.
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                match enqueue_scheduled_sweeps(&state, "schedule").await {
                    Ok(n) if n > 0 => state.wake.notify_one(),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %format!("{e:#}"), "could not queue scheduled sweeps"),
                }
            }
            _ = super::stopped(&mut stop) => return,
        }
    }
}

/// Takes jobs until shutdown; a job in flight is finished first.
pub async fn worker(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let claimed = state
            .store
            .claim(&state.worker_id, state.config.job_lease, Utc::now())
            .await;
        match claimed {
            Ok(Some(job)) => {
                run_job(&state, job).await;
                state.finished.notify_waiters();
            }
            Ok(None) => {
                tokio::select! {
                    _ = state.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = super::stopped(&mut stop) => return,
                }
            }
            Err(e) => {
                // The database went away: wait and try again; nothing is lost.
                tracing::warn!(error = %format!("{e:#}"), "cannot take a job");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Runs the worker, and again if it ever dies of a panic, until shutdown. It is counted in
/// `state.workers` (what `/readyz` reads) from the call on, until the future ends or is dropped.
pub fn supervised_worker(
    state: AppState,
    stop: tokio::sync::watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let alive = Alive::new(&state.workers);
    async move {
        let _alive = alive;
        loop {
            let run = tokio::spawn(worker(state.clone(), stop.clone()));
            match run.await {
                Err(e) if e.is_panic() && !*stop.borrow() => {
                    tracing::error!(panic = %panic_text(e.into_panic()), "the worker panicked; starting it again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                _ => return,
            }
        }
    }
}

/// Counts a running worker for as long as it lives, panics included.
struct Alive(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Alive {
    fn new(count: &std::sync::Arc<std::sync::atomic::AtomicUsize>) -> Alive {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Alive(count.clone())
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A job that panicked: a bug, so it is not retried; the reference finds it in the logs.
#[derive(Debug, thiserror::Error)]
#[error("the job panicked (reference `{reference}`)")]
pub struct Panicked {
    pub reference: String,
}

/// A job whose payload lacks what it needs: retrying cannot help.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Rejected(String);

/// A reference to look a failure up by in the App's logs.
fn reference() -> String {
    format!("{:x}", Utc::now().timestamp_micros())
}

/// Runs `work` on its own task, so that a panic in it fails this job (or this command) and
/// nothing else.
pub async fn isolated<T, F>(work: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
{
    match tokio::spawn(work).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => {
            let reference = reference();
            tracing::error!(panic = %panic_text(e.into_panic()), %reference, "a job panicked");
            Err(Panicked { reference }.into())
        }
        Err(e) => Err(anyhow::anyhow!("the job was cancelled: {e}")),
    }
}

fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    let text = match panic.downcast::<String>() {
        Ok(s) => *s,
        Err(panic) => panic.downcast_ref::<&str>().map_or_else(
            || "a panic without a message".to_string(),
            |s| s.to_string(),
        ),
    };
    crate::analyze::redact::Redactor::default()
        .redact(&text)
        .into_owned()
}

async fn run_job(state: &AppState, job: Job) {
    let span = tracing::info_span!("job", id = job.id, kind = %job.kind, attempt = job.attempts);
    let _guard = span.enter();
    let work = {
        let (state, kind, payload) = (state.clone(), job.kind.clone(), job.payload.clone());
        isolated(async move {
            match kind.as_str() {
                "webhook" => handle_webhook(&state, &payload).await,
                "sweep" => handle_sweep_job(&state, &payload).await,
                other => Err(Rejected(format!("unknown job kind {other:?}")).into()),
            }
        })
    };
    // While the job runs, its lease (and the sweep lock) is renewed: only a dead worker's
    // job is taken over.
    let heartbeat = async {
        let period = (state.config.job_lease / 3)
            .to_std()
            .unwrap_or(Duration::from_secs(60))
            .max(Duration::from_millis(100));
        loop {
            tokio::time::sleep(period).await;
            if let Err(e) = state
                .store
                .heartbeat(&state.worker_id, state.config.job_lease, Utc::now())
                .await
            {
                tracing::warn!(error = %format!("{e:#}"), "could not renew the job's lease");
            }
        }
    };
    let result = tokio::select! {
        r = work => r,
        _ = heartbeat => unreachable!("the heartbeat never ends"),
    };
    let now = Utc::now();
    let outcome = match result {
        Ok(()) => {
            metrics::JOBS_DONE.inc();
            state.store.finish_job(job.id, now).await
        }
        Err(e) => {
            let error = format!("{e:#}");
            let hopeless = e.is::<Panicked>() || e.is::<Rejected>();
            if hopeless || job.attempts >= state.config.job_attempts {
                metrics::JOBS_FAILED.inc();
                tracing::error!(%error, "job failed for good");
                state.store.fail_job(job.id, &error, None, now).await
            } else {
                metrics::JOBS_RETRIED.inc();
                let wait = state.config.job_backoff
                    * 2u32.pow((job.attempts as u32).saturating_sub(1).min(8));
                tracing::warn!(%error, retry_in_ms = wait.as_millis() as u64, "job failed; retrying");
                let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
                state.store.fail_job(job.id, &error, Some(at), now).await
            }
        }
    };
    if let Err(e) = outcome {
        // The lease runs out and another worker takes the job again.
        tracing::error!(error = %format!("{e:#}"), "could not record a job's outcome");
    }
}

/// What a webhook job holds: the event's name and its payload as GitHub sent it.
#[derive(Debug, Deserialize)]
struct WebhookJob {
    event: String,
    body: Value,
}

/// What a sweep job holds.
#[derive(Debug, Deserialize)]
struct SweepJob {
    repo: String,
    installation: u64,
    #[serde(default)]
    trigger: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Id {
    id: u64,
}

#[derive(Debug, Deserialize)]
struct RepoName {
    full_name: String,
}

#[derive(Debug, Deserialize)]
struct Number {
    number: u64,
    #[serde(default)]
    state_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct User {
    login: String,
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct CommentBody {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    user: User,
}

/// `installation` (created, deleted, …) and `installation_repositories` events.
#[derive(Debug, Deserialize)]
struct InstallationEvent {
    action: String,
    installation: Id,
    #[serde(default)]
    repositories: Vec<RepoName>,
    #[serde(default)]
    repositories_added: Vec<RepoName>,
    #[serde(default)]
    repositories_removed: Vec<RepoName>,
}

/// `issues` events.
#[derive(Debug, Deserialize)]
struct IssuesEvent {
    action: String,
    repository: RepoName,
    issue: Number,
}

/// `issue_comment` events.
#[derive(Debug, Deserialize)]
struct CommentEvent {
    action: String,
    installation: Id,
    repository: RepoName,
    issue: Number,
    comment: CommentBody,
}

/// A payload read as `T`; what it lacks is named (`installation.id: missing field`).
fn typed<T: serde::de::DeserializeOwned>(what: &str, value: &Value) -> anyhow::Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        Rejected(format!(
            "a {what} payload that cannot be used: {path}: {}",
            e.inner()
        ))
        .into()
    })
}

async fn handle_sweep_job(state: &AppState, payload: &Value) -> anyhow::Result<()> {
    let job: SweepJob = typed("sweep job", payload)?;
    let repo = job.repo.as_str();
    let kind = match job.trigger.as_deref() {
        Some("api") => "api",
        _ => "schedule",
    };
    match run_sweep(
        state,
        repo,
        job.installation,
        Trigger::Scheduled(kind),
        Utc::now(),
    )
    .await
    {
        Ok(outcome) => {
            if let Some(reason) = outcome.skipped {
                tracing::info!(repo, %reason, "sweep skipped");
            }
            Ok(())
        }
        // A repository without (valid) configuration is idle, not failing.
        Err(e) if crate::error::is_user_error(&e) => {
            tracing::info!(repo, reason = %e, "not swept");
            Ok(())
        }
        Err(e) => Err(e),
    }
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

async fn handle_webhook(state: &AppState, payload: &Value) -> anyhow::Result<()> {
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
fn by_bot(user: &User) -> bool {
    // The App comments as `SLUG[bot]`, so its own comments are caught here too.
    user.kind == "Bot" || user.login.ends_with("[bot]")
}

async fn handle_comment(state: &AppState, event: &CommentEvent) -> anyhow::Result<()> {
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
    let yaml = serde_norway::to_string(&config).unwrap_or_default();
    let sweeps = state.store.last_sweeps(&repo.full_name, 5).await?;
    let mut text = format!(
        "**log-gardener status for {}**\n\nConfiguration in force (`{}`, defaults filled in):\n```yaml\n{}```\n",
        repo.full_name,
        crate::config::CONFIG_PATH,
        yaml
    );
    text.push_str("\n**Last sweeps**\n\n");
    if sweeps.is_empty() {
        text.push_str("None yet.\n");
    } else {
        text.push_str("| finished | trigger | window | outcome |\n|---|---|---|---|\n");
        for s in &sweeps {
            text.push_str(&format!(
                "| {} | {} | {} – {} | {}: {} |\n",
                s.finished_at, s.trigger, s.window_start, s.window_end, s.outcome, s.summary
            ));
        }
    }
    let next = match (config.schedule, state.config.sweep_interval) {
        (crate::config::Schedule::Off, _) => "none: `schedule: off`".to_string(),
        (_, None) => {
            "none from this server (SWEEP_INTERVAL=off); Cloud Scheduler may call /api/sweep"
                .to_string()
        }
        (_, Some(interval)) => {
            let secs = interval.as_secs().max(1) as i64;
            let next = (Utc::now().timestamp() / secs + 1) * secs;
            DateTime::<Utc>::from_timestamp(next, 0)
                .map(|t| {
                    format!(
                        "about {} (every {})",
                        crate::model::rfc3339(&t),
                        format_span(chrono::Duration::seconds(secs))
                    )
                })
                .unwrap_or_default()
        }
    };
    text.push_str(&format!("\n**Next scheduled sweep:** {next}\n"));
    let failed = state.store.failed_jobs(3).await?;
    if !failed.is_empty() {
        text.push_str("\n**Failed jobs** (after all retries)\n\n");
        for (id, error) in failed {
            let error = crate::analyze::redact::Redactor::default()
                .redact(&error)
                .into_owned();
            text.push_str(&format!(
                "- job {id}: {}\n",
                crate::report::markdown::code(&error)
            ));
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_job_fails_with_a_reference_and_the_caller_goes_on() {
        let e = isolated(async {
            let start = chrono::DateTime::<Utc>::MAX_UTC;
            let _ = start + chrono::Duration::days(1);
            Ok(())
        })
        .await
        .unwrap_err();
        let panicked = e.downcast_ref::<Panicked>().expect("a panic, as an error");
        assert!(!panicked.reference.is_empty());
        assert!(isolated(async { Ok(()) }).await.is_ok());
        let failing = isolated::<(), _>(async { Err(anyhow::anyhow!("GitHub is down")) }).await;
        assert!(failing.unwrap_err().downcast_ref::<Panicked>().is_none());
    }

    #[test]
    fn payloads_that_lack_what_they_need_are_rejected_by_name() {
        let e = typed::<CommentEvent>("issue_comment", &json!({"action": "created"})).unwrap_err();
        assert!(e.is::<Rejected>(), "{e}");
        assert!(e.to_string().contains("installation"), "{e}");
        let e = typed::<SweepJob>("sweep job", &json!({"repo": "a/b", "installation": -1}))
            .unwrap_err();
        assert!(e.to_string().contains("installation"), "{e}");
    }
}
