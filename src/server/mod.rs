//! The GitHub App (`log-gardener serve`): webhooks in, durable jobs, a worker that sweeps and
//! writes issues, an internal scheduler, and the operational endpoints (SPEC section 3).

pub mod commands;
pub mod events;
pub mod jobs;
mod replies;
pub mod sweep;
pub mod webhook;

use crate::github::App;
use crate::metrics;
use crate::report::Renderer;
use crate::source::cloud::{CloudLogging, GcpAuth};
use crate::store::Store;
use anyhow::Context;
use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use webhook::{BodyBudget, VerifiedWebhook, WebhookSecret};

/// The server's configuration, from the environment (names as Probot's).
#[derive(Clone)]
pub struct ServerConfig {
    pub app_id: u64,
    pub private_key: String,
    pub webhook_secret: String,
    pub github_api_url: String,
    pub logging_endpoint: Option<String>,
    pub gcp_auth: GcpAuth,
    /// Base of the backoff of Cloud Logging retries.
    pub logging_backoff: Duration,
    pub database_url: String,
    pub listen: String,
    /// `None`: the internal scheduler is off.
    pub sweep_interval: Option<Duration>,
    /// `None`: `POST /api/sweep` is disabled.
    pub sweep_token: Option<String>,
    /// Base of the backoff of failed jobs.
    pub job_backoff: Duration,
    /// Attempts of a job before it fails for good.
    pub job_attempts: i64,
    /// How long a worker holds a job before another may take it.
    pub job_lease: chrono::Duration,
    pub http_timeouts: HttpTimeouts,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("app_id", &self.app_id)
            .field("github_api_url", &self.github_api_url)
            .field("database_url", &redact_url(&self.database_url))
            .field("listen", &self.listen)
            .field("sweep_interval", &self.sweep_interval)
            .finish_non_exhaustive()
    }
}

/// A database URL without its password, for logs.
fn redact_url(url: &str) -> String {
    crate::analyze::redact::Redactor::default()
        .redact(url)
        .into_owned()
}

/// `log-gardener serve`: every setting from the environment (names as Probot's), each one
/// also a flag, so that `serve --help` lists them and a bad value is exit 2 naming it.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on (default: $HOST:$PORT).
    #[arg(long)]
    pub listen: Option<String>,
    /// Host part of the listen address.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: String,
    /// Port of the listen address.
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,
    /// The App's id.
    #[arg(long, env = "APP_ID")]
    pub app_id: u64,
    /// The App's private key, PEM (`\n` escapes allowed).
    #[arg(long, env = "PRIVATE_KEY", hide_env_values = true)]
    pub private_key: Option<String>,
    /// The path of the App's `.pem` private key file.
    #[arg(long, env = "PRIVATE_KEY_PATH")]
    pub private_key_path: Option<std::path::PathBuf>,
    /// The webhook secret, checked against `X-Hub-Signature-256`.
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: String,
    /// REST API base (GitHub Enterprise Server: `https://HOST/api/v3`).
    #[arg(long, env = "GITHUB_API_URL", default_value = crate::model::GITHUB_API_URL)]
    pub github_api_url: String,
    /// Cloud Logging API endpoint (default: the official one).
    #[arg(long, env = "GCP_LOGGING_ENDPOINT")]
    pub gcp_logging_endpoint: Option<String>,
    /// `default` (Application Default Credentials) or `anonymous` (tests, emulators).
    #[arg(long, env = "GCP_AUTH", default_value = "default", value_parser = parse_gcp_auth)]
    pub gcp_auth: GcpAuth,
    /// `sqlite://FILE` (created if missing) or `postgres://USER:PASSWORD@HOST/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://log-gardener.db",
        hide_env_values = true
    )]
    pub database_url: String,
    /// Period of the internal scheduler (`1h`, `30m`, `off`).
    #[arg(long, env = "SWEEP_INTERVAL", default_value = "1h", value_parser = parse_interval)]
    pub sweep_interval: Interval,
    /// Bearer token that `POST /api/sweep` requires (unset: the endpoint answers 404).
    #[arg(long, env = "SWEEP_TOKEN", hide_env_values = true)]
    pub sweep_token: Option<String>,
    /// First wait before retrying a failed Cloud Logging page, in ms.
    #[arg(long, env = "GCP_BACKOFF_MS", default_value_t = 2_000)]
    pub gcp_backoff_ms: u64,
    /// First wait before retrying a failed job, in ms.
    #[arg(long, env = "JOB_BACKOFF_MS", default_value_t = 5_000)]
    pub job_backoff_ms: u64,
}

/// `SWEEP_INTERVAL`: a period, or `off`.
#[derive(Debug, Clone, Copy)]
pub struct Interval(pub Option<Duration>);

fn parse_interval(text: &str) -> Result<Interval, String> {
    if text.trim() == "off" {
        return Ok(Interval(None));
    }
    let d = crate::model::parse_duration(text)?;
    let d = d
        .to_std()
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or("must be longer than 0s (or off)")?;
    Ok(Interval(Some(d)))
}

fn parse_gcp_auth(text: &str) -> Result<GcpAuth, String> {
    GcpAuth::parse(text).map_err(|e| e.to_string())
}

impl ServerConfig {
    /// The configuration of `serve`; an error names the variable.
    pub fn from_args(args: ServeArgs) -> anyhow::Result<ServerConfig> {
        let private_key = match (&args.private_key, &args.private_key_path) {
            (Some(key), _) if !key.trim().is_empty() => key.replace("\\n", "\n"),
            (_, Some(path)) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read PRIVATE_KEY_PATH {}", path.display()))?,
            _ => anyhow::bail!("PRIVATE_KEY or PRIVATE_KEY_PATH is required"),
        };
        if args.webhook_secret.trim().is_empty() {
            anyhow::bail!("WEBHOOK_SECRET is required");
        }
        Ok(ServerConfig {
            app_id: args.app_id,
            private_key,
            webhook_secret: args.webhook_secret,
            github_api_url: args.github_api_url,
            logging_endpoint: args.gcp_logging_endpoint.filter(|e| !e.trim().is_empty()),
            gcp_auth: args.gcp_auth,
            logging_backoff: Duration::from_millis(args.gcp_backoff_ms),
            database_url: args.database_url,
            listen: args
                .listen
                .unwrap_or_else(|| format!("{}:{}", args.host, args.port)),
            sweep_interval: args.sweep_interval.0,
            sweep_token: args.sweep_token.filter(|t| !t.trim().is_empty()),
            job_backoff: Duration::from_millis(args.job_backoff_ms),
            job_attempts: 5,
            job_lease: chrono::Duration::minutes(10),
            http_timeouts: HttpTimeouts::default(),
        })
    }
}

/// What every handler and job shares.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ServerConfig>,
    pub store: Store,
    pub app: App,
    pub logging: CloudLogging,
    pub renderer: Arc<Renderer>,
    pub secret: WebhookSecret,
    /// Memory for bodies whose signature is not checked yet.
    pub bodies: BodyBudget,
    /// This process, in leases and logs.
    pub worker_id: String,
    /// Wakes the worker when a job is queued.
    pub wake: Arc<tokio::sync::Notify>,
    /// Woken each time a worker of this process has finished a job (what tests wait on).
    pub finished: Arc<tokio::sync::Notify>,
    /// Workers running now: `/readyz` fails when there is none.
    pub workers: Arc<std::sync::atomic::AtomicUsize>,
    /// The App's slug, for `@slug` commands and to know its own comments.
    pub slug: String,
}

impl FromRef<AppState> for BodyBudget {
    fn from_ref(state: &AppState) -> BodyBudget {
        state.bodies.clone()
    }
}

impl FromRef<AppState> for WebhookSecret {
    fn from_ref(state: &AppState) -> WebhookSecret {
        state.secret.clone()
    }
}

impl AppState {
    pub async fn new(config: ServerConfig) -> anyhow::Result<AppState> {
        // The key first: a bad key is a configuration error, before any file is created.
        let app = App::new(&config.github_api_url, config.app_id, &config.private_key)?;
        let store = Store::connect(&config.database_url).await?;
        let logging = CloudLogging::new(config.logging_endpoint.as_deref(), config.gcp_auth)
            .await?
            .with_backoff(config.logging_backoff);
        // GET /app names the slug; the App's usual name stands in when it cannot be read.
        let slug = app.slug().await.unwrap_or_else(|e| {
            tracing::warn!(error = %format!("{e:#}"), "could not read the App's slug; assuming log-gardener");
            "log-gardener".to_string()
        });
        Ok(AppState {
            secret: WebhookSecret(Arc::new(config.webhook_secret.clone())),
            bodies: BodyBudget::new(config.http_timeouts.body_budget),
            config: Arc::new(config),
            store,
            app,
            logging,
            renderer: Arc::new(Renderer::new()?),
            worker_id: format!(
                "{}-{}",
                std::process::id(),
                Utc::now().timestamp_nanos_opt().unwrap_or_default() % 1_000_000_007
            ),
            wake: Arc::new(tokio::sync::Notify::new()),
            finished: Arc::new(tokio::sync::Notify::new()),
            workers: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            slug,
        })
    }
}

/// How long a client may take over a request, so that slow or half-sent requests do not hold
/// the server's connections and memory.
#[derive(Debug, Clone, Copy)]
pub struct HttpTimeouts {
    /// To send the headers; the connection is closed after it.
    pub headers: Duration,
    /// For the whole request, its body included; answered 408 after it.
    pub request: Duration,
    /// For room in the budget of unauthenticated bodies; answered 503 after it.
    pub body_budget: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        HttpTimeouts {
            headers: Duration::from_secs(10),
            request: Duration::from_secs(30),
            body_budget: Duration::from_secs(5),
        }
    }
}

/// The HTTP routes, each request bounded in time.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/github/webhooks", post(webhook_handler))
        .route("/api/sweep", post(sweep_handler))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.config.http_timeouts.request,
        ))
        .with_state(state)
}

/// Serves `app` on `listener` until `stop`: HTTP/1.1 with a deadline on the headers, which
/// `axum::serve` does not set, so that a client that sends them slowly is cut off. Open
/// connections are let finish at shutdown.
async fn serve_http(
    listener: tokio::net::TcpListener,
    app: Router,
    header_timeout: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped(&mut stop) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let mut stop = stop.clone();
        connections.spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = stopped(&mut stop) => connection.as_mut().graceful_shutdown(),
            }
            let _ = connection.await;
        });
        // Finished connections are forgotten as they go.
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
}

/// Events the App acts on; others are answered 200 and dropped.
const HANDLED: [&str; 5] = [
    "issue_comment",
    "installation",
    "installation_repositories",
    "issues",
    "ping",
];

async fn webhook_handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    hook: VerifiedWebhook,
) -> Response {
    let trace = headers
        .get("x-cloud-trace-context")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::logging::trace_of)
        .unwrap_or_default();
    tracing::info!(event = %hook.event, delivery = %hook.delivery, trace = %trace, "webhook received");
    if !HANDLED.contains(&hook.event.as_str()) {
        return (StatusCode::OK, "event ignored").into_response();
    }
    let payload = serde_json::json!({
        "event": hook.event,
        "delivery": hook.delivery,
        "body": hook.payload,
    });
    match state
        .store
        .accept_delivery(&hook.delivery, &hook.event, &payload, Utc::now())
        .await
    {
        Ok(true) => {
            metrics::WEBHOOKS.inc();
            state.wake.notify_one();
            (StatusCode::ACCEPTED, "queued").into_response()
        }
        Ok(false) => (StatusCode::OK, "delivery already received").into_response(),
        Err(e) => {
            // Not stored: 5xx makes GitHub (or the operator's redelivery) send it again.
            tracing::error!(error = %e, delivery = %hook.delivery, "could not store a delivery");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "could not store the delivery",
            )
                .into_response()
        }
    }
}

/// `Authorization: Bearer $SWEEP_TOKEN`, compared in constant time.
fn bearer_ok(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (a, b) = (given.trim().as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn sweep_handler(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = state.config.sweep_token.as_deref() else {
        return (
            StatusCode::NOT_FOUND,
            "POST /api/sweep is disabled: SWEEP_TOKEN is not set",
        )
            .into_response();
    };
    if !bearer_ok(&headers, token) {
        return (
            StatusCode::UNAUTHORIZED,
            "a valid Authorization: Bearer token is required",
        )
            .into_response();
    }
    match jobs::enqueue_scheduled_sweeps(&state, "api").await {
        Ok(n) => {
            state.wake.notify_one();
            (
                StatusCode::ACCEPTED,
                axum::Json(serde_json::json!({"queued": n})),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "could not queue sweeps");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "could not queue the sweeps",
            )
                .into_response()
        }
    }
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.workers.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        (StatusCode::SERVICE_UNAVAILABLE, "no worker is running").into_response()
    } else if state.store.ping().await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
    }
}

async fn metrics_handler(State(state): State<AppState>) -> Response {
    let jobs = state.store.job_counts().await.unwrap_or_default();
    let mut series: Vec<(String, i64)> = ["queued", "running", "done", "failed"]
        .iter()
        .map(|s| {
            (
                format!("status=\"{s}\""),
                jobs.get(*s).copied().unwrap_or(0),
            )
        })
        .collect();
    series.sort();
    let body = metrics::render(&[metrics::Gauge {
        name: "log_gardener_jobs",
        help: "Jobs in the queue by status.",
        series,
    }]);
    ([("content-type", "text/plain; version=0.0.4")], body).into_response()
}

/// Resolves once shutdown is asked for (or the sender is gone).
pub(crate) async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// A running server: its address and a handle to stop it (tests run several).
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub state: AppState,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets the worker finish its job, and waits.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// Stops at once, as a crash would: jobs in flight are left to their lease.
    pub fn kill(self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts the server, its worker and its scheduler on `listener`.
pub async fn start(
    config: ServerConfig,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<Running> {
    let state = AppState::new(config).await?;
    let addr = listener.local_addr()?;
    let (shutdown, watch) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();

    tasks.push(tokio::spawn(serve_http(
        listener,
        router(state.clone()),
        state.config.http_timeouts.headers,
        watch.clone(),
    )));
    tasks.push(tokio::spawn(jobs::supervised_worker(
        state.clone(),
        watch.clone(),
    )));
    if let Some(interval) = state.config.sweep_interval {
        tasks.push(tokio::spawn(jobs::scheduler(
            state.clone(),
            interval,
            watch.clone(),
        )));
    }
    let sync = state.clone();
    tasks.push(tokio::spawn(async move {
        if let Err(e) = jobs::sync_installations(&sync).await {
            tracing::warn!(error = %format!("{e:#}"), "could not list the App's installations at start-up");
        }
    }));
    Ok(Running {
        addr,
        state,
        shutdown,
        tasks,
    })
}

/// `log-gardener serve` with a configuration read from the environment.
pub async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    tracing::info!(?config, "starting");
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let running = start(config, listener).await?;
    tracing::info!(addr = %running.addr, "listening");
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
