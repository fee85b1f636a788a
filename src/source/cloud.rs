//! Cloud Logging `entries.list` through Google's official client (`google-cloud-logging-v2`),
//! page by page, with explicit time bounds and our own backoff for quota (429) and
//! unavailability (5xx). A window that could not be read completely is an error, so that the
//! caller does not advance its cursor.

use super::entry_from_json;
use crate::config::ServiceSpec;
use crate::metrics;
use crate::model::{LogEntry, Window, rfc3339};
use anyhow::{Context, anyhow};

use google_cloud_gax::options::RequestOptionsBuilder;
use google_cloud_gax::retry_policy::NeverRetry;
use google_cloud_logging_v2::client::LoggingServiceV2;
use std::time::Duration;

/// Entries per page: the API's maximum.
const PAGE_SIZE: i32 = 1000;
/// Attempts of one page before the window is given up.
const ATTEMPTS: u32 = 6;

/// How the client authenticates (`GCP_AUTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcpAuth {
    /// Application Default Credentials: `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's file, or
    /// the metadata server on Cloud Run.
    Default,
    /// No credentials: tests and emulators.
    Anonymous,
}

impl GcpAuth {
    pub fn parse(text: &str) -> anyhow::Result<GcpAuth> {
        match text.trim() {
            "" | "default" => Ok(GcpAuth::Default),
            "anonymous" => Ok(GcpAuth::Anonymous),
            other => Err(anyhow!(
                "GCP_AUTH must be default or anonymous, not {other:?}"
            )),
        }
    }
}

/// A Cloud Logging client.
#[derive(Clone, Debug)]
pub struct CloudLogging {
    client: LoggingServiceV2,
    /// Base of the backoff between attempts (shorter in tests).
    backoff: Duration,
}

impl CloudLogging {
    /// `endpoint` overrides the official one (`GCP_LOGGING_ENDPOINT`).
    pub async fn new(endpoint: Option<&str>, auth: GcpAuth) -> anyhow::Result<CloudLogging> {
        let mut builder = LoggingServiceV2::builder();
        if let Some(endpoint) = endpoint {
            builder = builder.with_endpoint(endpoint.trim_end_matches('/'));
        }
        if auth == GcpAuth::Anonymous {
            builder = builder.with_credentials(
                google_cloud_auth::credentials::anonymous::Builder::new().build(),
            );
        }
        let client = builder
            .with_retry_policy(NeverRetry)
            .build()
            .await
            .context("building the Cloud Logging client")?;
        Ok(CloudLogging {
            client,
            backoff: Duration::from_secs(2),
        })
    }

    /// The base of the backoff between attempts (doubles each time; 4× for quota errors).
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// From `GCP_LOGGING_ENDPOINT` and `GCP_AUTH`.
    pub async fn from_env() -> anyhow::Result<CloudLogging> {
        let endpoint = std::env::var("GCP_LOGGING_ENDPOINT")
            .ok()
            .filter(|e| !e.trim().is_empty());
        let auth = GcpAuth::parse(&std::env::var("GCP_AUTH").unwrap_or_default())?;
        let client = CloudLogging::new(endpoint.as_deref(), auth).await?;
        Ok(client.with_backoff(backoff_from_env()))
    }

    /// Reads every entry of `filter` in `project`, oldest first. Fails, after retries, when a
    /// page cannot be read: the window is then incomplete.
    pub async fn read(
        &self,
        project: &str,
        filter: &str,
        mut on_entry: impl FnMut(LogEntry),
        mut on_malformed: impl FnMut(String),
    ) -> anyhow::Result<u64> {
        let mut token = String::new();
        let mut read = 0u64;
        loop {
            let page = self.page(project, filter, &token).await?;
            for entry in &page.entries {
                let converted = serde_json::to_value(entry)
                    .map_err(|e| e.to_string())
                    .and_then(|v| entry_from_json(&v));
                match converted {
                    Ok(e) => {
                        read += 1;
                        on_entry(e);
                    }
                    Err(reason) => on_malformed(reason),
                }
            }
            metrics::ENTRIES_READ.add(page.entries.len() as u64);
            // An empty page with a token is not the end: Cloud Logging may still be searching.
            if page.next_page_token.is_empty() {
                return Ok(read);
            }
            token = page.next_page_token;
        }
    }

    async fn page(
        &self,
        project: &str,
        filter: &str,
        token: &str,
    ) -> anyhow::Result<google_cloud_logging_v2::model::ListLogEntriesResponse> {
        let mut attempt = 0u32;
        loop {
            let result = self
                .client
                .list_log_entries()
                .set_resource_names([format!("projects/{project}")])
                .set_filter(filter)
                .set_order_by("timestamp asc")
                .set_page_size(PAGE_SIZE)
                .set_page_token(token)
                .with_idempotency(true)
                .send()
                .await;
            match result {
                Ok(page) => return Ok(page),
                Err(e) => {
                    metrics::LOGGING_ERRORS.inc();
                    attempt += 1;
                    let status = e.http_status_code();
                    // 429: the read quota (about 60 a minute per project) — wait longer.
                    // 5xx, timeouts and broken connections pass too.
                    let retryable = matches!(status, Some(429) | Some(500..=599))
                        || e.is_timeout()
                        || e.is_io()
                        || e.is_connect();
                    if !retryable || attempt >= ATTEMPTS {
                        return Err(anyhow!(e).context(format!(
                            "Cloud Logging entries.list for project {project} failed{}",
                            status
                                .map(|s| format!(" with HTTP {s}"))
                                .unwrap_or_default()
                        )));
                    }
                    metrics::LOGGING_RETRIES.inc();
                    let factor = if status == Some(429) { 4 } else { 1 };
                    let wait = self.backoff * factor * 2u32.pow(attempt - 1);
                    tracing::warn!(
                        ?status,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "Cloud Logging call failed; retrying"
                    );
                    tokio::time::sleep(wait.min(Duration::from_secs(120))).await;
                }
            }
        }
    }
}

/// `GCP_BACKOFF_MS`, else two seconds.
pub fn backoff_from_env() -> Duration {
    std::env::var("GCP_BACKOFF_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_secs(2), Duration::from_millis)
}

/// The filter of one service's window: explicit bounds, the service, the extra filters.
pub fn filter_for(service: Option<&ServiceSpec>, extra: &str, window: &Window) -> String {
    let mut clauses = vec![
        "resource.type=\"cloud_run_revision\"".to_string(),
        format!("timestamp>=\"{}\"", rfc3339(&window.start)),
        format!("timestamp<\"{}\"", rfc3339(&window.end)),
    ];
    if let Some(s) = service {
        clauses.push(format!(
            "resource.labels.service_name=\"{}\"",
            s.name.replace('"', "")
        ));
        if !s.filter.trim().is_empty() {
            clauses.push(format!("({})", s.filter.trim()));
        }
    }
    if !extra.trim().is_empty() {
        clauses.push(format!("({})", extra.trim()));
    }
    clauses.join(" AND ")
}
