//! Cloud Logging's `LogEntry` JSON (camelCase as gcloud and sinks write it, snake_case as
//! BigQuery exports it) turned into the one entry model.

use crate::model::{Deploy, HttpRequest, LogEntry, Severity};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// Looks a field up under its camelCase or snake_case name.
fn field<'a>(obj: &'a Map<String, Value>, camel: &str) -> Option<&'a Value> {
    if let Some(v) = obj.get(camel) {
        return Some(v);
    }
    let snake: String = camel
        .chars()
        .flat_map(|c| {
            if c.is_ascii_uppercase() {
                vec!['_', c.to_ascii_lowercase()]
            } else {
                vec![c]
            }
        })
        .collect();
    obj.get(&snake)
}

fn str_field(obj: &Map<String, Value>, camel: &str) -> Option<String> {
    match field(obj, camel)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A timestamp as RFC 3339 text or as `{seconds, nanos}`; `name` is the field it came from.
/// Anything else is an error rather than a guess: a timestamp read as 1970 would stretch the
/// window and hide the entry from every sweep.
fn parse_timestamp(name: &str, value: &Value) -> Result<DateTime<Utc>, String> {
    match value {
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| format!("{name} {s:?} is not RFC 3339 ({e})")),
        Value::Object(o) => {
            let seconds = match o.get("seconds") {
                Some(v) => value_as_i64(v)
                    .ok_or_else(|| format!("{name}.seconds {v} is not a whole number"))?,
                None => return Err(format!("{name} {value} has no seconds")),
            };
            let nanos = match o.get("nanos") {
                Some(v) => value_as_i64(v)
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| *n < 1_000_000_000)
                    .ok_or_else(|| {
                        format!("{name}.nanos {v} is not a whole number from 0 to 999999999")
                    })?,
                None => 0,
            };
            DateTime::from_timestamp(seconds, nanos)
                .ok_or_else(|| format!("{name} {seconds}s is out of range"))
        }
        other => Err(format!(
            "{name} {other} is neither text nor {{seconds, nanos}}"
        )),
    }
}

/// The entry's time: `timestamp`, else `receiveTimestamp` (when Cloud Logging received it),
/// else none, like a plain-text line without one. A field that is there but is not a time
/// makes the entry malformed, naming the field.
fn entry_timestamp(obj: &Map<String, Value>) -> Result<Option<DateTime<Utc>>, String> {
    for name in ["timestamp", "receiveTimestamp"] {
        match field(obj, name) {
            None | Some(Value::Null) => continue,
            Some(v) => return parse_timestamp(name, v).map(Some),
        }
    }
    Ok(None)
}

fn value_as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn parse_severity(value: &Value) -> Result<Severity, String> {
    match value {
        Value::Number(n) => Ok(Severity::from_number(n.as_i64().unwrap_or(0))),
        Value::String(s) => s.parse(),
        Value::Null => Ok(Severity::Default),
        other => Err(format!("severity {other} is neither a name nor a number")),
    }
}

/// `"0.123s"` (protobuf Duration JSON) or `{seconds, nanos}` to milliseconds.
fn parse_latency(value: &Value) -> Option<f64> {
    match value {
        Value::String(s) => s.strip_suffix('s')?.parse::<f64>().ok().map(|s| s * 1000.0),
        Value::Object(o) => {
            let seconds = o.get("seconds").and_then(value_as_i64).unwrap_or(0) as f64;
            let nanos = o.get("nanos").and_then(value_as_i64).unwrap_or(0) as f64;
            Some(seconds * 1000.0 + nanos / 1e6)
        }
        _ => None,
    }
}

/// A field of a structured log line, by its name as loggers spell it (`message`, `Message`).
fn get_field<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The objects a structured logger writes an event's own fields in: the payload, and the
/// object it nests them in (tracing-subscriber's `fields`).
fn event_maps(payload: &Map<String, Value>) -> impl Iterator<Item = &Map<String, Value>> {
    std::iter::once(payload).chain(payload.get("fields").and_then(Value::as_object))
}

/// The message of a `jsonPayload`: its `message` (or a usual alias: pino's `msg`, structlog's
/// `event`, Serilog's rendered `@m` or its template `@mt` filled in, tracing's
/// `fields.message`), else the payload itself; with the error a structured logger put beside
/// it (zap's `error`, pino's `err`, a recovery middleware's `panic`, OpenTelemetry's
/// `exception.message`), as their console encoders print it.
fn json_payload_message(payload: &Map<String, Value>) -> String {
    let error = event_maps(payload)
        .find_map(|m| {
            ["error", "err", "panic", "exception.message"]
                .iter()
                .find_map(|k| match get_field(m, k) {
                    Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                    Some(Value::Object(o)) => {
                        o.get("message").and_then(Value::as_str).map(str::to_string)
                    }
                    _ => None,
                })
        })
        .or_else(|| {
            // OpenTelemetry's `exception.message`, recorded on the request's span (tracing-
            // actix-web's): the error as it displays, where the line shows its debug form.
            let span = payload.get("span")?.as_object()?;
            match span.get("exception.message") {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            }
        });
    let message = event_maps(payload).find_map(|m| {
        ["message", "msg", "@m", "event", "textPayload"]
            .iter()
            .find_map(|k| match get_field(m, k) {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            })
            .or_else(|| match m.get("@mt") {
                Some(Value::String(t)) if !t.is_empty() => Some(render_template(t, m)),
                _ => None,
            })
    });
    match (message, error) {
        (Some(s), Some(e)) if !s.contains(e.as_str()) => format!("{s}: {e}"),
        (Some(s), _) => s,
        (None, Some(e)) => e,
        (None, None) => Value::Object(payload.clone()).to_string(),
    }
}

/// A message template (Serilog's `@mt`, .NET's `{OriginalFormat}`) with each `{Name}`,
/// `{@Name}`, `{$Name}` or `{Name:format}` hole filled from the event's properties; a hole
/// without a property stays as written, `{{` and `}}` are braces.
fn render_template(template: &str, properties: &Map<String, Value>) -> String {
    static HOLE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\{\{|\}\}|\{[@$]?([A-Za-z0-9_]+)(?:,[^:}]*)?(?::[^}]*)?\}").unwrap()
    });
    HOLE.replace_all(template, |c: &regex::Captures| match (&c[0], c.get(1)) {
        ("{{", _) => "{".to_string(),
        ("}}", _) => "}".to_string(),
        (hole, Some(name)) => match properties.get(name.as_str()) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) => "null".to_string(),
            Some(other) => other.to_string(),
            None => hole.to_string(),
        },
        (hole, None) => hole.to_string(),
    })
    .into_owned()
}

/// The level a structured logger wrote in its own field, when the entry carries none.
fn payload_level(payload: &Map<String, Value>) -> Severity {
    for key in [
        "severity",
        "level_name",
        "levelname",
        "level",
        "loglevel",
        "log.level",
        "lvl",
        "@l",
    ] {
        match get_field(payload, key) {
            Some(Value::String(s)) => {
                if let Ok(level) = s.parse::<Severity>() {
                    return level;
                }
            }
            // pino and bunyan: 10 trace … 50 error, 60 fatal.
            Some(Value::Number(n)) if key == "level" => {
                return match n.as_u64() {
                    Some(10 | 20) => Severity::Debug,
                    Some(30) => Severity::Info,
                    Some(40) => Severity::Warning,
                    Some(50) => Severity::Error,
                    Some(60) => Severity::Critical,
                    _ => continue,
                };
            }
            _ => {}
        }
    }
    // ECS nests it (`log: {level}`); Serilog's compact JSON leaves Information out.
    if let Some(Value::String(s)) = payload.get("log").and_then(|l| l.get("level"))
        && let Ok(level) = s.parse::<Severity>()
    {
        return level;
    }
    if payload.contains_key("@mt") || payload.contains_key("@m") {
        return Severity::Info;
    }
    Severity::Default
}

/// A stack trace that a structured logger put beside the message.
fn json_payload_stack_trace(payload: &Map<String, Value>) -> Option<String> {
    for key in [
        "stack_trace",
        "stackTrace",
        "exception",
        "exc_info",
        "traceback",
        "stack",
        "@x",
    ] {
        if let Some(Value::String(s)) = event_maps(payload).find_map(|m| get_field(m, key))
            && !s.trim().is_empty()
        {
            return Some(s.clone());
        }
    }
    let exception = payload
        .get("exception")
        .or_else(|| payload.get("context").and_then(|c| c.get("exception")));
    if let Some(Value::Object(e)) = exception
        && let Some(text) = monolog_exception(e)
    {
        return Some(text);
    }
    match payload.get("error").or_else(|| payload.get("err")) {
        Some(Value::Object(err)) => {
            let stack = ["stack", "stack_trace"]
                .iter()
                .find_map(|k| err.get(*k).and_then(Value::as_str))?;
            // pino's serializer names the error's class in `type`; a stack whose first line
            // names only the generic `Error` (node-postgres writes `error: sorry, too many
            // clients already`) gets it, so that the exception is read as the class it is. A
            // stack that names its error already keeps that name: it is the more specific
            // one (the AWS SDK's `SignatureDoesNotMatch` of class `S3ServiceException`).
            let (first, rest) = stack.split_once('\n').unwrap_or((stack, ""));
            let generic = first
                .split_once(':')
                .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("error"));
            match (
                err.get("type").and_then(Value::as_str),
                err.get("message").and_then(Value::as_str),
            ) {
                (Some(kind), Some(message))
                    if !kind.is_empty()
                        && generic
                        && !first.contains(kind)
                        && first.ends_with(message) =>
                {
                    Some(format!("{kind}: {message}\n{rest}"))
                }
                _ => Some(stack.to_string()),
            }
        }
        _ => None,
    }
}

/// An exception as Monolog's JSON formatter normalises it (`class`, `message`, `code`,
/// `file` as `path:line`, `previous`), written as its line formatter prints it, so that the
/// chain is read, and resolved to its innermost cause, as for every PHP log.
fn monolog_exception(e: &Map<String, Value>) -> Option<String> {
    let mut out = Vec::new();
    let mut next = Some(e);
    while let Some(e) = next.take() {
        let class = e.get("class").and_then(Value::as_str)?;
        let message = e.get("message").and_then(Value::as_str).unwrap_or("");
        let code = e.get("code").map_or(String::from("0"), |c| match c {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let file = e
            .get("file")
            .and_then(Value::as_str)
            .unwrap_or("/unknown:0");
        let marker = if out.is_empty() {
            ""
        } else {
            "[previous exception] "
        };
        out.push(format!(
            "{marker}[object] ({class}(code: {code}): {message} at {file})"
        ));
        if out.len() >= 8 {
            break;
        }
        next = e.get("previous").and_then(Value::as_object);
    }
    Some(out.join("\n"))
}

/// An audit log (`protoPayload`) told as text: what was called, on what, and how it ended.
fn proto_payload_message(payload: &Map<String, Value>) -> String {
    let method = payload.get("methodName").and_then(Value::as_str);
    let resource = payload.get("resourceName").and_then(Value::as_str);
    let status = payload
        .get("status")
        .and_then(|s| s.get("message"))
        .and_then(Value::as_str);
    let mut parts: Vec<&str> = Vec::new();
    if let Some(status) = status {
        parts.push(status);
    } else {
        parts.extend(method);
        parts.extend(resource);
    }
    if parts.is_empty() {
        Value::Object(payload.clone()).to_string()
    } else {
        parts.join(" ")
    }
}

/// Converts one `LogEntry` JSON object; the error says which field is wrong.
pub fn entry_from_json(value: &Value) -> Result<LogEntry, String> {
    let obj = value
        .as_object()
        .ok_or_else(|| format!("expected a LogEntry object, found {}", kind_of(value)))?;

    let http = match field(obj, "httpRequest") {
        Some(Value::Object(h)) => Some(HttpRequest {
            method: str_field(h, "requestMethod"),
            url: str_field(h, "requestUrl"),
            status: field(h, "status")
                .and_then(value_as_i64)
                .and_then(|s| u16::try_from(s).ok()),
            latency_ms: field(h, "latency").and_then(parse_latency),
        }),
        _ => None,
    };

    let object = |name: &str| match field(obj, name) {
        Some(Value::Object(payload)) => Some(payload),
        _ => None,
    };
    let (json_payload, proto_payload) = (object("jsonPayload"), object("protoPayload"));
    let mut stack_trace = None;
    let message = if let Some(Value::String(text)) = field(obj, "textPayload") {
        text.clone()
    } else if let Some(payload) = json_payload {
        stack_trace = json_payload_stack_trace(payload);
        json_payload_message(payload)
    } else if let Some(payload) = proto_payload {
        proto_payload_message(payload)
    } else if let Some(h) = &http {
        // Cloud Run request logs carry no payload when the request went through.
        h.summary()
    } else {
        return Err("entry has no textPayload, jsonPayload, protoPayload or httpRequest".into());
    };

    let timestamp = entry_timestamp(obj)?;
    let severity = match field(obj, "severity") {
        Some(v) => parse_severity(v)?,
        None => Severity::Default,
    };
    let severity = match (severity, json_payload) {
        // Cloud Run promotes only `severity`; a logger's own level field still says what the
        // line is (Monolog's `level_name`, pino's numeric `level`, Serilog's `@l`), up to ERROR.
        (Severity::Default, Some(payload)) => payload_level(payload).min(Severity::Error),
        (severity, _) => severity,
    };

    let empty = Map::new();
    let resource_labels = match field(obj, "resource").and_then(|r| r.get("labels")) {
        Some(Value::Object(labels)) => labels,
        _ => &empty,
    };
    let mut labels = std::collections::BTreeMap::new();
    if let Some(Value::Object(l)) = field(obj, "labels") {
        for (k, v) in l {
            if let Some(s) = v.as_str() {
                labels.insert(k.clone(), s.to_string());
            }
        }
    }
    let instance = labels
        .get("instanceId")
        .or_else(|| labels.get("instance_id"))
        .cloned();

    Ok(LogEntry {
        timestamp,
        severity,
        service: str_field(resource_labels, "serviceName")
            .or_else(|| str_field(resource_labels, "jobName"))
            .or_else(|| str_field(resource_labels, "functionName")),
        revision: str_field(resource_labels, "revisionName")
            .or_else(|| str_field(resource_labels, "executionName")),
        instance,
        trace: str_field(obj, "trace"),
        log_name: str_field(obj, "logName"),
        message,
        stack_trace,
        http,
        labels,
        request: json_payload.and_then(request_of),
        response_status: json_payload.and_then(response_status_of),
        deploy: proto_payload.and_then(|payload| deploy_of(payload, resource_labels)),
    })
}

/// The deploy an audit log entry records: Cloud Run's `Services.ReplaceService`,
/// `Services.CreateService` or `Revisions.CreateRevision` that did not fail. The revision is
/// the one the response says was created (or the entry's own), the commit a `commit-sha`
/// label anywhere in the request or response.
fn deploy_of(payload: &Map<String, Value>, resource: &Map<String, Value>) -> Option<Deploy> {
    let method = payload.get("methodName").and_then(Value::as_str)?;
    if ![
        "Services.ReplaceService",
        "Services.CreateService",
        "Revisions.CreateRevision",
    ]
    .iter()
    .any(|m| method.ends_with(m))
        || payload
            .get("status")
            .and_then(|s| s.get("code"))
            .and_then(Value::as_i64)
            .is_some_and(|c| c != 0)
    {
        return None;
    }
    let revision = payload
        .get("response")
        .and_then(|r| r.get("status"))
        .and_then(|s| s.get("latestCreatedRevisionName"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| str_field(resource, "revisionName"))
        .filter(|r| !r.is_empty());
    let principal = payload
        .get("authenticationInfo")
        .and_then(|a| a.get("principalEmail"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut commits = std::collections::BTreeMap::new();
    for part in ["request", "response"]
        .iter()
        .filter_map(|k| payload.get(*k))
    {
        commit_candidates(part, 8, &mut commits);
    }
    Some(Deploy {
        revision,
        principal,
        commit: commits.get(DEFAULT_COMMIT_KEY).cloned(),
        commits,
    })
}

/// Where a deploy names its commit unless the configuration says otherwise: the label Cloud
/// Build sets.
pub const DEFAULT_COMMIT_KEY: &str = "label:commit-sha";

/// Whether a value looks like a commit: 7 to 40 hexadecimal digits.
fn is_commit(value: &str) -> bool {
    (7..=40).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The labels (`label:NAME`) and container environment variables (`env:NAME`) of a deploy,
/// a few levels down, whose values look like commits.
fn commit_candidates(
    value: &Value,
    depth: usize,
    out: &mut std::collections::BTreeMap<String, String>,
) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(labels)) = map.get("labels") {
                for (k, v) in labels {
                    if let Some(v) = v.as_str().filter(|v| is_commit(v)) {
                        out.entry(format!("label:{k}"))
                            .or_insert_with(|| v.to_string());
                    }
                }
            }
            if let Some(Value::Array(env)) = map.get("env") {
                for var in env {
                    if let (Some(k), Some(v)) = (
                        var.get("name").and_then(Value::as_str),
                        var.get("value").and_then(Value::as_str),
                    ) && is_commit(v)
                    {
                        out.entry(format!("env:{k}"))
                            .or_insert_with(|| v.to_string());
                    }
                }
            }
            if depth > 0 {
                for v in map.values() {
                    commit_candidates(v, depth - 1, out);
                }
            }
        }
        Value::Array(items) if depth > 0 => {
            for v in items.iter().take(16) {
                commit_candidates(v, depth - 1, out);
            }
        }
        _ => {}
    }
}

/// The request a structured line names: tracing's `span`, pino-http's `req`, Serilog's
/// `RequestMethod`/`RequestPath`, ECS's `http.request.method` with `url.path`, or a plain
/// `method` with `path`, `url` or `uri`. The query is left off.
fn request_of(payload: &Map<String, Value>) -> Option<String> {
    fn text(v: Option<&Value>) -> Option<&str> {
        v.and_then(Value::as_str).filter(|s| !s.is_empty())
    }
    let pair = |m: &Map<String, Value>| {
        let method =
            text(get_field(m, "method")).or_else(|| text(get_field(m, "RequestMethod")))?;
        let target = ["uri", "url", "path", "RequestPath", "originalUrl"]
            .iter()
            .find_map(|k| text(get_field(m, k)))?;
        Some((method.to_string(), target.to_string()))
    };
    let ecs = || {
        let method = text(payload.get("http")?.get("request")?.get("method"))?;
        let path = text(payload.get("url")?.get("path"))?;
        Some((method.to_string(), path.to_string()))
    };
    let (method, target) = ["span", "req", "request"]
        .iter()
        .filter_map(|k| payload.get(*k).and_then(Value::as_object))
        .chain(std::iter::once(payload))
        .find_map(pair)
        .or_else(ecs)?;
    if !method.bytes().all(|b| b.is_ascii_alphabetic()) || method.len() > 10 {
        return None;
    }
    // A full URL names its path after the host.
    let path = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target.as_str(),
    };
    let path = path.split(['?', '#']).next().unwrap_or(path);
    path.starts_with('/')
        .then(|| format!("{} {path}", method.to_ascii_uppercase()))
}

/// The status a structured line reports for its request's response: pino-http's
/// `res.statusCode`, Serilog's `StatusCode`, ECS's `http.response.status_code`, a plain
/// `status`, or tower-http's `classification` (`Status code: 500 Internal Server Error`).
fn response_status_of(payload: &Map<String, Value>) -> Option<u16> {
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    let code = |m: &Map<String, Value>| {
        ["status", "statusCode", "status_code", "StatusCode"]
            .iter()
            .find_map(|k| m.get(*k).and_then(number))
            .or_else(|| {
                let c = m.get("classification")?.as_str()?;
                c.strip_prefix("Status code: ")?.get(..3)?.parse().ok()
            })
    };
    let ecs = || number(payload.get("http")?.get("response")?.get("status_code")?);
    event_maps(payload)
        .chain(payload.get("res").and_then(Value::as_object))
        .find_map(code)
        .or_else(ecs)
        .filter(|n| (100..600).contains(n))
        .map(|n| n as u16)
}

/// Whether a JSON object has the shape of a `LogEntry` (one of its payloads), rather than
/// being an application's own JSON log line printed as text.
pub fn has_log_entry_shape(value: &Value) -> bool {
    value.as_object().is_some_and(|obj| {
        ["textPayload", "jsonPayload", "protoPayload", "httpRequest"]
            .iter()
            .any(|name| field(obj, name).is_some())
    })
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cloud_run_fields_land_in_the_model() {
        let e = entry_from_json(&json!({
            "textPayload": "Container called exit(1).",
            "timestamp": "2025-09-15T21:48:03.123456789Z",
            "severity": "WARNING",
            "resource": {"type": "cloud_run_revision", "labels": {
                "service_name": "netra-backend", "revision_name": "netra-backend-00087-kt2"}},
            "labels": {"instanceId": "00f4a9"},
            "logName": "projects/p/logs/run.googleapis.com%2Fvarlog%2Fsystem",
            "trace": "projects/p/traces/abc"
        }))
        .unwrap();
        assert_eq!(e.severity, Severity::Warning);
        assert_eq!(e.service.as_deref(), Some("netra-backend"));
        assert_eq!(e.revision.as_deref(), Some("netra-backend-00087-kt2"));
        assert_eq!(e.instance.as_deref(), Some("00f4a9"));
        assert_eq!(e.trace.as_deref(), Some("projects/p/traces/abc"));
        assert_eq!(e.timestamp.unwrap().timestamp_subsec_nanos(), 123_456_789);
    }

    #[test]
    fn payload_kinds_and_numeric_severity() {
        let json_payload = entry_from_json(&json!({
            "jsonPayload": {"message": "boom", "stack_trace": "Traceback (most recent call last):"},
            "severity": 500
        }))
        .unwrap();
        assert_eq!(json_payload.message, "boom");
        assert_eq!(json_payload.severity, Severity::Error);
        assert!(json_payload.stack_trace.is_some());

        // A logger's own level field, when the entry has no severity: capped at ERROR.
        for (payload, level) in [
            (
                json!({"message": "SQLSTATE[HY000] [2002] Connection refused", "level": 400, "level_name": "ERROR"}),
                Severity::Error,
            ),
            (
                json!({"msg": "request failed", "level": 50}),
                Severity::Error,
            ),
            (json!({"msg": "slow", "level": "warn"}), Severity::Warning),
            (json!({"msg": "gone", "level": 60}), Severity::Error),
            (json!({"msg": "what", "level": 400}), Severity::Default),
        ] {
            let e = entry_from_json(&json!({"jsonPayload": payload})).unwrap();
            assert_eq!(e.severity, level, "{payload}");
        }

        // Monolog's JSON: the exception chain in the context, read as its line format.
        let monolog = entry_from_json(&json!({"jsonPayload": {
            "message": "SQLSTATE[HY000] [2002] Connection refused (Connection: mysql, SQL: select 1)",
            "context": {"exception": {
                "class": "Illuminate\\Database\\QueryException", "code": 2002,
                "message": "SQLSTATE[HY000] [2002] Connection refused (Connection: mysql, SQL: select 1)",
                "file": "/var/www/html/vendor/laravel/framework/src/Illuminate/Database/Connection.php:825",
                "previous": {"class": "PDOException", "code": 2002,
                    "message": "SQLSTATE[HY000] [2002] Connection refused",
                    "file": "/var/www/html/vendor/laravel/framework/src/Illuminate/Database/Connectors/Connector.php:66"}}},
            "level_name": "ERROR"}}))
        .unwrap();
        let trace = monolog.stack_trace.expect("the exception chain");
        assert!(
            trace.starts_with(
                "[object] (Illuminate\\Database\\QueryException(code: 2002): SQLSTATE"
            ),
            "{trace}"
        );
        assert!(trace.contains("\n[previous exception] [object] (PDOException(code: 2002): SQLSTATE[HY000] [2002] Connection refused at /var/www/html/vendor/laravel/framework/src/Illuminate/Database/Connectors/Connector.php:66)"), "{trace}");

        let no_message = entry_from_json(&json!({"jsonPayload": {"user": "x", "n": 1}})).unwrap();
        assert!(no_message.message.contains("\"user\""));

        let audit = entry_from_json(&json!({"protoPayload": {
            "methodName": "google.cloud.run.v1.Services.ReplaceService",
            "status": {"message": "Ready condition status changed to False"}}}))
        .unwrap();
        assert_eq!(audit.message, "Ready condition status changed to False");

        // A deploy names its commit in a label or a container's environment.
        let deploy = entry_from_json(&json!({"protoPayload": {
            "methodName": "google.cloud.run.v1.Services.ReplaceService",
            "request": {"service": {
                "metadata": {"labels": {"commit-sha": "2222222bbbb", "team": "payments"}},
                "spec": {"template": {"spec": {"containers": [{"env": [
                    {"name": "GIT_COMMIT", "value": "3333333cccc"},
                    {"name": "DATABASE_URL", "value": "postgres://x"}]}]}}}}}}}))
        .unwrap()
        .deploy
        .unwrap();
        assert_eq!(deploy.commit.as_deref(), Some("2222222bbbb"));
        assert_eq!(
            deploy.commits.keys().collect::<Vec<_>>(),
            ["env:GIT_COMMIT", "label:commit-sha"]
        );

        let request = entry_from_json(&json!({"httpRequest": {
            "requestMethod": "GET", "requestUrl": "https://x.a.run.app/health?x=1",
            "status": 503, "latency": "0.25s"}}))
        .unwrap();
        assert_eq!(request.message, "GET /health 503");
        assert_eq!(request.http.unwrap().latency_ms, Some(250.0));
    }

    #[test]
    fn bad_fields_are_named() {
        let err =
            entry_from_json(&json!({"textPayload": "x", "timestamp": "yesterday"})).unwrap_err();
        assert!(err.contains("timestamp"), "{err}");
        let err = entry_from_json(&json!({"severity": "ERROR"})).unwrap_err();
        assert!(err.contains("no textPayload"), "{err}");
        let err = entry_from_json(&json!([1, 2])).unwrap_err();
        assert!(err.contains("an array"), "{err}");
    }

    #[test]
    fn a_timestamp_that_is_not_one_is_malformed_and_named() {
        for (timestamp, named) in [
            (json!({"seconds": "x"}), "timestamp.seconds"),
            (json!({"seconds": 1.5}), "timestamp.seconds"),
            (json!({}), "timestamp"),
            (json!({"nanos": 5}), "timestamp"),
            (
                json!({"seconds": 1757972883, "nanos": -1}),
                "timestamp.nanos",
            ),
            (
                json!({"seconds": 1757972883, "nanos": 1_000_000_000}),
                "timestamp.nanos",
            ),
            (json!({"seconds": i64::MAX}), "out of range"),
            (json!(""), "timestamp"),
            (json!(1757972883), "timestamp"),
        ] {
            let err = entry_from_json(&json!({"textPayload": "x", "timestamp": timestamp}))
                .expect_err(&timestamp.to_string());
            assert!(err.contains(named), "{timestamp}: {err}");
        }
        let err =
            entry_from_json(&json!({"textPayload": "x", "receiveTimestamp": "soon"})).unwrap_err();
        assert!(err.starts_with("receiveTimestamp"), "{err}");
    }

    #[test]
    fn timestamps_in_both_forms_and_the_fallbacks() {
        let at = |entry: Value| entry_from_json(&entry).unwrap().timestamp;
        let expected = DateTime::parse_from_rfc3339("2025-09-15T21:48:03.5Z").unwrap();
        assert_eq!(
            at(
                json!({"textPayload": "x", "timestamp": {"seconds": "1757972883", "nanos": 500_000_000}})
            ),
            Some(expected.with_timezone(&Utc))
        );
        assert_eq!(
            at(json!({"textPayload": "x", "timestamp": {"seconds": 1757972883}})),
            Some(expected.with_timezone(&Utc) - chrono::Duration::milliseconds(500))
        );
        // No timestamp (or a null one): when Cloud Logging received it; else no time at all.
        for entry in [
            json!({"textPayload": "x", "receiveTimestamp": "2025-09-15T21:48:03.5Z"}),
            json!({"textPayload": "x", "timestamp": null, "receive_timestamp": "2025-09-15T21:48:03.5Z"}),
        ] {
            assert_eq!(at(entry), Some(expected.with_timezone(&Utc)));
        }
        assert_eq!(at(json!({"textPayload": "x"})), None);
        // The ends of the range are times: the window, not the reader, sets them aside.
        assert!(at(json!({"textPayload": "x", "timestamp": "0001-01-01T00:00:00Z"})).is_some());
        assert!(at(json!({"textPayload": "x", "timestamp": "9999-12-31T23:59:59Z"})).is_some());
    }

    #[test]
    fn log_entry_shape() {
        assert!(has_log_entry_shape(&json!({"textPayload": "x"})));
        assert!(has_log_entry_shape(&json!({"json_payload": {}})));
        assert!(!has_log_entry_shape(
            &json!({"level": "error", "msg": "boom"})
        ));
        assert!(!has_log_entry_shape(&json!([{"textPayload": "x"}])));
    }

    fn payload(p: Value) -> LogEntry {
        entry_from_json(&json!({"jsonPayload": p, "timestamp": "2025-07-08T10:14:33Z"})).unwrap()
    }

    #[test]
    fn serilog_tracing_and_ecs_lines_give_their_message_level_and_stack() {
        // Serilog's compact JSON: the template filled in, `@l` (absent for Information), `@x`.
        let e = payload(json!({
            "@t": "2025-07-08T10:14:33Z", "@mt": "HTTP {RequestMethod} {RequestPath} responded {StatusCode} in {Elapsed:0.0000} ms {{ok}}",
            "@l": "Error", "@x": "System.Net.Http.HttpRequestException: Connection refused (fx.internal:443)",
            "RequestMethod": "GET", "RequestPath": "/api/quotes/7/price", "StatusCode": 500, "Elapsed": 8.5,
        }));
        assert_eq!(
            e.message,
            "HTTP GET /api/quotes/7/price responded 500 in 8.5 ms {ok}"
        );
        assert_eq!(e.severity, Severity::Error);
        assert!(e.stack_trace.unwrap().contains("HttpRequestException"));
        assert_eq!(e.request.as_deref(), Some("GET /api/quotes/7/price"));
        assert_eq!(e.response_status, Some(500));
        assert_eq!(
            payload(json!({"@mt": "Relayed {Count} messages", "Count": 2})).severity,
            Severity::Info
        );
        // tracing-subscriber's JSON: the event's own fields nested, its span naming the request.
        let e = payload(json!({
            "level": "WARN", "target": "orders_api::db",
            "fields": {"message": "connect to db.internal:5432 failed", "error": "Connection refused (os error 111)"},
            "span": {"method": "GET", "uri": "/api/orders/7?full=1", "name": "request"},
        }));
        assert_eq!(
            e.message,
            "connect to db.internal:5432 failed: Connection refused (os error 111)"
        );
        assert_eq!(e.severity, Severity::Warning);
        assert_eq!(e.request.as_deref(), Some("GET /api/orders/7"));
        assert_eq!(e.response_status, None);
        let failed = payload(json!({
            "level": "ERROR", "fields": {"message": "response failed", "classification": "Status code: 500 Internal Server Error"},
            "span": {"method": "POST", "uri": "https://api.example.com/api/orders"},
        }));
        assert_eq!(
            (failed.response_status, failed.request.as_deref()),
            (Some(500), Some("POST /api/orders"))
        );
        // pino's `err.type` names the class a stack's first line leaves out.
        let e = payload(json!({
            "level": 50, "msg": "sorry, too many clients already",
            "err": {"type": "DatabaseError", "message": "sorry, too many clients already",
                    "stack": "error: sorry, too many clients already\n    at /app/node_modules/pg-pool/index.js:45:11"},
        }));
        assert_eq!(
            e.stack_trace.as_deref(),
            Some(
                "DatabaseError: sorry, too many clients already\n    at /app/node_modules/pg-pool/index.js:45:11"
            )
        );
        // A stack that names its error keeps that name over the class in `type`.
        let e = payload(json!({
            "level": 50, "msg": "avatar upload failed",
            "err": {"type": "S3ServiceException", "name": "SignatureDoesNotMatch",
                    "message": "The request signature we calculated does not match",
                    "stack": "SignatureDoesNotMatch: The request signature we calculated does not match\n    at de_CommandError (/app/node_modules/@aws-sdk/client-s3/dist-cjs/index.js:4970:14)"},
        }));
        assert!(
            e.stack_trace
                .as_deref()
                .is_some_and(|s| s.starts_with("SignatureDoesNotMatch: ")),
            "{:?}",
            e.stack_trace
        );
        // tracing-actix-web: the error's display on the request's span, in OpenTelemetry's name.
        let e = payload(json!({
            "level": "ERROR",
            "fields": {"message": "Error encountered while processing the incoming HTTP request: Database(PoolTimedOut)"},
            "span": {"exception.message": "database unavailable: pool timed out", "http.method": "POST"},
        }));
        assert_eq!(
            e.message,
            "Error encountered while processing the incoming HTTP request: Database(PoolTimedOut): database unavailable: pool timed out"
        );
        // pino-http: `req`, `res.statusCode`, the error's stack; ECS: nested level and stack.
        let e = payload(json!({
            "level": 50, "msg": "request errored", "req": {"method": "GET", "url": "/v1/reports/aging?as_of=2025-10-02"},
            "res": {"statusCode": 503}, "err": {"message": "failed with status code 503", "stack": "Error: failed with status code 503"},
        }));
        assert_eq!(
            (e.request.as_deref(), e.response_status),
            (Some("GET /v1/reports/aging"), Some(503))
        );
        assert_eq!(e.message, "request errored: failed with status code 503");
        let e = payload(json!({
            "message": "boom", "log": {"level": "error"}, "error": {"message": "x", "stack_trace": "java.lang.IllegalStateException: x"},
            "http": {"request": {"method": "put"}, "response": {"status_code": 502}}, "url": {"path": "/a/b"},
        }));
        assert_eq!(e.severity, Severity::Error);
        assert_eq!(
            e.stack_trace.as_deref(),
            Some("java.lang.IllegalStateException: x")
        );
        assert_eq!(
            (e.request.as_deref(), e.response_status),
            (Some("PUT /a/b"), Some(502))
        );
        // What is not a request or a status is none.
        let e = payload(json!({"msg": "x", "method": "GET /x", "url": "/x", "status": "ok"}));
        assert_eq!((e.request, e.response_status), (None, None));
        // An explicit DEFAULT severity still reads the logger's own level.
        let e = entry_from_json(
            &json!({"severity": "DEFAULT", "jsonPayload": {"msg": "x", "level": "error"}}),
        )
        .unwrap();
        assert_eq!(e.severity, Severity::Error);
    }
}
