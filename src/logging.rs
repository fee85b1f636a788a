//! The process's own logs: `LOG_FORMAT=json` writes Cloud Logging's structured form (`severity`,
//! `message`, `time`, fields; tracing-subscriber's JSON says `level`, which Cloud Logging does
//! not read), `pretty` writes text for a terminal. Everything is redacted on the way out.

use crate::analyze::redact::Redactor;
use serde_json::{Map, Value};
use std::fmt;
use std::io::IsTerminal;
use std::sync::LazyLock;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

static REDACTOR: LazyLock<Redactor> = LazyLock::new(Redactor::default);

/// The field Cloud Logging reads a log line's trace from.
pub const TRACE_KEY: &str = "logging.googleapis.com/trace";

/// The trace of a request from Cloud Run's `X-Cloud-Trace-Context: TRACE/SPAN;o=1`, as
/// Cloud Logging names it (`projects/P/traces/TRACE` when `GOOGLE_CLOUD_PROJECT` is set).
pub fn trace_of(header: &str) -> Option<String> {
    let id = header.split('/').next()?.trim();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(match std::env::var("GOOGLE_CLOUD_PROJECT") {
        Ok(project) if !project.is_empty() => format!("projects/{project}/traces/{id}"),
        _ => id.to_string(),
    })
}

/// Cloud Logging's severity of a tracing level.
pub fn severity(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG | Level::TRACE => "DEBUG",
    }
}

#[derive(Default)]
struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(
            field.name().to_string(),
            Value::String(format!("{value:?}")),
        );
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_string(), Value::String(value.to_string()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
}

/// One JSON object a line, as Cloud Logging's agent parses structured logs.
pub struct CloudLoggingJson;

impl<S, N> FormatEvent<S, N> for CloudLoggingJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let line = json_line(
            event,
            ctx.event_scope().into_iter().flatten().map(|s| s.name()),
        );
        writeln!(writer, "{line}")
    }
}

fn json_line<'a>(event: &Event<'_>, spans: impl Iterator<Item = &'a str>) -> String {
    let mut fields = Fields::default();
    event.record(&mut fields);
    let mut object = Map::new();
    object.insert(
        "severity".into(),
        Value::from(severity(event.metadata().level())),
    );
    let message = fields
        .0
        .remove("message")
        .and_then(|m| m.as_str().map(str::to_string))
        .unwrap_or_default();
    object.insert(
        "message".into(),
        Value::from(REDACTOR.redact(&message).into_owned()),
    );
    object.insert(
        "time".into(),
        Value::from(crate::model::rfc3339(&chrono::Utc::now())),
    );
    object.insert("target".into(), Value::from(event.metadata().target()));
    let spans: Vec<&str> = spans.collect();
    if !spans.is_empty() {
        object.insert("spans".into(), Value::from(spans.join(":")));
    }
    for (k, v) in fields.0 {
        let v = match v {
            Value::String(s) => Value::String(REDACTOR.redact(&s).into_owned()),
            other => other,
        };
        // Cloud Logging groups a request's lines by this key.
        let k = if k == "trace" {
            TRACE_KEY.to_string()
        } else {
            k
        };
        object.insert(k, v);
    }
    Value::Object(object).to_string()
}

/// Installs the process's logger on stderr: `LOG_FORMAT` (`json` or `pretty`; default
/// `pretty` on a terminal, else `json`), level from `LOG_LEVEL` (default `info`).
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOG_LEVEL")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = match std::env::var("LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("pretty") => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let _ = tracing::subscriber::set_global_default(subscriber(json, filter, std::io::stderr));
}

/// The process's logger writing to `writer`: Cloud Logging's JSON or redacted text.
pub fn subscriber<W>(
    json: bool,
    filter: tracing_subscriber::EnvFilter,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        Box::new(
            builder
                .with_writer(writer)
                .event_format(CloudLoggingJson)
                .finish(),
        )
    } else {
        Box::new(
            builder
                .with_writer(Redacted(writer))
                .with_ansi(false)
                .finish(),
        )
    }
}

/// A writer for text logs that masks secrets in each formatted line before it is written
/// (the formatter hands over one event per write).
#[derive(Clone, Copy)]
pub struct Redacted<M>(pub M);

impl<'a, M: tracing_subscriber::fmt::MakeWriter<'a>> tracing_subscriber::fmt::MakeWriter<'a>
    for Redacted<M>
{
    type Writer = Redacted<M::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        Redacted(self.0.make_writer())
    }
}

impl<W: std::io::Write> std::io::Write for Redacted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(REDACTOR.redact(&text).as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    /// The JSON line an event makes.
    fn line_of(event: impl FnOnce()) -> (String, Value) {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(buffer.clone())
            .event_format(CloudLoggingJson)
            .finish();
        tracing::subscriber::with_default(subscriber, event);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line = serde_json::from_str(text.trim()).unwrap();
        (text, line)
    }

    #[test]
    fn json_lines_carry_severity_and_no_secrets() {
        let (text, line) = line_of(|| {
            tracing::warn!(
                repo = "acme/api",
                token = "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
                "rate limited with Bearer abcdefghijklmnop"
            );
        });
        assert_eq!(line["severity"], "WARNING");
        assert!(line.get("level").is_none());
        assert_eq!(line["repo"], "acme/api");
        assert!(!text.contains("ghp_aBcDeF"), "{text}");
        assert!(!text.contains("abcdefghijklmnop"), "{text}");
        assert!(
            line["message"]
                .as_str()
                .unwrap()
                .starts_with("rate limited")
        );
    }

    #[test]
    fn text_logs_carry_no_secrets_either() {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(Redacted(buffer.clone()))
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(
                url = "postgres://app:hunter2-secret@db:5432/app",
                "GitHub said 401 for ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"
            );
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("GitHub said 401"), "{text}");
        assert!(!text.contains("ghp_aBcDeF"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn a_trace_field_becomes_cloud_loggings_trace() {
        let (_, line) = line_of(|| tracing::info!(trace = "abc123", "webhook accepted"));
        assert_eq!(line[TRACE_KEY], "abc123");
        assert!(trace_of("0123abcd/456;o=1").unwrap().ends_with("0123abcd"));
        assert_eq!(trace_of("not a trace"), None);
    }
}
