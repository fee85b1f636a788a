//! Tracebacks: reads exception type, message and frames for Python, Java, Go, Node and Rust
//! from the text of one event ([`super::joiner`] puts split tracebacks back together).

use super::joiner::{EXCEPTION_LINE, strip_log_prefix};
use crate::model::LogEntry;
use regex::Regex;
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
    /// A handled report (a logging library's `--- Logging error ---`): the process carried on.
    pub handled: bool,
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
pub static RUST_PANIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^thread '([^']*)' panicked at (?:'(.*)', )?([^\s:]+):(\d+):\d+:?\s*$").unwrap()
});
/// After frames, Python's last line may name any class (`ImproperlyConfigured: …`).
static PY_LAST_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)(?::\s?(.*))?$").unwrap());

pub const PY_START: &str = "Traceback (most recent call last):";

/// Reads the exception of a text that holds a traceback (or is one exception line);
/// chains resolve to the innermost cause.
pub fn parse_exception(text: &str) -> Option<Exception> {
    let lines: Vec<&str> = text.lines().collect();
    if lines.iter().any(|l| strip_log_prefix(l).trim() == PY_START)
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
    if let Some(e) = parse_ruby(&lines) {
        return Some(e);
    }
    if let Some(e) = parse_elixir(&lines) {
        return Some(e);
    }
    if let Some(e) = parse_rack_dump(&lines) {
        return Some(e);
    }
    if let Some(e) = parse_rails_report(&lines) {
        return Some(e);
    }
    if let Some(e) = parse_php_monolog(&lines) {
        return Some(e);
    }
    parse_java_or_node(&lines)
        .or_else(|| {
            // `console.error("sweep failed", err)`: a message, then the exception on the same
            // line, then its frames.
            let first = lines.first()?;
            let has_frames = lines.len() > 1
                && lines[1..]
                    .iter()
                    .any(|l| NODE_FRAME.is_match(l) || JAVA_FRAME.is_match(l));
            let at = EMBEDDED_EXCEPTION.find(first)?.start();
            if !has_frames || at == 0 {
                return None;
            }
            let mut rest: Vec<&str> = vec![first[at..].trim_start()];
            rest.extend_from_slice(&lines[1..]);
            parse_java_or_node(&rest)
        })
        .or_else(|| error_field(lines.first()?))
}

/// An exception a key=value line carries in its error field (lograge's `error='Kind:
/// message'`, a logfmt `exception="…"`): the line reports it.
fn error_field(line: &str) -> Option<Exception> {
    static ERROR_FIELD: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(?:^|\s)(?:error|err|exception|exc)=(?:'([^']+)'|"([^"]+)")"#).unwrap()
    });
    let c = ERROR_FIELD.captures(line)?;
    let value = c.get(1).or_else(|| c.get(2))?.as_str();
    if EMBEDDED_EXCEPTION.find(value)?.start() != 0 {
        return None;
    }
    parse_java_or_node(&[value])
}

/// Where an exception type starts in the middle of a line, after a message.
pub fn embedded_exception_start(line: &str) -> Option<usize> {
    EMBEDDED_EXCEPTION
        .find(line)
        .map(|m| m.start())
        .filter(|&i| i > 0)
}

/// An exception type in the middle of a line, after a message.
static EMBEDDED_EXCEPTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:[A-Za-z_$][\w$]*(?:\.|::))*(?:[A-Z][\w$]*)?(?:Error|Exception): ").unwrap()
});

/// One exception of a Python chain: type, message, frames, and its `key = value` detail lines.
type PyException = (String, String, Vec<Frame>, Vec<(String, String)>);

fn parse_python(lines: &[&str]) -> Option<Exception> {
    let mut chain: Vec<PyException> = Vec::new();
    let mut frames = Vec::new();
    let mut in_traceback = false;
    for line in lines {
        let trimmed = line.trim();
        if strip_log_prefix(line).trim() == PY_START {
            in_traceback = true;
            frames = Vec::new();
            continue;
        }
        if !in_traceback {
            // The detail lines of the last exception's message (gRPC's `status = …`).
            if let (Some(last), Some(c)) = (chain.last_mut(), DETAIL_LINE.captures(line)) {
                last.3.push((c[1].to_string(), c[2].trim().to_string()));
            }
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
                Vec::new(),
            ));
            in_traceback = false;
        }
    }
    // Python prints the original exception first and the ones it caused after it. Each part
    // of a Python chain shows only its own frames, so frames in the service's code say where.
    pick_cause(
        true,
        chain
            .into_iter()
            .map(|(kind, message, frames, details)| (kind, with_details(message, &details), frames))
            .collect(),
    )
}

/// The cause of a chain (innermost first): the most fundamental kind (an import or
/// configuration error over what it caused), not a generic wrapper, and among equals the
/// innermost that says where (raised through the service's own code, or naming an address,
/// host, module or variable); a library's `KeyError` translated into a meaningful `OSError`
/// is told by the translation.
fn pick_cause(
    frames_say_where: bool,
    chain: Vec<(String, String, Vec<Frame>)>,
) -> Option<Exception> {
    let exceptions: Vec<Exception> = chain
        .into_iter()
        .map(|(kind, message, frames)| Exception {
            kind,
            message,
            frames,
            raised_while_handling: Vec::new(),
        })
        .collect();
    // An exception whose message quotes a more inner one's (urllib3's `MaxRetryError: … (Caused
    // by SSLError(SSLCertVerificationError(1, '…')))`) only restates it.
    let restates = |i: usize| {
        exceptions[..i].iter().any(|inner| {
            let m = inner.message.trim();
            m.len() >= 20 && exceptions[i].message.contains(m)
        })
    };
    let best = (0..exceptions.len()).min_by_key(|&i| {
        let e = &exceptions[i];
        let says_where = (frames_say_where
            && e.frames
                .iter()
                .any(|f| super::cluster::in_app_path(f, "").is_some()))
            || super::entities::names_something(&e.message);
        (
            super::cluster::is_wrapper("", Some(e)),
            restates(i),
            // An exception with no message of its own (billiard's `ExceptionWithTraceback:`
            // around the real one), or only an HTTP status (`403 Forbidden`, which the call
            // that got it says with what it called), says nothing when another one does.
            e.message
                .trim_matches(|c: char| c.is_whitespace() || c == '"')
                .is_empty()
                || (exceptions.len() > 1 && is_status_line(e.message.lines().next().unwrap_or(""))),
            super::cluster::exception_kind(e),
            !says_where,
            i,
        )
    })?;
    let others: Vec<String> = exceptions
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != best)
        .map(|(_, e)| join_kind(&e.kind, &e.message))
        .collect();
    let mut cause = exceptions.into_iter().nth(best)?;
    cause.raised_while_handling = others;
    Some(cause)
}

/// A message that is only an HTTP status: `403 Forbidden`, `503 Service Unavailable`.
fn is_status_line(line: &str) -> bool {
    static STATUS: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[1-5]\d\d(?: [A-Z][A-Za-z\-]*)*$").unwrap());
    STATUS.is_match(line.trim())
}

/// `key = value` lines under an exception line.
static DETAIL_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^\s+(\w+) = "?(.*?)"?\s*$"#).unwrap());

/// A message that only opens (`<_InactiveRpcError of RPC that terminated with:`) says what it
/// is in its detail lines: the status and the details, without the debug string.
fn with_details(message: String, details: &[(String, String)]) -> String {
    let opens =
        message.trim().is_empty() || message.trim_end().ends_with(':') || message.starts_with('<');
    if !opens || details.is_empty() {
        return message;
    }
    let parts: Vec<String> = details
        .iter()
        .filter(|(k, _)| k != "debug_error_string")
        .map(|(k, v)| {
            if k == "status" || k == "code" {
                v.trim_start_matches("StatusCode.").to_string()
            } else {
                v.clone()
            }
        })
        .collect();
    if parts.is_empty() {
        message
    } else {
        parts.join(": ")
    }
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
    for (at, line) in lines.iter().enumerate() {
        let trimmed = strip_log_prefix(line).trim();
        // Java's `Caused by:`, .NET's ` ---> ` and Node's `[cause]:` (an error's `cause`, as
        // util.inspect prints it) name the inner exception.
        let (is_cause, candidate) = match trimmed
            .strip_prefix("Caused by: ")
            .or_else(|| trimmed.strip_prefix("---> "))
            .or_else(|| trimmed.strip_prefix("[cause]: "))
        {
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
        // Indented text goes on with a message, except the block's first exception (.NET's
        // console logger indents everything under its `fail: Category[EventId]` line). A
        // message that ends in a colon gets its next line (`Configuration validation
        // failed:`, then `\tSRCFG00014: The config property … is required`).
        if (line.starts_with(' ') || line.starts_with('\t'))
            && !is_cause
            && !(chain.is_empty() && EXCEPTION_LINE.is_match(candidate))
        {
            if let Some(last) = chain.last_mut()
                && last.2.is_empty()
                && last.1.ends_with(':')
                && !candidate.is_empty()
            {
                last.1 = format!("{} {candidate}", last.1);
            }
            continue;
        }
        // Node's report of an uncaught error opens with where it was thrown (`file:line`,
        // the source line, a caret): the block's header, not an exception.
        if NODE_THROW_SITE.is_match(candidate) || candidate.trim_matches('^').is_empty() {
            continue;
        }
        // An error Node printed without a stack: `[Name: message] {`.
        if let Some(c) = NODE_INSPECTED.captures(candidate)
            && chain.is_empty()
        {
            let message = &c[2];
            // A rejection with a value that is no Error: the value is what failed.
            let message = NODE_REJECTION_REASON
                .captures(message)
                .map_or(message, |r| r.get(1).map_or("", |m| m.as_str()));
            chain.push((c[1].to_string(), message.to_string(), Vec::new()));
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
            continue;
        }
        // A stack's first line names its error whatever the name ends in: the AWS SDK's
        // `SignatureDoesNotMatch: …`, then `    at …` frames.
        if chain.is_empty()
            && let Some(c) = NAMED_ERROR.captures(candidate)
            && lines
                .get(at + 1)
                .is_some_and(|next| NODE_FRAME.is_match(next) || JAVA_FRAME.is_match(next))
        {
            chain.push((c[1].to_string(), c[2].to_string(), Vec::new()));
        }
    }
    // Java's innermost cause is the last `Caused by:`. Only the outermost shows the service's
    // frames there, so only what a message names says where.
    chain.reverse();
    pick_cause(false, chain)
}

/// `Name: message` where the name is one CamelCase word (`SignatureDoesNotMatch`): an error's
/// name when frames follow.
static NAMED_ERROR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+): (\S.*)$").unwrap());

/// Where Node says an uncaught error was thrown: `node:internal/process/promises:288`,
/// `/app/src/server.js:41`.
static NODE_THROW_SITE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:node:[\w/.-]+|/[^\s:]+\.[cm]?[jt]s):\d+$").unwrap());
/// `[UnhandledPromiseRejection: This error originated … ] {`: util.inspect of an error.
static NODE_INSPECTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[([A-Z][\w$]*): (.+)\](?: \{)?$").unwrap());
/// The value a promise was rejected with, in Node's `UnhandledPromiseRejection` text.
static NODE_REJECTION_REASON: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"rejected with the reason "(.*)"\.?$"#).unwrap());

/// An exception as Monolog (Laravel, Symfony) writes it: `[object] (Class(code: N): message
/// at /file.php:12)`, on the log line and after each `[previous exception]`.
static PHP_OBJECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[object\] \(([A-Za-z_\\][\w\\]*)\(code: [^)]*\): (.*) at (/[^\s:]+):(\d+)\)")
        .unwrap()
});
/// `#0 /app/src/File.php(12): Class->method()`, innermost call first.
static PHP_FRAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^#\d+ (/[^(\s]+)\((\d+)\): ([^(\s]+)").unwrap());

/// PHP through Monolog: the logged exception, its `[stacktrace]`, and a `[previous exception]`
/// for each cause, innermost last. The cause is the innermost one that is not a wrapper, as
/// for every runtime; the exceptions it raised are named with it.
fn parse_php_monolog(lines: &[&str]) -> Option<Exception> {
    // Type, message, and frames: the calls innermost first, as PHP prints them, then the
    // throw site.
    let mut chain: Vec<(String, String, Vec<Frame>)> = Vec::new();
    let mut sites: Vec<Frame> = Vec::new();
    for line in lines {
        let trimmed = line.trim();
        if let Some(c) = PHP_OBJECT.captures(trimmed)
            && (chain.is_empty() || trimmed.starts_with("[previous exception]"))
        {
            // Monolog's JSON doubles every backslash of a class name.
            chain.push((
                c[1].replace("\\\\", "\\"),
                c[2].trim().to_string(),
                Vec::new(),
            ));
            sites.push(Frame {
                file: c[3].to_string(),
                function: String::new(),
                line: c[4].parse().ok(),
            });
        } else if let Some(c) = PHP_FRAME.captures(trimmed)
            && let Some(last) = chain.last_mut()
        {
            last.2.push(Frame {
                file: c[1].to_string(),
                function: c[3].replace("\\\\", "\\"),
                line: c[2].parse().ok(),
            });
        }
    }
    if chain.is_empty() {
        return None;
    }
    for ((_, _, frames), mut site) in chain.iter_mut().zip(sites) {
        // PHP names at each place the function called from there; the function running
        // there is the one the next outer frame called (`InvoicePdfBuilder.php(88)` runs
        // the `vatBlock` that `#2 …(43): …->vatBlock()` called), and the throw site runs the
        // one `#0` called.
        let mut outer_called = String::new();
        for f in frames.iter_mut().rev() {
            outer_called = std::mem::replace(&mut f.function, outer_called);
        }
        site.function = outer_called;
        // An error turned into an exception by a handler is thrown where a frame already is.
        let site_is_a_frame = frames
            .iter()
            .any(|f| f.file == site.file && f.line == site.line);
        // Outermost call first, as everywhere else, ending where it was thrown.
        frames.reverse();
        if !site_is_a_frame {
            frames.push(site);
        }
    }
    let best = (0..chain.len())
        .rev()
        .find(|&i| {
            let (kind, message, _) = &chain[i];
            !super::cluster::is_wrapper(
                "",
                Some(&Exception {
                    kind: kind.clone(),
                    message: message.clone(),
                    frames: Vec::new(),
                    raised_while_handling: Vec::new(),
                }),
            )
        })
        .unwrap_or(chain.len() - 1);
    let others = chain
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != best)
        .map(|(_, (k, m, _))| join_kind(k, m))
        .collect();
    let (kind, message, frames) = chain.swap_remove(best);
    Some(Exception {
        kind,
        message,
        frames,
        raised_while_handling: others,
    })
}

fn parse_go(lines: &[&str]) -> Option<Exception> {
    let first = lines
        .iter()
        .position(|l| {
            let l = strip_log_prefix(l);
            l.starts_with("panic: ")
                || l.starts_with("fatal error: ")
                || l.starts_with("http: panic serving ")
        })
        .or_else(|| recovered_panic(lines))?;
    let head = strip_log_prefix(lines[first]);
    let (kind, message) = if let Some((_, rest)) = head.split_once("panic: ")
        && !head.starts_with("panic: ")
    {
        // A recovery middleware's own line: `recovered from panic: MESSAGE`.
        ("panic".to_string(), rest.trim().to_string())
    } else if let Some(rest) = head.strip_prefix("http: panic serving ") {
        // net/http recovered a handler's panic: `http: panic serving ADDR: MESSAGE`.
        let message = rest.split_once(": ").map_or(rest, |(_, m)| m);
        ("panic".to_string(), message.trim().to_string())
    } else {
        match head.split_once(": ") {
            Some((k, m)) => (k.to_string(), m.trim().to_string()),
            None => ("panic".to_string(), String::new()),
        }
    };
    let mut frames = Vec::new();
    let mut function: Option<&str> = None;
    let mut at_panic = false;
    for line in &lines[first + 1..] {
        if let Some(c) = GO_FILE.captures(line) {
            if std::mem::take(&mut at_panic) {
                // What Go printed down to `panic(…)` is the deferred recovery that caught
                // it (`debug.Stack`, the middleware): the failure is below.
                frames.clear();
                continue;
            }
            frames.push(Frame {
                file: c[1].to_string(),
                function: function.take().unwrap_or("").to_string(),
                line: c[2].parse().ok(),
            });
        } else if line.starts_with("panic(") {
            at_panic = true;
            function = None;
        } else if !line.starts_with('\t') && line.ends_with(')') {
            // `main.handler(0xc000010000)`, `pkg.(*Server).Redeem(…)`: the function,
            // arguments dropped.
            function = line.rfind('(').map(|i| &line[..i]);
        }
    }
    // Go prints the innermost call first; frames run outermost first here, as for Python.
    frames.reverse();
    Some(Exception {
        kind,
        message,
        frames,
        raised_while_handling: Vec::new(),
    })
}

/// A panic that a recovery middleware caught and logged with Go's stack dump: the line that
/// says "panic" before `goroutine N [running]:`.
fn recovered_panic(lines: &[&str]) -> Option<usize> {
    let dump = lines
        .iter()
        .position(|l| GO_GOROUTINE.is_match(strip_log_prefix(l)))?;
    lines[..dump]
        .iter()
        .rposition(|l| l.to_ascii_lowercase().contains("panic"))
}

static GO_GOROUTINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^goroutine \d+ \[[a-z ]+(?:, \d+ minutes)?\]:$").unwrap());

/// Ruby's uncaught exception: `file:line:in 'method': message (Class)`, then `from` frames.
/// Elixir's report of an exception: `** (RuntimeError) environment variable X is missing.`
pub static ELIXIR_HEAD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\*\* \(([A-Z][\w.]*)\) ?(.*)$").unwrap());
/// An Elixir stack frame: `    (app 1.2.3) lib/x.ex:12: Mod.fun/2` or `    /app/x.exs:27: (file)`.
static ELIXIR_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s+(?:\([\w]+ [\w.+-]+\) )?([^\s:()][^\s:]*):(\d+): (.+)$").unwrap()
});

/// The first line that, past its log prefix, opens with `words` and matches `head`: the
/// words first, as most events are not this runtime's and captures are slow.
fn head_line<'a>(
    lines: &[&'a str],
    words: &str,
    head: &Regex,
) -> Option<(usize, regex::Captures<'a>)> {
    lines.iter().enumerate().find_map(|(i, l)| {
        let t = strip_log_prefix(l).trim();
        t.starts_with(words)
            .then(|| head.captures(t))
            .flatten()
            .map(|c| (i, c))
    })
}

/// An Elixir exception: its module, its message (with the lines that follow it before the
/// frames), its frames (innermost first as printed, outermost first here).
fn parse_elixir(lines: &[&str]) -> Option<Exception> {
    let (i, c) = head_line(lines, "** (", &ELIXIR_HEAD)?;
    let mut message = c[2].trim().to_string();
    let mut frames = Vec::new();
    for l in &lines[i + 1..] {
        if let Some(f) = ELIXIR_FRAME.captures(l) {
            frames.push(file_line_function(&f));
        } else if frames.is_empty() && !l.starts_with(' ') && !l.trim().is_empty() {
            // The message goes on until the first frame.
            message.push('\n');
            message.push_str(l.trim());
        } else if !frames.is_empty() {
            break;
        }
    }
    frames.reverse();
    Some(Exception {
        kind: c[1].to_string(),
        message: message.lines().next().unwrap_or("").to_string(),
        frames,
        raised_while_handling: Vec::new(),
    })
}

pub static RUBY_HEAD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\S+?):(\d+):in [`']([^']+)': (.*) \(([A-Z][\w:]*)\)\s*$").unwrap()
});
/// Sinatra's and Rack's dump of an unrescued error: `2025-09-23 14:22:03 - Faraday::ServerError
/// - the server responded with status 503:` (the time taken off as a log prefix), then its
/// backtrace, one tab-indented `file:line:in 'method'` a line.
pub static RACK_DUMP_HEAD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^- ([A-Z]\w*(?:::[A-Z]\w*)*) - (.*?):?$").unwrap());
static RUBY_FRAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s+(\S+?):(\d+):in [`']([^']+)'").unwrap());

/// A Rack dump: the class, the message, the frames (innermost first as printed).
fn parse_rack_dump(lines: &[&str]) -> Option<Exception> {
    let (i, c) = head_line(lines, "- ", &RACK_DUMP_HEAD)?;
    let mut frames: Vec<Frame> = lines[i + 1..]
        .iter()
        .map_while(|l| RUBY_FRAME.captures(l))
        .map(|f| file_line_function(&f))
        .collect();
    if frames.is_empty() {
        return None;
    }
    frames.reverse();
    Some(Exception {
        kind: c[1].to_string(),
        message: c[2].to_string(),
        frames,
        raised_while_handling: Vec::new(),
    })
}

/// Rails' report of an exception a request raised (`ActionDispatch::DebugExceptions`):
/// `Redis::TimeoutError (Waited 1.0 seconds):`, the message possibly going on over lines
/// until `):`, then the application trace, one `file:line:in 'method'` a line; every line
/// behind the request's tags (`[request-id] `).
static RAILS_REPORT_HEAD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([A-Z]\w*(?:::[A-Z]\w*)+|[A-Z]\w*(?:Error|Exception)) \((.+?)(\):)?$").unwrap()
});
static RAILS_FRAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\S+?\.rb):(\d+):in [`']([^']+)'").unwrap());

/// A line without the tags a tagged logger put before it (`[36926c06-…] `).
fn without_tags(line: &str) -> &str {
    let mut t = line.trim_start();
    while let Some(rest) = t.strip_prefix('[')
        && let Some(end) = rest.find(']').filter(|&e| e <= 64)
    {
        t = rest[end + 1..].trim_start();
    }
    t
}

fn parse_rails_report(lines: &[&str]) -> Option<Exception> {
    let (i, c) = lines.iter().enumerate().find_map(|(i, l)| {
        let t = without_tags(strip_log_prefix(l)).trim_end();
        RAILS_REPORT_HEAD.captures(t).map(|c| (i, c))
    })?;
    let mut frames: Vec<Frame> = lines[i + 1..]
        .iter()
        .filter_map(|l| RAILS_FRAME.captures(without_tags(l)))
        .map(|f| file_line_function(&f))
        .collect();
    if frames.is_empty() && c.get(3).is_none() {
        return None;
    }
    frames.reverse();
    Some(Exception {
        kind: c[1].to_string(),
        message: c[2].to_string(),
        frames,
        raised_while_handling: Vec::new(),
    })
}

/// A frame from captures `file`, `line`, `function` in that order (Ruby's and Elixir's
/// `file:line:in 'method'` and `file:line: function`).
fn file_line_function(c: &regex::Captures) -> Frame {
    Frame {
        file: c[1].to_string(),
        function: c[3].to_string(),
        line: c[2].parse().ok(),
    }
}

static RUBY_FROM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s+from (\S+?):(\d+):in [`']([^']+)'").unwrap());

fn parse_ruby(lines: &[&str]) -> Option<Exception> {
    let (i, c) = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains(":in "))
        .find_map(|(i, l)| RUBY_HEAD.captures(l.trim_end()).map(|c| (i, c)))?;
    let mut frames = vec![file_line_function(&c)];
    for l in &lines[i + 1..] {
        if let Some(f) = RUBY_FROM.captures(l) {
            frames.push(file_line_function(&f));
        }
    }
    // Ruby prints the innermost call first; Python's order (outermost first) is the model's.
    frames.reverse();
    Some(Exception {
        kind: c[5].to_string(),
        message: c[4].to_string(),
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
pub(crate) mod tests {
    use super::*;

    pub(crate) const PYTHON: &str = "Traceback (most recent call last):
  File \"/app/netra_backend/app/main.py\", line 12, in <module>
    from netra_backend.app.middleware import gcp_auth_context_middleware
  File \"/app/netra_backend/app/middleware/gcp_auth_context_middleware.py\", line 23, in <module>
    from netra_backend.app.services.monitoring import set_request_context
ModuleNotFoundError: No module named 'netra_backend.app.services.monitoring'";

    #[test]
    fn an_exception_without_a_message_gives_way_to_the_one_it_carries() {
        let text = r#"Task handler raised error: WorkerLostError('Worker exited prematurely: signal 9 (SIGKILL) Job: 723.')
Traceback (most recent call last):
  File "/usr/local/lib/python3.11/site-packages/billiard/pool.py", line 1367, in mark_as_worker_lost
    raise WorkerLostError(
billiard.einfo.ExceptionWithTraceback: 
"""
Traceback (most recent call last):
  File "/usr/local/lib/python3.11/site-packages/billiard/pool.py", line 1367, in mark_as_worker_lost
    raise WorkerLostError(
billiard.exceptions.WorkerLostError: Worker exited prematurely: signal 9 (SIGKILL) Job: 723.
""""#;
        let e = parse_exception(text).expect("an exception");
        assert_eq!(e.kind, "billiard.exceptions.WorkerLostError");
        assert!(
            e.message.starts_with("Worker exited prematurely"),
            "{}",
            e.message
        );
    }

    #[test]
    fn monolog_chains_resolve_to_the_innermost_php_exception() {
        let text = r#"[2025-11-17 13:29:54] production.ERROR: SQLSTATE[HY000] [2002] Connection refused (Connection: mysql, SQL: select 1) {"exception":"[object] (Illuminate\\Database\\QueryException(code: 2002): SQLSTATE[HY000] [2002] Connection refused (Connection: mysql, SQL: select 1) at /var/www/html/vendor/laravel/framework/src/Illuminate/Database/Connection.php:829)
[stacktrace]
#0 /var/www/html/app/Http/Controllers/InvoiceController.php(41): Illuminate\\Database\\Connection->select()
#1 {main}
[previous exception] [object] (PDOException(code: 2002): SQLSTATE[HY000] [2002] Connection refused at /var/www/html/vendor/laravel/framework/src/Illuminate/Database/Connectors/Connector.php:65)
[stacktrace]
#0 /var/www/html/vendor/laravel/framework/src/Illuminate/Database/Connectors/Connector.php(65): PDO->__construct()
#1 {main}
"}"#;
        let e = parse_exception(text).unwrap();
        assert_eq!(e.kind, "PDOException");
        assert_eq!(e.message, "SQLSTATE[HY000] [2002] Connection refused");
        assert_eq!(e.frames.last().unwrap().line, Some(65));
        assert!(e.raised_while_handling[0].starts_with("Illuminate\\Database\\QueryException"));
    }

    #[test]
    fn a_php_frame_runs_the_function_its_outer_frame_called() {
        let text = r#"[2025-06-10 09:14:06] production.ERROR: Undefined array key "vat_number" {"userId":4,"exception":"[object] (ErrorException(code: 0): Undefined array key \"vat_number\" at /var/www/html/app/Services/InvoicePdfBuilder.php:88)
[stacktrace]
#0 /var/www/html/vendor/laravel/framework/src/Illuminate/Foundation/Bootstrap/HandleExceptions.php(256): Illuminate\\Foundation\\Bootstrap\\HandleExceptions->handleError()
#1 /var/www/html/app/Services/InvoicePdfBuilder.php(88): Illuminate\\Foundation\\Bootstrap\\HandleExceptions->Illuminate\\Foundation\\Bootstrap\\{closure}()
#2 /var/www/html/app/Services/InvoicePdfBuilder.php(43): App\\Services\\InvoicePdfBuilder->vatBlock(Array)
#3 /var/www/html/app/Http/Controllers/InvoiceController.php(31): App\\Services\\InvoicePdfBuilder->build()
#4 {main}
"}"#;
        let e = parse_exception(text).unwrap();
        // Past the error handler's own frame.
        let innermost = e
            .frames
            .iter()
            .rev()
            .find(|f| f.file.contains("/app/"))
            .unwrap();
        assert_eq!(
            innermost.file,
            "/var/www/html/app/Services/InvoicePdfBuilder.php"
        );
        assert_eq!(innermost.line, Some(88));
        assert_eq!(
            innermost.function,
            "App\\Services\\InvoicePdfBuilder->vatBlock"
        );
        assert_eq!(e.frames.len(), 4, "{:?}", e.frames);
    }

    #[test]
    fn a_stack_names_its_error_whatever_the_name_ends_in() {
        let text = "SignatureDoesNotMatch: The request signature we calculated does not match\n    at throwDefaultError (/app/node_modules/@smithy/smithy-client/dist-cjs/index.js:867:20)\n    at de_CommandError (/app/node_modules/@aws-sdk/client-s3/dist-cjs/index.js:4970:14)";
        let e = parse_exception(text).unwrap();
        assert_eq!(e.kind, "SignatureDoesNotMatch");
        assert!(e.message.starts_with("The request signature"), "{e:?}");
        // Without frames, a line of prose is no error.
        assert!(parse_exception("ReadyState: The service is warming up").is_none());
        // A message that ends in a colon goes on on its next line.
        let e = parse_exception("java.lang.RuntimeException: Failed\nCaused by: io.smallrye.config.ConfigValidationException: Configuration validation failed:\n\tSRCFG00014: The config property a.b is required\n\tat io.smallrye.config.SmallRyeConfig.validate(SmallRyeConfig.java:80)").unwrap();
        assert!(
            e.message
                .ends_with("SRCFG00014: The config property a.b is required"),
            "{e:?}"
        );
    }

    #[test]
    fn node_errors_keep_their_code() {
        let text = "Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'pino' imported from /app/server.js\n    at packageResolve (node:internal/modules/esm/resolve:854:9)";
        let e = parse_exception(text).unwrap();
        assert_eq!(e.kind, "Error [ERR_MODULE_NOT_FOUND]");
        assert_eq!(
            crate::analyze::cluster::exception_kind(&e),
            crate::analyze::cluster::CauseKind::Import
        );
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
    fn elixir_and_rack_reports_give_type_message_and_frames() {
        let elixir = "ERROR! Config provider Config.Reader failed with:
** (RuntimeError) environment variable DATABASE_URL is missing.
For example: ecto://USER:PASS@HOST/DATABASE
    /app/releases/0.9.3/runtime.exs:27: (file)
    (elixir 1.18.4) src/elixir.erl:386: :elixir.eval_external_handler/3
Runtime terminating during boot ({#{message=><<\"environment variable DATABASE_URL is missing.\">>}})";
        let e = parse_exception(elixir).unwrap();
        assert_eq!(e.kind, "RuntimeError");
        assert_eq!(e.message, "environment variable DATABASE_URL is missing.");
        assert_eq!(e.frames.len(), 2);
        // Outermost first, as for every runtime.
        assert_eq!(e.frames[1].file, "/app/releases/0.9.3/runtime.exs");
        assert_eq!(e.frames[1].line, Some(27));

        let rack =
            "2025-09-23 14:22:03 - Faraday::ServerError - the server responded with status 503:
\t/usr/local/bundle/gems/faraday-2.12.2/lib/faraday/response/raise_error.rb:38:in `on_complete'
\t/app/lib/paygrid/client.rb:61:in `capture'";
        let e = parse_exception(rack).unwrap();
        assert_eq!(e.kind, "Faraday::ServerError");
        assert_eq!(e.message, "the server responded with status 503");
        assert_eq!(e.frames[0].file, "/app/lib/paygrid/client.rb");
        assert_eq!(e.frames[0].function, "capture");
        // A dash-separated line without a backtrace is no report.
        assert!(parse_exception("- Deploy - started:").is_none());
    }

    #[test]
    fn a_rails_report_behind_its_request_tags_gives_type_message_and_frames() {
        let tag = "[7b7c898a-6a13-4d37-9365-4bdddfb1a4d8]";
        let report = format!(
            "F, [2024-06-11T10:12:54.851702 #1] FATAL -- : {tag}   
{tag} Redis::TimeoutError (Waited 1.0 seconds (redis://redis-main.prod.internal:6379/0)):
{tag}   
{tag} app/controllers/concerns/current_shopper.rb:14:in `current_shopper'
{tag} app/controllers/application_controller.rb:11:in `set_current_shopper'"
        );
        let e = parse_exception(&report).unwrap();
        assert_eq!(e.kind, "Redis::TimeoutError");
        assert_eq!(
            e.message,
            "Waited 1.0 seconds (redis://redis-main.prod.internal:6379/0)"
        );
        assert_eq!(e.frames.len(), 2);
        assert_eq!(e.frames[1].function, "current_shopper");
        // The same exception written as `Kind: message` (lograge's `error`) is one too.
        let e = parse_exception("Redis::TimeoutError: Waited 1.0 seconds").unwrap();
        assert_eq!(e.kind, "Redis::TimeoutError");
        // And in a key=value line's error field, when it names an exception type.
        let line = "method=GET path=/a status=500 error='ActiveRecord::ConnectionTimeoutError: could not obtain a connection' duration=5014.55";
        let e = parse_exception(line).unwrap();
        assert_eq!(e.kind, "ActiveRecord::ConnectionTimeoutError");
        assert_eq!(e.message, "could not obtain a connection");
        assert!(parse_exception("status=500 error='timed out'").is_none());
        // A sentence with a parenthesis is no report.
        assert!(parse_exception("Deploy (canary) started:").is_none());
    }

    #[test]
    fn an_inner_exception_that_only_says_a_status_is_not_the_cause() {
        let text = "com.google.cloud.sql.core.TerminalException: [p:r:orders-pg] The Cloud SQL Admin API failed. Reason: 403 Forbidden
	at com.google.cloud.sql.core.Repo.fetch(Repo.java:292)
Caused by: com.google.api.client.googleapis.json.GoogleJsonResponseException: 403 Forbidden
	at com.google.api.client.googleapis.json.GoogleJsonResponseException.from(GoogleJsonResponseException.java:146)";
        let e = parse_exception(text).unwrap();
        assert_eq!(e.kind, "com.google.cloud.sql.core.TerminalException");
        // Alone, it is the exception.
        let e = parse_exception("GoogleJsonResponseException: 403 Forbidden\n\tat a.B.c(B.java:1)")
            .unwrap();
        assert_eq!(e.message, "403 Forbidden");
        assert!(is_status_line("503 Service Unavailable") && !is_status_line("403 on orders"));
    }

    #[test]
    fn a_node_errors_cause_is_its_innermost_exception() {
        let text = " ⨯ TypeError: fetch failed
    at node:internal/deps/undici/undici:13510:13
    at async m (/app/.next/server/app/blog/[slug]/page.js:1:3876) {
  digest: '1593048213',
  [cause]: Error: connect ECONNREFUSED 10.4.0.12:1337
      at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1637:16) {
    errno: -111,
    code: 'ECONNREFUSED',
  }
}";
        let e = parse_exception(text).unwrap();
        assert_eq!(e.kind, "Error");
        assert_eq!(e.message, "connect ECONNREFUSED 10.4.0.12:1337");
    }

    #[test]
    fn a_node_rejection_without_an_error_is_its_reason() {
        let text = "node:internal/process/promises:288
            triggerUncaughtException(err, true /* fromPromise */);
            ^

[UnhandledPromiseRejection: This error originated either by throwing inside of an async function without a catch block, or by rejecting a promise which was not handled with .catch(). The promise rejected with the reason \"quota table missing\".] {
  code: 'ERR_UNHANDLED_REJECTION'
}

Node.js v18.20.4";
        let e = parse_exception(text).unwrap();
        assert_eq!(e.kind, "UnhandledPromiseRejection");
        assert_eq!(e.message, "quota table missing");
        let thrown = "/app/src/server.js:41
    throw new Error('boom');
    ^

Error: boom
    at main (/app/src/server.js:41:11)";
        let e = parse_exception(thrown).unwrap();
        assert_eq!((e.kind.as_str(), e.message.as_str()), ("Error", "boom"));
    }

    #[test]
    fn a_recovered_go_panic_is_read_below_the_recovery() {
        let text = "recovered from panic: runtime error: index out of range [3] with length 3
goroutine 7 [running]:
runtime/debug.Stack()
\t/usr/local/go/src/runtime/debug/stack.go:26 +0x5e
main.recoverer.func1()
\t/app/cmd/api/middleware.go:20 +0x5d
panic({0x1a3e2c0?, 0x2f61b70?})
\t/usr/local/go/src/runtime/panic.go:785 +0x132
example.com/api/internal/bins.(*Binner).Label(0x3)
\t/app/internal/bins/label.go:58 +0x1c6
main.handler(0xc000010000)
\t/app/cmd/api/main.go:42 +0x1d";
        let e = parse_exception(text).unwrap();
        assert_eq!(e.kind, "panic");
        assert_eq!(
            e.message,
            "runtime error: index out of range [3] with length 3"
        );
        // Outermost first, and nothing of the recovery that printed the dump.
        let functions: Vec<&str> = e.frames.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(
            functions,
            [
                "main.handler",
                "example.com/api/internal/bins.(*Binner).Label"
            ]
        );
        // A dump with no word of a panic before it is no exception.
        assert_eq!(
            parse_exception("goroutine 7 [running]:\nmain.main()\n\t/app/main.go:3"),
            None
        );
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
