//! Calls GitHub again only where that is safe: rate limits waited out (a rejected request
//! changed nothing), 5xx and network failures retried with backoff when the call is
//! idempotent.

use crate::metrics;
use std::future::Future;
use std::time::Duration;

/// The HTTP status of a failed GitHub call.
pub fn status_of(e: &anyhow::Error) -> Option<u16> {
    match e.downcast_ref::<octocrab::Error>()? {
        octocrab::Error::GitHub { source, .. } => Some(source.status_code.as_u16()),
        _ => None,
    }
}

/// A failure that may not have reached GitHub or may be gone on the next try.
pub(super) fn is_transient(e: &anyhow::Error) -> bool {
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

pub(super) fn backoff(attempt: u32) -> Duration {
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
