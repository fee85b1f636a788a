//! The one model of a log entry, whatever its source, with severities and time windows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Cloud Logging's `LogSeverity`, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Default,
    Debug,
    Info,
    Notice,
    Warning,
    Error,
    Critical,
    Alert,
    Emergency,
}

impl Severity {
    /// The name Cloud Logging uses (`ERROR`, `WARNING`, …).
    pub fn name(self) -> &'static str {
        match self {
            Severity::Default => "DEFAULT",
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Notice => "NOTICE",
            Severity::Warning => "WARNING",
            Severity::Error => "ERROR",
            Severity::Critical => "CRITICAL",
            Severity::Alert => "ALERT",
            Severity::Emergency => "EMERGENCY",
        }
    }

    /// Cloud Logging's numeric severity (0, 100, …, 800); other numbers round down.
    pub fn from_number(n: i64) -> Severity {
        match n {
            i64::MIN..=99 => Severity::Default,
            100..=199 => Severity::Debug,
            200..=299 => Severity::Info,
            300..=399 => Severity::Notice,
            400..=499 => Severity::Warning,
            500..=599 => Severity::Error,
            600..=699 => Severity::Critical,
            700..=799 => Severity::Alert,
            _ => Severity::Emergency,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Severity {
    type Err = String;

    /// Accepts Cloud Logging's names and the usual aliases of logging libraries.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        Ok(match upper.as_str() {
            "DEFAULT" => Severity::Default,
            "DEBUG" | "TRACE" | "VERBOSE" | "FINE" | "FINER" | "FINEST" => Severity::Debug,
            "INFO" | "INFORMATION" => Severity::Info,
            "NOTICE" => Severity::Notice,
            "WARNING" | "WARN" => Severity::Warning,
            "ERROR" | "ERR" | "SEVERE" | "DPANIC" => Severity::Error,
            "CRITICAL" | "FATAL" | "CRIT" => Severity::Critical,
            "ALERT" => Severity::Alert,
            "EMERGENCY" | "EMERG" | "PANIC" => Severity::Emergency,
            other => match other.parse::<i64>() {
                Ok(n) => Severity::from_number(n),
                Err(_) => return Err(format!("unknown severity {s:?}")),
            },
        })
    }
}

/// An HTTP request attached to an entry (Cloud Run request logs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpRequest {
    pub method: Option<String>,
    pub url: Option<String>,
    pub status: Option<u16>,
    pub latency_ms: Option<f64>,
}

impl HttpRequest {
    /// The path of the URL, without scheme, host and query.
    pub fn path(&self) -> &str {
        let url = self.url.as_deref().unwrap_or("");
        let rest = match url.split_once("://") {
            Some((_, r)) => r.find('/').map_or("/", |i| &r[i..]),
            None => url,
        };
        rest.split(['?', '#']).next().unwrap_or(rest)
    }

    /// `GET /health 503`: the message of a request log that has no payload.
    pub fn summary(&self) -> String {
        let status = self.status.map(|s| s.to_string()).unwrap_or_default();
        format!(
            "{} {} {}",
            self.method.as_deref().unwrap_or("-"),
            self.path(),
            status
        )
    }
}

/// One log entry, normalised from any source.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Nanosecond precision; `None` when the source had no usable timestamp.
    pub timestamp: Option<DateTime<Utc>>,
    pub severity: Severity,
    pub service: Option<String>,
    pub revision: Option<String>,
    pub instance: Option<String>,
    pub trace: Option<String>,
    /// The stream the line came from (Cloud Logging's `logName`), used to join split tracebacks.
    pub log_name: Option<String>,
    pub message: String,
    /// A stack trace carried beside the message (`jsonPayload.stack_trace` and the like).
    pub stack_trace: Option<String>,
    pub http: Option<HttpRequest>,
    pub labels: BTreeMap<String, String>,
    /// The request an application's line was written in, as its logger names it
    /// (`GET /orders/7`, query left off): how lines without a trace find their request log.
    pub request: Option<String>,
    /// The status an application's line reports for its request (an access-log line of the
    /// framework, `res.statusCode`, `StatusCode`).
    pub response_status: Option<u16>,
    /// A Cloud Audit Log entry of a deploy (`ReplaceService`, `CreateService`,
    /// `CreateRevision`): what it made, by whom, from which commit.
    pub deploy: Option<Deploy>,
}

/// A deploy, as its audit log entry tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Deploy {
    /// The revision it created (`api-00042-xyz`).
    pub revision: Option<String>,
    /// Who deployed (`authenticationInfo.principalEmail`).
    pub principal: Option<String>,
    /// The commit the revision was built from (the `commit-sha` label Cloud Build sets, or
    /// the label or environment variable the configuration names).
    pub commit: Option<String>,
    /// What could name its commit: every label (`label:NAME`) and container environment
    /// variable (`env:NAME`) of the deploy whose value looks like a commit.
    pub commits: std::collections::BTreeMap<String, String>,
}

impl LogEntry {
    /// An entry with only a message; the rest is filled in by the source.
    pub fn new(message: impl Into<String>) -> Self {
        LogEntry {
            timestamp: None,
            severity: Severity::Default,
            service: None,
            revision: None,
            instance: None,
            trace: None,
            log_name: None,
            message: message.into(),
            stack_trace: None,
            http: None,
            labels: BTreeMap::new(),
            request: None,
            response_status: None,
            deploy: None,
        }
    }

    /// The message and the separate stack trace, as one text.
    pub fn full_text(&self) -> String {
        match &self.stack_trace {
            Some(trace) if !self.message.contains(trace.as_str()) => {
                format!("{}\n{}", self.message, trace)
            }
            _ => self.message.clone(),
        }
    }
}

/// A half-open time window `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    #[serde(serialize_with = "ser_rfc3339")]
    pub start: DateTime<Utc>,
    #[serde(serialize_with = "ser_rfc3339")]
    pub end: DateTime<Utc>,
}

impl Window {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }

    pub fn duration(&self) -> chrono::Duration {
        self.end - self.start
    }
}

/// GitHub's REST API, unless `GITHUB_API_URL` says otherwise (GitHub Enterprise).
pub const GITHUB_API_URL: &str = "https://api.github.com";

/// RFC 3339 in UTC with a `Z`, seconds precision unless sub-second parts exist.
pub fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn ser_rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(t))
}

/// The longest duration accepted from outside: a hundred years, so that `now ± d` can never
/// leave chrono's range and panic a worker.
fn max_duration() -> chrono::Duration {
    chrono::Duration::days(36_500)
}

/// Parses durations such as `30s`, `15m`, `1h`, `7d`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<chrono::Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = chrono::Duration::zero();
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits
            .parse()
            .map_err(|_| format!("bad duration {text:?}: a number must come before {c:?}"))?;
        digits.clear();
        let unit = match c {
            's' => chrono::Duration::try_seconds(n),
            'm' => chrono::Duration::try_minutes(n),
            'h' => chrono::Duration::try_hours(n),
            'd' => chrono::Duration::try_days(n),
            'w' => chrono::Duration::try_weeks(n),
            _ => {
                return Err(format!(
                    "bad duration {text:?}: unknown unit {c:?} (use s, m, h, d or w)"
                ));
            }
        };
        let unit = unit.ok_or_else(|| format!("duration {text:?} is too large"))?;
        total = total
            .checked_add(&unit)
            .filter(|t| *t <= max_duration())
            .ok_or_else(|| format!("duration {text:?} is too large (at most 36500d)"))?;
    }
    if !digits.is_empty() {
        return Err(format!(
            "bad duration {text:?}: the number {digits} needs a unit (s, m, h, d or w)"
        ));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_parse_from_names_aliases_and_numbers() {
        assert_eq!("warn".parse::<Severity>(), Ok(Severity::Warning));
        assert_eq!("ERROR".parse::<Severity>(), Ok(Severity::Error));
        assert_eq!("500".parse::<Severity>(), Ok(Severity::Error));
        assert_eq!("fatal".parse::<Severity>(), Ok(Severity::Critical));
        assert!("loud".parse::<Severity>().is_err());
        assert_eq!(Severity::from_number(300), Severity::Notice);
        assert!(Severity::Warning < Severity::Error);
    }

    #[test]
    fn durations_parse_and_name_their_problem() {
        assert_eq!(parse_duration("1h"), Ok(chrono::Duration::hours(1)));
        assert_eq!(parse_duration("1h30m"), Ok(chrono::Duration::minutes(90)));
        assert_eq!(parse_duration("7d"), Ok(chrono::Duration::days(7)));
        assert!(parse_duration("10").unwrap_err().contains("needs a unit"));
        assert!(parse_duration("3y").unwrap_err().contains("unknown unit"));
        // A hostile comment's duration is an error, never an overflow that panics.
        let huge = parse_duration("9223372036854775s9223372036854775s").unwrap_err();
        assert!(huge.contains("too large"), "{huge}");
        assert!(parse_duration("36501d").unwrap_err().contains("too large"));
        assert!(parse_duration("36500d").is_ok());
    }
}
