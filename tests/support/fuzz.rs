//! A small fuzzer on stable Rust: a seeded PRNG, structure-aware generators of what each
//! parser reads (LogEntry JSON in every file format, tracebacks, comment bodies, YAML
//! configurations, durations, webhook payloads), byte-level mutations of what they make, and a
//! runner that catches panics, times every input and watches the peak RSS.
//!
//! Every input is a function of (seed, target, index), so a run is reproducible; a failing
//! input is also saved to a file whose path is printed.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// The default seed; `FUZZ_SEED` picks another.
const DEFAULT_SEED: u64 = 0x10c6_a2de_f022_2026;

/// Longer than this for one input is a hang: 1 s in a release build, ten times that in a
/// debug build (which runs the regex engines and parsers some ten times slower).
pub const HANG: Duration = if cfg!(debug_assertions) {
    Duration::from_secs(10)
} else {
    Duration::from_secs(1)
};

/// Peak resident memory allowed for the whole process.
pub const MAX_RSS_KB: u64 = 300 * 1024;

/// Inputs never grow past this, so that a mutation cannot make a test slow by size alone.
const MAX_INPUT: usize = 1 << 20;

/// splitmix64: tiny, fast, and good enough to pick mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True once in `n` times.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A size that is usually small and now and then large: most bugs need little input,
    /// some need a lot.
    pub fn size(&mut self, max: usize) -> usize {
        match self.below(100) {
            0 => self.below(max + 1),
            1..=9 => self.below(max.min(256) + 1),
            _ => self.below(max.min(16) + 1),
        }
    }
}

/// The seed of the run, from `FUZZ_SEED` (decimal or 0x-hex).
pub fn seed() -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        })
        .unwrap_or(DEFAULT_SEED)
}

/// FNV-1a, to mix a target's name into the seed.
pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Tokens that break parsers: structure, escapes, numbers out of every range, control and
/// invalid bytes, and look-alikes of what the parsers look for.
pub const COMMON_DICT: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b",",
    b":",
    b"\n",
    b"\r\n",
    b"\r",
    b"\t",
    b"\0",
    b"\x1b[31m",
    b"\x7f",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xc3",
    b"\xe2\x82",
    b"\xf0\x9f\x92",
    b"\xed\xa0\x80",
    b"\\ud800",
    b"\\udc00",
    b"\\ud83d\\ude00",
    b"\\u0000",
    b"\\u00",
    b"\\",
    b"\xe2\x80\xae",
    b"\xef\xbf\xbc",
    b"\xcc\x81\xcc\x81\xcc\x81",
    b"0",
    b"-0",
    b"1e999999",
    b"-1e999999",
    b"1.7976931348623157e309",
    b"9223372036854775807",
    b"9223372036854775808",
    b"-9223372036854775809",
    b"18446744073709551615",
    b"18446744073709551616",
    b"99999999999999999999999999999999999999",
    b"4294967296",
    b"2147483648",
    b"NaN",
    b"Infinity",
    b"null",
    b"true",
    b"\"\"",
    b"{}",
    b"[]",
    b"0001-01-01T00:00:00Z",
    b"9999-12-31T23:59:59.999999999Z",
    b"+262143-01-01T00:00:00Z",
    b"1970-01-01T00:00:00Z",
    b"2026-02-30T25:61:61Z",
    b"2026-03-01T10:00:00+14:00",
    b"2026-03-01T10:00:00-23:59",
    b"\"seconds\":",
    b"\"nanos\":",
    b"Traceback (most recent call last):",
    b"  File \"/app/main.py\", line 1, in <module>",
    b"\tat com.example.Main.run(Main.java:1)",
    b"    at run (/app/index.js:1:1)",
    b"goroutine 1 [running]:",
    b"panic: ",
    b"thread 'main' panicked at src/main.rs:1:1:",
    b"Caused by: ",
    b"During handling of the above exception, another exception occurred:",
    b"Error: ",
    b"Exception: ",
    b"/gardener ",
    b"@log-gardener ",
    b"```",
    b"> ",
    b"<!--",
    b"-->",
    b"    ",
    b"- ",
    b"|",
    b"&anchor ",
    b"*anchor",
    b"!!binary ",
    b"---\n",
    b"...\n",
    b"%YAML 1.2\n",
    b"? ",
    b"password=",
    b"-----BEGIN PRIVATE KEY-----",
    b"eyJhbGciOiJIUzI1NiJ9.",
    b"Bearer ",
    b"https://user:pw@",
];

/// Applies one to a few random edits to `data`; `other` is spliced from, `dict` is targeted.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8], dict: &[&[u8]]) {
    let edits = if rng.one_in(4) {
        rng.between(1, 16)
    } else {
        rng.between(1, 3)
    };
    for _ in 0..edits {
        let len = data.len();
        let at = rng.below(len + 1);
        match rng.below(15) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = *rng.pick(&[
                    0, 0xff, 0x7f, 0x80, 0xc0, b'\n', b'"', b'\\', b'{', b'}', b'[', b']', b',',
                    b':', b' ', b'#', b'`', b'<', b'>', b'\'',
                ]);
            }
            2 => {
                let n = rng.between(1, 8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                data.splice(at..at, bytes);
            }
            3 if len > 0 => {
                let n = rng.size(len - at.min(len - 1)).max(1);
                let start = at.min(len - 1);
                data.drain(start..(start + n).min(len));
            }
            4 if len > 0 => {
                let start = rng.below(len);
                let n = rng.size(len - start).max(1);
                let copy = data[start..start + n].to_vec();
                data.splice(at..at, copy);
            }
            5 if !other.is_empty() => {
                let start = rng.below(other.len());
                let n = rng.size(other.len() - start).max(1);
                let piece = other[start..start + n].to_vec();
                if rng.one_in(2) {
                    data.splice(at..at, piece);
                } else {
                    let end = (at + piece.len()).min(len);
                    data.splice(at..end, piece);
                }
            }
            6 | 7 => {
                let token = if rng.one_in(3) || dict.is_empty() {
                    *rng.pick(COMMON_DICT)
                } else {
                    *rng.pick(dict)
                };
                data.splice(at..at, token.iter().copied());
            }
            8 if len > 0 => {
                let token = *rng.pick(dict.first().map_or(COMMON_DICT, |_| dict));
                let end = (at + rng.size(len - at.min(len))).min(len);
                data.splice(at..end, token.iter().copied());
            }
            9 if len > 0 => data.truncate(rng.below(len)),
            10 => {
                // Deep nesting: parsers that recurse run out of stack here.
                let depth = match rng.below(10) {
                    0 => rng.between(1000, 20_000),
                    1..=3 => rng.between(100, 300),
                    _ => rng.between(2, 40),
                };
                let (open, close): (&[u8], &[u8]) = *rng.pick(&[
                    (&b"["[..], &b"]"[..]),
                    (b"{\"a\":", b"}"),
                    (b"{\"jsonPayload\":", b"}"),
                    (b"- ", b""),
                    (b"> ", b""),
                    (b"[", b""),
                    (b"{", b""),
                ]);
                let mut nest = open.repeat(depth);
                if rng.one_in(2) {
                    nest.extend(close.repeat(depth));
                }
                data.splice(at..at, nest);
            }
            11 if len > 0 => {
                // One piece many times: quadratic behaviour shows here.
                let start = rng.below(len);
                let n = rng.between(1, (len - start).min(64));
                let times = rng.between(2, (1 << 16) / n);
                let piece = data[start..start + n].repeat(times);
                data.splice(at..at, piece);
            }
            12 => {
                // A number that is out of some range.
                let digits = rng.between(1, 400);
                let mut number: Vec<u8> = (0..digits).map(|_| b'0' + rng.below(10) as u8).collect();
                if rng.one_in(2) {
                    number.insert(0, b'-');
                }
                if rng.one_in(3) {
                    number.extend(format!("e{}", rng.below(100_000)).bytes());
                }
                data.splice(at..at, number);
            }
            13 => {
                let c = rng.below(0x20) as u8;
                let n = rng.between(1, 4);
                data.splice(at..at, std::iter::repeat_n(c, n));
            }
            _ => {
                // Shuffle two lines: order-dependent state (joiners, scanners) shows here.
                let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
                if lines.len() > 2 {
                    let i = rng.below(lines.len());
                    let j = rng.below(lines.len());
                    let mut lines: Vec<Vec<u8>> = lines.into_iter().map(<[u8]>::to_vec).collect();
                    lines.swap(i, j);
                    *data = lines.join(&b'\n');
                }
            }
        }
        data.truncate(MAX_INPUT);
    }
}

thread_local! {
    static IN_INPUT: Cell<bool> = const { Cell::new(false) };
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Panics inside an input are recorded, not printed; others go to the default hook.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_INPUT.with(Cell::get) {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(a panic without a message)".into());
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                // An assertion on a large input can print megabytes: the start says enough.
                let message: String = message.chars().take(600).collect();
                PANIC.with(|p| *p.borrow_mut() = Some(format!("{at}: {message}")));
            } else {
                default(info);
            }
        }));
    });
}

/// The process's peak resident memory, in kB (Linux; 0 elsewhere).
pub fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// What a target's run found.
#[derive(Debug, Default)]
pub struct Report {
    pub runs: u64,
    /// Distinct panics (by message), with the file holding the first input that caused each.
    pub crashes: Vec<(String, PathBuf)>,
    /// How many inputs panicked in all.
    pub panicking_inputs: u64,
    pub hangs: Vec<(Duration, PathBuf)>,
    pub slowest: Duration,
    pub slowest_len: usize,
    pub elapsed: Duration,
}

fn save(target: &str, seed: u64, index: u64, input: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-findings");
    let path = dir.join(format!("{target}-{seed:x}-{index}.bin"));
    let _ = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, input));
    path
}

/// How many runs a target gets: `short` in the CI pass, or its `weight` share (out of 1000)
/// of `FUZZ_RUNS` in a long run.
pub fn runs(short: u64, weight: u64) -> u64 {
    match std::env::var("FUZZ_RUNS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(total) => total * weight / 1000,
        None => short,
    }
}

/// Runs `check` on `runs` inputs made by `generate` (then mutated, three times in four).
/// `check` panics when a property does not hold; that counts as a crash like any other.
pub fn fuzz(
    target: &str,
    runs: u64,
    dict: &[&[u8]],
    generate: impl Fn(&mut Rng) -> Vec<u8>,
    check: impl Fn(&[u8]),
) -> Report {
    install_panic_hook();
    let seed = seed();
    let mut rng = Rng::new(seed ^ hash(target.as_bytes()));
    // FUZZ_TRACE=1 writes each input before running it: the one left is what killed the
    // process (a stack overflow or an abort cannot be caught).
    let trace = std::env::var_os("FUZZ_TRACE").is_some();
    let mut report = Report::default();
    // The first input pays for statics (compiled regexes, templates, seeds): not a hang.
    let warm_up = generate(&mut Rng::new(seed));
    let _ = catch_unwind(AssertUnwindSafe(|| check(&warm_up)));
    let started = Instant::now();
    let mut peak = peak_rss_kb();
    let mut last_progress = Instant::now();
    for index in 0..runs {
        let mut input = generate(&mut rng);
        if !rng.one_in(4) {
            let other = generate(&mut rng);
            mutate(&mut rng, &mut input, &other, dict);
        }
        if trace {
            save(target, seed, u64::MAX, &input);
        }
        IN_INPUT.with(|f| f.set(true));
        let t = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| check(&input)));
        let took = t.elapsed();
        IN_INPUT.with(|f| f.set(false));
        report.runs += 1;
        if took > report.slowest {
            report.slowest = took;
            report.slowest_len = input.len();
        }
        // Reading the peak costs a system call: only after inputs slow enough to have
        // allocated much.
        if took > Duration::from_millis(1) {
            let rss = peak_rss_kb();
            if rss > peak + 64 * 1024 && peak > 0 {
                let path = save(target, seed, index, &input);
                eprintln!(
                    "fuzz {target}: input {index} raised the peak RSS from {} to {} MB\n  saved to {}",
                    peak / 1024,
                    rss / 1024,
                    path.display()
                );
            }
            peak = peak.max(rss);
        }
        if took > HANG && report.hangs.len() < 5 {
            report.hangs.push((took, save(target, seed, index, &input)));
        }
        if outcome.is_err() {
            report.panicking_inputs += 1;
            let message = PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| "(no message)".into());
            if !report.crashes.iter().any(|(m, _)| *m == message) && report.crashes.len() < 20 {
                let path = save(target, seed, index, &input);
                eprintln!(
                    "fuzz {target}: input {index} panicked: {message}\n  saved to {}",
                    path.display()
                );
                report.crashes.push((message, path));
            }
        }
        if last_progress.elapsed() > Duration::from_secs(60) {
            last_progress = Instant::now();
            eprintln!(
                "fuzz {target}: {index}/{runs} runs, {} panics, peak RSS {} MB",
                report.panicking_inputs,
                peak_rss_kb() / 1024
            );
        }
    }
    report.elapsed = started.elapsed();
    let rss = peak_rss_kb();
    let line = format!(
        "fuzz {target}: {} runs in {:.1}s, {} crashes ({} inputs), {} hangs, slowest input {:.1} ms ({} bytes), peak RSS {} MB (seed {seed:#x})\n",
        report.runs,
        report.elapsed.as_secs_f64(),
        report.crashes.len(),
        report.panicking_inputs,
        report.hangs.len(),
        report.slowest.as_secs_f64() * 1000.0,
        report.slowest_len,
        rss / 1024,
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Ok(path) = std::env::var("FUZZ_SUMMARY") {
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
    }
    assert!(
        report.crashes.is_empty(),
        "fuzz {target}: {} distinct panics: {:#?}",
        report.crashes.len(),
        report.crashes
    );
    assert!(
        report.hangs.is_empty(),
        "fuzz {target}: inputs over {HANG:?}: {:#?}",
        report.hangs
    );
    assert!(
        rss < MAX_RSS_KB,
        "fuzz {target}: peak RSS {} MB is over {} MB",
        rss / 1024,
        MAX_RSS_KB / 1024
    );
    report
}

// ---- Seeds ------------------------------------------------------------------------------

/// Lines of a few scenarios of every language, sampled: real Cloud Run LogEntry JSON.
pub static SCENARIO_LINES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scenarios");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    dirs.sort();
    let mut lines = Vec::new();
    for dir in dirs.iter().step_by(3) {
        let Ok(text) = std::fs::read_to_string(dir.join("entries.jsonl")) else {
            continue;
        };
        let all: Vec<&str> = text.lines().collect();
        // Runs of consecutive lines keep tracebacks split over entries together.
        let step = (all.len() / 8).max(1);
        for start in (0..all.len()).step_by(step) {
            lines.extend(
                all[start..(start + 25).min(all.len())]
                    .iter()
                    .map(|l| l.to_string()),
            );
        }
    }
    lines
});

/// The messages (and stack traces) of the scenario lines: real runtime output.
pub static MESSAGES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut out: Vec<String> = SCENARIO_LINES
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            v.get("textPayload")
                .and_then(|t| t.as_str())
                .or_else(|| v.pointer("/jsonPayload/message").and_then(|m| m.as_str()))
                .map(str::to_string)
        })
        .collect();
    out.sort();
    out.dedup();
    out
});

/// The example configuration and the seed-outage file of the repository.
pub static EXAMPLE_CONFIG: &str = include_str!("../../examples/log-gardener.yml");
pub static SEED_OUTAGE: LazyLock<String> = LazyLock::new(|| {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/seed-outage.json"
    ))
    .unwrap_or_default()
});

// ---- Generators -------------------------------------------------------------------------

fn word(rng: &mut Rng) -> String {
    const WORDS: &[&str] = &[
        "api",
        "worker",
        "checkout",
        "billing",
        "payments",
        "db",
        "redis",
        "orders",
        "user",
        "id",
        "42",
        "0",
        "-1",
        "GET",
        "POST",
        "/health",
        "/api/v1/orders",
        "timeout",
        "refused",
        "ECONNREFUSED",
        "ETIMEDOUT",
        "connection",
        "reset",
        "by",
        "peer",
        "OOM",
        "killed",
        "memory",
        "limit",
        "exceeded",
        "Ready",
        "False",
        "probe",
        "failed",
        "startup",
        "TCP",
        "8080",
        "null",
        "undefined",
        "NoneType",
        "é",
        "日本",
        "🔥",
        "\u{200b}",
        "\u{feff}",
        "x",
        "",
    ];
    let mut w = rng.pick(WORDS).to_string();
    if rng.one_in(8) {
        w.push_str(&rng.next_u64().to_string());
    }
    w
}

fn sentence(rng: &mut Rng) -> String {
    let n = rng.size(20).max(1);
    (0..n).map(|_| word(rng)).collect::<Vec<_>>().join(" ")
}

fn ident(rng: &mut Rng) -> String {
    const IDS: &[&str] = &[
        "main",
        "run",
        "handle",
        "process_order",
        "connect",
        "__init__",
        "<module>",
        "<init>",
        "lambda$0",
        "get",
        "call",
        "Object.<anonymous>",
        "async fn",
        "new",
        "ServeHTTP",
        "",
    ];
    let mut s = rng.pick(IDS).to_string();
    if rng.one_in(5) {
        s.push_str(&word(rng));
    }
    s
}

fn path(rng: &mut Rng, ext: &str) -> String {
    let root = *rng.pick(&[
        "/app",
        "/usr/local/lib/python3.12/site-packages",
        "/workspace",
        "",
        "/",
        "C:\\app",
        "/app/../..",
    ]);
    let depth = rng.size(5);
    let mut p = root.to_string();
    for _ in 0..depth {
        p.push('/');
        p.push_str(&ident(rng));
    }
    p.push('.');
    p.push_str(ext);
    p
}

fn line_number(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => rng.next_u64().to_string(),
        1 => "0".into(),
        2 => "4294967296".into(),
        3 => String::new(),
        _ => rng.between(1, 2000).to_string(),
    }
}

fn exception_kind(rng: &mut Rng) -> String {
    const KINDS: &[&str] = &[
        "ValueError",
        "KeyError",
        "ModuleNotFoundError",
        "sqlalchemy.exc.OperationalError",
        "psycopg2.OperationalError",
        "java.lang.NullPointerException",
        "java.lang.IllegalStateException",
        "org.springframework.beans.factory.BeanCreationException",
        "java.net.ConnectException",
        "TypeError",
        "Error",
        "ReferenceError",
        "RuntimeError",
        "NameError",
        "ActiveRecord::ConnectionNotEstablished",
        "NoMethodError",
        "Exception",
        "a.b.",
        ".",
        "X",
        "ÄÖÜError",
    ];
    rng.pick(KINDS).to_string()
}

/// A traceback of some runtime, whole or not, as one text.
pub fn traceback(rng: &mut Rng) -> String {
    let frames = rng.size(30);
    let mut t = String::new();
    match rng.below(7) {
        0 | 1 => {
            let chained = rng.size(3);
            for c in 0..=chained {
                t.push_str("Traceback (most recent call last):\n");
                for _ in 0..frames {
                    t.push_str(&format!(
                        "  File \"{}\", line {}, in {}\n",
                        path(rng, "py"),
                        line_number(rng),
                        ident(rng)
                    ));
                    if rng.one_in(2) {
                        t.push_str(&format!("    {}\n", sentence(rng)));
                    }
                }
                t.push_str(&format!("{}: {}\n", exception_kind(rng), sentence(rng)));
                if rng.one_in(3) {
                    t.push_str(&format!("  {} = {}\n", word(rng), word(rng)));
                }
                if c < chained {
                    t.push_str(rng.pick::<&str>(&[
                        "\nDuring handling of the above exception, another exception occurred:\n\n",
                        "\nThe above exception was the direct cause of the following exception:\n\n",
                    ]));
                }
            }
        }
        2 => {
            t.push_str(&format!("{}: {}\n", exception_kind(rng), sentence(rng)));
            for i in 0..frames {
                t.push_str(&format!(
                    "\tat {}.{}({}:{})\n",
                    exception_kind(rng).to_lowercase(),
                    ident(rng),
                    path(rng, "java").rsplit('/').next().unwrap_or(""),
                    line_number(rng)
                ));
                if i == frames / 2 && rng.one_in(2) {
                    t.push_str(&format!(
                        "Caused by: {}: {}\n",
                        exception_kind(rng),
                        sentence(rng)
                    ));
                }
                if rng.one_in(10) {
                    t.push_str("\t... 42 more\n");
                }
            }
        }
        3 => {
            t.push_str(&format!("{}: {}\n", exception_kind(rng), sentence(rng)));
            for _ in 0..frames {
                t.push_str(&format!(
                    "    at {}{} ({}:{}:{})\n",
                    if rng.one_in(4) { "async " } else { "" },
                    ident(rng),
                    path(rng, "js"),
                    line_number(rng),
                    line_number(rng)
                ));
            }
        }
        4 => {
            t.push_str(&format!(
                "panic: {}\n\ngoroutine {} [running]:\n",
                sentence(rng),
                rng.below(100)
            ));
            for _ in 0..frames {
                t.push_str(&format!(
                    "main.{}(0x{:x})\n\t{}:{} +0x{:x}\n",
                    ident(rng),
                    rng.next_u64(),
                    path(rng, "go"),
                    line_number(rng),
                    rng.below(4096)
                ));
            }
            if rng.one_in(2) {
                t.push_str("exit status 2\n");
            }
        }
        5 => {
            t.push_str(&format!(
                "thread '{}' panicked at {}:{}:{}:\n{}\nnote: run with `RUST_BACKTRACE=1`\n",
                ident(rng),
                path(rng, "rs"),
                line_number(rng),
                line_number(rng),
                sentence(rng)
            ));
        }
        _ => {
            t.push_str(&format!(
                "{}:{}:in `{}': {} ({})\n",
                path(rng, "rb"),
                line_number(rng),
                ident(rng),
                sentence(rng),
                exception_kind(rng)
            ));
            for _ in 0..frames {
                t.push_str(&format!(
                    "\tfrom {}:{}:in `{}'\n",
                    path(rng, "rb"),
                    line_number(rng),
                    ident(rng)
                ));
            }
        }
    }
    if rng.one_in(4) {
        // A log prefix on every line, as some runtimes write it.
        let prefix = rng.pick(&[
            "2026-03-01 10:00:00,123 ERROR ",
            "[ERROR] ",
            "E0301 10:00:00.000000 1 main.go:1] ",
            "app | ",
        ]);
        t = t.lines().map(|l| format!("{prefix}{l}\n")).collect();
    }
    t
}

/// A message as a Cloud Run service writes it: a real one, a traceback, or words.
pub fn message(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 | 1 if !MESSAGES.is_empty() => rng.pick(&MESSAGES).clone(),
        2 => traceback(rng),
        3 => {
            // One line of a traceback: runtimes that split a traceback into entries.
            let t = traceback(rng);
            let lines: Vec<&str> = t.lines().collect();
            lines
                .get(rng.below(lines.len().max(1)))
                .unwrap_or(&"")
                .to_string()
        }
        _ => sentence(rng),
    }
}

fn timestamp(rng: &mut Rng, base: i64) -> serde_json::Value {
    use serde_json::json;
    let t = match rng.below(20) {
        0 => rng.next_u64() as i64,
        1 => -62_135_596_800,
        2 => 253_402_300_799,
        _ => base + rng.below(7200) as i64,
    };
    match rng.below(12) {
        0 => json!({"seconds": t, "nanos": rng.below(1_000_000_000)}),
        1 => {
            json!({"seconds": t.to_string(), "nanos": rng.pick(&[json!(-1), json!(1e9), json!("5"), json!(null)])})
        }
        2 => json!(t),
        3 => json!(word(rng)),
        _ => match chrono::DateTime::from_timestamp(t, rng.below(1_000_000_000) as u32) {
            Some(d) => json!(d.to_rfc3339_opts(
                *rng.pick(&[
                    chrono::SecondsFormat::Secs,
                    chrono::SecondsFormat::Millis,
                    chrono::SecondsFormat::Nanos
                ]),
                rng.one_in(2)
            )),
            None => json!(t),
        },
    }
}

fn severity(rng: &mut Rng) -> serde_json::Value {
    use serde_json::json;
    match rng.below(10) {
        0 => json!(rng.next_u64() as i64),
        1 => json!(rng.pick(&[0, 100, 200, 300, 400, 500, 600, 700, 800, 999])),
        2 => json!(word(rng)),
        3 => json!(null),
        _ => json!(rng.pick(&[
            "DEFAULT",
            "DEBUG",
            "INFO",
            "NOTICE",
            "WARNING",
            "ERROR",
            "CRITICAL",
            "ALERT",
            "EMERGENCY",
            "warn",
            "fatal",
            "error"
        ])),
    }
}

/// A Cloud Run LogEntry with fields of every kind, right and wrong.
pub fn log_entry(rng: &mut Rng, base: i64) -> serde_json::Value {
    use serde_json::{Map, Value, json};
    let mut e = Map::new();
    if !rng.one_in(10) {
        let key = if rng.one_in(6) {
            "receiveTimestamp"
        } else {
            "timestamp"
        };
        e.insert(key.into(), timestamp(rng, base));
    }
    if !rng.one_in(5) {
        e.insert("severity".into(), severity(rng));
    }
    let services = ["api", "worker", "checkout", ""];
    let service = *rng.pick(&services);
    match rng.below(8) {
        0 => {}
        1 => {
            e.insert("resource".into(), json!({"type": "cloud_run_job", "labels": {"job_name": service, "execution_name": format!("{service}-{}", rng.below(9))}}));
        }
        2 => {
            e.insert(
                "resource".into(),
                json!(rng.pick(&[
                    json!(null),
                    json!("x"),
                    json!({"labels": []}),
                    json!({"labels": {"service_name": 7}})
                ])),
            );
        }
        _ => {
            e.insert(
                "resource".into(),
                json!({"type": "cloud_run_revision", "labels": {
                "service_name": service,
                "revision_name": format!("{service}-0000{}-abc", rng.below(4)),
                "location": "europe-west1", "project_id": "p"}}),
            );
        }
    }
    if rng.one_in(2) {
        e.insert(
            "labels".into(),
            json!({"instanceId": format!("00{:x}", rng.below(8))}),
        );
    }
    match rng.below(8) {
        0..=2 => {
            e.insert("textPayload".into(), json!(message(rng)));
        }
        3 | 4 => {
            let mut p = Map::new();
            let key = *rng.pick(&["message", "msg", "textPayload", "event"]);
            p.insert(key.into(), json!(message(rng)));
            if rng.one_in(3) {
                let trace_key = *rng.pick(&[
                    "stack_trace",
                    "stackTrace",
                    "exception",
                    "exc_info",
                    "traceback",
                    "stack",
                ]);
                p.insert(trace_key.into(), json!(traceback(rng)));
            }
            if rng.one_in(4) {
                let error = match rng.below(3) {
                    0 => json!({"message": sentence(rng), "stack": traceback(rng)}),
                    1 => json!(sentence(rng)),
                    _ => json!(7),
                };
                p.insert("error".into(), error);
            }
            if rng.one_in(4) {
                p.insert(word(rng), json!(rng.next_u64()));
            }
            e.insert("jsonPayload".into(), Value::Object(p));
        }
        5 => {
            e.insert("protoPayload".into(), json!({
                "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
                "methodName": rng.pick(&["google.cloud.run.v1.Services.ReplaceService", "v1.run.Revisions.Create", ""]),
                "resourceName": format!("namespaces/p/services/{service}"),
                "status": {"message": sentence(rng), "code": rng.below(20)}}));
        }
        6 => {
            e.insert(
                "jsonPayload".into(),
                json!({"nested": {"deep": [1, 2, {"x": sentence(rng)}]}}),
            );
        }
        _ => {
            e.insert(
                "textPayload".into(),
                rng.pick(&[
                    json!(null),
                    json!(42),
                    json!([]),
                    json!({"a": 1}),
                    json!(""),
                ])
                .clone(),
            );
        }
    }
    if rng.one_in(3) {
        let latency = match rng.below(5) {
            0 => json!(format!("{}s", rng.next_u64())),
            1 => json!({"seconds": rng.below(100), "nanos": rng.below(1_000_000_000)}),
            2 => json!("1e400s"),
            _ => json!(format!("{}.{:03}s", rng.below(120), rng.below(1000))),
        };
        e.insert("httpRequest".into(), json!({
            "requestMethod": rng.pick(&["GET", "POST", ""]),
            "requestUrl": rng.pick(&["https://x.a.run.app/health?x=1", "/api/v1/orders/42", "", "http://[::1", "://", "https://user:pw@host/"]),
            "status": rng.pick(&[json!(200), json!(500), json!(503), json!(429), json!(0), json!(-1), json!("502"), json!(1e20), json!(99999999999u64)]).clone(),
            "latency": latency}));
    }
    if rng.one_in(3) {
        e.insert(
            "trace".into(),
            json!(format!("projects/p/traces/{:x}", rng.below(16))),
        );
    }
    if rng.one_in(3) {
        e.insert(
            "logName".into(),
            json!(rng.pick(&[
                "projects/p/logs/run.googleapis.com%2Fstdout",
                "projects/p/logs/run.googleapis.com%2Fstderr",
                "projects/p/logs/run.googleapis.com%2Fvarlog%2Fsystem",
                "projects/p/logs/cloudaudit.googleapis.com%2Fsystem_event",
                "projects/p/logs/run.googleapis.com%2Frequests"
            ])),
        );
    }
    if rng.one_in(4) {
        // BigQuery exports write snake_case.
        let keys: Vec<String> = e.keys().cloned().collect();
        for k in keys {
            let snake: String = k
                .chars()
                .flat_map(|c| {
                    if c.is_ascii_uppercase() {
                        vec!['_', c.to_ascii_lowercase()]
                    } else {
                        vec![c]
                    }
                })
                .collect();
            if let Some(v) = e.remove(&k) {
                e.insert(snake, v);
            }
        }
    }
    Value::Object(e)
}

/// A log file in one of the formats (or a mix), made of generated entries, scenario lines
/// and plain text.
pub fn log_file(rng: &mut Rng, max_entries: usize) -> Vec<u8> {
    let base = 1_772_359_200 + rng.below(1000) as i64;
    let n = rng.size(max_entries);
    let entry = |rng: &mut Rng| -> serde_json::Value {
        if rng.one_in(3) && !SCENARIO_LINES.is_empty() {
            let line = rng.pick(&SCENARIO_LINES);
            serde_json::from_str(line).unwrap_or(serde_json::Value::Null)
        } else {
            log_entry(rng, base)
        }
    };
    let mut out = Vec::new();
    if rng.one_in(20) {
        out.extend_from_slice(b"\xef\xbb\xbf");
    }
    if rng.one_in(10) {
        out.extend(b"\n \n\t".repeat(rng.below(3)));
    }
    match rng.below(9) {
        0 | 1 => {
            let entries: Vec<_> = (0..n).map(|_| entry(rng)).collect();
            let text = if rng.one_in(2) {
                serde_json::to_string_pretty(&entries)
            } else {
                serde_json::to_string(&entries)
            };
            out.extend(text.unwrap_or_default().bytes());
            if rng.one_in(4) {
                out.extend(b"\n");
                out.extend(
                    serde_json::to_string(&entry(rng))
                        .unwrap_or_default()
                        .bytes(),
                );
            }
        }
        2 | 3 => {
            for _ in 0..n {
                out.extend(
                    serde_json::to_string(&entry(rng))
                        .unwrap_or_default()
                        .bytes(),
                );
                out.extend(if rng.one_in(10) { &b"\r\n"[..] } else { b"\n" });
            }
        }
        4 => {
            for _ in 0..n {
                out.extend(
                    serde_json::to_string_pretty(&entry(rng))
                        .unwrap_or_default()
                        .bytes(),
                );
                out.push(b'\n');
            }
        }
        5 => {
            // A mix: pretty, compact, arrays, text.
            for _ in 0..n {
                let e = entry(rng);
                let text = match rng.below(4) {
                    0 => serde_json::to_string_pretty(&e).unwrap_or_default(),
                    1 => serde_json::to_string(&vec![e]).unwrap_or_default(),
                    2 => message(rng),
                    _ => serde_json::to_string(&e).unwrap_or_default(),
                };
                out.extend(text.bytes());
                out.push(b'\n');
            }
        }
        6 if !SEED_OUTAGE.is_empty() => {
            let s = SEED_OUTAGE.as_bytes();
            let start = rng.below(s.len());
            let len = rng.size(s.len() - start);
            if rng.one_in(2) {
                out.extend_from_slice(&s[..(start + len).min(s.len())]);
            } else {
                out.extend_from_slice(&s[start..start + len]);
            }
        }
        _ => {
            // Plain text: what `docker logs` or a terminal gives.
            for _ in 0..n {
                let prefix = match rng.below(4) {
                    0 => format!(
                        "{} ",
                        chrono::DateTime::from_timestamp(base + rng.below(3600) as i64, 0)
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_default()
                    ),
                    1 => format!(
                        "{} {} ",
                        chrono::DateTime::from_timestamp(base + rng.below(3600) as i64, 0)
                            .map(|t| t.format("%Y-%m-%d %H:%M:%S,%3f").to_string())
                            .unwrap_or_default(),
                        rng.pick(&["ERROR", "WARNING", "INFO", "CRITICAL", "E", "W"])
                    ),
                    2 => format!("[{}] ", rng.pick(&["error", "warn", "info"])),
                    _ => String::new(),
                };
                out.extend(prefix.bytes());
                out.extend(message(rng).bytes());
                out.push(b'\n');
            }
        }
    }
    out
}

/// A comment body in markdown, with commands where they count and where they do not.
pub fn comment_body(rng: &mut Rng) -> Vec<u8> {
    let n = rng.size(12).max(1);
    let mut out = String::new();
    for _ in 0..n {
        let command = {
            let lead = *rng.pick(&[
                "/gardener",
                "@log-gardener",
                "/Gardener",
                "/gardenerx",
                "@log-gardener-bot",
                "/gardener\u{a0}",
                " /gardener",
                "/gardener\t",
            ]);
            let name = *rng.pick(&[
                "sweep", "dry-run", "dryrun", "status", "help", "ignore", "mute", "merge", "SWEEP",
                "", "unknown",
            ]);
            let mut args = Vec::new();
            for _ in 0..rng.size(5) {
                args.push(match rng.below(7) {
                    0 => rng.pick(&["last", "since", "for"]).to_string(),
                    1 | 2 => duration_text(rng),
                    3 => format!(
                        "#{}",
                        rng.pick(&["12", "0", "-1", "18446744073709551616", "", "x"])
                    ),
                    _ => word(rng),
                });
            }
            format!("{lead} {name} {}", args.join(" "))
        };
        let block = match rng.below(10) {
            0 => format!("```\n{command}\n```"),
            1 => format!("> {command}"),
            2 => format!("- {command}"),
            3 => format!("    {command}"),
            4 => format!("<!-- {command} -->"),
            5 => format!("`{command}`"),
            6 => format!("| a |\n|---|\n| {command} |"),
            7 => format!("{}\n{command}", sentence(rng)),
            _ => command,
        };
        out.push_str(&block);
        out.push_str(rng.pick::<&str>(&["\n", "\n\n", "\r\n", "  \n"]));
    }
    out.into_bytes()
}

/// A duration as a person (or a hostile comment) writes it.
pub fn duration_text(rng: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..rng.size(6).max(1) {
        match rng.below(10) {
            0 => s.push_str(&rng.next_u64().to_string()),
            1 => s.push_str("9223372036854775807"),
            2 => s.push_str(&"9".repeat(rng.between(1, 40))),
            _ => s.push_str(&rng.below(200).to_string()),
        }
        if !rng.one_in(10) {
            s.push(*rng.pick(&['s', 'm', 'h', 'd', 'w', 'y', 'S', ' ', 'µ', '٣', '-', '.']));
        }
    }
    if rng.one_in(8) {
        s = format!(" {s}\t");
    }
    s
}

/// A YAML configuration: the example's keys with values right and wrong, and YAML's own
/// features (anchors, tags, documents, flow and block styles).
pub fn config_yaml(rng: &mut Rng) -> Vec<u8> {
    if rng.one_in(5) {
        return EXAMPLE_CONFIG.as_bytes().to_vec();
    }
    let scalar = |rng: &mut Rng| -> String {
        match rng.below(12) {
            0 => duration_text(rng),
            1 => rng
                .pick(&[
                    "true", "false", "null", "~", "yes", "no", "''", "\"\"", "[]", "{}",
                ])
                .to_string(),
            2 => rng.next_u64().to_string(),
            3 => rng
                .pick(&["-1", "0", "0.5", "1e400", ".nan", "-.inf", "0x10", "1_000"])
                .to_string(),
            4 => rng.pick(&["hourly", "off", "OFF", "daily"]).to_string(),
            5 => rng
                .pick(&["WARNING", "ERROR", "debug", "500", "LOUD"])
                .to_string(),
            6 => format!("[{}]", rng.pick(&["P0, P1", "P2", "P9", "p0"])),
            7 => format!(
                "'{}'",
                rng.pick(&[
                    "(bad",
                    "x*",
                    "",
                    "secret-[0-9]+",
                    "\\d{1000}{1000}",
                    "(?i)token",
                    "[",
                    "a{4294967295}"
                ])
            ),
            8 => format!(
                "[{}]",
                (0..rng.size(4))
                    .map(|_| word(rng))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            9 => format!("\"{}\"", word(rng).repeat(rng.size(60))),
            10 => format!("{{name: {}, filter: '{}'}}", word(rng), sentence(rng)),
            _ => word(rng),
        }
    };
    let keys = [
        "gcp_project",
        "services",
        "filter",
        "window",
        "schedule",
        "min_severity",
        "file_priorities",
        "labels",
        "comment_cooldown",
        "reopen_closed",
        "redact",
        "source_root",
        "max_new_issues",
        "thresholds",
        "windw",
        "",
    ];
    let mut out = String::new();
    if rng.one_in(10) {
        out.push_str("---\n");
    }
    for _ in 0..rng.size(14).max(1) {
        let key = *rng.pick(&keys);
        if key == "thresholds" {
            out.push_str("thresholds:\n");
            for _ in 0..rng.size(4) {
                let k = *rng.pick(&[
                    "restart_loop",
                    "repeated_errors",
                    "health_check_span",
                    "other",
                ]);
                out.push_str(&format!("  {k}: {}\n", scalar(rng)));
            }
            continue;
        }
        match rng.below(10) {
            0 => out.push_str(&format!("{key}: &a {}\n", scalar(rng))),
            1 => out.push_str(&format!("{key}: *a\n")),
            2 => {
                out.push_str(&format!("{key}:\n"));
                for _ in 0..rng.size(4) {
                    out.push_str(&format!("  - {}\n", scalar(rng)));
                }
            }
            3 => out.push_str(&format!("{key}: !!str {}\n", scalar(rng))),
            4 => out.push_str(&format!("{key}: {} # comment\n", scalar(rng))),
            5 => out.push_str(&format!(
                "\"{key}\": |\n  {}\n  {}\n",
                sentence(rng),
                sentence(rng)
            )),
            _ => out.push_str(&format!("{key}: {}\n", scalar(rng))),
        }
    }
    if rng.one_in(20) {
        // A billion laughs, small: aliases that multiply.
        out = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\nlabels: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n".to_string();
    }
    out.into_bytes()
}

/// A webhook delivery's body: the events the App acts on, with fields right and wrong.
pub fn webhook_body(rng: &mut Rng) -> (String, Vec<u8>) {
    use serde_json::{Value, json};
    let event = *rng.pick(&[
        "installation",
        "installation_repositories",
        "issues",
        "issue_comment",
        "ping",
        "push",
        "",
    ]);
    let id = |rng: &mut Rng| -> Value {
        let small = rng.below(1000);
        rng.pick(&[
            json!(small),
            json!(-1),
            json!(u64::MAX),
            json!(9_223_372_036_854_775_808u64),
            json!("7"),
            json!(1.5),
            json!(null),
        ])
        .clone()
    };
    let repo = |rng: &mut Rng| -> Value {
        json!({"full_name": rng.pick(&[json!("octo/app"), json!(""), json!("a/b/c"), json!(42), json!(null)]).clone()})
    };
    let action = *rng.pick(&[
        "created",
        "deleted",
        "suspend",
        "unsuspend",
        "new_permissions_accepted",
        "added",
        "removed",
        "closed",
        "reopened",
        "edited",
        "",
    ]);
    let mut body = match event {
        "installation" | "installation_repositories" => json!({
            "action": action,
            "installation": {"id": id(rng)},
            "repositories": (0..rng.size(3)).map(|_| repo(rng)).collect::<Vec<_>>(),
            "repositories_added": (0..rng.size(3)).map(|_| repo(rng)).collect::<Vec<_>>(),
            "repositories_removed": (0..rng.size(3)).map(|_| repo(rng)).collect::<Vec<_>>(),
        }),
        "issues" => json!({
            "action": action,
            "repository": repo(rng),
            "issue": {"number": id(rng), "state_reason": rng.pick(&[json!("completed"), json!("not_planned"), json!(null), json!(3)]).clone()},
        }),
        _ => json!({
            "action": action,
            "installation": {"id": id(rng)},
            "repository": repo(rng),
            "issue": {"number": id(rng)},
            "comment": {
                "id": id(rng),
                "body": String::from_utf8_lossy(&comment_body(rng)),
                "user": {"login": rng.pick(&["octocat", "log-gardener[bot]", ""]), "type": rng.pick(&["User", "Bot"])},
            },
        }),
    };
    if rng.one_in(4)
        && let Value::Object(o) = &mut body
    {
        // A field missing, or of the wrong type.
        let keys: Vec<String> = o.keys().cloned().collect();
        let k = rng.pick(&keys).clone();
        if rng.one_in(2) {
            o.remove(&k);
        } else {
            o.insert(
                k,
                rng.pick(&[json!(null), json!([]), json!("x"), json!(0)])
                    .clone(),
            );
        }
    }
    (
        event.to_string(),
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

/// Text with secrets of every kind the redactor knows, and near misses.
pub fn secret_text(rng: &mut Rng) -> Vec<u8> {
    let mut out = String::new();
    for _ in 0..rng.size(10).max(1) {
        let alnum = |rng: &mut Rng, lo: usize, hi: usize| -> String {
            let n = rng.between(lo, hi);
            (0..n)
                .map(|_| {
                    *rng.pick(
                        &b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"[..],
                    ) as char
                })
                .collect()
        };
        let piece = match rng.below(14) {
            0 => format!(
                "-----BEGIN RSA PRIVATE KEY-----\n{}\n{}",
                alnum(rng, 64, 64),
                if rng.one_in(2) {
                    "-----END RSA PRIVATE KEY-----"
                } else {
                    ""
                }
            ),
            1 => format!(
                "eyJ{}.{}.{}",
                alnum(rng, 2, 30),
                alnum(rng, 2, 30),
                alnum(rng, 0, 30)
            ),
            2 => format!(
                "{} {}",
                rng.pick(&["Bearer", "basic", "Token", "bearer\t"]),
                alnum(rng, 4, 40)
            ),
            3 => format!("AIza{}", alnum(rng, 25, 40)),
            4 => format!(
                "{}{}",
                rng.pick(&["AKIA", "ASIA"]),
                alnum(rng, 16, 16).to_uppercase()
            ),
            5 => format!(
                "gh{}_{}",
                rng.pick(&["p", "o", "u", "s", "r", "x"]),
                alnum(rng, 15, 40)
            ),
            6 => format!("github_pat_{}", alnum(rng, 15, 40)),
            7 => format!("xox{}-{}", rng.pick(&["a", "b", "p"]), alnum(rng, 4, 20)),
            8 => format!("sk_{}_{}", rng.pick(&["live", "test"]), alnum(rng, 10, 30)),
            9 => format!(
                "{}://{}:{}@{}/x",
                rng.pick(&["postgres", "https", "redis", "a+b"]),
                word(rng),
                alnum(rng, 1, 12),
                word(rng)
            ),
            10 => format!(
                "{}{}{}{}",
                rng.pick(&[
                    "password",
                    "DB_PASSWORD",
                    "api_key",
                    "\"apiKey\"",
                    "secret",
                    "auth",
                    "credentials",
                    "x.token"
                ]),
                rng.pick(&["=", ": ", " = ", "\":\""]),
                rng.pick(&["", "\"", "'"]),
                alnum(rng, 1, 20)
            ),
            11 => format!(
                "{}@{}.{}",
                alnum(rng, 1, 10),
                alnum(rng, 1, 10),
                rng.pick(&["com", "io", "x", "c0m"])
            ),
            12 => "[REDACTED]".to_string(),
            _ => sentence(rng),
        };
        out.push_str(&piece);
        out.push_str(rng.pick::<&str>(&[" ", "\n", ", ", "&", "\"", ";", ""]));
    }
    out.into_bytes()
}
