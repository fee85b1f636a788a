//! The durable job queue's worker and scheduler: jobs claimed with a lease, each run isolated
//! (a panic fails the job, never the worker), retried with backoff. A webhook job goes to
//! [`super::events`], a sweep job to [`super::sweep`].

use super::AppState;
use super::events::handle_webhook;
use super::sweep::{Trigger, run_sweep};
use crate::metrics;
use crate::store::Job;
use chrono::Utc;
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
pub struct Rejected(pub(super) String);

/// A reference to look a failure up by in the App's logs.
pub(super) fn reference() -> String {
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

/// What a sweep job holds.
#[derive(Debug, Deserialize)]
struct SweepJob {
    repo: String,
    installation: u64,
    #[serde(default)]
    trigger: Option<String>,
}

/// A payload read as `T`; what it lacks is named (`installation.id: missing field`).
pub(super) fn typed<T: serde::de::DeserializeOwned>(
    what: &str,
    value: &Value,
) -> anyhow::Result<T> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::events::CommentEvent;

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
