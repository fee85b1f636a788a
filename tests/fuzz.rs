//! Fuzzing every parser that takes outside input (issue 8): log files in each format and the
//! whole analysis of what they hold, tracebacks, comment commands, the configuration,
//! durations, webhook payloads and signatures, and redaction.
//!
//! `cargo test --test fuzz` is the short pass CI runs (fixed seed, a few thousand inputs a
//! target). The long run spreads `FUZZ_RUNS` inputs over the targets by weight:
//!
//! ```text
//! FUZZ_RUNS=10000000 FUZZ_SEED=1 cargo test --release --test fuzz -- --nocapture
//! ```
//!
//! Each target prints its runs, crashes, slowest input and the peak RSS; a crashing or slow
//! (over 1 s; 10 s in a debug build) input is saved under `target/tmp/fuzz-findings/`, and
//! `FUZZ_REPLAY=TARGET:FILE cargo test --release --test fuzz replay` runs it again.
//! `FUZZ_TRACE=1` saves each input before it runs, for what a panic hook cannot catch (a
//! stack overflow). What the fuzzer found is pinned by the regression tests at the end.

#[path = "support/fuzz.rs"]
mod fuzz;

use fuzz::{Rng, fuzz, runs};
use log_gardener::analyze::redact::Redactor;
use log_gardener::analyze::{Analyzer, Options, traceback};
use log_gardener::config::{Config, format_span};
use log_gardener::model::{LogEntry, Window, parse_duration};
use log_gardener::report::{Links, Renderer};
use log_gardener::server::commands;
use log_gardener::source::file::{Malformed, ReadSummary, read_entries};
use std::collections::HashMap;
use std::io::BufReader;
use std::sync::LazyLock;

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_772_366_400, 0).expect("a valid time")
}

/// Reads `bytes` as a file, through a buffer of `capacity` bytes.
fn read(bytes: &[u8], capacity: usize) -> (ReadSummary, Vec<LogEntry>, Vec<Malformed>) {
    let mut entries = Vec::new();
    let mut malformed = Vec::new();
    let summary = read_entries(
        BufReader::with_capacity(capacity, bytes),
        |e| entries.push(e),
        |m| malformed.push(m),
    )
    .expect("reading from memory does not fail");
    (summary, entries, malformed)
}

/// Reading a file gives the same entries whatever the buffer's size: the scanner cuts values
/// across chunk boundaries correctly.
fn check_file(bytes: &[u8]) {
    let (summary, entries, malformed) = read(bytes, 1 << 16);
    assert_eq!(summary.entries as usize, entries.len());
    assert_eq!(summary.malformed as usize, malformed.len());
    let small = 1 + (fuzz::hash(bytes) % 97) as usize;
    let (summary2, entries2, malformed2) = read(bytes, small);
    assert_eq!(summary, summary2, "buffer of {small} bytes");
    assert_eq!(entries, entries2, "buffer of {small} bytes");
    assert_eq!(malformed, malformed2, "buffer of {small} bytes");
}

static RENDERER: LazyLock<Renderer> =
    LazyLock::new(|| Renderer::new().expect("the templates compile"));

/// A file through the whole analysis, plan and rendering, as `sweep --file` does it.
fn check_analysis(bytes: &[u8]) {
    let h = fuzz::hash(bytes);
    // Now and then a configuration of the fuzzer's own and a window of the file's time.
    let config = match h % 8 {
        0 => Config::parse(
            "min_severity: DEBUG\nredact: ['order-[0-9]+']\nthresholds: {restart_loop: 1, repeated_errors: 1, health_check_span: 0.0}\nmax_new_issues: 0\n",
        )
        .expect("a valid configuration"),
        _ => Config::default(),
    };
    let mut options = Options::from_config(&config);
    if h.is_multiple_of(5) {
        options.window = Some(Window {
            start: now() - chrono::Duration::hours(3),
            end: now(),
        });
    }
    let mut analyzer = Analyzer::new(options).expect("the configured patterns compile");
    let summary = read_entries(bytes, |e| analyzer.push(e), |_| {}).expect("reading from memory");
    for _ in 0..summary.malformed {
        analyzer.malformed();
    }
    let analysis = analyzer.finish(now());
    let totals = &analysis.totals;
    assert_eq!(totals.entries + totals.outside_window, summary.entries);
    assert_eq!(totals.malformed, summary.malformed);
    assert!(
        analysis
            .root_causes
            .windows(2)
            .all(|w| w[0].priority <= w[1].priority),
        "root causes are sorted by priority"
    );
    let actions =
        log_gardener::plan::plan(&analysis.root_causes, &[], &HashMap::new(), &config, now());
    assert_eq!(actions.len(), analysis.root_causes.len());
    let links = Links {
        repo: Some("octo/app".into()),
        git_ref: "main".into(),
        source_root: config.source_root.clone(),
        gcp_project: Some("p".into()),
        api_url: "https://api.github.com".into(),
        ..Links::default()
    };
    RENDERER
        .worklog(&analysis, &actions, &[], &links, now(), true)
        .expect("the worklog renders");
    log_gardener::report::json_result(&analysis, &actions);
    for rc in analysis.root_causes.iter().take(2) {
        let body = log_gardener::report::issue::issue_body(&RENDERER, rc, &analysis, &links)
            .expect("an issue body renders");
        // Log text inside the body cannot fake the marker the App finds its issues by.
        assert_eq!(
            log_gardener::marker::fingerprint_in(&body).as_deref(),
            Some(rc.fingerprint.as_str()),
            "the body's marker"
        );
    }
}

fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

fn check_traceback(bytes: &[u8]) {
    let text = text(bytes);
    if let Some(e) = traceback::parse_exception(&text) {
        assert!(!e.kind.is_empty() || !e.message.is_empty() || !e.frames.is_empty());
    }
    for line in text.lines() {
        if let Some(at) = traceback::embedded_exception_start(line) {
            assert!(at > 0 && line.is_char_boundary(at), "{at} in {line:?}");
        }
    }
}

fn check_commands(bytes: &[u8]) {
    let body = text(bytes);
    let lines = commands::addressed(&body, Some("log-gardener"));
    for line in &lines {
        assert!(
            line.starts_with("/gardener") || line.starts_with("@log-gardener"),
            "{line:?}"
        );
        match commands::parse_addressed(line) {
            Ok(
                commands::Command::Sweep { window, .. } | commands::Command::DryRun { window, .. },
            ) => {
                assert!(window.is_none_or(
                    |w| w > chrono::Duration::zero() && w <= chrono::Duration::days(30)
                ));
            }
            Ok(commands::Command::Ignore { duration: Some(d) }) => {
                assert!(d > chrono::Duration::zero());
            }
            Ok(commands::Command::Merge { into }) => assert!(into > 0),
            Ok(_) => {}
            Err(e) => assert!(!e.message.is_empty()),
        }
    }
    assert_eq!(
        commands::parse(&body, Some("log-gardener")).len(),
        lines.len()
    );
}

fn check_config(bytes: &[u8]) {
    match Config::parse(&text(bytes)) {
        // A configuration that passed its checks can be used.
        Ok(config) => {
            Analyzer::new(Options::from_config(&config))
                .expect("a configuration that parsed builds an analyzer");
        }
        Err(e) => assert!(!e.message.is_empty(), "{e:?}"),
    }
}

fn check_duration(bytes: &[u8]) {
    let text = text(bytes);
    match parse_duration(&text) {
        Ok(d) => {
            assert!(
                d >= chrono::Duration::zero() && d <= chrono::Duration::days(36_500),
                "{d}"
            );
            if d > chrono::Duration::zero() {
                assert_eq!(parse_duration(&format_span(d)), Ok(d), "{text:?}");
            }
        }
        Err(e) => assert!(!e.is_empty()),
    }
}

/// A delivery's body as the extractor reads it, then as the worker decodes its job.
fn check_webhook(bytes: &[u8]) {
    use hmac::{Hmac, Mac};
    let (event, body) = match bytes.iter().position(|b| *b == b'\n') {
        Some(i) => (text(&bytes[..i]).into_owned(), &bytes[i + 1..]),
        None => (String::new(), bytes),
    };
    let secret = b"s3cret";
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert!(log_gardener::server::webhook::verify(
        secret, body, &signature
    ));
    assert!(!log_gardener::server::webhook::verify(
        b"other", body, &signature
    ));
    // The event line read as a signature header: never valid, never a panic.
    assert!(!log_gardener::server::webhook::verify(secret, body, &event));
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let job = serde_json::json!({"event": event, "body": payload});
    if let Err(e) = log_gardener::server::events::decode_webhook(&job) {
        assert!(
            e.to_string().contains("cannot be used") || e.to_string().contains("out of range"),
            "{e}"
        );
    }
}

fn check_redact(bytes: &[u8]) {
    static REDACTOR: LazyLock<Redactor> = LazyLock::new(Redactor::default);
    let text = text(bytes);
    let once = REDACTOR.redact(&text).into_owned();
    let twice = REDACTOR.redact(&once).into_owned();
    assert_eq!(once, twice, "redacting twice changes {text:?}");
}

// ---- The targets, and their share of a long run (weights out of 1000) -------------------

#[test]
fn fuzz_log_files() {
    fuzz(
        "log_files",
        runs(1000, 60),
        &[],
        |rng| fuzz::log_file(rng, 40),
        check_file,
    );
}

#[test]
fn fuzz_analysis() {
    fuzz(
        "analysis",
        runs(100, 3),
        &[],
        |rng| fuzz::log_file(rng, 30),
        check_analysis,
    );
}

#[test]
fn fuzz_tracebacks() {
    fuzz(
        "tracebacks",
        runs(800, 100),
        &[],
        |rng| fuzz::traceback(rng).into_bytes(),
        check_traceback,
    );
}

#[test]
fn fuzz_commands() {
    fuzz(
        "commands",
        runs(2000, 260),
        &[],
        fuzz::comment_body,
        check_commands,
    );
}

#[test]
fn fuzz_config() {
    fuzz(
        "config",
        runs(600, 30),
        &[],
        fuzz::config_yaml,
        check_config,
    );
}

#[test]
fn fuzz_durations() {
    fuzz(
        "durations",
        runs(10000, 330),
        &[],
        |rng: &mut Rng| fuzz::duration_text(rng).into_bytes(),
        check_duration,
    );
}

#[test]
fn fuzz_webhooks() {
    fuzz(
        "webhooks",
        runs(2000, 202),
        &[],
        |rng| {
            let (event, mut body) = fuzz::webhook_body(rng);
            let mut input = event.into_bytes();
            input.push(b'\n');
            input.append(&mut body);
            input
        },
        check_webhook,
    );
}

#[test]
fn fuzz_redaction() {
    fuzz(
        "redaction",
        runs(300, 15),
        &[],
        fuzz::secret_text,
        check_redact,
    );
}

/// A target's check of one input.
type Check = fn(&[u8]);

/// The targets by name, for `FUZZ_REPLAY`.
const CHECKS: &[(&str, Check)] = &[
    ("log_files", check_file),
    ("analysis", check_analysis),
    ("tracebacks", check_traceback),
    ("commands", check_commands),
    ("config", check_config),
    ("durations", check_duration),
    ("webhooks", check_webhook),
    ("redaction", check_redact),
];

/// `FUZZ_REPLAY=TARGET:FILE` runs one saved input through its target, timed (nothing
/// without it).
#[test]
fn replay() {
    let Ok(spec) = std::env::var("FUZZ_REPLAY") else {
        return;
    };
    let (target, path) = spec.split_once(':').expect("FUZZ_REPLAY=TARGET:FILE");
    let input = std::fs::read(path).expect("the saved input can be read");
    let (_, check) = CHECKS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a target's name");
    let started = std::time::Instant::now();
    check(&input);
    eprintln!(
        "replay {target}: {} bytes in {:.1} ms, peak RSS {} MB",
        input.len(),
        started.elapsed().as_secs_f64() * 1000.0,
        fuzz::peak_rss_kb() / 1024
    );
}

// ---- What the fuzzer found, pinned ------------------------------------------------------

/// A plain-text file saved with a byte-order mark (as Notepad saves it) kept the mark at the
/// start of its first line, which then had neither its timestamp nor its severity; read
/// through a buffer of a few bytes, the same file gave another first entry.
#[test]
fn a_byte_order_mark_does_not_hide_the_first_lines_timestamp() {
    let file = "\u{feff}2026-03-01T10:00:00Z ERROR boom\n  next\n";
    for capacity in [1, 2, 3, 1 << 16] {
        let (summary, entries, malformed) = read(file.as_bytes(), capacity);
        assert_eq!(
            summary.format,
            log_gardener::source::file::Format::Text,
            "{capacity}"
        );
        assert!(malformed.is_empty());
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].message, "boom", "{capacity}");
        assert_eq!(entries[0].severity, log_gardener::model::Severity::Error);
        assert_eq!(
            entries[0].timestamp,
            chrono::DateTime::from_timestamp(1_772_359_200, 0)
        );
        assert_eq!(entries[1].message, "next");
    }
}

/// Nested flow collections made the YAML scanner quadratic: `labels: ` and 49 000 `{` took
/// 5 s of a worker's time in a release build (a configuration comes from any installed
/// repository). Such a text is refused before it is parsed, saying why.
#[test]
fn a_configuration_nested_too_deep_is_refused_at_once() {
    for text in [
        format!("labels: [{}", "{".repeat(49_000)),
        format!("labels: [{}", "']',[".repeat(12_000)),
    ] {
        let started = std::time::Instant::now();
        let e = Config::parse(&text).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
        assert!(e.message.contains("at most 1000"), "{e}");
    }
    // What a configuration really holds is far below the limit.
    let redact: Vec<String> = (0..100).map(|i| format!("'tok{i}-[a-z]{{8}}'")).collect();
    let text = format!("labels: [a, b]\nredact: [{}]\n", redact.join(", "));
    assert_eq!(
        Config::parse(&text)
            .expect("a valid configuration")
            .redact
            .len(),
        100
    );
}

/// A URL whose user is an e-mail address kept its password: the e-mail was masked after the
/// user:password rule had looked, which left `smtp://[EMAIL]:hunter2@host`; redacting again
/// gave another text.
#[test]
fn a_password_after_an_email_user_is_masked_in_one_pass() {
    let redactor = Redactor::default();
    for text in [
        "smtp://alice@example.com:hunter2@smtp.example.com/x",
        "xpostgres://ET@SM.IMEDOUT:BXKkT@by/x\nDB_PASSWORD=lF\n",
    ] {
        let once = redactor.redact(text).into_owned();
        assert!(
            !once.contains("hunter2") && !once.contains("BXKkT"),
            "{once}"
        );
        assert_eq!(redactor.redact(&once), once, "{text:?}");
    }
    assert_eq!(
        redactor.redact("smtp://alice@example.com:hunter2@smtp.example.com/x"),
        "smtp://[EMAIL]:[EMAIL]/x"
    );
}
