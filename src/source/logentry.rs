//! Cloud Logging's `LogEntry` JSON (camelCase as gcloud and sinks write it, snake_case as
//! BigQuery exports it) turned into the one entry model.

use crate::model::{HttpRequest, LogEntry, Severity};
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

/// A timestamp as RFC 3339 text or as `{seconds, nanos}`.
fn parse_timestamp(value: &Value) -> Result<DateTime<Utc>, String> {
    match value {
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| format!("timestamp {s:?} is not RFC 3339 ({e})")),
        Value::Object(o) => {
            let seconds = o.get("seconds").and_then(value_as_i64).unwrap_or(0);
            let nanos = o.get("nanos").and_then(value_as_i64).unwrap_or(0);
            DateTime::from_timestamp(seconds, u32::try_from(nanos).unwrap_or(0))
                .ok_or_else(|| format!("timestamp {seconds}s is out of range"))
        }
        other => Err(format!(
            "timestamp {other} is neither text nor {{seconds, nanos}}"
        )),
    }
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

/// The message of a `jsonPayload`: its `message` (or a usual alias), else the payload itself;
/// with the error a structured logger put beside it (zap's `error`, pino's `err`), as their
/// console encoders print it.
fn json_payload_message(payload: &Map<String, Value>) -> String {
    let error = ["error", "err"].iter().find_map(|k| match payload.get(*k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Object(o)) => o.get("message").and_then(Value::as_str).map(str::to_string),
        _ => None,
    });
    for key in ["message", "msg", "textPayload", "event"] {
        match payload.get(key) {
            Some(Value::String(s)) if !s.is_empty() => {
                return match &error {
                    Some(e) if !s.contains(e.as_str()) => format!("{s}: {e}"),
                    _ => s.clone(),
                };
            }
            _ => {}
        }
    }
    if let Some(e) = error {
        return e;
    }
    Value::Object(payload.clone()).to_string()
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
    ] {
        if let Some(Value::String(s)) = payload.get(key)
            && !s.trim().is_empty()
        {
            return Some(s.clone());
        }
    }
    match payload.get("error").or_else(|| payload.get("err")) {
        Some(Value::Object(err)) => err.get("stack").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
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

    let mut stack_trace = None;
    let message = if let Some(Value::String(text)) = field(obj, "textPayload") {
        text.clone()
    } else if let Some(Value::Object(payload)) = field(obj, "jsonPayload") {
        stack_trace = json_payload_stack_trace(payload);
        json_payload_message(payload)
    } else if let Some(Value::Object(payload)) = field(obj, "protoPayload") {
        proto_payload_message(payload)
    } else if let Some(h) = &http {
        // Cloud Run request logs carry no payload when the request went through.
        h.summary()
    } else {
        return Err("entry has no textPayload, jsonPayload, protoPayload or httpRequest".into());
    };

    let timestamp = match field(obj, "timestamp").or_else(|| field(obj, "receiveTimestamp")) {
        Some(v) => Some(parse_timestamp(v)?),
        None => None,
    };
    let severity = match field(obj, "severity") {
        Some(v) => parse_severity(v)?,
        None => Severity::Default,
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

        let no_message = entry_from_json(&json!({"jsonPayload": {"user": "x", "n": 1}})).unwrap();
        assert!(no_message.message.contains("\"user\""));

        let audit = entry_from_json(&json!({"protoPayload": {
            "methodName": "google.cloud.run.v1.Services.ReplaceService",
            "status": {"message": "Ready condition status changed to False"}}}))
        .unwrap();
        assert_eq!(audit.message, "Ready condition status changed to False");

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
}
