//! Joins what one report block printed back into one event: a traceback, a Go panic with its
//! goroutines, a Node crash with its `Require stack:`, and the header and footer lines around
//! them (gunicorn's `Exception in worker process`, the `--- Logging error ---` block, Spring's
//! `APPLICATION FAILED TO START`). Cloud Run logs stderr one entry a line, other instances'
//! lines interleave, and a file may be newest first: lines are gathered per stream while they
//! may belong to a block, then put in time order and cut into events.

use super::traceback::{
    ELIXIR_HEAD, Event, PY_START, RACK_DUMP_HEAD, RUBY_HEAD, RUST_PANIC, parse_exception,
};
use crate::model::{LogEntry, Severity};
use chrono::{DateTime, Utc};
use regex::Regex;
use std::collections::HashMap;
use std::sync::LazyLock;

/// Lines of one block more than this apart are not joined.
const JOIN_GAP_MS: i64 = 2_000;
/// A line that is not recognisably part of a block still joins one when it comes this close
/// after the previous line: one write, split by the platform.
const TIGHT_GAP_MICROS: i64 = 5_000;
/// A run longer than this is handed on as it is, so memory stays bounded.
const MAX_RUN: usize = 2_000;

/// The prefix a logging library writes before the message: `[2025-09-15 21:48:03 +0000] [7]
/// [ERROR] `, `ERROR:    `, `2025/09/15 21:48:03 `, Spring's `… ERROR 1 --- [main] logger : `.
static LOG_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    regex::RegexBuilder::new(
        r"(?x)^
        (?:[DIWEFAU],\ \[[^\]\n]{1,64}\]\ +[A-Z]+\ --\ [^:\n]{0,40}:\ ?)?   # Ruby: E, [time #1] ERROR -- :
        (?:(?:\[[\w-]{1,30}\]\ +)?(?:\d+\ +-\ +)?\d{1,2}/\d{1,2}/\d{4},?\ +\d{1,2}:\d\d:\d\d(?:\ ?[AP]M)?\ +
           (?:TRACE|DEBUG|VERBOSE|LOG|INFO|WARN|ERROR|FATAL)\ +)?   # Nest: [Nest] 1  - 11/30/2025, 10:00:05 AM   ERROR
        (?:\[[^\]\n]{1,64}\]\ ?)*                                   # [time] [pid] [LEVEL]
        (?:\d{4}[-/]\d\d[-/]\d\d[T\ ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|\ ?[+-]\d\d:?\d\d)?\ +)?
        (?:\[[^\]\n]{1,64}\]\ ?)*
        (?:[a-z]\w{0,15}=[^\s=]{1,40}\ +){0,4}                          # pid=1 tid=sll
        (?:(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRITICAL|FATAL|SEVERE)(?::\ *|\ +))?
        (?:\d+\ ---\ (?:\[[^\]\n]*\]\ *)+[\w.$\[\]/-]+\ *:\ ?)?      # Spring: 1 --- [app] [main] logger :
        ",
    )
    // Its bounded repetitions make many states: room for them keeps the search in the fast
    // lazy DFA instead of the slow fallback, on every line.
    .dfa_size_limit(64 << 20)
    .build()
    .unwrap()
});

/// The message without the logging library's prefix (only when it has one).
pub fn strip_log_prefix(line: &str) -> &str {
    // Next.js marks its lines with a glyph for their level (` ⨯ ` error, ` ⚠ ` warning).
    if let Some((_, rest)) = level_glyph(line) {
        return rest;
    }
    // Only a bracket, a digit or a level word can start a prefix: most lines skip the regex.
    let starts = line.as_bytes().first().is_some_and(|b| {
        b.is_ascii_digit()
            || *b == b'['
            || matches!(
                b,
                b'T' | b'D' | b'I' | b'N' | b'W' | b'E' | b'C' | b'F' | b'S' | b'A' | b'U'
            )
    });
    if !starts {
        return line;
    }
    match LOG_PREFIX.find(line) {
        Some(m) if m.end() > 0 => &line[m.end()..],
        _ => line,
    }
}

/// The level glyph a line starts with (Next.js: `⨯` error, `⚠` warning, `✓ ○ ▲ »` info), and
/// the rest of the line.
fn level_glyph(line: &str) -> Option<(Severity, &str)> {
    let trimmed = line.trim_start_matches(' ');
    // .NET's console logger: `fail: Category[EventId]`, the message on the lines after.
    if let Some((word, rest)) = trimmed.split_at_checked(4)
        && let Some(rest) = rest.strip_prefix(": ")
    {
        let severity = match word {
            "trce" | "dbug" => Some(Severity::Debug),
            "info" => Some(Severity::Info),
            "warn" => Some(Severity::Warning),
            // Inferred from text: never above ERROR.
            "fail" | "crit" => Some(Severity::Error),
            _ => None,
        };
        if let Some(severity) = severity {
            return Some((severity, rest));
        }
    }
    let mut chars = trimmed.chars();
    let severity = match chars.next()? {
        '⨯' => Severity::Error,
        '⚠' => Severity::Warning,
        '✓' | '○' | '▲' | '»' => Severity::Info,
        _ => return None,
    };
    let rest = chars.as_str();
    rest.starts_with(' ')
        .then(|| (severity, rest.trim_start_matches(' ')))
}

static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)^(?:
          .*\bException\ in\ (?:worker\ process|ASGI\ application|callback)\s*:?
        | ---\ Logging\ error(?:\ in\ Loguru\ Handler\ \#\d+)?\ ---
        | \*+\s*APPLICATION\ FAILED\ TO\ START\s*\*+
        | APPLICATION\ FAILED\ TO\ START
        | Error\ starting\ ApplicationContext\..*
        | (?:/|node:)[^\s:]+:\d+
        | Uncaught(?:\ exception|\ error)?:?
        | (?:ERROR!\ )?Config\ provider\ [\w.]+\ failed\ with:
        | <---\ (?:Last\ few\ GCs|JS\ stacktrace)\ --->
        | (?:\[\d+:0x[0-9a-f]+\]\ +)?\d+\ ms:\ (?:Mark-Compact|Scavenge|Mark-sweep).*
        | Unhandled\ (?:exception|rejection|promise\ rejection):?
        | (?:Task|Future)\ exception\ was\ never\ retrieved
        | (?:Internal\ Server\ Error|Service\ Unavailable|Bad\ Gateway|Gateway\ Timeout):\ /\S*
        )\s*$",
    )
    .unwrap()
});
/// Whether a line introduces a block; a cheap look at its words first, the regex after.
fn is_header(trimmed: &str) -> bool {
    let maybe = trimmed.starts_with("---")
        || trimmed.starts_with('*')
        || trimmed.starts_with('/')
        || trimmed.starts_with("node:")
        || trimmed.starts_with("Uncaught")
        || trimmed.starts_with("Unhandled")
        || trimmed.starts_with("Error starting")
        || trimmed.starts_with("APPLICATION")
        || trimmed.starts_with("ERROR!")
        || trimmed.starts_with("<---")
        || trimmed.starts_with('[')
        || (trimmed.as_bytes().first().is_some_and(u8::is_ascii_digit)
            && trimmed.contains(" ms: "))
        || trimmed.starts_with("Config provider")
        // asyncio's report of a task that died with nobody awaiting it.
        || trimmed.ends_with("exception was never retrieved")
        // Django's line for a request that raised, before its traceback.
        || trimmed.starts_with("Internal Server Error: /")
        || trimmed.starts_with("Service Unavailable: /")
        || trimmed.starts_with("Bad Gateway: /")
        || trimmed.starts_with("Gateway Timeout: /")
        || trimmed.contains("Exception in ");
    maybe && HEADER.is_match(trimmed)
}

/// A handled report: the library says so, and the process carries on.
static HANDLED_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^--- Logging error(?: in Loguru Handler #\d+)? ---\s*$").unwrap()
});
static GO_FUNC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[\w.\-]+/)*[\w.\-]+(?:\.\(\*?[\w\[\],. ]+\))?(?:\.[\w\-]+)*\(.*\)$").unwrap()
});
/// `Type: message` or a bare `Type`, where the type looks like an exception class.
pub static EXCEPTION_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:Exception in thread .+? |Uncaught (?:exception:? )?|Unhandled (?:rejection|exception)[:.]? |---> )?((?:[A-Za-z_][\w$]*(?:\.|::))*(?:[A-Z][\w$]*)?(?:Error|Exception|Exit|Interrupt|Fault|Failure|Panic)(?: \[[A-Za-z][A-Za-z0-9_]*\])?)(?::\s?(.*))?$",
    )
    .unwrap()
});

pub const CHAIN_MARKERS: [&str; 2] = [
    "The above exception was the direct cause of the following exception:",
    "During handling of the above exception, another exception occurred:",
];

/// How a single line may relate to a block, without knowing the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    /// Opens a traceback (`Traceback (most recent call last):`, `panic: …`).
    Start,
    /// Introduces a block (`Exception in worker process`, `--- Logging error ---`).
    Header,
    /// A frame, a chain marker, or another line that only makes sense inside a block.
    Continuation,
    /// `ValueError: …`: ends a Python traceback, opens a Java or Node one.
    Exception,
    Other,
}

fn is_indented(line: &str) -> bool {
    (line.starts_with(' ') || line.starts_with('\t')) && !line.trim().is_empty()
}

fn line_kind(line: &str) -> LineKind {
    let text = strip_log_prefix(line);
    let trimmed = text.trim();
    if trimmed == PY_START
        || text.starts_with("panic: ")
        || text.starts_with("fatal error: ")
        || text.starts_with("http: panic serving ")
        || RUST_PANIC.is_match(text)
        || (trimmed.contains(":in ") && RUBY_HEAD.is_match(trimmed))
        || (trimmed.starts_with("** (") && ELIXIR_HEAD.is_match(trimmed))
        || (trimmed.starts_with("- ") && RACK_DUMP_HEAD.is_match(trimmed))
    {
        return LineKind::Start;
    }
    if is_header(trimmed) || (trimmed.is_empty() && text.len() < line.len()) {
        // A logging prefix with no message: the lines after it are the message.
        return LineKind::Header;
    }
    // A bracketed marker (`[previous exception]`) would pass for a logging prefix.
    if is_indented(line) || is_continuation(trimmed) || is_continuation(line.trim()) {
        return LineKind::Continuation;
    }
    if EXCEPTION_LINE.is_match(trimmed) || is_monolog_exception(trimmed) {
        return LineKind::Exception;
    }
    LineKind::Other
}

/// Lines that only make sense inside a block of some runtime.
fn is_continuation(trimmed: &str) -> bool {
    trimmed.starts_with("Caused by:")
        || trimmed.starts_with("Suppressed:")
        || CHAIN_MARKERS.contains(&trimmed)
        || trimmed.starts_with("[signal ")
        || trimmed.starts_with("note: run with `RUST_BACKTRACE")
        || trimmed == "Require stack:"
        || trimmed == "Call stack:"
        || trimmed == "--- End of logging error ---"
        || trimmed.starts_with("--- End of inner exception stack trace")
        || trimmed.starts_with("--- End of stack trace from previous location")
        || trimmed == "Description:"
        || trimmed == "Action:"
        || trimmed.starts_with("created by ")
        || trimmed.starts_with("exit status ")
        || (trimmed.starts_with("goroutine ") && trimmed.ends_with(':'))
        || trimmed.starts_with("Node.js v")
        // The BEAM's last words after an Elixir boot failure.
        || trimmed.starts_with("Runtime terminating during boot")
        || trimmed.starts_with("Crash dump is being written to")
        // PHP: native (`Stack trace:`, `#0 /app/x.php(12): f()`, `thrown in`) and Monolog's.
        || trimmed == "Stack trace:"
        || trimmed.starts_with("thrown in ")
        || trimmed == "[stacktrace]"
        || trimmed.starts_with("[previous exception] ")
        || trimmed == "\"}"
        || is_php_frame(trimmed)
        || trimmed.starts_with("- /")
        || matches!(trimmed, "^" | "{" | "}" | "throw err;" | "throw e;")
        || (!trimmed.is_empty() && trimmed.chars().all(|c| c == '*' || c == '='))
}

/// `#3 /app/src/File.php(12): f()`, `#4 {main}`, `#5 [internal function]: g()`.
fn is_php_frame(trimmed: &str) -> bool {
    let Some(rest) = trimmed.strip_prefix('#') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0
        && rest[digits..]
            .strip_prefix(' ')
            .is_some_and(|r| r.starts_with('/') || r.starts_with("{main}") || r.starts_with('['))
}

/// A Monolog line (Laravel, Symfony) that carries an exception in its context, first key or
/// not (`{"userId":42,"exception":"[object] (ErrorException(code: 0): …`).
fn is_monolog_exception(trimmed: &str) -> bool {
    trimmed.contains("\"exception\":\"[object] (")
}

/// One stream of lines: service, instance and log name (stderr and stdout are apart).
type StreamKey = (Option<String>, Option<String>, Option<String>);

/// Lines of one stream that may belong to one block, gathered until it ends.
struct Run {
    entries: Vec<LogEntry>,
    last: Option<DateTime<Utc>>,
}

/// Joins split blocks, whatever the order of the file (oldest or newest first), while other
/// instances' lines interleave.
#[derive(Default)]
pub struct Joiner {
    open: HashMap<StreamKey, Run>,
    /// The last plain line of a stream, held back one entry: in a newest-first file the end
    /// of a block comes before its start; in an oldest-first one, a logger's line may go on
    /// in the next entries (one write that the platform split at its newlines).
    pending: HashMap<StreamKey, Vec<LogEntry>>,
    pushed: u64,
    /// Entries later, and earlier, than the one before: which way the file runs.
    ascending: u64,
    descending: u64,
    previous: Option<DateTime<Utc>>,
}

impl Joiner {
    pub fn new() -> Self {
        Joiner::default()
    }

    /// Takes the next entry in file order; finished events go to `emit`.
    pub fn push(&mut self, entry: LogEntry, emit: &mut impl FnMut(Event)) {
        self.pushed += 1;
        if let (Some(prev), Some(now)) = (self.previous, entry.timestamp) {
            match now.cmp(&prev) {
                std::cmp::Ordering::Greater => self.ascending += 1,
                std::cmp::Ordering::Less => self.descending += 1,
                std::cmp::Ordering::Equal => {}
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
        let kind = if single_line {
            line_kind(&entry.message)
        } else {
            LineKind::Other
        };
        if let Some(mut held) = self.pending.remove(&key) {
            let tight = match (held.last().and_then(|e| e.timestamp), entry.timestamp) {
                (Some(a), Some(b)) => (b - a)
                    .num_microseconds()
                    .is_some_and(|d| d.abs() <= TIGHT_GAP_MICROS),
                _ => false,
            };
            // Past the frames of a write, a plain line is the next write (the app's `fatal:`
            // right after a library printed an error with its stack).
            let past_frames =
                kind == LineKind::Other && held.iter().skip(1).any(|e| is_indented(&e.message));
            if tight
                && single_line
                && rest_of_write(&entry, kind)
                && !past_frames
                && self.ascending > self.descending
            {
                held.push(entry);
                self.pending.insert(key, held);
                return;
            }
            if tight && kind != LineKind::Other && single_line && !self.open.contains_key(&key) {
                held.push(entry);
                self.open.insert(
                    key,
                    Run {
                        last: held.last().and_then(|e| e.timestamp),
                        entries: held,
                    },
                );
                return;
            }
            emit(event_of(&held, false));
        }
        if let Some(run) = self.open.get_mut(&key) {
            let gap = match (run.last, entry.timestamp) {
                (Some(a), Some(b)) => (b - a).num_microseconds().map_or(i64::MAX, i64::abs),
                _ => 0,
            };
            let joins = run.entries.len() < MAX_RUN
                && gap <= JOIN_GAP_MS * 1_000
                && (kind != LineKind::Other
                    || gap <= TIGHT_GAP_MICROS
                    || (!single_line && run_awaits_body(run)));
            if joins {
                run.last = entry.timestamp.or(run.last);
                run.entries.push(entry);
                return;
            }
            if let Some(run) = self.open.remove(&key) {
                close(run, emit);
            }
        }
        if kind == LineKind::Other {
            // Only a newest-first file shows a block's end before its start; in an
            // oldest-first one a logger's line is held for the rest of its write.
            let holds = if self.descending >= self.ascending {
                single_line
            } else {
                // A whole block in one entry may still get its footer (`Node.js v20.11.1`).
                entry.http.is_none() && (!single_line || has_log_prefix(&entry.message))
            };
            if holds {
                self.pending.insert(key, vec![entry]);
            } else {
                emit(event_of(std::slice::from_ref(&entry), false));
            }
            return;
        }
        self.open.insert(
            key,
            Run {
                last: entry.timestamp,
                entries: vec![entry],
            },
        );
    }

    /// Hands on every open block; call at the end of the input.
    pub fn finish(&mut self, emit: &mut impl FnMut(Event)) {
        let mut held: Vec<Vec<LogEntry>> = self.pending.drain().map(|(_, e)| e).collect();
        held.sort_by_key(|e| e[0].timestamp);
        for lines in held {
            emit(event_of(&lines, false));
        }
        let mut runs: Vec<Run> = self.open.drain().map(|(_, r)| r).collect();
        runs.sort_by_key(|r| r.entries.first().and_then(|e| e.timestamp));
        for run in runs {
            close(run, emit);
        }
    }

    /// Closes runs whose stream has been quiet for a while, so memory does not grow.
    fn flush_idle(&mut self, now: Option<DateTime<Utc>>, emit: &mut impl FnMut(Event)) {
        let Some(now) = now else { return };
        let quiet = |t: Option<DateTime<Utc>>| {
            t.is_some_and(|t| (now - t).num_milliseconds().abs() > 5 * JOIN_GAP_MS)
        };
        let idle: Vec<_> = self
            .open
            .iter()
            .filter(|(_, run)| quiet(run.last))
            .map(|(k, _)| k.clone())
            .collect();
        for key in idle {
            if let Some(run) = self.open.remove(&key) {
                close(run, emit);
            }
        }
        let held: Vec<_> = self
            .pending
            .iter()
            .filter(|(_, e)| quiet(e.last().and_then(|e| e.timestamp)))
            .map(|(k, _)| k.clone())
            .collect();
        for key in held {
            if let Some(lines) = self.pending.remove(&key) {
                emit(event_of(&lines, false));
            }
        }
    }
}

/// Whether a logging library's prefix starts the line (`[time] [LEVEL] `, `E, [time] ERROR -- : `).
fn has_log_prefix(line: &str) -> bool {
    strip_log_prefix(line).len() < line.len()
}

/// Whether a line that came right after a logger's line is the rest of that write: no prefix
/// of its own, and nothing that opens a block of its own (a traceback is joined as one).
fn rest_of_write(entry: &LogEntry, kind: LineKind) -> bool {
    matches!(kind, LineKind::Other | LineKind::Continuation)
        && entry.http.is_none()
        && !entry.message.trim().is_empty()
        && !has_log_prefix(&entry.message)
}

/// Whether the run so far is only a header, waiting for the block it introduces.
fn run_awaits_body(run: &Run) -> bool {
    run.entries
        .iter()
        .all(|e| !e.message.contains('\n') && line_kind(&e.message) == LineKind::Header)
}

/// Puts a run in time order and cuts it into events.
fn close(mut run: Run, emit: &mut impl FnMut(Event)) {
    // Stable: lines of one write share a timestamp and keep the file's order.
    let first = run.entries.first().and_then(|e| e.timestamp);
    let last = run.entries.last().and_then(|e| e.timestamp);
    if let (Some(a), Some(b)) = (first, last)
        && a > b
    {
        run.entries.reverse();
    }
    run.entries.sort_by_key(|e| e.timestamp);
    for (range, handled) in segment(&run.entries) {
        emit(event_of(&run.entries[range], handled));
    }
}

/// The dialect of the block being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A header; the body decides what follows.
    Header,
    Python,
    /// Java and Node: an exception line, then frames and causes.
    JavaNode,
    Go,
    Rust,
    /// Spring's failure report: lines of text until the block stops.
    Report,
}

/// Reading state of one block.
struct Block {
    mode: Mode,
    /// The block is a handled report (a logging error): the process carried on.
    handled: bool,
    /// A Python traceback printed its exception line.
    ended: bool,
    /// After a chain marker, the next traceback belongs to this block.
    chained: bool,
    /// Java/Node: an exception line was read.
    has_exception: bool,
    /// A frame (an indented line) was read: the exception's message is over.
    frame_seen: bool,
    /// Node: the `}` that closes an inspected error was read: the block is over.
    closed: bool,
    /// A stack frame (`at …`) of the current exception of the chain was read: a `}` after it
    /// closes Node's inspected error (before it, a JSON body in a Java message).
    stack_seen: bool,
    /// A report's label (`Description:`, `Action:`) was read: its text follows.
    label: bool,
    last: Option<DateTime<Utc>>,
}

impl Block {
    fn open(entry: &LogEntry) -> Option<Block> {
        let text = strip_log_prefix(first_line(&entry.message));
        let trimmed = text.trim();
        let mode = if entry.message.contains('\n') {
            return None;
        } else if trimmed == PY_START {
            Mode::Python
        } else if text.starts_with("panic: ")
            || text.starts_with("fatal error: ")
            || text.starts_with("http: panic serving ")
        {
            Mode::Go
        } else if RUST_PANIC.is_match(text) {
            Mode::Rust
        } else if RUBY_HEAD.is_match(trimmed)
            || (trimmed.starts_with("** (") && ELIXIR_HEAD.is_match(trimmed))
            || (trimmed.starts_with("- ") && RACK_DUMP_HEAD.is_match(trimmed))
        {
            Mode::JavaNode
        } else if trimmed.contains("APPLICATION FAILED TO START")
            || trimmed.starts_with("Error starting ApplicationContext")
            || (trimmed.starts_with('*') && trimmed.chars().all(|c| c == '*'))
        {
            Mode::Report
        } else if HEADER.is_match(trimmed)
            || (trimmed.is_empty() && text.len() < entry.message.len())
        {
            Mode::Header
        } else if EXCEPTION_LINE.is_match(trimmed) || is_monolog_exception(trimmed) {
            Mode::JavaNode
        } else if trimmed.starts_with("goroutine ") && trimmed.ends_with(':') {
            Mode::Go
        } else {
            return None;
        };
        Some(Block::new(mode, HANDLED_HEADER.is_match(trimmed), entry))
    }

    /// A block that `entry` introduces as its header, whatever its words.
    fn header(entry: &LogEntry) -> Block {
        Block::new(Mode::Header, false, entry)
    }

    fn new(mode: Mode, handled: bool, entry: &LogEntry) -> Block {
        Block {
            mode,
            handled,
            ended: false,
            chained: false,
            has_exception: mode == Mode::JavaNode,
            frame_seen: false,
            closed: false,
            stack_seen: false,
            label: false,
            last: entry.timestamp,
        }
    }

    /// Whether `entry` continues the block; updates the state when it does.
    fn accepts(&mut self, entry: &LogEntry) -> bool {
        let tight = match (self.last, entry.timestamp) {
            (Some(a), Some(b)) => (b - a)
                .num_microseconds()
                .is_some_and(|d| d <= TIGHT_GAP_MICROS),
            _ => false,
        };
        let ok = self.accepts_text(entry, tight);
        if ok {
            self.last = entry.timestamp.or(self.last);
        }
        ok
    }

    fn accepts_text(&mut self, entry: &LogEntry, tight: bool) -> bool {
        let message = entry.message.as_str();
        if message.contains('\n') {
            // A whole block in one entry, after its header.
            if self.mode == Mode::Header {
                self.mode = Mode::JavaNode;
                self.ended = true;
                self.has_exception = true;
                return true;
            }
            // A few lines of the block in one write (a frame with its source line): each
            // goes on with the block, or the block ends before the entry.
            return message.lines().all(|line| self.accepts_line(line, true));
        }
        self.accepts_line(message, tight)
    }

    fn accepts_line(&mut self, message: &str, tight: bool) -> bool {
        let text = strip_log_prefix(message);
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return true;
        }
        if std::mem::replace(
            &mut self.label,
            matches!(trimmed, "Description:" | "Action:"),
        ) {
            return true;
        }
        match self.mode {
            Mode::Header => {
                if trimmed == PY_START {
                    self.mode = Mode::Python;
                } else if text.starts_with("panic: ") {
                    self.mode = Mode::Go;
                } else if EXCEPTION_LINE.is_match(trimmed) {
                    self.mode = Mode::JavaNode;
                    self.has_exception = true;
                } else if !(is_indented(message) || is_continuation(trimmed) || tight) {
                    return false;
                }
                true
            }
            Mode::Python => self.python(message, trimmed, tight),
            Mode::JavaNode => {
                // A line after the closing brace of an inspected error (but Node's footer),
                // or with its own level (Next.js's `⚠`), is the next line, not the error's.
                if self.closed {
                    // Only Node's footer follows.
                    return trimmed.starts_with("Node.js v");
                }
                if level_glyph(message).is_some() {
                    return false;
                }
                if message == "}" {
                    self.closed = self.stack_seen;
                    return true;
                }
                // The next exception of the chain: its message may take lines too.
                if trimmed.starts_with("Caused by:") || trimmed.starts_with("Suppressed:") {
                    self.frame_seen = false;
                    self.stack_seen = false;
                    return true;
                }
                if is_indented(message)
                    || is_continuation(trimmed)
                    || is_continuation(message.trim())
                {
                    self.frame_seen |= is_indented(message);
                    self.stack_seen |= is_indented(message) && trimmed.starts_with("at ");
                    return true;
                }
                // A message of several lines, written with the exception before its frames.
                if tight
                    && !self.frame_seen
                    && !has_log_prefix(message)
                    && line_kind(message) == LineKind::Other
                {
                    return true;
                }
                if EXCEPTION_LINE.is_match(trimmed) && !self.has_exception {
                    self.has_exception = true;
                    return true;
                }
                false
            }
            Mode::Go => {
                is_indented(message)
                    || is_continuation(trimmed)
                    || GO_FUNC.is_match(trimmed)
                    || trimmed.starts_with("panic: ") && trimmed.ends_with("[recovered]")
            }
            Mode::Rust => {
                let first = !self.ended;
                self.ended = true;
                first || is_continuation(trimmed) || is_indented(message)
            }
            Mode::Report => tight || is_continuation(trimmed) || is_indented(message),
        }
    }

    fn python(&mut self, line: &str, trimmed: &str, tight: bool) -> bool {
        if CHAIN_MARKERS.contains(&trimmed) {
            self.chained = true;
            self.ended = false;
            return true;
        }
        if trimmed == PY_START {
            let continues = self.chained || !self.ended;
            self.chained = false;
            self.ended = false;
            return continues;
        }
        if self.ended {
            // What a logging error prints after its traceback, the detail lines of an
            // exception's message (gRPC's `status = …`, pydantic's fields), and the rest of
            // the same write.
            return is_indented(line)
                || (tight
                    && strip_log_prefix(line).len() == line.len()
                    && trimmed != PY_START
                    && !EXCEPTION_LINE.is_match(trimmed))
                || (self.handled
                    && (trimmed == "Call stack:"
                        || trimmed.starts_with("Message: ")
                        || trimmed.starts_with("Arguments: ")
                        || trimmed == "--- End of logging error ---"
                        || trimmed.starts_with("--- End of inner exception stack trace")
                        || trimmed.starts_with("--- End of stack trace from previous location")));
        }
        if is_indented(line) {
            return true;
        }
        // The exception line ends the traceback.
        self.ended = true;
        true
    }
}

/// Whether the line at `i` is the message a logger wrote with the traceback that follows it
/// at once (Python's `logger.exception("Error handling request %s", uri)`, split one line an
/// entry): an error line, then `Traceback (most recent call last):` in the same write.
fn introduces_traceback(entries: &[LogEntry], i: usize) -> bool {
    let (Some(line), Some(next)) = (entries.get(i), entries.get(i + 1)) else {
        return false;
    };
    let tight = match (line.timestamp, next.timestamp) {
        (Some(a), Some(b)) => (b - a)
            .num_microseconds()
            .is_some_and(|d| (0..=TIGHT_GAP_MICROS).contains(&d)),
        _ => false,
    };
    tight
        && !line.message.contains('\n')
        && strip_log_prefix(first_line(&next.message)).trim() == PY_START
        && line.severity.max(infer_severity(&line.message)) >= Severity::Error
}

/// Cuts time-ordered lines into events: ranges of `entries`, each with whether it is a
/// handled report.
fn segment(entries: &[LogEntry]) -> Vec<(std::ops::Range<usize>, bool)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        let opened = Block::open(&entries[i])
            .or_else(|| introduces_traceback(entries, i).then(|| Block::header(&entries[i])));
        let Some(mut block) = opened else {
            out.push((i..i + 1, false));
            i += 1;
            continue;
        };
        let mut j = i + 1;
        while j < entries.len() && block.accepts(&entries[j]) {
            j += 1;
        }
        out.push((i..j, block.handled));
        i = j;
    }
    out
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// The line of an event that says what it is: its first line with words, past a logging
/// prefix, a header and decoration; in a failure report, its description.
pub fn headline(message: &str) -> &str {
    let mut lines = message.lines().map(|l| strip_log_prefix(l).trim());
    let mut fallback = None;
    while let Some(line) = lines.next() {
        if !line.chars().any(char::is_alphanumeric) {
            continue;
        }
        if line == "Description:" {
            if let Some(next) = lines.by_ref().find(|l| !l.is_empty()) {
                return next;
            }
            continue;
        }
        if is_header(line) || line.contains("APPLICATION FAILED TO START") {
            fallback.get_or_insert(line);
            continue;
        }
        return line;
    }
    fallback.unwrap_or_else(|| first_line(message))
}

/// One event of one or more lines; its severity is the highest of its lines.
fn event_of(lines: &[LogEntry], handled: bool) -> Event {
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
    let exception = parse_exception(&entry.full_text());
    if exception.is_some() && entry.severity == Severity::Default {
        // A traceback on stderr with no severity is still an error.
        entry.severity = Severity::Error;
    }
    Event {
        handled: handled || {
            let first = first_line(&entry.message).trim();
            first.starts_with("--- Logging error") && HANDLED_HEADER.is_match(first)
        },
        entry,
        exception,
        entries: lines.len() as u64,
    }
}

static LEVEL_WORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?ix)^[DIWEFAU],\ \[[^\]\n]{1,64}\]\ +(DEBUG|INFO|WARN|ERROR|FATAL)\ --
        |^(?-i:(?:\[[^\]\n]{1,30}\]|[\d/.,:+-]+|AM|PM)(?:\s+(?:\[[^\]\n]{1,30}\]|[\d/.,:+-]+|AM|PM))*\s+(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRITICAL|FATAL)\s)
        |^(?:\[[^\]\n]{1,64}\]\ ?|\d{4}[-/]\d\d[-/]\d\d[T\ ][\d:.,]+(?:Z|\ ?[+-]\d\d:?\d\d)?\ +)*(?:[a-z]\w{0,15}=[^\s=]{1,40}\ +){0,4}
        \[?(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRITICAL|FATAL|SEVERE|PANIC|ALERT|EMERG)\]?(?::|\ |$)
        |^\[[^\]\n]{0,40}?[:\ ](TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRITICAL|FATAL)/[^\]\n]{1,40}\]
        |\blevel=\"?(trace|debug|info|notice|warn|warning|error|critical|fatal|panic)\b
        |"(?:level|severity)"\s*:\s*"(trace|debug|info|notice|warn|warning|error|critical|fatal|panic)""#,
    )
    .unwrap()
});
static ERROR_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:panic: |fatal error: |PHP (?:Fatal|Parse) error: |Fatal error: |Uncaught |Unhandled |Exception in thread |thread '[^']*' panicked at |\*\* \([A-Z]|ERROR! |Runtime terminating during boot)",
    )
    .unwrap()
});

/// A request summary in key=value fields (`method=GET path=/x … status=500`) with a 5xx.
static FAILED_REQUEST_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b(?:method|path|uri|url|route)=\S.*\b(?:status|status_code|http_status)=5\d\d\b|\b(?:status|status_code|http_status)=5\d\d\b.*\b(?:method|path|uri|url|route)=\S",
    )
    .unwrap()
});

/// The severity of an entry that carries none (plain text on stdout or stderr is DEFAULT in
/// Cloud Run): the runtime's own words say what the line is. Never above ERROR: a text that
/// says FATAL was not logged at CRITICAL.
pub fn infer_severity(message: &str) -> Severity {
    let line = first_line(message);
    if line.contains("=5") && FAILED_REQUEST_LINE.is_match(line) {
        // The app's own request log (lograge, logfmt) of a request it answered with a 5xx:
        // a failed request, whatever level its logger wrote it at.
        return Severity::Error;
    }
    if let Some((severity, _)) = level_glyph(line) {
        return severity;
    }
    if let Some(c) = LEVEL_WORD.captures(line) {
        let word = c.iter().skip(1).flatten().next().map_or("", |m| m.as_str());
        if let Ok(s) = word.parse::<Severity>() {
            return s.min(Severity::Error);
        }
    }
    let text = strip_log_prefix(line).trim_start();
    if ERROR_START.is_match(text)
        || (text.starts_with("- ") && RACK_DUMP_HEAD.is_match(text.trim()))
        || text.trim() == PY_START
        || EXCEPTION_LINE.is_match(text.trim())
        || text.starts_with("Error: ")
    {
        return Severity::Error;
    }
    Severity::Default
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    use crate::analyze::traceback::tests::PYTHON;

    fn line(text: &str, instance: &str, micros: i64) -> LogEntry {
        let mut e = LogEntry::new(text);
        e.instance = Some(instance.to_string());
        e.timestamp = Some(
            Utc.timestamp_micros(1_757_972_883_000_000 + micros)
                .unwrap(),
        );
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

    /// One entry a line, 3 µs apart, as Cloud Run splits one write.
    fn lines(text: &str, instance: &str, start: i64) -> Vec<LogEntry> {
        text.lines()
            .enumerate()
            .map(|(i, l)| line(l, instance, start + i as i64 * 3))
            .collect()
    }

    fn kinds(events: &[Event]) -> Vec<Option<String>> {
        events
            .iter()
            .map(|e| e.exception.as_ref().map(|x| x.kind.clone()))
            .collect()
    }

    #[test]
    fn the_message_lines_of_a_caused_by_stay_in_the_block() {
        let text = "org.springframework.beans.factory.BeanCreationException: Error creating bean
Migration checksum mismatch for migration version 7
\tat org.springframework.beans.factory.support.AbstractBeanFactory.doGetBean(AbstractBeanFactory.java:325)
Caused by: org.flywaydb.core.api.exception.FlywayValidateException: Validate failed: Migrations have failed validation
Migration checksum mismatch for migration version 7
-> Applied to database : 1460253011
\tat org.flywaydb.core.Flyway.migrate(Flyway.java:177)
\t... 22 common frames omitted";
        let mut entries = lines(text, "a", 0);
        entries.push(line("Container called exit(1).", "a", 900_000));
        let events = run(entries);
        assert_eq!(events.len(), 2, "{events:#?}");
        assert_eq!(events[0].entries, 8);
    }

    #[test]
    fn split_traceback_interleaved_with_another_instance_is_joined() {
        let mut entries = Vec::new();
        for (i, l) in PYTHON.lines().enumerate() {
            entries.push(line(l, "a", i as i64 * 3_000));
            entries.push(line("GET /api/threads 200", "b", i as i64 * 3_000 + 1));
        }
        entries.push(line("Listening at: http://0.0.0.0:8000", "a", 100_000));
        let events = run(entries);
        let tracebacks: Vec<_> = events.iter().filter(|e| e.exception.is_some()).collect();
        assert_eq!(tracebacks.len(), 1, "{events:#?}");
        assert_eq!(tracebacks[0].entries, 6);
        assert_eq!(events.len(), 1 + 6 + 1);
    }

    #[test]
    fn a_monolog_record_with_context_before_its_exception_is_one_event() {
        let text = r#"[2025-06-10 09:14:06] production.ERROR: Undefined array key "vat_number" {"userId":42385,"exception":"[object] (ErrorException(code: 0): Undefined array key \"vat_number\" at /var/www/html/app/Services/InvoicePdfBuilder.php:88)
[stacktrace]
#0 /var/www/html/app/Services/InvoicePdfBuilder.php(43): App\\Services\\InvoicePdfBuilder->vatBlock(Array)
#1 {main}
"}"#;
        let events = run(lines(text, "a", 0));
        assert_eq!(events.len(), 1, "{events:#?}");
        assert_eq!(events[0].entries, 5);
    }

    #[test]
    fn a_json_body_in_a_java_message_does_not_end_its_chain() {
        let text = "org.postgresql.util.PSQLException: Something unusual has occurred
	at org.postgresql.Driver.connect(Driver.java:325)
Caused by: com.google.cloud.sql.core.TerminalException: [p:r:orders-pg] The Google Cloud SQL Admin API failed. Reason: 403 Forbidden
GET https://sqladmin.googleapis.com/sql/v1beta4/projects/p/instances/orders-pg/connectSettings
{
  \"code\": 403,
  \"status\": \"PERMISSION_DENIED\"
}
	at com.google.cloud.sql.core.DefaultConnectionInfoRepository.fetchMetadata(DefaultConnectionInfoRepository.java:292)
Caused by: com.google.api.client.googleapis.json.GoogleJsonResponseException: 403 Forbidden
	at com.google.api.client.googleapis.json.GoogleJsonResponseException.from(GoogleJsonResponseException.java:146)";
        let events = run(lines(text, "a", 0));
        assert_eq!(events.len(), 1, "{events:#?}");
        assert_eq!(events[0].entries, 11);
    }

    #[test]
    fn a_plain_line_after_a_stack_is_the_next_write() {
        let mut entries = lines(
            "[ioredis] Unhandled error event: Error: getaddrinfo ENOTFOUND redis.internal
    at GetAddrInfoReqWrap.onlookup [as oncomplete] (node:dns:108:26)
fatal: could not connect to redis at redis.internal:6379, exiting",
            "a",
            0,
        );
        entries.push(line("Container called exit(1).", "a", 900_000));
        let events = run(entries);
        assert_eq!(events.len(), 3, "{events:#?}");
        assert_eq!(events[0].entries, 2);
        assert_eq!(
            events[0].exception.as_ref().map(|e| e.kind.as_str()),
            Some("Error")
        );
    }

    #[test]
    fn the_rest_of_a_loggers_write_joins_its_line() {
        // Celery's ERROR record and its second line, split by the platform 11 µs apart.
        let head = "[2025-11-21 21:57:41,219: ERROR/MainProcess] consumer: Cannot connect to amqp://guest:**@10.0.0.4:5672//: [Errno 111] Connection refused.";
        let mut entries = Vec::new();
        for k in 0..3 {
            entries.push(line(head, "a", k * 2_000_000));
            entries.push(line(
                "Trying again in 2.00 seconds... (1/100)",
                "a",
                k * 2_000_000 + 11,
            ));
            // A line of its own: another logger line, and a plain line that came later.
            entries.push(line(
                "[2025-11-21 21:57:41,300: INFO/MainProcess] mingle: all alone",
                "a",
                k * 2_000_000 + 20,
            ));
            entries.push(line("plain print", "a", k * 2_000_000 + 900_000));
        }
        let events = run(entries);
        assert_eq!(events.len(), 9, "{events:#?}");
        let joined: Vec<_> = events.iter().filter(|e| e.entries == 2).collect();
        assert_eq!(joined.len(), 3);
        assert!(joined[0].entry.message.ends_with("(1/100)"));
        assert_eq!(infer_severity(&joined[0].entry.message), Severity::Error);
    }

    #[test]
    fn a_ruby_logger_header_with_tags_opens_the_block_of_its_write() {
        let tag = "[36926c06-8ee3-41a5-9b67-ee683e2e21f8]";
        let header = format!("E, [2025-11-24T11:00:01.719400 #1] ERROR -- : {tag}   ");
        assert_eq!(strip_log_prefix(&header).trim(), "");
        assert_eq!(infer_severity(&header), Severity::Error);
        let text = [
            header.as_str(),
            &format!("{tag} ActiveRecord::StatementInvalid (PG::UndefinedColumn: ERROR:  column invoices.voided_at does not exist"),
            "LINE 1: ...nvoices\" WHERE \"invoices\".\"v...",
            "                                                   ^",
            "):",
        ]
        .join("\n");
        let mut entries: Vec<_> = text.lines().map(|l| line(l, "a", 0)).collect();
        entries.push(line(
            "I, [2025-11-24T11:00:03.000000 #1]  INFO -- : [0e58598f] Completed 200 OK in 50ms",
            "a",
            1_300_000,
        ));
        let events = run(entries);
        assert_eq!(events.len(), 2, "{events:#?}");
        assert_eq!(events[0].entries, 5);
        assert!(headline(&events[0].entry.message).contains("UndefinedColumn"));
    }

    #[test]
    fn newest_first_files_are_joined_in_the_right_order() {
        let mut entries = lines(PYTHON, "a", 0);
        entries.reverse();
        let events = run(entries);
        assert_eq!(events.len(), 1);
        assert!(events[0].entry.message.starts_with(PY_START));
        assert_eq!(events[0].exception.as_ref().unwrap().frames.len(), 2);
    }

    #[test]
    fn identical_one_line_exceptions_close_together_stay_apart() {
        for text in [
            "ValueError: bad input",
            "java.lang.IllegalStateException: pool closed",
            "Error: connect ECONNREFUSED 10.0.0.5:5432",
            "[ERROR] ValueError: bad input",
        ] {
            let entries: Vec<_> = (0..10).map(|i| line(text, "a", i * 100_000)).collect();
            let events = run(entries);
            assert_eq!(events.len(), 10, "{text}: {events:#?}");
            // Even when written in the same microsecond: one line, one event.
            let entries: Vec<_> = (0..10).map(|_| line(text, "a", 5)).collect();
            assert_eq!(run(entries).len(), 10, "{text}");
        }
    }

    #[test]
    fn lines_far_apart_in_time_are_not_joined() {
        let events = run(vec![
            line(PY_START, "a", 0),
            line("  File \"/app/x.py\", line 1, in <module>", "a", 10),
            line("ValueError: late", "a", 60_000_000),
        ]);
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn two_tracebacks_in_a_row_stay_two_events() {
        let mut entries = lines(PYTHON, "a", 0);
        entries.push(line(
            "RuntimeError: Failed to setup enhanced middleware",
            "a",
            20,
        ));
        let events = run(entries);
        assert_eq!(events.len(), 2, "{events:#?}");
        assert_eq!(events[1].exception.as_ref().unwrap().kind, "RuntimeError");
    }

    #[test]
    fn a_chain_one_line_an_entry_is_one_event() {
        let text = format!(
            "{PYTHON}\n\nThe above exception was the direct cause of the following exception:\n\n{PY_START}\n  File \"/app/startup.py\", line 40, in setup\n    raise RuntimeError(\"x\")\nRuntimeError: Failed to setup"
        );
        let events = run(lines(&text, "a", 0));
        assert_eq!(events.len(), 1, "{events:#?}");
        assert_eq!(
            events[0].exception.as_ref().unwrap().kind,
            "ModuleNotFoundError"
        );
    }

    #[test]
    fn a_dotnet_console_block_is_one_event_with_its_exception() {
        let text = "fail: Microsoft.Extensions.Hosting.Internal.Host[9]
      BackgroundService failed
      System.InvalidOperationException: Queue 'invoice-events' was not found.
         at Acme.Workers.Poller.EnsureQueueExistsAsync(CancellationToken cancellationToken) in /src/Poller.cs:line 41
         at Microsoft.Extensions.Hosting.Internal.Host.TryExecuteBackgroundServiceAsync(BackgroundService backgroundService)
info: Microsoft.Hosting.Lifetime[0]
      Application is shutting down...";
        let events = run(lines(text, "a", 0));
        assert_eq!(events.len(), 2, "{events:#?}");
        assert_eq!(events[0].entry.severity, Severity::Error);
        assert_eq!(
            kinds(&events)[0].as_deref(),
            Some("System.InvalidOperationException")
        );
        assert!(events[1].entry.message.contains("shutting down"));
        assert_eq!(infer_severity("warn: Acme.Api[0]"), Severity::Warning);
        assert_eq!(infer_severity("crit: Acme.Host[10]"), Severity::Error);
    }

    #[test]
    fn an_error_line_written_with_its_traceback_is_its_header() {
        // `logger.exception("Error handling request %s", uri)`, one line an entry.
        let mut entries = vec![line(
            "[2026-03-02 14:23:11 +0000] [42] [ERROR] Error handling request /search?q=atlas",
            "a",
            0,
        )];
        entries.extend(lines(PYTHON, "a", 2));
        let events = run(entries.clone());
        assert_eq!(events.len(), 1, "{events:#?}");
        assert!(events[0].entry.message.contains("Error handling request"));
        // An informational line before a traceback introduces nothing.
        entries[0].message = "[2026-03-02 14:23:11 +0000] [42] [INFO] GET /search".into();
        assert_eq!(run(entries).len(), 2);
    }

    #[test]
    fn gunicorn_header_and_the_line_after_the_traceback() {
        let mut entries = vec![line(
            "[2025-09-15 21:48:03 +0000] [7] [ERROR] Exception in worker process",
            "a",
            0,
        )];
        entries.extend(lines(PYTHON, "a", 2));
        entries.push(line(
            "[2025-09-15 21:48:03 +0000] [7] [INFO] Worker exiting (pid: 7)",
            "a",
            40,
        ));
        let events = run(entries);
        assert_eq!(events.len(), 2, "{events:#?}");
        assert!(
            events[0]
                .entry
                .message
                .contains("Exception in worker process")
        );
        assert_eq!(events[0].entries, 7);
        assert!(events[1].entry.message.contains("Worker exiting"));
    }

    #[test]
    fn a_header_before_a_whole_traceback_in_one_entry() {
        let events = run(vec![
            line("[ERROR] Exception in worker process", "a", 0),
            line(PYTHON, "a", 1_000),
        ]);
        assert_eq!(events.len(), 1, "{events:#?}");
        assert_eq!(
            events[0].exception.as_ref().unwrap().kind,
            "ModuleNotFoundError"
        );
    }

    #[test]
    fn a_logging_error_block_is_one_handled_event() {
        let block = "--- Logging error ---
Traceback (most recent call last):
  File \"/usr/local/lib/python3.11/logging/__init__.py\", line 1110, in emit
    msg = self.format(record)
TypeError: not all arguments converted during string formatting
Call stack:
  File \"/app/main.py\", line 10, in <module>
    log.info(\"ready\", 1)
Message: 'ready'
Arguments: (1,)";
        let mut entries = lines(block, "a", 0);
        entries.push(line(
            "AttributeError: 'NoneType' object has no attribute 'x'",
            "a",
            90_000,
        ));
        let events = run(entries);
        assert_eq!(events.len(), 2, "{events:#?}");
        assert!(events[0].handled);
        assert_eq!(events[0].entries, 10);
        assert_eq!(events[0].exception.as_ref().unwrap().kind, "TypeError");
        assert!(!events[1].handled);
    }

    #[test]
    fn go_panic_with_goroutines_is_one_event() {
        let go = "panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1b2c]

goroutine 1 [running]:
main.(*Server).Start(0x0)
\t/app/server.go:42 +0x2c
main.main()
\t/app/main.go:17 +0x1d
exit status 2";
        let mut entries = lines(go, "a", 0);
        entries.push(line(
            "2025/09/15 21:48:09 listening on :8080",
            "a",
            9_000_000,
        ));
        let events = run(entries);
        assert_eq!(kinds(&events), vec![Some("panic".to_string()), None]);
        assert_eq!(events[0].entries, 9);
        assert_eq!(events[0].exception.as_ref().unwrap().frames.len(), 2);
    }

    #[test]
    fn node_crash_with_its_header_and_footer_is_one_event() {
        let node = "node:internal/modules/cjs/loader:1228
  throw err;
  ^

Error: Cannot find module './routes/billing'
Require stack:
- /app/src/server.js
    at Module._resolveFilename (node:internal/modules/cjs/loader:1225:15)
    at Object.<anonymous> (/app/src/server.js:12:17) {
  code: 'MODULE_NOT_FOUND',
  requireStack: [ '/app/src/server.js' ]
}

Node.js v20.11.1";
        let events = run(lines(node, "a", 0));
        assert_eq!(events.len(), 1, "{events:#?}");
        let e = events[0].exception.as_ref().unwrap();
        assert_eq!(e.kind, "Error");
        assert_eq!(e.message, "Cannot find module './routes/billing'");
    }

    #[test]
    fn spring_failure_report_is_one_event() {
        let report = "
***************************
APPLICATION FAILED TO START
***************************

Description:

Failed to configure a DataSource: 'url' attribute is not specified and no embedded datasource could be configured.

Action:

Consider defining a bean of type 'DataSource' in your configuration.";
        let mut entries = lines(report.trim_start(), "a", 0);
        entries.push(line("Container called exit(1).", "a", 800_000));
        let events = run(entries);
        assert_eq!(events.len(), 2, "{events:#?}");
        assert!(
            events[0]
                .entry
                .message
                .contains("Failed to configure a DataSource")
        );
    }

    #[test]
    fn a_report_newest_first_keeps_its_last_line() {
        let report = "***************************
APPLICATION FAILED TO START
***************************
Description:
Parameter 2 of constructor required a bean of type 'X' that could not be found.
Action:
Consider defining a bean of type 'X' in your configuration.";
        let mut entries = lines(report, "a", 0);
        entries.reverse();
        let events = run(entries);
        assert_eq!(events.len(), 1, "{events:#?}");
        assert!(events[0].entry.message.ends_with("in your configuration."));
    }

    #[test]
    fn severity_is_read_from_the_runtimes_words() {
        assert_eq!(infer_severity("panic: boom"), Severity::Error);
        assert_eq!(
            infer_severity("Error: Cannot find module 'x'"),
            Severity::Error
        );
        assert_eq!(
            infer_severity("[2025-09-15 21:48:03 +0000] [1] [ERROR] Worker (pid:7) exited"),
            Severity::Error
        );
        assert_eq!(
            infer_severity("[2025-09-15 21:48:03 +0000] [1] [CRITICAL] WORKER TIMEOUT"),
            Severity::Error
        );
        assert_eq!(
            infer_severity("time=x level=warn msg=slow"),
            Severity::Warning
        );
        // Celery's `[asctime: LEVEL/process]`.
        assert_eq!(
            infer_severity("[2025-11-21 21:57:41,219: ERROR/MainProcess] consumer: Cannot connect"),
            Severity::Error
        );
        assert_eq!(
            infer_severity("[2025-11-21 21:50:02,004: INFO/ForkPoolWorker-2] Task sent"),
            Severity::Info
        );
        assert_eq!(
            infer_severity("INFO:     Started server process [1]"),
            Severity::Info
        );
        assert_eq!(infer_severity("KeyError: 'DATABASE_URL'"), Severity::Error);
        assert_eq!(infer_severity("listening on :8080"), Severity::Default);
        // A request the app answered with a 5xx is a failure even in an INFO line.
        let lograge = "I, [2025-06-12T14:18:44.959740 #1]  INFO -- : [89813e11] method=GET path=/a format=json status=500 error='X: y'";
        assert_eq!(infer_severity(lograge), Severity::Error);
        assert_eq!(
            infer_severity(&lograge.replace("status=500", "status=404")),
            Severity::Info
        );
        assert_eq!(
            infer_severity("level=info msg=done status=503"),
            Severity::Info
        );
        assert_eq!(
            infer_severity("2025-08-14T03:01:19.238Z pid=1 tid=sll WARN: retry"),
            Severity::Warning
        );
    }

    #[test]
    fn log_prefixes_are_stripped() {
        assert_eq!(
            strip_log_prefix("[2025-09-15 21:48:03 +0000] [7] [ERROR] Exception in worker process"),
            "Exception in worker process"
        );
        assert_eq!(
            strip_log_prefix("ERROR:    Traceback (most recent call last):"),
            PY_START
        );
        assert_eq!(
            strip_log_prefix(
                "2025-09-15T21:48:03.123Z ERROR 1 --- [           main] o.s.boot.SpringApplication               : Application run failed"
            ),
            "Application run failed"
        );
        assert_eq!(
            strip_log_prefix(
                "2025-03-13T11:14:28.885Z ERROR 1 --- [fulfillment-api] [           main] o.s.b.d.LoggingFailureAnalysisReporter   : "
            ),
            ""
        );
        let nest = "[Nest] 1  - 11/30/2025, 10:00:29 AM   ERROR [ExceptionHandler] connect ECONNREFUSED 10.8.0.3:5432";
        assert_eq!(strip_log_prefix(nest), "connect ECONNREFUSED 10.8.0.3:5432");
        assert_eq!(infer_severity(nest), Severity::Error);
        assert_eq!(strip_log_prefix("plain words"), "plain words");
        // Next.js marks the level with a glyph.
        let next = " ⨯ TypeError: Cannot read properties of undefined (reading 'amount')";
        assert_eq!(
            strip_log_prefix(next),
            "TypeError: Cannot read properties of undefined (reading 'amount')"
        );
        assert_eq!(infer_severity(next), Severity::Error);
        assert_eq!(
            infer_severity(" ⚠ For production Image Optimization with Next.js, …"),
            Severity::Warning
        );
        assert_eq!(infer_severity(" ✓ Ready in 319ms"), Severity::Info);
        assert_eq!(infer_severity("⨯x"), Severity::Default);
    }
}
