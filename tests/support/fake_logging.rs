//! A fake Cloud Logging API speaking the REST JSON that `google-cloud-logging-v2` 1.15 sends:
//! `POST /v2/entries:list?$alt=json;enum-encoding=int` with
//! `{resourceNames, filter, orderBy, pageSize, pageToken}`, answered with
//! `{entries: [LogEntry], nextPageToken}` (keys omitted when empty, as the real API does).
//!
//! What it honours, and why:
//! - `timestamp` bounds (`>=`, `>`, `<`, `<=`) and `resource.labels.service_name="X"` /
//!   `resource.type="T"` equalities: that is what decides which hour of which service a sweep
//!   reads. Several `service_name` clauses are taken as OR'ed (the only sensible reading).
//!   Every other clause (severity, textPayload, ...) is ignored, so the fake may return MORE
//!   than the real API would, never less.
//! - `resourceNames`: required (400 INVALID_ARGUMENT otherwise); entries whose `logName`
//!   belongs to another project are not returned.
//! - `orderBy` "timestamp asc" (default) or "timestamp desc"; `pageSize` (default and max 1000).
//! - page tokens are opaque and bound to the query: a token used with another filter is
//!   400 INVALID_ARGUMENT, as with the real API.
//! - severities are answered as numbers (the client asks for `enum-encoding=int`), whatever
//!   form they were added in.
//!
//! Faults: `fail_next` (any request) and `fail_on_page` (the Nth page of a listing, counting
//! empty pages), with Google's JSON error body, which the client parses into a status.

#![allow(dead_code)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use regex::Regex;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A running fake Cloud Logging. The server stops when this is dropped.
pub struct FakeLogging {
    /// `http://127.0.0.1:PORT`, for `LoggingServiceV2::builder().with_endpoint(..)`.
    pub url: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeLogging {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(Default)]
struct State {
    entries: Vec<Value>,
    requests: Vec<Value>,
    /// (status, remaining) for any request.
    fail_next: Vec<(u16, usize)>,
    /// (page, status, remaining).
    fail_on_page: Vec<(usize, u16, usize)>,
    empty_pages: usize,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panicking handler must not poison every later request.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeLogging {
    /// Starts the fake on a random local port.
    pub async fn start() -> FakeLogging {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Cloud Logging");
        let addr = listener.local_addr().expect("fake Cloud Logging address");
        let state = Arc::new(Mutex::new(State::default()));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let server = tokio::spawn(async move {
            // Ends only when aborted; I/O errors surface as failed requests in the test.
            let _ = axum::serve(listener, app).await;
        });
        FakeLogging {
            url: format!("http://{addr}"),
            state,
            server,
        }
    }

    /// Adds LogEntry JSON as `gcloud logging read --format=json` prints it (camelCase,
    /// severity as a name or a number, RFC 3339 timestamps).
    pub fn add_entries(&self, entries: Vec<Value>) {
        lock(&self.state).entries.extend(entries);
    }

    /// The JSON bodies of every `entries:list` request received, failed ones included.
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.state).requests.clone()
    }

    /// The next `times` requests fail with `status` (503 UNAVAILABLE, 429
    /// RESOURCE_EXHAUSTED, ...) and Google's JSON error body.
    pub fn fail_next(&self, status: u16, times: usize) {
        lock(&self.state).fail_next.push((status, times));
    }

    /// Requests for the `page`th page (0-based, empty pages included) of a listing fail
    /// `times` times with `status`; a retry of the same token then succeeds.
    pub fn fail_on_page(&self, page: usize, status: u16, times: usize) {
        lock(&self.state).fail_on_page.push((page, status, times));
    }

    /// Serves `n` empty pages (no entries, a `nextPageToken`) before the data, as the real
    /// API may while it scans.
    pub fn set_empty_pages(&self, n: usize) {
        lock(&self.state).empty_pages = n;
    }
}

/// Google's JSON error, which the client parses into a `Status` with a code.
fn google_error(status: u16, message: &str) -> Response {
    let name = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    };
    json_response(
        status,
        &json!({"error": {"code": status, "message": message, "status": name}}),
    )
}

fn injected(status: u16) -> Response {
    let message = match status {
        429 => {
            "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute' of service 'logging.googleapis.com'."
        }
        503 => "The service is currently unavailable.",
        _ => "Injected failure.",
    };
    google_error(status, message)
}

fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    resp
}

async fn handle(
    AxumState(state): AxumState<Arc<Mutex<State>>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    if method != Method::POST || uri.path() != "/v2/entries:list" {
        return google_error(404, &format!("Method not found: {} {}", method, uri.path()));
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut st = lock(&state);
    st.requests.push(request.clone());
    if let Some(f) = st.fail_next.iter_mut().find(|f| f.1 > 0) {
        f.1 -= 1;
        return injected(f.0);
    }
    if !request.is_object() {
        return google_error(400, "Invalid JSON payload received.");
    }
    list(&mut st, &request)
}

struct Query {
    projects: Vec<String>,
    services: Vec<String>,
    resource_types: Vec<String>,
    /// (operator, bound)
    bounds: Vec<(String, DateTime<Utc>)>,
    descending: bool,
    fingerprint: String,
}

fn parse_query(request: &Value) -> Result<Query, String> {
    let names: Vec<String> = request
        .get("resourceNames")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        return Err("resourceNames: at least one resource name is required".into());
    }
    let filter = request.get("filter").and_then(Value::as_str).unwrap_or("");
    let order = request
        .get("orderBy")
        .and_then(Value::as_str)
        .unwrap_or("timestamp asc")
        .trim()
        .to_lowercase();
    let descending = match order.as_str() {
        "timestamp asc" | "timestamp" => false,
        "timestamp desc" => true,
        other => return Err(format!("orderBy: unsupported ordering {other:?}")),
    };
    let re = |p: &str| Regex::new(p).expect("static regex");
    let mut bounds = Vec::new();
    for c in re(r#"\btimestamp\s*(>=|<=|>|<|=)\s*(?:"([^"]+)"|([^\s)]+))"#).captures_iter(filter) {
        let op = c[1].to_owned();
        let raw = c.get(2).or_else(|| c.get(3)).map_or("", |m| m.as_str());
        let t = DateTime::parse_from_rfc3339(raw)
            .map_err(|e| format!("filter: invalid timestamp {raw:?}: {e}"))?
            .with_timezone(&Utc);
        bounds.push((op, t));
    }
    let values = |p: &str| -> Vec<String> {
        re(p)
            .captures_iter(filter)
            .map(|c| c[1].to_owned())
            .collect()
    };
    let projects = names
        .iter()
        .filter_map(|n| n.strip_prefix("projects/"))
        .map(|p| p.split('/').next().unwrap_or(p).to_owned())
        .collect();
    let fingerprint = hex::encode(
        &Sha256::digest(format!("{}\n{filter}\n{order}", names.join(",")).as_bytes())[..8],
    );
    Ok(Query {
        projects,
        services: values(r#"resource\.labels\.service_name\s*=\s*"([^"]*)""#),
        resource_types: values(r#"resource\.type\s*=\s*"([^"]*)""#),
        bounds,
        descending,
        fingerprint,
    })
}

fn timestamp(e: &Value) -> Option<DateTime<Utc>> {
    e.get("timestamp")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

impl Query {
    fn matches(&self, e: &Value) -> bool {
        let resource = e.get("resource");
        let label = |k: &str| {
            resource
                .and_then(|r| r.get("labels"))
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
        };
        if !self.services.is_empty()
            && !label("service_name").is_some_and(|s| self.services.iter().any(|x| x == s))
        {
            return false;
        }
        let rtype = resource.and_then(|r| r.get("type")).and_then(Value::as_str);
        if !self.resource_types.is_empty()
            && !rtype.is_some_and(|t| self.resource_types.iter().any(|x| x == t))
        {
            return false;
        }
        if let Some(log_name) = e.get("logName").and_then(Value::as_str)
            && !self.projects.is_empty()
            && !self
                .projects
                .iter()
                .any(|p| log_name.starts_with(&format!("projects/{p}/")))
        {
            return false;
        }
        if self.bounds.is_empty() {
            return true;
        }
        let Some(t) = timestamp(e) else {
            return false;
        };
        self.bounds.iter().all(|(op, b)| match op.as_str() {
            ">=" => t >= *b,
            ">" => t > *b,
            "<=" => t <= *b,
            "<" => t < *b,
            _ => t == *b,
        })
    }
}

/// Severity as the API sends it with `enum-encoding=int`.
fn severity_number(v: &Value) -> Value {
    match v.as_str() {
        Some(name) => json!(match name.to_uppercase().as_str() {
            "DEBUG" => 100,
            "INFO" => 200,
            "NOTICE" => 300,
            "WARNING" => 400,
            "ERROR" => 500,
            "CRITICAL" => 600,
            "ALERT" => 700,
            "EMERGENCY" => 800,
            _ => 0,
        }),
        None => v.clone(),
    }
}

/// The page token: page index, offset into the sorted result, and a fingerprint of the
/// query it belongs to, hex-encoded so it is opaque to clients.
fn encode_token(page: usize, offset: usize, fingerprint: &str) -> String {
    hex::encode(format!("{page}:{offset}:{fingerprint}"))
}

fn decode_token(token: &str, fingerprint: &str) -> Option<(usize, usize)> {
    let raw = String::from_utf8(hex::decode(token).ok()?).ok()?;
    let mut parts = raw.splitn(3, ':');
    let page = parts.next()?.parse().ok()?;
    let offset = parts.next()?.parse().ok()?;
    (parts.next()? == fingerprint).then_some((page, offset))
}

fn list(st: &mut State, request: &Value) -> Response {
    let query = match parse_query(request) {
        Ok(q) => q,
        Err(message) => return google_error(400, &message),
    };
    let token = request
        .get("pageToken")
        .and_then(Value::as_str)
        .unwrap_or("");
    let (page, offset) = if token.is_empty() {
        (0, 0)
    } else {
        match decode_token(token, &query.fingerprint) {
            Some(p) => p,
            None => return google_error(400, "page_token: invalid page token"),
        }
    };
    if let Some(f) = st.fail_on_page.iter_mut().find(|f| f.0 == page && f.2 > 0) {
        f.2 -= 1;
        return injected(f.1);
    }
    if page < st.empty_pages {
        return json_response(
            200,
            &json!({"nextPageToken": encode_token(page + 1, 0, &query.fingerprint)}),
        );
    }
    let page_size = request
        .get("pageSize")
        .and_then(Value::as_i64)
        .filter(|n| *n > 0)
        .map_or(1000, |n| n.min(1000) as usize);
    let mut matching: Vec<&Value> = st.entries.iter().filter(|e| query.matches(e)).collect();
    // Stable sort: entries with equal timestamps keep the order they were added in.
    matching.sort_by_key(|e| timestamp(e));
    if query.descending {
        matching.reverse();
    }
    let entries: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|e| {
            let mut e = (*e).clone();
            if let Some(s) = e.get("severity").map(severity_number) {
                e["severity"] = s;
            }
            e
        })
        .collect();
    let mut body = serde_json::Map::new();
    let next = offset + entries.len();
    if !entries.is_empty() {
        body.insert("entries".into(), Value::Array(entries));
    }
    if next < matching.len() {
        body.insert(
            "nextPageToken".into(),
            json!(encode_token(page + 1, next, &query.fingerprint)),
        );
    }
    json_response(200, &Value::Object(body))
}
