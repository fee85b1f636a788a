//! Masking, per message and online: a hand-written byte scanner that replaces the obvious
//! values of a message (numbers, hex, ids, IPs, paths, URLs, dates) by `<*>`. The masked form
//! is what the miner deduplicates, and what fingerprints are made of.

use super::WILDCARD;

/// The message with its obvious variable parts masked as `<*>` (the same
/// masking `add` uses); deterministic, per-message, used for stable
/// fingerprints. Runs of whitespace become one space.
pub fn mask(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    mask_into(message, &mut out);
    out
}

/// Appends the masked form of `message` to `out`.
///
/// Everything is decided on ASCII bytes, and text is only ever cut next to an
/// ASCII byte, so multi-byte UTF-8 characters pass through intact.
pub(super) fn mask_into(message: &str, out: &mut String) {
    let bytes = message.as_bytes();
    let mut i = 0;
    let mut prev_was_date_word = false;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let word = &message[start..i];
        if !out.is_empty() {
            out.push(' ');
        }
        // Month and weekday names are variables when they are part of a date,
        // i.e. followed by a number or another date word (`Sun Jul 10 03:55`).
        if is_date_word(word.as_bytes()) {
            let mut j = i;
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            let mut k = j;
            while k < bytes.len() && !bytes[k].is_ascii_whitespace() {
                k += 1;
            }
            let next = &bytes[j..k];
            let dated = next.first().is_some_and(u8::is_ascii_digit) || is_date_word(next);
            if dated || prev_was_date_word {
                out.push_str(WILDCARD);
                prev_was_date_word = true;
                continue;
            }
        }
        prev_was_date_word = false;
        // A unit right after a number belongs to the value (`5.2 KB` vs
        // `93.0 B`), otherwise the unit alone would split the template.
        if out.ends_with("<*> ") && is_unit(word.as_bytes()) {
            out.push_str(WILDCARD);
            let b = word.as_bytes();
            let mut e = b.len();
            while e > 0 && is_close_wrap(b[e - 1]) {
                e -= 1;
            }
            out.push_str(&word[e..]);
            continue;
        }
        mask_word(word, out);
    }
}

/// Size and time units that follow a number as a separate word.
fn is_unit(word: &[u8]) -> bool {
    const UNITS: [&[u8]; 24] = [
        b"B", b"KB", b"MB", b"GB", b"TB", b"PB", b"kB", b"KiB", b"MiB", b"GiB", b"TiB", b"ns",
        b"us", b"ms", b"s", b"sec", b"secs", b"min", b"mins", b"h", b"KB/s", b"MB/s", b"GB/s",
        b"kb",
    ];
    let mut e = word.len();
    while e > 0 && is_close_wrap(word[e - 1]) {
        e -= 1;
    }
    UNITS.contains(&&word[..e])
}

fn is_date_word(word: &[u8]) -> bool {
    const NAMES: [&[u8]; 19] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun",
    ];
    let word = match word.last() {
        Some(b',') => &word[..word.len() - 1],
        _ => word,
    };
    word.len() == 3 && NAMES.contains(&word)
}

fn is_open_wrap(b: u8) -> bool {
    matches!(b, b'(' | b'[' | b'{' | b'"' | b'\'' | b'<' | b'`')
}

fn is_close_wrap(b: u8) -> bool {
    matches!(
        b,
        b')' | b']' | b'}' | b'"' | b'\'' | b'>' | b'`' | b',' | b';' | b'.' | b':' | b'!' | b'?'
    )
}

/// Masks one whitespace-free word.
fn mask_word(word: &str, out: &mut String) {
    let b = word.as_bytes();
    let mut s = 0;
    let mut e = b.len();
    while s < e && is_open_wrap(b[s]) {
        s += 1;
    }
    while e > s && is_close_wrap(b[e - 1]) {
        e -= 1;
    }
    let core = &word[s..e];
    // An empty bracketed value (`()`, `[]`, `''`) is a value that happens to
    // be empty, so it masks like a filled one (`(<*>)`).
    if core.is_empty()
        && matches!(
            b,
            [b'(', b')', ..]
                | [b'[', b']', ..]
                | [b'{', b'}', ..]
                | [b'"', b'"', ..]
                | [b'\'', b'\'', ..]
        )
    {
        out.push_str(&word[..1]);
        out.push_str(WILDCARD);
        out.push_str(&word[1..]);
        return;
    }
    out.push_str(&word[..s]);
    if is_whole_value(core.as_bytes()) {
        out.push_str(WILDCARD);
    } else {
        mask_segments(core, out);
    }
    out.push_str(&word[e..]);
}

/// Words that are one value as a whole: URLs, paths, and number-like runs
/// (numbers, IPs, times, dates, hex, UUIDs, MACs, versions).
fn is_whole_value(core: &[u8]) -> bool {
    if core.is_empty() || core == b"*" {
        return false;
    }
    if contains(core, b"://") {
        return true;
    }
    if core[0] == b'/'
        && core.len() > 1
        && core[1..].iter().any(|&c| c == b'/' || c.is_ascii_digit())
    {
        return true;
    }
    if core.len() > 2 && (core[0] == b'\\' || (core[1] == b':' && core[2] == b'\\')) {
        return true;
    }
    // Dot leaders (`dcbf.......0`) separate a label from its value.
    if contains(core, b"..") {
        return false;
    }
    if is_host_port(core) {
        return true;
    }
    let mut digit = false;
    for &c in core {
        match c {
            b'0'..=b'9' => digit = true,
            b'a'..=b'f'
            | b'A'..=b'F'
            | b'.'
            | b':'
            | b'-'
            | b'_'
            | b'/'
            | b'+'
            | b'x'
            | b'X'
            | b',' => {}
            _ => return false,
        }
    }
    digit
}

/// A network endpoint `host.domain:port` (`proxy.example.org:8080`): a
/// dotted host name and a numeric port.
fn is_host_port(core: &[u8]) -> bool {
    let Some(colon) = core.iter().rposition(|&c| c == b':') else {
        return false;
    };
    let (host, port) = (&core[..colon], &core[colon + 1..]);
    !port.is_empty()
        && port.len() <= 5
        && port.iter().all(u8::is_ascii_digit)
        && host.contains(&b'.')
        && host.first().is_some_and(u8::is_ascii_alphanumeric)
        && host.last().is_some_and(u8::is_ascii_alphanumeric)
        && !contains(host, b"..")
        && host
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-')
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn is_segment_delim(b: u8) -> bool {
    matches!(
        b,
        b'=' | b':'
            | b','
            | b';'
            | b'('
            | b')'
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'"'
            | b'\''
            | b'|'
            | b'<'
            | b'>'
            | b'`'
    )
}

/// Masks the digit-bearing segments of a word, where segments are separated
/// by punctuation such as `=`, `:`, `,`, brackets, quotes and runs of dots
/// (`uid=0` -> `uid=<*>`, `caused by dcbf.......0` -> `dcbf.......<*>`).
fn mask_segments(core: &str, out: &mut String) {
    let b = core.as_bytes();
    let mut seg_start = 0;
    let mut i = 0;
    while i < b.len() {
        let dots = b[i] == b'.' && b.get(i + 1) == Some(&b'.');
        if is_segment_delim(b[i]) || dots {
            push_segment(&core[seg_start..i], out);
            let delim_start = i;
            i += 1;
            while dots && i < b.len() && b[i] == b'.' {
                i += 1;
            }
            out.push_str(&core[delim_start..i]);
            seg_start = i;
        } else {
            i += 1;
        }
    }
    push_segment(&core[seg_start..], out);
}

fn push_segment(seg: &str, out: &mut String) {
    if is_variable_segment(seg.as_bytes()) {
        // A comma-separated list of values is one value (`1.2.3.4,5.6.7.8`).
        if out.ends_with("<*>,") {
            out.pop();
            return;
        }
        out.push_str(WILDCARD);
    } else {
        out.push_str(seg);
    }
}

/// A segment with a digit is a value, except identifiers whose digits sit
/// inside a word (`Slf4jLogger`, `Http2Handler`), which name code, not data.
fn is_variable_segment(seg: &[u8]) -> bool {
    let digits = seg.iter().filter(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return false;
    }
    let starts_alpha = seg.first().is_some_and(u8::is_ascii_alphabetic);
    let all_alnum = seg.iter().all(u8::is_ascii_alphanumeric);
    let trailing_letters = seg
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    !(starts_alpha && all_alnum && digits <= 2 && trailing_letters >= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_common_values() {
        assert_eq!(
            mask("Received block blk_-1608999687919862906 of size 91178 from /10.250.10.6"),
            "Received block <*> of size <*> from <*>"
        );
        assert_eq!(
            mask("onExtend:1514038530000 14 0 4"),
            "onExtend:<*> <*> <*> <*>"
        );
        assert_eq!(
            mask("uid=0 euid=0 tty=NODEVssh"),
            "uid=<*> euid=<*> tty=NODEVssh"
        );
        assert_eq!(mask("GET http://example.com/a?b=1 ok"), "GET <*> ok");
        assert_eq!(
            mask("id 123e4567-e89b-12d3-a456-426614174000 at 10.0.0.1:8080"),
            "id <*> at <*>"
        );
        assert_eq!(mask("took 12ms (0x1f)"), "took <*> (<*>)");
        assert_eq!(
            mask("at Sun Jul 10 03:55:15 2005"),
            "at <*> <*> <*> <*> <*>"
        );
        assert_eq!(mask("Slf4jLogger started"), "Slf4jLogger started");
        assert_eq!(
            mask("size 5.2 KB, free 93 B)"),
            "size <*> <*>, free <*> <*>)"
        );
        assert_eq!(mask("from 10.1.1.2,10.1.1.3 ()"), "from <*> (<*>)");
    }

    #[test]
    fn mask_collapses_whitespace_and_keeps_words() {
        assert_eq!(mask("  a \t b  "), "a b");
        assert_eq!(mask(""), "");
        assert_eq!(mask("May I help"), "May I help");
    }

    #[test]
    fn mask_is_safe_on_multibyte_text() {
        let m = mask("ошибка: файл 42 не найден — ☃=7 日本語:3");
        assert_eq!(m, "ошибка: файл <*> не найден — ☃=<*> 日本語:<*>");
        let long = "é1".repeat(10_000);
        let _ = mask(&long);
    }
}
