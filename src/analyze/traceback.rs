//! Tracebacks: joins the lines of one traceback that Cloud Run logged one entry a line, and
//! reads exception type, message and frames for Python, Java, Go, Node and Rust.

use crate::model::LogEntry;
use chrono::{DateTime, Utc};
use regex::Regex;
use std::collections::HashMap;
use std::sync::LazyLock;

/// One frame of a stack trace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Frame {
    pub file: String,
    pub function: String,
    pub line: Option<u32>,
}

/// An exception read from a traceback; for a chain, the innermost cause.
#[derive(Debug, Clone, PartialEq)]
pub struct Exception {
    /// `ModuleNotFoundError`, `java.lang.IllegalStateException`, `panic`, …
    pub kind: String,
    pub message: String,
    /// Outermost call first, as Python prints them.
    pub frames: Vec<Frame>,
    /// The exceptions this one caused, outermost last (`RuntimeError` raised while handling it).
    pub raised_while_handling: Vec<String>,
}

/// A logical event: one entry, or the lines of one traceback joined back together.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The first line's entry, with the whole text as its message.
    pub entry: LogEntry,
    pub exception: Option<Exception>,
    /// How many entries the event was made of.
    pub entries: u64,
}

static PY_FRAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^\s*File "([^"]+)", line (\d+)(?:, in (.+))?"#).unwrap());
static JAVA_FRAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s+at ([\w$.<>/]+)\(([^:)]*)(?::(\d+))?\)\s*$").unwrap());
static NODE_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s+at (?:(?:async )?(.+?) \()?([^\s()]+?):(\d+):(\d+)\)?\s*$").unwrap()
});
static GO_FILE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s+(/[^\s:]+\.go):(\d+)(?: \+0x[0-9a-f]+)?\s*$").unwrap());
static RUST_PANIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^thread '([^']*)' panicked at (?:'(.*)', )?([^\s:]+):(\d+):\d+:?\s*$").unwrap()
});
/// `Type: message` or a bare `Type`, where the type looks like an exception class.
static EXCEPTION_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:Exception in thread .+? )?((?:[A-Za-z_][\w$]*\.)*[A-Z][\w$]*(?:Error|Exception|Exit|Interrupt|Fault|Failure|Panic))(?::\s?(.*))?$",
    )
    .unwrap()
});
/// After frames, Python's last line may name any class (`ImproperlyConfigured: …`).
static PY_LAST_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)(?::\s?(.*))?$").unwrap());

const PY_START: &str = "Traceback (most recent call last):";
const CHAIN_MARKERS: [&str; 2] = [
    "The above exception was the direct cause of the following exception:",
    "During handling of the above exception, another exception occurred:",
];

/// How a single line relates to a traceback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    /// Opens a traceback (`Traceback (most recent call last):`, `panic: …`).
    Start,
    /// A frame, a chain marker, or another line that only makes sense inside a traceback.
    Continuation,
    /// `ValueError: …`: ends a Python traceback, opens a Java or Node one.
    Exception,
    Other,
}

fn line_kind(line: &str) -> LineKind {
    let trimmed = line.trim();
    if trimmed == PY_START
        || line.starts_with("panic: ")
        || line.starts_with("fatal error: ")
        || (line.starts_with("goroutine ") && line.ends_with(':'))
        || RUST_PANIC.is_match(line)
    {
        return LineKind::Start;
    }
    if (line.starts_with(' ') || line.starts_with('\t')) && !trimmed.is_empty()
        || trimmed.starts_with("Caused by:")
        || CHAIN_MARKERS.contains(&trimmed)
        || trimmed.starts_with("[signal ")
        || trimmed.starts_with("note: run with `RUST_BACKTRACE")
        || trimmed == "Require stack:"
        || trimmed.starts_with("created by ")
        || trimmed.starts_with("exit status ")
    {
        return LineKind::Continuation;
    }
    if EXCEPTION_LINE.is_match(trimmed) {
        return LineKind::Exception;
    }
    LineKind::Other
}

/// One stream of lines: service, instance and log name (stderr and stdout are apart).
type StreamKey = (Option<String>, Option<String>, Option<String>);

/// Lines of one stream that may belong to one traceback, gathered until it ends.
struct Run {
    entries: Vec<LogEntry>,
    last: Option<DateTime<Utc>>,
}

/// Lines of one traceback more than this apart are not joined.
const JOIN_GAP_MS: i64 = 2_000;
/// A run longer than this is handed on as it is, so memory stays bounded.
const MAX_RUN: usize = 2_000;

/// Joins split tracebacks, whatever the order of the file (oldest or newest first), while
/// other instances' lines interleave.
#[derive(Default)]
pub struct Joiner {
    open: HashMap<StreamKey, Run>,
    previous: Option<DateTime<Utc>>,
    ascending: u64,
    descending: u64,
    pushed: u64,
}

impl Joiner {
    pub fn new() -> Self {
        Joiner::default()
    }

    /// Takes the next entry in file order; finished events go to `emit`.
    pub fn push(&mut self, entry: LogEntry, emit: &mut impl FnMut(Event)) {
        self.pushed += 1;
        if let (Some(prev), Some(now)) = (self.previous, entry.timestamp) {
            if now > prev {
                self.ascending += 1;
            } else if now < prev {
                self.descending += 1;
            }
        }
        if entry.timestamp.is_some() {
            self.previous = entry.timestamp;
        }
        if self.pushed.is_multiple_of(512) {
            self.flush_idle(entry.timestamp, emit);
        }

        let key = (
            entry.service.clone(),
            entry.instance.clone(),
            entry.log_name.clone(),
        );
        let single_line = !entry.message.contains('\n') && entry.stack_trace.is_none();
        let kind = if !single_line {
            LineKind::Other
        } else if entry.message.trim().is_empty() && self.open.contains_key(&key) {
            // Blank lines separate the parts of a chained traceback.
            LineKind::Continuation
        } else {
            line_kind(&entry.message)
        };
        if kind == LineKind::Other {
            if let Some(run) = self.open.remove(&key) {
                self.close(run, emit);
            }
            emit(single_event(entry));
            return;
        }
        let close_first = match self.open.get(&key) {
            Some(run) => {
                run.entries.len() >= MAX_RUN
                    || match (run.last, entry.timestamp) {
                        (Some(a), Some(b)) => (b - a).num_milliseconds().abs() > JOIN_GAP_MS,
                        _ => false,
                    }
            }
            None => false,
        };
        if close_first && let Some(run) = self.open.remove(&key) {
            self.close(run, emit);
        }
        let run = self.open.entry(key).or_insert_with(|| Run {
            entries: Vec::new(),
            last: None,
        });
        run.last = entry.timestamp.or(run.last);
        run.entries.push(entry);
    }

    /// Hands on every open traceback; call at the end of the input.
    pub fn finish(&mut self, emit: &mut impl FnMut(Event)) {
        let mut runs: Vec<Run> = self.open.drain().map(|(_, r)| r).collect();
        runs.sort_by_key(|r| r.entries.first().and_then(|e| e.timestamp));
        for run in runs {
            self.close(run, emit);
        }
    }

    /// Closes runs whose stream has been quiet for a while, so memory does not grow.
    fn flush_idle(&mut self, now: Option<DateTime<Utc>>, emit: &mut impl FnMut(Event)) {
        let Some(now) = now else { return };
        let idle: Vec<_> = self
            .open
            .iter()
            .filter(|(_, run)| {
                run.last
                    .is_some_and(|t| (now - t).num_milliseconds().abs() > 5 * JOIN_GAP_MS)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in idle {
            if let Some(run) = self.open.remove(&key) {
                self.close(run, emit);
            }
        }
    }

    fn close(&self, mut run: Run, emit: &mut impl FnMut(Event)) {
        let first = run.entries.first().and_then(|e| e.timestamp);
        let last = run.entries.last().and_then(|e| e.timestamp);
        let newest_first = match (first, last) {
            (Some(a), Some(b)) if a != b => a > b,
            _ => self.descending > self.ascending,
        };
        if newest_first {
            run.entries.reverse();
        }
        for segment in split_events(&run.entries) {
            emit(join(segment));
        }
    }
}

/// Splits joined lines where one traceback ends and the next begins.
fn split_events(entries: &[LogEntry]) -> Vec<&[LogEntry]> {
    let mut segments = Vec::new();
    let mut start = 0;
    let mut python = false;
    let mut ended = false;
    let mut chained = false;
    for (i, e) in entries.iter().enumerate() {
        let text = e.message.trim();
        let kind = line_kind(&e.message);
        let opens = match kind {
            LineKind::Start => !chained && i > start,
            LineKind::Exception => ended && !chained,
            _ => false,
        };
        if opens {
            segments.push(&entries[start..i]);
            start = i;
            python = false;
            ended = false;
        }
        if text == PY_START {
            python = true;
            ended = false;
        }
        chained = CHAIN_MARKERS.contains(&text) || (chained && text.is_empty());
        if kind == LineKind::Exception || (python && kind == LineKind::Other) {
            // A Python traceback ends with its exception line; a Java or Node one starts there.
            ended = python;
        }
    }
    if start < entries.len() {
        segments.push(&entries[start..]);
    }
    segments
}

fn join(lines: &[LogEntry]) -> Event {
    let mut entry = lines[0].clone();
    if lines.len() > 1 {
        entry.message = lines
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        entry.severity = lines
            .iter()
            .map(|e| e.severity)
            .max()
            .unwrap_or(entry.severity);
    }
    let exception = parse_exception(&entry.message);
    Event {
        entry,
        exception,
        entries: lines.len() as u64,
    }
}

fn single_event(entry: LogEntry) -> Event {
    let exception = parse_exception(&entry.full_text());
    Event {
        entry,
        exception,
        entries: 1,
    }
}

/// Reads the exception of a text that holds a traceback (or is one exception line);
/// chains resolve to the innermost cause.
pub fn parse_exception(text: &str) -> Option<Exception> {
    let lines: Vec<&str> = text.lines().collect();
    if lines.iter().any(|l| l.trim() == PY_START)
        && let Some(e) = parse_python(&lines)
    {
        return Some(e);
    }
    if let Some(e) = parse_rust(&lines) {
        return Some(e);
    }
    if let Some(e) = parse_go(&lines) {
        return Some(e);
    }
    parse_java_or_node(&lines)
}

fn parse_python(lines: &[&str]) -> Option<Exception> {
    let mut chain: Vec<(String, String, Vec<Frame>)> = Vec::new();
    let mut frames = Vec::new();
    let mut in_traceback = false;
    for line in lines {
        let trimmed = line.trim();
        if trimmed == PY_START {
            in_traceback = true;
            frames = Vec::new();
            continue;
        }
        if !in_traceback {
            continue;
        }
        if let Some(c) = PY_FRAME.captures(line) {
            frames.push(Frame {
                file: c[1].to_string(),
                function: c.get(3).map_or("", |m| m.as_str()).trim().to_string(),
                line: c[2].parse().ok(),
            });
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') || trimmed.is_empty() {
            continue;
        }
        if let Some(c) = PY_LAST_LINE.captures(trimmed) {
            chain.push((
                c[1].to_string(),
                c.get(2).map_or("", |m| m.as_str()).to_string(),
                std::mem::take(&mut frames),
            ));
            in_traceback = false;
        }
    }
    // Python prints the original exception first and the ones it caused after it.
    let mut chain = chain.into_iter();
    let (kind, message, frames) = chain.next()?;
    Some(Exception {
        kind,
        message,
        frames,
        raised_while_handling: chain.map(|(k, m, _)| join_kind(&k, &m)).collect(),
    })
}

fn join_kind(kind: &str, message: &str) -> String {
    if message.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {message}")
    }
}

fn parse_java_or_node(lines: &[&str]) -> Option<Exception> {
    let mut chain: Vec<(String, String, Vec<Frame>)> = Vec::new();
    for line in lines {
        let trimmed = line.trim();
        let (is_cause, candidate) = match trimmed.strip_prefix("Caused by: ") {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        if let Some(c) = JAVA_FRAME.captures(line) {
            if let Some(last) = chain.last_mut() {
                let function = c[1].to_string();
                let file = match function.rsplit_once('.') {
                    // Java frames name the class; its package path is the file's directory.
                    Some((class, _)) => {
                        let dir = class.rsplit_once('.').map_or("", |(pkg, _)| pkg);
                        if dir.is_empty() {
                            c[2].to_string()
                        } else {
                            format!("{}/{}", dir.replace('.', "/"), &c[2])
                        }
                    }
                    None => c[2].to_string(),
                };
                last.2.push(Frame {
                    file,
                    function,
                    line: c.get(3).and_then(|m| m.as_str().parse().ok()),
                });
            }
            continue;
        }
        if let Some(c) = NODE_FRAME.captures(line) {
            if let Some(last) = chain.last_mut() {
                last.2.push(Frame {
                    file: c[2].to_string(),
                    function: c.get(1).map_or("", |m| m.as_str()).to_string(),
                    line: c[3].parse().ok(),
                });
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            continue;
        }
        if let Some(c) = EXCEPTION_LINE.captures(candidate)
            && (is_cause || chain.is_empty())
        {
            chain.push((
                c[1].to_string(),
                c.get(2).map_or("", |m| m.as_str()).to_string(),
                Vec::new(),
            ));
        }
    }
    // Java's innermost cause is the last `Caused by:`.
    let (kind, message, frames) = chain.pop()?;
    let mut outer: Vec<String> = chain.iter().map(|(k, m, _)| join_kind(k, m)).collect();
    outer.reverse();
    Some(Exception {
        kind,
        message,
        frames,
        raised_while_handling: outer,
    })
}

fn parse_go(lines: &[&str]) -> Option<Exception> {
    let first = lines
        .iter()
        .position(|l| l.starts_with("panic: ") || l.starts_with("fatal error: "))?;
    let (kind, message) = match lines[first].split_once(": ") {
        Some((k, m)) => (k.to_string(), m.trim().to_string()),
        None => ("panic".to_string(), String::new()),
    };
    let mut frames = Vec::new();
    let mut function: Option<&str> = None;
    for line in &lines[first + 1..] {
        if let Some(c) = GO_FILE.captures(line) {
            frames.push(Frame {
                file: c[1].to_string(),
                function: function.take().unwrap_or("").to_string(),
                line: c[2].parse().ok(),
            });
        } else if !line.starts_with('\t') && line.ends_with(')') {
            // `main.handler(0xc000010000)`: the function, arguments dropped.
            function = line.split('(').next();
        }
    }
    Some(Exception {
        kind,
        message,
        frames,
        raised_while_handling: Vec::new(),
    })
}

fn parse_rust(lines: &[&str]) -> Option<Exception> {
    let (i, c) = lines
        .iter()
        .enumerate()
        .find_map(|(i, l)| RUST_PANIC.captures(l).map(|c| (i, c)))?;
    let message = match c.get(2) {
        Some(m) => m.as_str().to_string(),
        None => lines
            .get(i + 1)
            .map_or(String::new(), |l| l.trim().to_string()),
    };
    Some(Exception {
        kind: "panic".to_string(),
        message,
        frames: vec![Frame {
            file: c[3].to_string(),
            function: format!("thread '{}'", &c[1]),
            line: c[4].parse().ok(),
        }],
        raised_while_handling: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const PYTHON: &str = "Traceback (most recent call last):
  File \"/app/netra_backend/app/main.py\", line 12, in <module>
    from netra_backend.app.middleware import gcp_auth_context_middleware
  File \"/app/netra_backend/app/middleware/gcp_auth_context_middleware.py\", line 23, in <module>
    from netra_backend.app.services.monitoring import set_request_context
ModuleNotFoundError: No module named 'netra_backend.app.services.monitoring'";

    fn line(text: &str, instance: &str, ms: i64) -> LogEntry {
        let mut e = LogEntry::new(text);
        e.instance = Some(instance.to_string());
        e.timestamp = Some(Utc.timestamp_millis_opt(1_757_972_883_000 + ms).unwrap());
        e
    }

    fn run(entries: Vec<LogEntry>) -> Vec<Event> {
        let mut joiner = Joiner::new();
        let mut out = Vec::new();
        for e in entries {
            joiner.push(e, &mut |ev| out.push(ev));
        }
        joiner.finish(&mut |ev| out.push(ev));
        out
    }

    #[test]
    fn python_traceback_gives_type_message_and_frames() {
        let e = parse_exception(PYTHON).unwrap();
        assert_eq!(e.kind, "ModuleNotFoundError");
        assert_eq!(
            e.message,
            "No module named 'netra_backend.app.services.monitoring'"
        );
        assert_eq!(e.frames.len(), 2);
        assert_eq!(e.frames[1].line, Some(23));
        assert_eq!(e.frames[1].function, "<module>");
    }

    #[test]
    fn split_traceback_interleaved_with_another_instance_is_joined() {
        let mut entries = Vec::new();
        for (i, l) in PYTHON.lines().enumerate() {
            entries.push(line(l, "a", i as i64 * 3));
            entries.push(line("GET /api/threads 200", "b", i as i64 * 3 + 1));
        }
        entries.push(line("Listening at: http://0.0.0.0:8000", "a", 100));
        let events = run(entries);
        let tracebacks: Vec<_> = events.iter().filter(|e| e.exception.is_some()).collect();
        assert_eq!(tracebacks.len(), 1, "{events:#?}");
        assert_eq!(tracebacks[0].entries, 6);
        assert_eq!(
            tracebacks[0].exception.as_ref().unwrap().kind,
            "ModuleNotFoundError"
        );
        assert_eq!(events.len(), 1 + 6 + 1);
    }

    #[test]
    fn newest_first_files_are_joined_in_the_right_order() {
        let mut entries: Vec<_> = PYTHON
            .lines()
            .enumerate()
            .map(|(i, l)| line(l, "a", i as i64))
            .collect();
        entries.reverse();
        let events = run(entries);
        assert_eq!(events.len(), 1);
        assert!(events[0].entry.message.starts_with(PY_START));
        assert_eq!(events[0].exception.as_ref().unwrap().frames.len(), 2);
    }

    #[test]
    fn lines_far_apart_in_time_are_not_joined() {
        let events = run(vec![
            line(PY_START, "a", 0),
            line("  File \"/app/x.py\", line 1, in <module>", "a", 10),
            line("ValueError: late", "a", 60_000),
        ]);
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn two_tracebacks_in_a_row_stay_two_events() {
        let mut entries: Vec<_> = PYTHON.lines().map(|l| line(l, "a", 0)).collect();
        entries.push(line(
            "RuntimeError: Failed to setup enhanced middleware",
            "a",
            1,
        ));
        let events = run(entries);
        assert_eq!(events.len(), 2, "{events:#?}");
        assert_eq!(events[1].exception.as_ref().unwrap().kind, "RuntimeError");
    }

    #[test]
    fn python_chain_resolves_to_the_innermost_cause() {
        let text = format!(
            "{PYTHON}\n\nThe above exception was the direct cause of the following exception:\n\n{PY_START}\n  File \"/app/netra_backend/app/startup.py\", line 40, in setup\n    raise RuntimeError(\"x\")\nRuntimeError: Failed to setup enhanced middleware with WebSocket exclusion"
        );
        let e = parse_exception(&text).unwrap();
        assert_eq!(e.kind, "ModuleNotFoundError");
        assert_eq!(
            e.raised_while_handling,
            vec!["RuntimeError: Failed to setup enhanced middleware with WebSocket exclusion"]
        );
        // And the same when the chain arrives one line an entry.
        let events = run(text.lines().map(|l| line(l, "a", 0)).collect());
        assert_eq!(events.len(), 1, "{events:#?}");
        assert_eq!(
            events[0].exception.as_ref().unwrap().kind,
            "ModuleNotFoundError"
        );
    }

    #[test]
    fn java_caused_by_resolves_to_the_last_cause() {
        let text = "java.lang.IllegalStateException: Failed to load ApplicationContext
\tat org.springframework.boot.SpringApplication.run(SpringApplication.java:310)
\tat com.acme.App.main(App.java:12)
Caused by: java.sql.SQLException: Connection refused
\tat com.acme.db.Pool.open(Pool.java:88)
\t... 5 more";
        let e = parse_exception(text).unwrap();
        assert_eq!(e.kind, "java.sql.SQLException");
        assert_eq!(e.message, "Connection refused");
        assert_eq!(e.frames[0].file, "com/acme/db/Pool.java");
        assert_eq!(e.frames[0].line, Some(88));
        assert_eq!(e.raised_while_handling.len(), 1);
    }

    #[test]
    fn go_node_and_rust_panics() {
        let go = "panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1b2c]

goroutine 1 [running]:
main.handler(0xc000010000)
\t/app/cmd/server/main.go:42 +0x1d
exit status 2";
        let e = parse_exception(go).unwrap();
        assert_eq!(e.kind, "panic");
        assert!(e.message.starts_with("runtime error"));
        assert_eq!(e.frames[0].file, "/app/cmd/server/main.go");
        assert_eq!(e.frames[0].function, "main.handler");

        let node = "TypeError: Cannot read properties of undefined (reading 'id')
    at getUser (/app/src/users.js:17:23)
    at /app/src/server.js:40:5
    at Layer.handle (/app/node_modules/express/lib/router/layer.js:95:5)";
        let e = parse_exception(node).unwrap();
        assert_eq!(e.kind, "TypeError");
        assert_eq!(e.frames.len(), 3);
        assert_eq!(e.frames[0].function, "getUser");
        assert_eq!(e.frames[1].file, "/app/src/server.js");

        let rust = "thread 'main' panicked at src/config.rs:31:10:
called `Option::unwrap()` on a `None` value
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace";
        let e = parse_exception(rust).unwrap();
        assert_eq!(e.kind, "panic");
        assert_eq!(e.message, "called `Option::unwrap()` on a `None` value");
        assert_eq!(e.frames[0].file, "src/config.rs");
    }

    #[test]
    fn ordinary_lines_are_not_exceptions() {
        assert_eq!(parse_exception("GET /health 200"), None);
        assert_eq!(
            parse_exception("Listening at: http://0.0.0.0:8000 (1)"),
            None
        );
        assert!(parse_exception("RuntimeError: boom").is_some());
    }
}
