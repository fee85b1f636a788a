//! Log files, read as a stream: any sequence of JSON values (the array of `gcloud logging
//! read --format=json`, JSON Lines of LogEntry as sinks export them, pretty-printed entries as
//! `jq .` and the Logs Explorer's "copy" give them, or a mix), or plain text.

use super::logentry::{entry_from_json, has_log_entry_shape};
use crate::model::{LogEntry, Severity};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::BufRead;

/// The formats a log file can have, as its first value shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Starts with a JSON array; what follows its `]` is read too.
    JsonArray,
    /// One JSON object a line.
    JsonLines,
    /// JSON objects spread over lines (pretty-printed), one after another.
    JsonValues,
    Text,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::JsonArray => "JSON array (gcloud logging read --format=json)",
            Format::JsonLines => "JSON Lines of LogEntry",
            Format::JsonValues => "pretty-printed JSON LogEntry values",
            Format::Text => "plain text",
        })
    }
}

/// An entry that could not be read; it is skipped and counted, never the whole file.
#[derive(Debug, Clone, PartialEq)]
pub struct Malformed {
    /// Where: `line 12` for a line or a top-level value (the line it starts on), `entry 3
    /// (line 12)` for the third element of a JSON array.
    pub location: String,
    pub reason: String,
}

/// What reading a file found, besides the entries.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadSummary {
    pub format: Format,
    pub entries: u64,
    pub malformed: u64,
}

/// Reads every entry of `reader`, calling `on_entry` for each good one and `on_malformed` for
/// each bad one. An I/O error is the only thing that stops it early.
///
/// The file is JSON when its first byte past white space and a byte-order mark is `{` or `[`;
/// then every value in it is read, each element of an array being one entry. Each value is cut
/// out of the stream by [`Scanner`] before serde_json parses it, so a value that does not parse
/// (too deeply nested, a raw control character, a lone surrogate, a number out of range) is one
/// malformed entry and the next value is read as usual. Invalid UTF-8 is read as U+FFFD, as in
/// plain text. Memory holds one value at a time.
pub fn read_entries<R: BufRead>(
    mut reader: R,
    mut on_entry: impl FnMut(LogEntry),
    mut on_malformed: impl FnMut(Malformed),
) -> std::io::Result<ReadSummary> {
    let (json, blank_lines) = detect(&mut reader)?;
    let mut summary = ReadSummary {
        format: Format::Text,
        entries: 0,
        malformed: 0,
    };
    let mut outcome = |parsed: Result<LogEntry, Malformed>, s: &mut ReadSummary| match parsed {
        Ok(e) => {
            s.entries += 1;
            on_entry(e);
        }
        Err(m) => {
            s.malformed += 1;
            on_malformed(m);
        }
    };
    if json {
        let mut scanner = Scanner::new(blank_lines + 1);
        let mut on_piece = |piece: Piece<'_>| outcome(piece.entry(), &mut summary);
        loop {
            let chunk = reader.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            let len = chunk.len();
            scanner.scan(chunk, &mut on_piece);
            reader.consume(len);
        }
        scanner.finish(&mut on_piece);
        summary.format = scanner.format();
        return Ok(summary);
    }
    let mut line = String::new();
    let mut number = blank_lines;
    loop {
        line.clear();
        if read_line_lossy(&mut reader, &mut line)? == 0 {
            break;
        }
        number += 1;
        let text = line.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        let parsed = text_line_entry(text).map_err(|reason| Malformed {
            location: format!("line {number}"),
            reason,
        });
        outcome(parsed, &mut summary);
    }
    Ok(summary)
}

/// A line of a plain-text file: a whole LogEntry object when it is one (a JSON Lines file whose
/// first line is not JSON, such as a cut-off first line), else text.
fn text_line_entry(text: &str) -> Result<LogEntry, String> {
    if text.trim_start().starts_with('{')
        && let Ok(value) = serde_json::from_str::<Value>(text)
        && has_log_entry_shape(&value)
    {
        return entry_from_json(&value);
    }
    Ok(entry_from_text(text))
}

/// Reads one line, replacing invalid UTF-8 instead of failing on it.
fn read_line_lossy<R: BufRead>(reader: &mut R, line: &mut String) -> std::io::Result<usize> {
    let mut bytes = Vec::new();
    let n = reader.read_until(b'\n', &mut bytes)?;
    line.push_str(&String::from_utf8_lossy(&bytes));
    Ok(n)
}

/// Whether the file is JSON, from its first byte that is not white space (nor a UTF-8
/// byte-order mark), and how many line ends came before that byte.
fn detect<R: BufRead>(reader: &mut R) -> std::io::Result<(bool, u64)> {
    let mut lines = 0;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok((false, lines));
        }
        let skip = buf
            .iter()
            .take_while(|b| b.is_ascii_whitespace() || is_bom_byte(**b))
            .count();
        lines += buf[..skip].iter().filter(|b| **b == b'\n').count() as u64;
        if skip < buf.len() {
            let json = matches!(buf[skip], b'[' | b'{');
            // All of it goes, in a text file too: a text line is read trimmed anyway, and a
            // byte-order mark kept would hide the first line's timestamp and severity.
            reader.consume(skip);
            return Ok((json, lines));
        }
        let len = buf.len();
        reader.consume(len);
    }
}

fn is_bom_byte(b: u8) -> bool {
    matches!(b, 0xEF | 0xBB | 0xBF)
}

/// A value larger than this is skipped unread: Cloud Logging's own limit is 256 KiB an entry,
/// and a value that never closes must not take the rest of the file into memory.
const MAX_VALUE_BYTES: usize = 8 << 20;

/// One value cut out of the stream, not parsed yet.
struct Piece<'a> {
    /// Its position in the array it is an element of.
    element: Option<u64>,
    /// The line it starts on.
    line: u64,
    bytes: &'a [u8],
    /// Why it is no entry, when the scanner already knows.
    broken: Option<String>,
}

impl Piece<'_> {
    fn entry(&self) -> Result<LogEntry, Malformed> {
        let parsed = match &self.broken {
            Some(reason) => Err(reason.clone()),
            None => parse_entry(self.bytes, self.line),
        };
        parsed.map_err(|reason| Malformed {
            location: match self.element {
                Some(n) => format!("entry {n} (line {})", self.line),
                None => format!("line {}", self.line),
            },
            reason,
        })
    }
}

/// Parses one value that starts on line `line` into an entry. Text that is not Unicode costs
/// a U+FFFD, not the entry, as in plain text: a byte that is not UTF-8 (a message cut inside a
/// character) or an escaped half of a surrogate pair (a JavaScript string cut inside one).
fn parse_entry(bytes: &[u8], line: u64) -> Result<LogEntry, String> {
    let value = match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => v,
        Err(e) => {
            let text = String::from_utf8_lossy(bytes);
            let repaired = replace_lone_surrogates(&text);
            if matches!((&text, &repaired), (Cow::Borrowed(_), Cow::Borrowed(_))) {
                return Err(not_json(&e, line));
            }
            serde_json::from_str(&repaired).map_err(|e| not_json(&e, line))?
        }
    };
    entry_from_json(&value)
}

/// `\ud800` and the like, escapes of half a surrogate pair that serde_json rightly rejects,
/// become `\ufffd`; whole pairs are kept.
fn replace_lone_surrogates(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let unit_at = |at: usize| {
        let hex = b.get(at..at + 4)?;
        hex.iter()
            .all(u8::is_ascii_hexdigit)
            .then(|| u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok())?
    };
    let mut repaired: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        let Some(unit) = (b[i + 1] == b'u').then(|| unit_at(i + 2)).flatten() else {
            i += 2;
            continue;
        };
        let high = (0xD800..0xDC00).contains(&unit);
        if high
            && b.get(i + 6..i + 8) == Some(b"\\u")
            && unit_at(i + 8).is_some_and(|low| (0xDC00..0xE000).contains(&low))
        {
            i += 12;
            continue;
        }
        if (0xD800..0xE000).contains(&unit) {
            let out = repaired.get_or_insert_with(String::new);
            out.push_str(&text[copied..i]);
            out.push_str("\\ufffd");
            copied = i + 6;
        }
        i += 6;
    }
    match repaired {
        None => Cow::Borrowed(text),
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
    }
}

/// serde_json's complaint, placed on the file's line rather than the value's.
fn not_json(e: &serde_json::Error, line: u64) -> String {
    let text = e.to_string();
    let what = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(w, _)| w);
    format!(
        "not JSON at line {}: {what}",
        line + (e.line() as u64).saturating_sub(1)
    )
}

/// Where the scanner is inside a top-level array, between elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Between {
    /// After the `[`.
    Start,
    AfterComma,
    AfterElement,
}

#[derive(Debug)]
struct Array {
    between: Between,
    elements: u64,
}

/// A value being scanned.
#[derive(Debug)]
struct Open {
    element: Option<u64>,
    line: u64,
    /// Brackets open inside the value.
    depth: u64,
    /// It starts with `{` or `[`, and ends where that bracket closes.
    container: bool,
    /// Top-level text that is not an object: it runs to the end of its line.
    to_line_end: bool,
    in_string: bool,
    escaped: bool,
    broken: Option<String>,
    /// Too large: its bytes are no longer kept.
    dropped: bool,
}

/// Finds where each JSON value of a stream begins and ends without parsing it. It follows
/// strings and their escapes and counts brackets (with no depth limit, since it only counts),
/// so that each top-level value, and each element of a top-level array, is cut out alone.
///
/// It resynchronises where a broken value would otherwise swallow the rest of the file: a
/// string cannot run past the end of its line (JSON strings hold no raw line end), and a line
/// that starts with `{`, `[` or `]` in its first column begins a new value (pretty printers
/// indent what is inside one), so a JSON line cut short is one malformed entry.
struct Scanner {
    line: u64,
    /// The next byte is the first of its line.
    line_start: bool,
    array: Option<Array>,
    open: Option<Open>,
    /// The bytes of `open` from earlier chunks.
    pending: Vec<u8>,
    first: Option<Format>,
    /// A top-level object spread over several lines was seen.
    multiline: bool,
}

impl Scanner {
    fn new(line: u64) -> Self {
        Scanner {
            line,
            line_start: true,
            array: None,
            open: None,
            pending: Vec::new(),
            first: None,
            multiline: false,
        }
    }

    fn format(&self) -> Format {
        match self.first {
            Some(Format::JsonArray) => Format::JsonArray,
            _ if self.multiline => Format::JsonValues,
            _ => Format::JsonLines,
        }
    }

    /// Scans the next chunk of the stream, handing on each value it completes.
    fn scan(&mut self, chunk: &[u8], emit: &mut impl FnMut(Piece<'_>)) {
        let mut i = 0;
        // Where the open value's bytes begin in this chunk.
        let mut start = 0;
        while i < chunk.len() {
            let b = chunk[i];
            let line_start = std::mem::replace(&mut self.line_start, false);
            let Some(open) = &mut self.open else {
                if let Some(element) = self.between_values(b, emit) {
                    // The byte begins a value: look at it again as the value's first.
                    self.open = Some(Open {
                        element,
                        line: self.line,
                        depth: 0,
                        container: matches!(b, b'{' | b'['),
                        to_line_end: element.is_none() && b != b'{',
                        in_string: false,
                        escaped: false,
                        broken: None,
                        dropped: false,
                    });
                    if self.first.is_none() {
                        self.first = Some(Format::JsonLines);
                    }
                    start = i;
                } else {
                    i += 1;
                }
                continue;
            };
            if open.in_string {
                if open.escaped {
                    open.escaped = false;
                    if b != b'\n' {
                        i += 1;
                        continue;
                    }
                }
                // Most of an entry is string content: run through it.
                i += chunk[i..]
                    .iter()
                    .position(|c| matches!(c, b'"' | b'\\' | b'\n'))
                    .unwrap_or(chunk.len() - i);
                match chunk.get(i) {
                    None => break,
                    Some(b'"') => open.in_string = false,
                    Some(b'\\') => open.escaped = true,
                    Some(_) => {
                        open.in_string = false;
                        let line = self.line;
                        open.broken.get_or_insert_with(|| {
                            format!("a string runs past the end of line {line}")
                        });
                        self.newline();
                    }
                }
                i += 1;
                continue;
            }
            if open.to_line_end {
                i += chunk[i..]
                    .iter()
                    .position(|c| *c == b'\n')
                    .unwrap_or(chunk.len() - i);
                if i == chunk.len() {
                    break;
                }
                self.close(chunk, start, i, emit);
                continue;
            }
            if line_start && open.depth > 0 && matches!(b, b'{' | b'[' | b']') {
                let line = self.line;
                open.broken.get_or_insert_with(|| {
                    format!("it is not closed where line {line} begins a new entry")
                });
                self.close(chunk, start, i, emit);
                continue;
            }
            match b {
                b'"' => open.in_string = true,
                b'{' | b'[' => open.depth += 1,
                b'}' | b']' if open.depth > 0 => {
                    open.depth -= 1;
                    if open.depth == 0 && open.container {
                        self.close(chunk, start, i + 1, emit);
                        i += 1;
                        continue;
                    }
                }
                // The end of an element that is no object: the array takes the byte.
                b',' | b']' if open.depth == 0 && open.element.is_some() => {
                    self.close(chunk, start, i, emit);
                    continue;
                }
                b'\n' => self.newline(),
                _ => {}
            }
            i += 1;
        }
        if self.open.is_some() {
            self.keep(&chunk[start..]);
        }
    }

    /// Handles a byte between values; `Some` when it begins one (with its position in the array
    /// it is an element of).
    fn between_values(&mut self, b: u8, emit: &mut impl FnMut(Piece<'_>)) -> Option<Option<u64>> {
        match b {
            b'\n' => self.newline(),
            b' ' | b'\t' | b'\r' => {}
            b if is_bom_byte(b) => {}
            _ => match &mut self.array {
                None => match b {
                    b'[' => {
                        self.array = Some(Array {
                            between: Between::Start,
                            elements: 0,
                        });
                        self.first.get_or_insert(Format::JsonArray);
                    }
                    // Objects pasted one after another with commas between them.
                    b',' => {}
                    _ => return Some(None),
                },
                Some(array) => match b {
                    b',' | b']' => {
                        if array.between != Between::AfterElement
                            && (b == b',' || array.between == Between::AfterComma)
                        {
                            array.elements += 1;
                            emit(Piece {
                                element: Some(array.elements),
                                line: self.line,
                                bytes: &[],
                                broken: Some(
                                    match (b, array.between) {
                                        (b']', _) => "empty: a comma before the array's `]`",
                                        (_, Between::Start) => "empty: a comma right after `[`",
                                        _ => "empty: two commas in a row",
                                    }
                                    .to_string(),
                                ),
                            });
                        }
                        if b == b']' {
                            self.array = None;
                        } else {
                            array.between = Between::AfterComma;
                        }
                    }
                    // A missing comma loses nothing: the next element is read as usual.
                    _ => {
                        array.elements += 1;
                        array.between = Between::AfterElement;
                        return Some(Some(array.elements));
                    }
                },
            },
        }
        None
    }

    fn newline(&mut self) {
        self.line += 1;
        self.line_start = true;
    }

    /// Keeps bytes of the open value that the next chunk will not hold.
    fn keep(&mut self, bytes: &[u8]) {
        let Some(open) = &mut self.open else { return };
        if open.dropped {
            return;
        }
        if self.pending.len() + bytes.len() > MAX_VALUE_BYTES {
            open.dropped = true;
            self.pending = Vec::new();
            return;
        }
        self.pending.extend_from_slice(bytes);
    }

    /// Ends the open value at `chunk[end]` and hands it on.
    fn close(&mut self, chunk: &[u8], start: usize, end: usize, emit: &mut impl FnMut(Piece<'_>)) {
        let Some(open) = self.open.take() else { return };
        if open.element.is_none() && open.line != self.line && open.broken.is_none() {
            self.multiline = true;
        }
        let too_large = open.dropped || self.pending.len() + (end - start) > MAX_VALUE_BYTES;
        let bytes = if too_large {
            &[][..]
        } else if self.pending.is_empty() {
            &chunk[start..end]
        } else {
            self.pending.extend_from_slice(&chunk[start..end]);
            &self.pending[..]
        };
        emit(Piece {
            element: open.element,
            line: open.line,
            bytes,
            broken: if too_large {
                Some(format!("larger than {} MiB", MAX_VALUE_BYTES >> 20))
            } else {
                open.broken
            },
        });
        self.pending.clear();
    }

    /// The end of the stream: a value or an array still open there is cut short.
    fn finish(&mut self, emit: &mut impl FnMut(Piece<'_>)) {
        if let Some(open) = &mut self.open {
            if !open.to_line_end {
                open.broken
                    .get_or_insert_with(|| "the file breaks off inside it".to_string());
            }
            self.close(&[], 0, 0, emit);
        } else if let Some(array) = &self.array {
            emit(Piece {
                element: None,
                line: self.line,
                bytes: &[],
                broken: Some(format!(
                    "the file breaks off after entry {} of an array, before its `]`",
                    array.elements
                )),
            });
        }
        self.array = None;
    }
}

/// Days of silence that make a run of entries far from another.
const FAR_DAYS: i64 = 7;

/// When a file's entries happened, day by day: to tell the bulk of the file from a few
/// timestamps far from it (a zero time, year 1, year 9999), which would otherwise move
/// "the last hour of the file" off every real entry. Memory grows with the days seen.
#[derive(Debug, Default)]
pub struct Timeline {
    days: BTreeMap<i64, Run>,
}

/// Entries close together in time.
#[derive(Debug, Clone, Copy)]
struct Run {
    entries: u64,
    oldest: DateTime<Utc>,
    newest: DateTime<Utc>,
}

impl Run {
    fn merge(&mut self, other: &Run) {
        self.entries += other.entries;
        self.oldest = self.oldest.min(other.oldest);
        self.newest = self.newest.max(other.newest);
    }
}

/// The span of a file's entries, with the bulk told from the few far from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// The oldest and newest entries of the bulk.
    pub oldest: DateTime<Utc>,
    pub newest: DateTime<Utc>,
    /// Entries set aside: in runs more than [`FAR_DAYS`] of silence away from the rest, each
    /// holding less than half as many entries as the largest run.
    pub set_aside: u64,
    /// The oldest and newest of all entries, those set aside included.
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

impl Timeline {
    pub fn add(&mut self, t: DateTime<Utc>) {
        let one = Run {
            entries: 1,
            oldest: t,
            newest: t,
        };
        self.days
            .entry(t.timestamp().div_euclid(86_400))
            .and_modify(|day| day.merge(&one))
            .or_insert(one);
    }

    /// `None` when no entry had a timestamp.
    pub fn span(&self) -> Option<Span> {
        let mut runs: Vec<(i64, Run)> = Vec::new();
        for (&day, entries) in &self.days {
            match runs.last_mut() {
                Some((last_day, run)) if day - *last_day <= FAR_DAYS => {
                    run.merge(entries);
                    *last_day = day;
                }
                _ => runs.push((day, *entries)),
            }
        }
        let largest = runs.iter().map(|(_, r)| r.entries).max()?;
        let add = |sum: &mut Option<Run>, run: &Run| match sum {
            Some(sum) => sum.merge(run),
            None => *sum = Some(*run),
        };
        let (mut all, mut bulk) = (None, None);
        for (_, run) in &runs {
            add(&mut all, run);
            if run.entries * 2 >= largest {
                add(&mut bulk, run);
            }
        }
        let (all, bulk) = (all?, bulk?);
        Some(Span {
            oldest: bulk.oldest,
            newest: bulk.newest,
            set_aside: all.entries - bulk.entries,
            first: all.oldest,
            last: all.newest,
        })
    }
}

/// A plain-text line: a leading timestamp and severity are taken when present.
pub fn entry_from_text(line: &str) -> LogEntry {
    let mut rest = line.trim_start();
    let mut timestamp = None;
    if let Some((t, after)) = leading_timestamp(rest) {
        timestamp = Some(t);
        rest = after.trim_start();
    }
    let mut severity = Severity::Default;
    if let Some((s, after)) = leading_severity(rest) {
        severity = s;
        rest = after.trim_start_matches([':', ' ', '-', '|']).trim_start();
    }
    let mut entry = LogEntry::new(rest);
    entry.timestamp = timestamp;
    entry.severity = severity;
    entry
}

fn leading_timestamp(text: &str) -> Option<(DateTime<Utc>, &str)> {
    let token_end = text.find(' ').unwrap_or(text.len());
    let first = &text[..token_end];
    if let Ok(t) = DateTime::parse_from_rfc3339(first.trim_start_matches('[').trim_end_matches(']'))
    {
        return Some((t.with_timezone(&Utc), &text[token_end..]));
    }
    // `2025-09-15 21:48:03,123` and `2025-09-15 21:48:03.123` (Python's logging, log4j).
    for (len, fmt) in [
        (23, "%Y-%m-%d %H:%M:%S,%3f"),
        (23, "%Y-%m-%d %H:%M:%S.%3f"),
        (19, "%Y-%m-%d %H:%M:%S"),
    ] {
        if let Some(candidate) = text.get(..len)
            && let Ok(t) = NaiveDateTime::parse_from_str(candidate, fmt)
        {
            return Some((t.and_utc(), &text[len..]));
        }
    }
    None
}

fn leading_severity(text: &str) -> Option<(Severity, &str)> {
    let trimmed = text.trim_start_matches('[');
    let end = trimmed
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(trimmed.len());
    let word = &trimmed[..end];
    if word.len() < 3 || word.chars().any(|c| c.is_ascii_lowercase()) {
        return None;
    }
    let severity = word.parse::<Severity>().ok()?;
    let after = trimmed[end..].trim_start_matches(']');
    Some((severity, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (ReadSummary, Vec<LogEntry>, Vec<Malformed>) {
        read_bytes(text.as_bytes())
    }

    /// Reads `bytes` whole, and again in chunks of a few bytes (as a file is read) so that
    /// every value crosses chunk ends: both must find the same.
    fn read_bytes(bytes: &[u8]) -> (ReadSummary, Vec<LogEntry>, Vec<Malformed>) {
        let [chunked, whole] = [3, bytes.len().max(1)].map(|capacity| {
            let mut entries = Vec::new();
            let mut bad = Vec::new();
            let reader = std::io::BufReader::with_capacity(capacity, bytes);
            let summary = read_entries(reader, |e| entries.push(e), |m| bad.push(m)).unwrap();
            (summary, entries, bad)
        });
        assert_eq!(chunked, whole, "read in chunks vs whole");
        whole
    }

    fn messages(entries: &[LogEntry]) -> Vec<&str> {
        entries.iter().map(|e| e.message.as_str()).collect()
    }

    fn text(message: &str) -> String {
        format!(r#"{{"textPayload": "{message}"}}"#)
    }

    #[test]
    fn json_array_keeps_good_entries_around_bad_ones() {
        let (summary, entries, bad) = read(
            r#" [ {"textPayload": "a", "severity": "ERROR"}, 42,
                 {"textPayload": "b", "timestamp": "not a time"}, {"textPayload": "c"} ]"#,
        );
        assert_eq!(summary.format, Format::JsonArray);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].message, "c");
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].location, "entry 2 (line 1)");
        assert_eq!(bad[1].location, "entry 3 (line 2)");
        assert_eq!(summary.malformed, 2);
    }

    #[test]
    fn truncated_json_array_keeps_what_came_before() {
        let (summary, entries, bad) =
            read(r#"[{"textPayload": "a"}, {"textPayload": "b"}, {"textPay"#);
        assert_eq!(entries.len(), 2);
        assert_eq!(summary.malformed, 1);
        assert!(bad[0].reason.contains("breaks off"), "{:?}", bad[0]);
    }

    #[test]
    fn json_lines_report_the_line_number_of_a_bad_line() {
        let (summary, entries, bad) = read(
            "{\"textPayload\": \"a\"}\n\n{not json}\n{\"textPayload\": \"b\", \"severity\": 400}\n",
        );
        assert_eq!(summary.format, Format::JsonLines);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].severity, Severity::Warning);
        assert_eq!(bad[0].location, "line 3");
    }

    #[test]
    fn plain_text_takes_leading_timestamp_and_severity() {
        let (summary, entries, _) = read(
            "2025-09-15T21:48:03Z ERROR boom\n2025-09-15 21:48:04,120 [WARNING] slow\njust a line\n",
        );
        assert_eq!(summary.format, Format::Text);
        assert_eq!(entries[0].severity, Severity::Error);
        assert_eq!(entries[0].message, "boom");
        assert!(entries[0].timestamp.is_some());
        assert_eq!(entries[1].severity, Severity::Warning);
        assert_eq!(entries[1].message, "slow");
        assert_eq!(entries[2].message, "just a line");
        assert_eq!(entries[2].timestamp, None);
    }

    #[test]
    fn invalid_utf8_does_not_stop_the_file() {
        let mut bytes = b"ok line\n".to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe, b'x', b'\n']);
        bytes.extend_from_slice(b"after\n");
        let mut entries = Vec::new();
        read_entries(bytes.as_slice(), |e| entries.push(e), |_| {}).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[2].message, "after");
    }

    /// `[a, BAD, b]` and `a BAD b` as JSON Lines: both good entries kept, the bad one counted
    /// where it is, with serde_json's reason.
    fn assert_one_bad_between_good(bad_value: &[u8], why: &str) {
        let mut array = format!("[{}, ", text("a")).into_bytes();
        array.extend_from_slice(bad_value);
        array.extend_from_slice(format!(",\n{}]", text("b")).as_bytes());
        let (summary, entries, bad) = read_bytes(&array);
        assert_eq!(messages(&entries), ["a", "b"], "{why}");
        assert_eq!(summary.malformed, 1, "{why}: {bad:?}");
        assert_eq!(bad[0].location, "entry 2 (line 1)", "{why}");
        assert!(bad[0].reason.contains(why), "{why}: {bad:?}");

        let mut lines = format!("{}\n", text("a")).into_bytes();
        lines.extend_from_slice(bad_value);
        lines.extend_from_slice(format!("\n{}\n", text("b")).as_bytes());
        let (summary, entries, bad) = read_bytes(&lines);
        assert_eq!(messages(&entries), ["a", "b"], "{why}");
        assert_eq!(summary.malformed, 1, "{why}: {bad:?}");
        assert_eq!(bad[0].location, "line 2", "{why}");
        assert!(bad[0].reason.contains(why), "{why}: {bad:?}");
    }

    #[test]
    fn nesting_deeper_than_serde_json_goes_is_one_bad_entry() {
        let deep = format!(
            r#"{{"textPayload": "deep", "jsonPayload": {{"x": {}{}}}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert_one_bad_between_good(deep.as_bytes(), "recursion limit");
    }

    #[test]
    fn a_raw_control_character_is_one_bad_entry() {
        assert_one_bad_between_good(b"{\"textPayload\": \"a\x01b\"}", "control character");
    }

    #[test]
    fn half_a_surrogate_pair_costs_a_character() {
        let (summary, entries, bad) = read(concat!(
            r#"{"textPayload": "a\ud800b"}"#,
            "\n",
            r#"{"textPayload": "\\ud800 \udc00\ud83d\ude00\ud83d"}"#,
            "\n",
            r#"{"textPayload": "\ud800", "timestamp": "no"}"#,
        ));
        assert_eq!(
            messages(&entries),
            ["a\u{fffd}b", "\\ud800 \u{fffd}\u{1f600}\u{fffd}"]
        );
        assert_eq!(summary.malformed, 1);
        assert!(bad[0].reason.contains("timestamp"), "{bad:?}");
    }

    #[test]
    fn a_number_out_of_range_is_one_bad_entry() {
        assert_one_bad_between_good(
            br#"{"textPayload": "a", "jsonPayload": {"n": 1e999}}"#,
            "out of range",
        );
    }

    #[test]
    fn invalid_utf8_in_a_string_costs_a_character_and_elsewhere_one_entry() {
        let mut bytes = format!("[{}, ", text("a")).into_bytes();
        bytes.extend_from_slice(b"{\"textPayload\": \"caf\xc3\"},\n\xff,\n");
        bytes.extend_from_slice(text("b").as_bytes());
        bytes.push(b']');
        let (summary, entries, bad) = read_bytes(&bytes);
        assert_eq!(messages(&entries), ["a", "caf\u{fffd}", "b"]);
        assert_eq!(summary.malformed, 1);
        assert_eq!(bad[0].location, "entry 3 (line 2)");
    }

    #[test]
    fn stray_and_trailing_commas_are_counted_and_lose_nothing() {
        let (summary, entries, bad) = read(&format!(
            "[,{a},,{b},]\n{c}",
            a = text("a"),
            b = text("b"),
            c = text("c")
        ));
        assert_eq!(messages(&entries), ["a", "b", "c"]);
        let at: Vec<_> = bad.iter().map(|m| m.location.as_str()).collect();
        assert_eq!(
            at,
            ["entry 1 (line 1)", "entry 3 (line 1)", "entry 5 (line 1)"]
        );
        assert!(bad[2].reason.contains("before the array's `]`"), "{bad:?}");
        assert_eq!(summary.malformed, 3);
    }

    #[test]
    fn what_follows_the_closing_bracket_is_read_too() {
        let (summary, entries, bad) = read(&format!(
            "[{a}][{b}]\n[\n  {c}\n]\n[]\n{d}\n{e}\n",
            a = text("a"),
            b = text("b"),
            c = text("c"),
            d = text("d"),
            e = text("e")
        ));
        assert_eq!(summary.format, Format::JsonArray);
        assert_eq!(messages(&entries), ["a", "b", "c", "d", "e"]);
        assert!(bad.is_empty(), "{bad:?}");
    }

    #[test]
    fn json_lines_after_an_empty_array() {
        let (summary, entries, bad) = read(&format!("[]\n{}\n{}\n", text("a"), text("b")));
        assert_eq!(messages(&entries), ["a", "b"]);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(summary.entries, 2);
    }

    /// A Cloud Run entry as the Logs Explorer's "copy" gives it.
    fn cloud_run_entry(message: &str) -> Value {
        serde_json::json!({
            "insertId": "68c8a0c3000d2b7a5f1e6c1d",
            "jsonPayload": {"message": message, "logger": "app.orders", "extra": {"ids": [1, 2, 3]}},
            "resource": {"type": "cloud_run_revision", "labels": {
                "service_name": "api", "revision_name": "api-00042-abc",
                "location": "us-central1", "project_id": "p", "configuration_name": "api"}},
            "timestamp": "2025-09-15T21:48:03.123456Z",
            "severity": "ERROR",
            "labels": {"instanceId": "00f4a9"},
            "logName": "projects/p/logs/run.googleapis.com%2Fstderr",
            "receiveTimestamp": "2025-09-15T21:48:03.300000Z"
        })
    }

    #[test]
    fn a_pretty_printed_entry_is_one_entry() {
        let pretty = serde_json::to_string_pretty(&cloud_run_entry("boom")).unwrap();
        assert!(pretty.lines().count() > 20);
        let (summary, entries, bad) = read(&pretty);
        assert_eq!(summary.format, Format::JsonValues);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(messages(&entries), ["boom"]);
        assert_eq!(entries[0].service.as_deref(), Some("api"));
        assert_eq!(entries[0].severity, Severity::Error);
    }

    #[test]
    fn a_stream_of_pretty_printed_entries_with_a_broken_one() {
        // `jq '.[]'` of an export, one entry cut off by hand and one string broken by a line end.
        let one = serde_json::to_string_pretty(&cloud_run_entry("one")).unwrap();
        let two = serde_json::to_string_pretty(&cloud_run_entry("two")).unwrap();
        let cut = &one[..one.find("\"severity\"").unwrap()];
        let broken = two.replace("two", "broken\nin two");
        let file = format!("{one}\n{cut}\n{two}\n{broken}\n{two}\n");
        let (summary, entries, bad) = read(&file);
        assert_eq!(summary.format, Format::JsonValues);
        assert_eq!(messages(&entries), ["one", "two", "two"]);
        assert_eq!(summary.malformed, 2, "{bad:?}");
        let lines = one.lines().count();
        let cut_lines = cut.lines().count();
        assert_eq!(bad[0].location, format!("line {}", lines + 1));
        assert!(bad[0].reason.contains("not closed"), "{bad:?}");
        assert_eq!(
            bad[1].location,
            format!("line {}", lines + cut_lines + two.lines().count() + 1)
        );
        assert!(bad[1].reason.contains("past the end of line"), "{bad:?}");
    }

    #[test]
    fn jq_pretty_array_with_a_bad_element() {
        // `jq .` of a gcloud export: the array indented, every element over many lines.
        let array = serde_json::Value::Array(vec![
            cloud_run_entry("one"),
            serde_json::json!({"textPayload": "no time", "timestamp": {"seconds": "x"}}),
            cloud_run_entry("two"),
        ]);
        let pretty = serde_json::to_string_pretty(&array).unwrap();
        let (summary, entries, bad) = read(&pretty);
        assert_eq!(summary.format, Format::JsonArray);
        assert_eq!(messages(&entries), ["one", "two"]);
        assert_eq!(summary.malformed, 1);
        assert!(bad[0].location.starts_with("entry 2 (line "), "{bad:?}");
        assert!(bad[0].reason.contains("timestamp.seconds"), "{bad:?}");
    }

    #[test]
    fn a_json_line_cut_short_is_one_bad_line() {
        let (summary, entries, bad) = read(&format!(
            "{a}\n{{\"textPayload\": \"b\", \"sev\n{{\"textPayload\": \"c\", \"labels\": {{\n{d}\n",
            a = text("a"),
            d = text("d")
        ));
        assert_eq!(summary.format, Format::JsonLines);
        assert_eq!(messages(&entries), ["a", "d"]);
        let at: Vec<_> = bad.iter().map(|m| m.location.as_str()).collect();
        assert_eq!(at, ["line 2", "line 3"]);
    }

    #[test]
    fn byte_order_mark_and_blank_lines_before_json_lines() {
        let (summary, entries, bad) = read(&format!(
            "\u{feff}\n\n{a}\n{{not json}}\n{b}\n",
            a = text("a"),
            b = text("b")
        ));
        assert_eq!(summary.format, Format::JsonLines);
        assert_eq!(messages(&entries), ["a", "b"]);
        assert_eq!(bad[0].location, "line 4");
    }

    #[test]
    fn a_text_file_reads_its_log_entry_lines_as_entries() {
        // A JSON Lines export whose first line was cut: the LogEntry lines are still entries;
        // an application's own JSON printed as text stays text.
        let (summary, entries, bad) = read(concat!(
            "ayload\": \"cut\"}\n",
            r#"{"textPayload": "boom", "severity": "ERROR"}"#,
            "\n",
            r#"{"level": "info"}"#,
            "\n",
            r#"{"textPayload": "x", "timestamp": "never"}"#,
            "\n",
        ));
        assert_eq!(summary.format, Format::Text);
        assert_eq!(
            messages(&entries),
            ["ayload\": \"cut\"}", "boom", "{\"level\": \"info\"}"]
        );
        assert_eq!(entries[1].severity, Severity::Error);
        assert_eq!(bad[0].location, "line 4");
    }

    #[test]
    fn a_value_that_never_closes_does_not_take_the_file_into_memory() {
        let mut file = format!("{}\n{{\"textPayload\": \"", text("a")).into_bytes();
        file.resize(file.len() + MAX_VALUE_BYTES + 10, b'x');
        file.extend_from_slice(b"\"}\n");
        file.extend_from_slice(text("b").as_bytes());
        let mut entries = Vec::new();
        let mut bad = Vec::new();
        let reader = std::io::BufReader::with_capacity(1 << 16, file.as_slice());
        read_entries(reader, |e| entries.push(e.message), |m| bad.push(m)).unwrap();
        assert!(entries == ["a", "b"], "{} entries", entries.len());
        assert_eq!(bad.len(), 1);
        assert!(bad[0].reason.contains("larger than"), "{bad:?}");
    }

    #[test]
    fn an_array_that_never_closes_is_counted() {
        let (summary, entries, bad) = read(&format!("[{},\n{}\n", text("a"), text("b")));
        assert_eq!(messages(&entries), ["a", "b"]);
        assert_eq!(summary.malformed, 1);
        assert!(bad[0].reason.contains("before its `]`"), "{bad:?}");
    }

    fn at(t: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_few_timestamps_far_from_the_rest_are_set_aside() {
        let mut timeline = Timeline::default();
        assert_eq!(timeline.span(), None);
        for minute in 0..20 {
            timeline.add(at("2025-09-15T12:00:00Z") + chrono::Duration::minutes(minute));
        }
        for far in [
            "0001-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
        ] {
            timeline.add(at(far));
        }
        let span = timeline.span().unwrap();
        assert_eq!(span.oldest, at("2025-09-15T12:00:00Z"));
        assert_eq!(span.newest, at("2025-09-15T12:19:00Z"));
        assert_eq!(span.set_aside, 3);
        assert_eq!(span.first, at("0001-01-01T00:00:00Z"));
        assert_eq!(span.last, at("9999-12-31T23:59:59Z"));
    }

    #[test]
    fn two_real_periods_are_both_the_bulk() {
        let mut timeline = Timeline::default();
        for hour in 0..10 {
            timeline.add(at("2025-01-10T00:00:00Z") + chrono::Duration::hours(hour));
        }
        // A week's silence is no gap; half as many entries as January's are real too.
        timeline.add(at("2025-01-17T00:00:00Z"));
        for minute in 0..6 {
            timeline.add(at("2025-09-15T12:00:00Z") + chrono::Duration::minutes(minute * 6));
        }
        let span = timeline.span().unwrap();
        assert_eq!(span.set_aside, 0);
        assert_eq!(span.newest, at("2025-09-15T12:30:00Z"));
        assert_eq!(span.oldest, at("2025-01-10T00:00:00Z"));
        // Fewer than half as many, that far away, are set aside.
        timeline.add(at("2025-01-10T00:30:00Z"));
        timeline.add(at("2025-01-10T00:40:00Z"));
        assert_eq!(timeline.span().unwrap().set_aside, 6);
    }
}
