//! Clusters: what the events of one template or one exception signature have in common,
//! kept in bounded memory, and what kind of thing they say (a cause, a symptom, noise).

use super::traceback::{Exception, Frame};
use crate::model::Severity;
use chrono::{DateTime, Utc};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

/// Bounds that keep a cluster's memory flat however many events it has.
const MAX_EXAMPLES: usize = 3;
const MAX_EXAMPLE_CHARS: usize = 4_000;
const MAX_NAMES: usize = 64;

/// Why a cluster is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// A failure in its own right: an exception, an import error, bad configuration, OOM, a panic.
    Cause(CauseKind),
    /// A consequence of some cause: failed probes, exits, 5xx, restarts, timeouts.
    Symptom(SymptomKind),
    /// A warning that says something failed; it may follow a cause or stand alone.
    FailureWarning,
    /// Anything else: counted, never folded into a cause.
    Noise,
}

/// Kinds of cause, most fundamental first (an import error explains a RuntimeError, not the
/// other way round).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CauseKind {
    Import,
    Config,
    OutOfMemory,
    Panic,
    Exception,
    Error,
}

/// Kinds of symptom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SymptomKind {
    /// The start-up probe failed or the instance could not start.
    StartupFailure,
    /// The container exited or restarted.
    Exit,
    /// A health or liveness check failed.
    HealthCheck,
    /// A request ended with a 5xx.
    ServerError,
    /// A request or an upstream timed out.
    Timeout,
}

impl SymptomKind {
    /// Start-up failures and exits make a restart loop.
    pub fn means_down(self) -> bool {
        matches!(self, SymptomKind::StartupFailure | SymptomKind::Exit)
    }

    pub fn describe(self) -> &'static str {
        match self {
            SymptomKind::StartupFailure => "start-up failure",
            SymptomKind::Exit => "container exit / restart",
            SymptomKind::HealthCheck => "failed health check",
            SymptomKind::ServerError => "5xx response",
            SymptomKind::Timeout => "timeout",
        }
    }
}

/// One cluster's figures.
#[derive(Debug, Clone)]
pub struct ClusterStats {
    pub service: String,
    /// Logical events (a joined traceback is one).
    pub count: u64,
    /// Log entries the events were made of.
    pub entries: u64,
    pub by_severity: BTreeMap<Severity, u64>,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
    /// Redacted, distinct examples: the first ones, then one of each other shape the
    /// failure took (a chain that ends in another exception, say).
    pub examples: Vec<String>,
    /// The shape of each example, in the same order.
    shapes: Vec<String>,
    pub exception: Option<Exception>,
    pub revisions: BTreeSet<String>,
    pub instances: BTreeSet<String>,
    /// Events that were handled reports (a logging library's error block).
    pub handled: u64,
    /// Events logged while serving a request that was answered with a client error (4xx):
    /// the framework handled them, the client was at fault.
    pub answered_4xx: u64,
    /// Lines that report their request's response as a server error (a framework's own
    /// access-log line: `res.statusCode` 500, `responded 500`).
    pub reported_5xx: u64,
    /// Distinct exception messages, a few.
    pub messages: Vec<String>,
    /// Distinct routes of its requests (`POST /v1/export 504`), a few.
    pub routes: Vec<String>,
    /// Events per minute since the epoch.
    pub minutes: BTreeMap<i64, u64>,
    pub http_statuses: BTreeMap<u16, u64>,
    pub health_path: bool,
}

impl ClusterStats {
    pub fn new(service: &str) -> Self {
        ClusterStats {
            service: service.to_string(),
            count: 0,
            entries: 0,
            by_severity: BTreeMap::new(),
            first_seen: None,
            last_seen: None,
            examples: Vec::new(),
            shapes: Vec::new(),
            exception: None,
            revisions: BTreeSet::new(),
            instances: BTreeSet::new(),
            handled: 0,
            answered_4xx: 0,
            reported_5xx: 0,
            messages: Vec::new(),
            routes: Vec::new(),
            minutes: BTreeMap::new(),
            http_statuses: BTreeMap::new(),
            health_path: false,
        }
    }

    /// Most of its events were handled: reports the library carried on after, or errors of
    /// requests answered with a client error.
    pub fn mostly_handled(&self) -> bool {
        (self.handled + self.answered_4xx) * 2 > self.count
    }

    /// The highest severity seen.
    pub fn severity(&self) -> Severity {
        self.by_severity
            .keys()
            .next_back()
            .copied()
            .unwrap_or(Severity::Default)
    }

    /// Records one event; `text` is already redacted.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        text: &str,
        severity: Severity,
        entries: u64,
        at: Option<DateTime<Utc>>,
        revision: Option<&str>,
        instance: Option<&str>,
        handled: bool,
        http: Option<(u16, bool)>,
    ) {
        self.handled += u64::from(handled);
        self.count += 1;
        self.entries += entries;
        *self.by_severity.entry(severity).or_default() += 1;
        if let Some(t) = at {
            self.first_seen = Some(self.first_seen.map_or(t, |f| f.min(t)));
            self.last_seen = Some(self.last_seen.map_or(t, |l| l.max(t)));
            *self
                .minutes
                .entry(t.timestamp().div_euclid(60))
                .or_default() += 1;
        }
        let shape = shape_of(text);
        if self.examples.len() < MAX_EXAMPLES && !self.examples.iter().any(|e| e == text) {
            self.examples.push(excerpt(text, MAX_EXAMPLE_CHARS));
            self.shapes.push(shape.to_string());
        } else if !self.shapes.iter().any(|s| s == shape)
            && let Some(i) = (1..self.shapes.len())
                .rev()
                .find(|&i| self.shapes[..i].contains(&self.shapes[i]))
        {
            // A way of failing not shown yet takes the place of a repeated one.
            self.examples[i] = excerpt(text, MAX_EXAMPLE_CHARS);
            self.shapes[i] = shape.to_string();
        }
        if let Some(r) = revision
            && self.revisions.len() < MAX_NAMES
        {
            self.revisions.insert(r.to_string());
        }
        if let Some(i) = instance
            && self.instances.len() < MAX_NAMES
        {
            self.instances.insert(i.to_string());
        }
        if let Some((status, health)) = http {
            *self.http_statuses.entry(status).or_default() += 1;
            self.health_path |= health;
        }
    }

    /// Adds another cluster's figures to this one (templates that group several forms).
    pub fn merge(&mut self, other: ClusterStats) {
        self.count += other.count;
        self.entries += other.entries;
        for (s, n) in other.by_severity {
            *self.by_severity.entry(s).or_default() += n;
        }
        self.first_seen = min_opt(self.first_seen, other.first_seen);
        self.last_seen = max_opt(self.last_seen, other.last_seen);
        let shapes = other.shapes;
        for (i, e) in other.examples.into_iter().enumerate() {
            if self.examples.len() < MAX_EXAMPLES && !self.examples.contains(&e) {
                let shape = shapes
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| shape_of(&e).to_string());
                self.examples.push(e);
                self.shapes.push(shape);
            }
        }
        if self.exception.is_none() {
            self.exception = other.exception;
        }
        for r in other.revisions {
            if self.revisions.len() < MAX_NAMES {
                self.revisions.insert(r);
            }
        }
        for i in other.instances {
            if self.instances.len() < MAX_NAMES {
                self.instances.insert(i);
            }
        }
        self.handled += other.handled;
        self.answered_4xx += other.answered_4xx;
        self.reported_5xx += other.reported_5xx;
        for m in other.messages {
            self.note_message(&m);
        }
        for r in other.routes {
            self.note_route(&r);
        }
        for (m, n) in other.minutes {
            *self.minutes.entry(m).or_default() += n;
        }
        for (s, n) in other.http_statuses {
            *self.http_statuses.entry(s).or_default() += n;
        }
        self.health_path |= other.health_path;
    }

    /// Remembers an exception's message, while there is room for another distinct one.
    pub fn note_message(&mut self, message: &str) {
        if self.messages.len() < MAX_EXAMPLES && !self.messages.iter().any(|m| m == message) {
            self.messages.push(truncate(message, MAX_EXAMPLE_CHARS));
        }
    }

    /// Remembers a request's route, while there is room for another distinct one.
    pub fn note_route(&mut self, route: &str) {
        if self.routes.len() <= MAX_EXAMPLES && !self.routes.iter().any(|r| r == route) {
            self.routes.push(route.to_string());
        }
    }

    /// Events with a 5xx status.
    pub fn server_errors(&self) -> u64 {
        self.http_statuses
            .iter()
            .filter(|(s, _)| **s >= 500)
            .map(|(_, n)| n)
            .sum()
    }
}

fn min_opt<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// A long stack cut to what a reader needs: every line that is not a frame (the exception
/// lines, `Caused by:`, the messages), and the first few frames under each; then cut at
/// `max_chars`.
pub fn excerpt(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    // Fewer frames until the causes fit.
    let mut short = String::new();
    for frames in [4, 1, 0] {
        short = keep_frames(text, frames);
        if short.chars().count() <= max_chars {
            break;
        }
    }
    truncate(&short, max_chars)
}

/// What kind of text an example is, cheaply: the start of its last line (for a chained
/// traceback, the exception it ended in), up to its first `:`.
fn shape_of(text: &str) -> &str {
    let last = text.trim_end().rsplit('\n').next().unwrap_or("");
    let head = last.split(':').next().unwrap_or(last).trim_start();
    head.char_indices()
        .nth(80)
        .map_or(head, |(i, _)| &head[..i])
}

/// The text with at most `keep` frames under each exception line.
fn keep_frames(text: &str, keep: usize) -> String {
    let mut out: Vec<String> = Vec::new();
    let (mut run, mut skipped, mut skipping, mut in_frames) = (0usize, 0usize, false, false);
    for line in text.lines() {
        let t = line.trim_start();
        let frame = t.starts_with("at ")
            || t.starts_with("File \"")
            || t.starts_with("from ")
            || (line.starts_with('\t') && t.contains(".go:"))
            || (t.starts_with('#') && t[1..].starts_with(|c: char| c.is_ascii_digit()));
        // Python's source line under its frame goes with the frame.
        let code = !frame && in_frames && line.starts_with(char::is_whitespace);
        if frame {
            run += 1;
            skipping = run > keep;
            in_frames = true;
        } else if !code {
            if skipped > 0 {
                out.push(format!("    … {skipped} more line(s) of frames"));
            }
            (run, skipped, skipping, in_frames) = (0, 0, false, false);
        }
        if skipping {
            skipped += 1;
            continue;
        }
        out.push(line.to_string());
    }
    if skipped > 0 {
        out.push(format!("    … {skipped} more line(s) of frames"));
    }
    out.join("\n")
}

/// Cuts text at a character boundary, saying that it did.
pub fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}… (truncated)", &text[..i]),
        None => text.to_string(),
    }
}

static STARTUP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)startup (?:tcp |http |grpc )?probe failed|instance could not start|instance was not started|failed to start and listen on the port|container failed to start|application startup failed|worker failed to boot|failed to boot|readiness probe failed|ready condition status changed to false",
    )
    .unwrap()
});
static EXIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)container called exit\([1-9]\d*\)|container (?:terminated|exited)|exited with (?:code|status) [1-9]|\bexit status [1-9]|restarting (?:container|instance)|container restart|crashloop|back-off restarting|uncaught signal: \d+|\bwas sent SIG(?:KILL|ABRT|SEGV)\b|\bexecution \S+ has failed to complete",
    )
    .unwrap()
});
/// Cloud Run's word that a job's execution failed: its tasks ran out of retries.
pub static EXECUTION_FAILED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bexecution \S+ has failed to complete\b").unwrap());
static HEALTH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:liveness|readiness|health) (?:tcp |http |grpc )?probe failed|health ?checks? (?:failed|failing) for (?:container|instance|revision)").unwrap()
});
static TIMEOUT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)upstream request timeout|upstream connect error|reached the maximum request timeout|deadline exceeded|deadline_exceeded|timed out|timeout exceeded",
    )
    .unwrap()
});
static OOM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)memory limit of \d+ ?\w+ exceeded|out of memory|oomkilled|\boom[- ]kill|\bMemoryError\b|\bOutOfMemoryError\b").unwrap()
});
static CONFIG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)ImproperlyConfigured|invalid configuration|missing (?:required )?(?:environment variable|env var|config)|environment variable .* (?:is )?not set|config(?:uration)? error|ValidationError",
    )
    .unwrap()
});
/// An exception about a configuration value it could not use (.NET's `Failed to convert
/// configuration value at 'Payments:Timeout'`): a configuration error, whatever wraps it. Only
/// for exceptions: a warning that names a setting (a deprecation) is not one.
static CONFIG_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bconfig(?:uration)? (?:value|key|section|setting|property)\b").unwrap()
});
pub static FAILURE_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:fail(?:s|ed|ure|ing)?|errors?|unable|cannot|can't|could not|couldn't|blocked|refused|denied|abort(?:ed|ing)?|exception|crash(?:ed)?|unavailable|timed? ?out|timeout|exceeded|invalid|missing|no such|not set|must be set|is required|unhandled|uncaught|declined|violat\w*|expired|deadlock|segmentation fault|panic|fatal|killed|SIG(?:KILL|SEGV|ABRT|BUS)|unreachable|rejected|unauthori[sz]ed|ECONN\w+|ETIMEDOUT|ENOTFOUND|EAI_AGAIN)\b",
    )
    .unwrap()
});
/// A web server's own access log line (Apache, nginx, the combined format) or a framework's
/// own line for the end of a request (Rails' `Completed 500 Internal Server Error`) with a 5xx.
static ACCESS_LOG_5XX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#""(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \S+ HTTP/[\d.]+" 5\d\d\b|^Completed 5\d\d \w"#).unwrap()
});
/// An error message that only restates the response's status.
static RESTATES_STATUS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:request )?(?:failed|errored)? ?with status(?: code)?:? 5\d\d\b").unwrap()
});
static HEALTH_PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^/(?:_ah/|api/|actuator/)?(?:health|healthz|healthcheck|health-check|ready|readyz|readiness|livez|live|liveness|ping|status|up|heartbeat)(?:/(?:live|ready|liveness|readiness))?/?$",
    )
    .unwrap()
});

/// Whether a request path is a health check.
pub fn is_health_path(path: &str) -> bool {
    HEALTH_PATH.is_match(path)
}

/// A static asset (`/build/app.css`, `/favicon.ico`): served without the application's code,
/// so its 200s say nothing about whether the application works.
pub fn is_static_path(path: &str) -> bool {
    static ASSET: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)(?:^/(?:static|assets|build|dist|img|images|css|js|fonts|public)/|\.(?:css|js|mjs|map|png|jpe?g|gif|svg|webp|ico|woff2?|ttf|eot|txt|webmanifest)$)").unwrap()
    });
    let path = path.split(['?', '#']).next().unwrap_or(path);
    ASSET.is_match(path)
}

/// What a cluster says, from its text, exception, severity and HTTP statuses.
pub fn classify(text: &str, stats: &ClusterStats) -> Role {
    // A line that reports its response as a server error is a symptom, unless it carries an
    // exception that says more than the status (pino-http's `failed with status code 500`
    // says nothing more).
    if stats.reported_5xx * 2 > stats.count
        && stats
            .exception
            .as_ref()
            .is_none_or(|e| RESTATES_STATUS.is_match(&e.message))
    {
        return Role::Symptom(SymptomKind::ServerError);
    }
    // The whole line: a logging prefix's `key=value` fields carry the call's status.
    let line = stats
        .examples
        .first()
        .map_or(text, |e| e.lines().next().unwrap_or(text));
    if answered_for_the_client(text) || answered_for_the_client(line) {
        return Role::Noise;
    }
    if let Some(e) = &stats.exception {
        if client_went_away(text, e) {
            return Role::Noise;
        }
        return Role::Cause(exception_kind(e));
    }
    if STARTUP.is_match(text) {
        return Role::Symptom(SymptomKind::StartupFailure);
    }
    if EXIT.is_match(text) {
        return Role::Symptom(SymptomKind::Exit);
    }
    if OOM.is_match(text) {
        return Role::Cause(CauseKind::OutOfMemory);
    }
    if HEALTH.is_match(text) || (stats.health_path && stats.server_errors() > 0) {
        return Role::Symptom(SymptomKind::HealthCheck);
    }
    // A line at INFO that mentions a timeout (a task "retry: Retry in 30s: ReadTimeout") is
    // the application coping with it, not a symptom.
    if (TIMEOUT.is_match(text) && stats.severity() >= Severity::Warning)
        || stats.http_statuses.contains_key(&504)
    {
        return Role::Symptom(SymptomKind::Timeout);
    }
    if stats.server_errors() > 0 || ACCESS_LOG_5XX.is_match(text) {
        return Role::Symptom(SymptomKind::ServerError);
    }
    if !stats.http_statuses.is_empty() {
        // Request logs that went through, or 4xx: the clients' business, not a failure here.
        return Role::Noise;
    }
    let severity = stats.severity();
    if CONFIG.is_match(text) && severity >= Severity::Warning {
        return Role::Cause(CauseKind::Config);
    }
    // An error line that says nothing failed (a server logging its own start or stop at
    // ERROR, a pipeline that marks all of stderr ERROR) is not a cause.
    if severity >= Severity::Error
        && (FAILURE_WORDS.is_match(text) || severity >= Severity::Critical)
    {
        return Role::Cause(CauseKind::Error);
    }
    if severity == Severity::Warning && FAILURE_WORDS.is_match(text) {
        return Role::FailureWarning;
    }
    Role::Noise
}

/// A gRPC server's line for a call it answered (`rpc=/pkg.Service/Method code=NotFound …`,
/// `grpc.method=… grpc.code=Canceled`) with a status that is the client's business, as a 4xx
/// is: the client cancelled, asked for what is not there, or sent what is not valid.
static GRPC_CLIENT_STATUS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:^|\s)(?:grpc\.)?code=(?:Canceled|InvalidArgument|NotFound|AlreadyExists|Unauthenticated|FailedPrecondition|OutOfRange)\b",
    )
    .unwrap()
});
static GRPC_SERVED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|\s)(?:rpc|grpc\.method|method)=\S").unwrap());

/// Whether a line reports a call this service answered with a client's status.
pub fn answered_for_the_client(text: &str) -> bool {
    text.contains("code=") && GRPC_CLIENT_STATUS.is_match(text) && GRPC_SERVED.is_match(text)
}

/// The exceptions servers raise when the client hung up while its response was being
/// written or its body read: Tomcat's `ClientAbortException`, Jetty's `EofException`,
/// Starlette's `ClientDisconnect`, aiohttp's `ClientConnectionResetError`, body parsers'
/// `request aborted`.
static CLIENT_GONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b(?:ClientAbortException|EofException|ClientDisconnect(?:ed)?(?:Error)?|ClientConnectionResetError|BadRequestError: request aborted)\b",
    )
    .unwrap()
});

/// Whether an exception only says that the client went away: nothing on this side failed,
/// whatever the level it was logged at.
pub fn client_went_away(text: &str, e: &Exception) -> bool {
    CLIENT_GONE.is_match(&e.kind)
        || CLIENT_GONE.is_match(text)
        || e.raised_while_handling
            .iter()
            .any(|r| CLIENT_GONE.is_match(r))
}

static WRAPPER_KIND: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:CancelledError|TimeoutError|TimeoutException|DeadlineExceeded|RetryError|ExecutionException|CompletionException|UndeclaredThrowableException|InvocationTargetException|UncheckedExecutionException|ExceptionGroup|BaseExceptionGroup|AbortError|TimeoutExpired|AggregateException|TargetInvocationException|SystemExit|(?:Soft)?TimeLimitExceeded|MaxRetriesPerRequestError|RetriesExhausted\w*)$",
    )
    .unwrap()
});
static WRAPPER_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:context deadline exceeded|context canceled|operation timed out|timed out|timeout|startup failed\.?|application startup failed.*|worker failed to boot\.?|application run failed|error starting applicationcontext\b.*)$").unwrap()
});

/// Words of a time limit that ran out.
static RAN_OUT_OF_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:did not (?:start|finish|complete|respond|become ready|load) in time|deadline exceeded|timeout (?:exceeded|expired|reached)|timed out waiting)\b").unwrap()
});

/// A generic exception that only says something else went wrong: a timeout or cancellation
/// around the real failure, a retry that gave up, a start-up that failed, an exit it was told
/// to make (gunicorn's `SystemExit: 1` for a worker it timed out). In the same attempt
/// the specific error is the cause.
pub fn is_wrapper(template: &str, exception: Option<&Exception>) -> bool {
    match exception {
        Some(e) => {
            let kind = e.kind.rsplit(['.', ':']).next().unwrap_or(&e.kind);
            // Whatever its type, a time limit that ran out (`Plugin did not start in time`)
            // says something else did not finish, and names nothing that failed.
            let first = e.message.lines().next().unwrap_or("");
            if RAN_OUT_OF_TIME.is_match(first) && !super::entities::names_something(first) {
                return true;
            }
            WRAPPER_KIND.is_match(kind)
                && (e.message.trim().is_empty()
                    // An exit code says only that the process was told to stop.
                    || e.message.trim().bytes().all(|b| b.is_ascii_digit())
                    || WRAPPER_TEXT.is_match(e.message.trim())
                    || e.message.len() < 40 && !e.message.contains(|c: char| c.is_ascii_digit())
                    // A retry that gave up, saying only how often it tried.
                    || kind.contains("Retries") && !super::entities::names_something(&e.message))
        }
        None => WRAPPER_TEXT.is_match(template.trim()),
    }
}

pub fn exception_kind(e: &Exception) -> CauseKind {
    let kind = e.kind.rsplit('.').next().unwrap_or(&e.kind);
    let text = format!("{}: {}", e.kind, e.message);
    if matches!(
        kind,
        "ModuleNotFoundError" | "ImportError" | "ClassNotFoundException" | "NoClassDefFoundError"
    ) || e.message.starts_with("Cannot find module")
        || e.message.starts_with("Cannot find package")
        || e.kind.ends_with("[ERR_MODULE_NOT_FOUND]")
    {
        CauseKind::Import
    } else if CONFIG.is_match(&text) || CONFIG_VALUE.is_match(&e.message) {
        CauseKind::Config
    } else if OOM.is_match(&text) {
        CauseKind::OutOfMemory
    } else if kind == "panic" || kind == "fatal error" {
        CauseKind::Panic
    } else {
        CauseKind::Exception
    }
}

/// The name an import error could not find (`No module named 'x'`, `Cannot find module 'x'`).
pub fn missing_module(e: &Exception) -> Option<String> {
    static QUOTED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"['"`]([^'"`]+)['"`]"#).unwrap());
    if exception_kind(e) != CauseKind::Import {
        return None;
    }
    match QUOTED.captures(&e.message) {
        Some(c) => Some(c[1].to_string()),
        None => Some(e.message.trim().to_string()),
    }
}

/// A frame of the service's own code, with the container prefix stripped; `None` for
/// libraries and the runtime.
pub fn in_app_path(frame: &Frame, source_root: &str) -> Option<String> {
    let file = frame.file.as_str();
    let lib = [
        "site-packages/",
        "dist-packages/",
        "node_modules/",
        "/vendor/",
        "/usr/lib/",
        "/usr/local/lib/",
        "<frozen ",
        "/rustc/",
        "/go/pkg/mod/",
        "/usr/local/go/",
        "java/lang/",
        "java/util/",
        "java/net/",
        "java.base/",
        "sun/",
        "jdk/",
        "javax/",
        "jakarta/",
        "com/sun/",
        "org/springframework/",
        "org/apache/",
        "org/hibernate/",
        "org/postgresql/",
        "org/eclipse/",
        "org/slf4j/",
        "org/jboss/",
        "ch/qos/",
        "io/netty/",
        "io/grpc/",
        "io/micrometer/",
        "io/opentelemetry/",
        "io/undertow/",
        "reactor/",
        "com/google/",
        "com/fasterxml/",
        "com/zaxxer/",
        "com/mysql/",
        "kotlin/",
        "kotlinx/",
        "scala/",
        "okhttp3/",
        "/gems/",
        "/vendor/bundle/",
        "/vendor/",
        "Microsoft.",
        "System.",
    ];
    // `node:net`, `node:internal/…`: Node's own modules.
    if lib.iter().any(|l| file.contains(l)) || file.starts_with('<') || file.starts_with("node:") {
        return None;
    }
    let root = source_root.trim_end_matches('/');
    let stripped = if !root.is_empty() && file.starts_with(&format!("{root}/")) {
        &file[root.len() + 1..]
    } else {
        file.trim_start_matches("./")
    };
    Some(stripped.trim_start_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats_with(severity: Severity) -> ClusterStats {
        let mut s = ClusterStats::new("svc");
        s.record("x", severity, 1, None, None, None, false, None);
        s
    }

    #[test]
    fn a_line_reporting_its_response_as_a_5xx_is_a_symptom_unless_its_exception_says_more() {
        let mut s = stats_with(Severity::Error);
        s.reported_5xx = 1;
        assert_eq!(
            classify("response failed", &s),
            Role::Symptom(SymptomKind::ServerError)
        );
        let exception = |message: &str| Exception {
            kind: "Error".into(),
            message: message.into(),
            frames: Vec::new(),
            raised_while_handling: Vec::new(),
        };
        s.exception = Some(exception("failed with status code 500"));
        assert_eq!(
            classify("request errored", &s),
            Role::Symptom(SymptomKind::ServerError)
        );
        s.exception = Some(exception("Connection refused (fx.internal:443)"));
        assert!(matches!(
            classify("HTTP GET /x responded 500", &s),
            Role::Cause(_)
        ));
        // Without the report, the same line is the error it says.
        s.reported_5xx = 0;
        s.exception = None;
        assert_eq!(
            classify("response failed", &s),
            Role::Cause(CauseKind::Error)
        );
    }

    #[test]
    fn a_grpc_call_answered_with_a_clients_status_is_noise() {
        let s = stats_with(Severity::Error);
        assert_eq!(
            classify(
                "rpc=/accounts.v1.AccountService/GetAccount code=NotFound duration=12ms err=rpc error: code = NotFound desc = account not found",
                &s
            ),
            Role::Noise
        );
        // A call that failed on this side is not the client's.
        assert!(matches!(
            classify(
                "rpc=/accounts.v1.AccountService/GetAccount code=Internal err=boom failed",
                &s
            ),
            Role::Cause(_)
        ));
        // An outgoing call's status names no served call.
        assert!(!answered_for_the_client(
            "calling ledger failed: code=NotFound"
        ));
    }

    #[test]
    fn an_exception_that_says_the_client_went_away_is_noise() {
        let mut s = stats_with(Severity::Error);
        s.exception = Some(Exception {
            kind: "java.io.IOException".into(),
            message: "Broken pipe".into(),
            frames: Vec::new(),
            raised_while_handling: vec![
                "org.apache.catalina.connector.ClientAbortException: java.io.IOException: Broken pipe"
                    .into(),
            ],
        });
        assert_eq!(
            classify("java.io.IOException: Broken pipe", &s),
            Role::Noise
        );
        // A broken pipe to an upstream is a failure of this side.
        s.exception.as_mut().unwrap().raised_while_handling.clear();
        assert!(matches!(
            classify("java.io.IOException: Broken pipe", &s),
            Role::Cause(_)
        ));
    }

    #[test]
    fn cloud_run_symptoms_are_recognised_whatever_their_severity() {
        let warning = stats_with(Severity::Warning);
        assert_eq!(
            classify("Container called exit(1).", &warning),
            Role::Symptom(SymptomKind::Exit)
        );
        assert_eq!(
            classify(
                "Default STARTUP TCP probe failed 1 time consecutively for container \"x\" on port 8080.",
                &warning
            ),
            Role::Symptom(SymptomKind::StartupFailure)
        );
        assert_eq!(
            classify(
                "The request failed because the instance could not start successfully.",
                &stats_with(Severity::Error)
            ),
            Role::Symptom(SymptomKind::StartupFailure)
        );
    }

    #[test]
    fn requests_classify_by_status_and_path() {
        let mut health = ClusterStats::new("svc");
        health.record(
            "GET /health 503",
            Severity::Error,
            1,
            None,
            None,
            None,
            false,
            Some((503, true)),
        );
        assert_eq!(
            classify("GET /health 503", &health),
            Role::Symptom(SymptomKind::HealthCheck)
        );
        let mut api = ClusterStats::new("svc");
        api.record(
            "GET /api 500",
            Severity::Error,
            1,
            None,
            None,
            None,
            false,
            Some((500, false)),
        );
        assert_eq!(
            classify("GET /api 500", &api),
            Role::Symptom(SymptomKind::ServerError)
        );
        let mut ok = ClusterStats::new("svc");
        ok.record(
            "GET /api 404",
            Severity::Warning,
            1,
            None,
            None,
            None,
            false,
            Some((404, false)),
        );
        assert_eq!(classify("GET /api 404", &ok), Role::Noise);
    }

    #[test]
    fn warnings_without_failure_are_noise() {
        let warning = stats_with(Severity::Warning);
        assert_eq!(
            classify(
                "/app/x.py:3: DeprecationWarning: pkg_resources is deprecated as an API",
                &warning
            ),
            Role::Noise
        );
        assert_eq!(
            classify("WebSocket middleware configuration failed", &warning),
            Role::FailureWarning
        );
        assert_eq!(
            classify("Failed to connect to redis", &stats_with(Severity::Error)),
            Role::Cause(CauseKind::Error)
        );
    }

    #[test]
    fn in_app_frames_strip_the_container_prefix() {
        let frame = |file: &str| Frame {
            file: file.into(),
            function: "f".into(),
            line: Some(1),
        };
        assert_eq!(
            in_app_path(&frame("/app/netra_backend/app/main.py"), "/app").as_deref(),
            Some("netra_backend/app/main.py")
        );
        assert_eq!(
            in_app_path(
                &frame("/usr/local/lib/python3.11/site-packages/uvicorn/main.py"),
                "/app"
            ),
            None
        );
        assert_eq!(
            in_app_path(&frame("<frozen importlib._bootstrap>"), "/app"),
            None
        );
        // Node's own modules, internal or not, are the runtime.
        assert_eq!(in_app_path(&frame("node:net"), "/app"), None);
        assert_eq!(in_app_path(&frame("node:internal/timers"), "/app"), None);
    }

    #[test]
    fn a_long_stack_keeps_its_causes_and_a_few_frames() {
        let mut text = String::from("java.lang.IllegalStateException: outer\n");
        for i in 0..60 {
            text.push_str(&format!("\tat com.acme.Deep.call{i}(Deep.java:{i})\n"));
        }
        text.push_str("Caused by: java.net.ConnectException: Connection refused\n\tat java.net.Socket.connect(Socket.java:1)");
        let short = excerpt(&text, 600);
        assert!(short.contains("Caused by: java.net.ConnectException: Connection refused"));
        assert!(short.contains("call3(") && !short.contains("call4("));
        assert!(short.contains("56 more line(s) of frames"));
        assert_eq!(excerpt("short", 600), "short");
    }

    #[test]
    fn a_time_limit_that_ran_out_is_a_wrapper_whatever_its_type() {
        let e = |kind: &str, message: &str| Exception {
            kind: kind.into(),
            message: message.into(),
            frames: Vec::new(),
            raised_while_handling: Vec::new(),
        };
        let plugin = e(
            "FastifyError [Error]",
            "fastify-plugin: Plugin did not start in time: 'db'. You may have forgotten to call 'done'",
        );
        assert!(is_wrapper("", Some(&plugin)));
        // One that names what it waited for is specific.
        let redis = e(
            "Redis::TimeoutError",
            "deadline exceeded (redis://cache.internal:6379)",
        );
        assert!(!is_wrapper("", Some(&redis)));
        assert!(!is_wrapper("", Some(&e("KeyError", "'request_id'"))));
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("héllo", 2), "hé… (truncated)");
        assert_eq!(truncate("ok", 5), "ok");
    }
}
