//! Log files: the JSON array of `gcloud logging read --format=json`, JSON Lines of LogEntry
//! (sink exports) and plain text, detected from the first byte and read as a stream.

use super::logentry::entry_from_json;
use crate::model::{LogEntry, Severity};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::io::BufRead;

/// The formats a log file can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonArray,
    JsonLines,
    Text,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::JsonArray => "JSON array (gcloud logging read --format=json)",
            Format::JsonLines => "JSON Lines of LogEntry",
            Format::Text => "plain text",
        })
    }
}

/// An entry that could not be read; it is skipped and counted, never the whole file.
#[derive(Debug, Clone, PartialEq)]
pub struct Malformed {
    /// Where: `line 12` for line formats, `entry 12` for the JSON array.
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
pub fn read_entries<R: BufRead>(
    mut reader: R,
    mut on_entry: impl FnMut(LogEntry),
    mut on_malformed: impl FnMut(Malformed),
) -> std::io::Result<ReadSummary> {
    let format = detect(&mut reader)?;
    let mut summary = ReadSummary {
        format,
        entries: 0,
        malformed: 0,
    };
    let mut good = |e: LogEntry, s: &mut ReadSummary| {
        s.entries += 1;
        on_entry(e);
    };
    let mut bad = |m: Malformed, s: &mut ReadSummary| {
        s.malformed += 1;
        on_malformed(m);
    };
    match format {
        Format::JsonArray => {
            let mut outcomes = Vec::new();
            let mut de = serde_json::Deserializer::from_reader(reader);
            let mut index = 0usize;
            let result = de.deserialize_seq(ArrayVisitor {
                on_element: &mut |value: Result<Value, String>| {
                    index += 1;
                    outcomes.push((index, value.and_then(|v| entry_from_json(&v))));
                    // Hand entries on in batches so that memory stays flat.
                    if outcomes.len() >= 256 {
                        for (i, outcome) in outcomes.drain(..) {
                            match outcome {
                                Ok(e) => good(e, &mut summary),
                                Err(reason) => bad(
                                    Malformed {
                                        location: format!("entry {i}"),
                                        reason,
                                    },
                                    &mut summary,
                                ),
                            }
                        }
                    }
                },
            });
            for (i, outcome) in outcomes.drain(..) {
                match outcome {
                    Ok(e) => good(e, &mut summary),
                    Err(reason) => bad(
                        Malformed {
                            location: format!("entry {i}"),
                            reason,
                        },
                        &mut summary,
                    ),
                }
            }
            if let Err(e) = result {
                if e.is_io() {
                    return Err(std::io::Error::other(e));
                }
                // A syntax error ends the array: what came before it is kept.
                bad(
                    Malformed {
                        location: format!("line {} column {}", e.line(), e.column()),
                        reason: format!("the JSON array breaks off here: {e}"),
                    },
                    &mut summary,
                );
            }
        }
        Format::JsonLines | Format::Text => {
            let mut line = String::new();
            let mut number = 0usize;
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
                let parsed = if format == Format::JsonLines {
                    serde_json::from_str::<Value>(text)
                        .map_err(|e| format!("not JSON: {e}"))
                        .and_then(|v| entry_from_json(&v))
                } else {
                    Ok(entry_from_text(text))
                };
                match parsed {
                    Ok(e) => good(e, &mut summary),
                    Err(reason) => bad(
                        Malformed {
                            location: format!("line {number}"),
                            reason,
                        },
                        &mut summary,
                    ),
                }
            }
        }
    }
    Ok(summary)
}

/// Reads one line, replacing invalid UTF-8 instead of failing on it.
fn read_line_lossy<R: BufRead>(reader: &mut R, line: &mut String) -> std::io::Result<usize> {
    let mut bytes = Vec::new();
    let n = reader.read_until(b'\n', &mut bytes)?;
    line.push_str(&String::from_utf8_lossy(&bytes));
    Ok(n)
}

/// The format, from the first byte that is not white space (and not a UTF-8 byte-order mark).
fn detect<R: BufRead>(reader: &mut R) -> std::io::Result<Format> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(Format::Text);
        }
        let skip = buf
            .iter()
            .take_while(|b| b.is_ascii_whitespace() || matches!(b, 0xEF | 0xBB | 0xBF))
            .count();
        if skip < buf.len() {
            let first = buf[skip];
            reader.consume(skip);
            return Ok(match first {
                b'[' => Format::JsonArray,
                b'{' => Format::JsonLines,
                _ => Format::Text,
            });
        }
        let len = buf.len();
        reader.consume(len);
    }
}

/// Visits the elements of the top-level array one at a time, so the array is never held whole.
struct ArrayVisitor<'f> {
    on_element: &'f mut dyn FnMut(Result<Value, String>),
}

impl<'de> Visitor<'de> for ArrayVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of LogEntry objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element_seed(ElementSeed)? {
            (self.on_element)(Ok(value));
        }
        Ok(())
    }
}

struct ElementSeed;

impl<'de> DeserializeSeed<'de> for ElementSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        serde::Deserialize::deserialize(d)
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
        let mut entries = Vec::new();
        let mut bad = Vec::new();
        let summary = read_entries(text.as_bytes(), |e| entries.push(e), |m| bad.push(m)).unwrap();
        (summary, entries, bad)
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
        assert_eq!(bad[0].location, "entry 2");
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
}
