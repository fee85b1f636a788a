//! A log file (or standard input) as a source: opened, read with a progress line on a
//! terminal, and "the last hour of the file" found from its own timestamps.

use super::file::{Span, Timeline};
use super::{Malformed, ReadSummary, read_entries};
use crate::error::user;
use crate::model::{LogEntry, rfc3339};
use chrono::{DateTime, Utc};
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A file, or standard input for `-`, with its size when known.
pub fn open(path: &str) -> anyhow::Result<(Box<dyn BufRead>, Option<u64>)> {
    if path == "-" {
        return Ok((Box::new(BufReader::new(std::io::stdin().lock())), None));
    }
    let file = std::fs::File::open(path).map_err(|e| user(format!("cannot open {path}: {e}")))?;
    let size = file.metadata().ok().map(|m| m.len());
    Ok((Box::new(BufReader::with_capacity(1 << 20, file)), size))
}

/// Reads every entry of the file; the span of its timestamps comes back with the summary.
pub fn read(
    path: &str,
    mut on_entry: impl FnMut(LogEntry),
    on_malformed: impl FnMut(Malformed),
) -> anyhow::Result<(ReadSummary, Option<Span>)> {
    let (reader, size) = open(path)?;
    let read = Arc::new(AtomicU64::new(0));
    let counting = CountingReader {
        inner: reader,
        read: read.clone(),
    };
    let progress = std::io::stderr().is_terminal();
    let mut last_report = Instant::now();
    let mut entries = 0u64;
    let mut timeline = Timeline::default();
    let summary = read_entries(
        BufReader::with_capacity(1 << 16, counting),
        |entry| {
            entries += 1;
            if progress
                && entries.is_multiple_of(4096)
                && last_report.elapsed() > Duration::from_millis(250)
            {
                last_report = Instant::now();
                let bytes = read.load(Ordering::Relaxed);
                let pct = size
                    .filter(|s| *s > 0)
                    .map(|s| format!(" ({:.0}%)", bytes as f64 * 100.0 / s as f64))
                    .unwrap_or_default();
                eprint!(
                    "\rreading {path}: {entries} entries, {} MB{pct}   ",
                    bytes >> 20
                );
            }
            if let Some(t) = entry.timestamp {
                timeline.add(t);
            }
            on_entry(entry);
        },
        on_malformed,
    )
    .map_err(|e| user(format!("cannot read {path}: {e}")))?;
    if progress {
        eprint!("\r\x1b[2K");
    }
    Ok((summary, timeline.span()))
}

/// The newest entry of a file, for "the last hour of the file": the newest of its bulk, so
/// that a few timestamps far from the rest (year 1, 9999) do not move the window off every
/// real entry; those set aside are said on stderr. Just past it: the window is half-open.
pub fn latest_timestamp(path: &str) -> anyhow::Result<Option<DateTime<Utc>>> {
    let (reader, _) = open(path)?;
    let mut timeline = Timeline::default();
    read_entries(
        reader,
        |e| {
            if let Some(t) = e.timestamp {
                timeline.add(t);
            }
        },
        |_| {},
    )
    .map_err(|e| user(format!("cannot read {path}: {e}")))?;
    let Some(span) = timeline.span() else {
        return Ok(None);
    };
    if span.set_aside > 0 {
        eprintln!(
            "warning: {path}: {} entries with timestamps far from the rest (the file runs from {} to {}) are set aside: --since counts back from {}, the newest of the others",
            span.set_aside,
            rfc3339(&span.first),
            rfc3339(&span.last),
            rfc3339(&span.newest)
        );
    }
    Ok(Some(
        span.newest
            .checked_add_signed(chrono::Duration::nanoseconds(1))
            .unwrap_or(span.newest),
    ))
}

struct CountingReader<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
