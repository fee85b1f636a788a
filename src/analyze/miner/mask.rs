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
    let mut after_user = false;
    while let Some((start, end)) = next_word(bytes, i) {
        i = end;
        let word = &message[start..end];
        if !out.is_empty() {
            out.push(' ');
        }
        if std::mem::take(&mut after_user) && mask_user_name(word, out) {
            continue;
        }
        let bare = word.trim_end_matches(':');
        after_user = bare.len() + 1 >= word.len()
            && (bare.eq_ignore_ascii_case("user") || bare.eq_ignore_ascii_case("username"));
        // Month and weekday names are variables when they are part of a date, i.e. followed
        // by a number or another date word; the whole date (`Sun Jul 10 03:55:15 2005`) is
        // one value.
        if is_date_word(word.as_bytes()) {
            let next = next_word(bytes, i).map_or(&b""[..], |(s, e)| &bytes[s..e]);
            if next.first().is_some_and(u8::is_ascii_digit) || is_date_word(next) {
                let mut last = word;
                let mut parts = 1;
                while let Some((s, e)) = next_word(bytes, i) {
                    let candidate = &message[s..e];
                    if parts >= DATE_PARTS
                        || ends_in_close_wrap(last)
                        || !(is_date_word(candidate.as_bytes()) || is_time_part(candidate))
                    {
                        break;
                    }
                    last = candidate;
                    parts += 1;
                    i = e;
                }
                out.push_str(WILDCARD);
                out.push_str(trailing_punctuation(last));
                continue;
            }
        }
        mask_word(word, out);
    }
}

/// The most words one date spans (`Sun Jul 10 03:55:15 2005`).
const DATE_PARTS: usize = 5;

/// The next whitespace-free word at or after `i`: its start and end.
fn next_word(bytes: &[u8], mut i: usize) -> Option<(usize, usize)> {
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    if i >= bytes.len() {
        return None;
    }
    let start = i;
    while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    Some((start, i))
}

/// The closing punctuation a word ends in (`,` of `2005,`).
fn trailing_punctuation(word: &str) -> &str {
    let b = word.as_bytes();
    let mut e = b.len();
    while e > 0 && is_close_wrap(b[e - 1]) {
        e -= 1;
    }
    &word[e..]
}

fn ends_in_close_wrap(word: &str) -> bool {
    !trailing_punctuation(word).is_empty()
}

/// A day, a year or a time of day (`10`, `2005`, `03:55:15`, `03:55:15.123`).
fn is_time_part(word: &str) -> bool {
    let core = word.trim_end_matches(|c: char| c.is_ascii() && is_close_wrap(c as u8));
    !core.is_empty()
        && core.len() <= 15
        && core.as_bytes()[0].is_ascii_digit()
        && core
            .bytes()
            .all(|c| c.is_ascii_digit() || c == b':' || c == b'.')
}

/// Size and time units that follow a number as a separate word. They stay in the masked form
/// (`took <*> ms`); where one varies after a value (`5.2 KB` vs `93.0 B`), the grouping makes
/// it part of the value.
pub(super) fn is_unit(word: &str) -> bool {
    let word = word.as_bytes();
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
    // Most words are words: without a digit, an `@`, a path or a key there is nothing to mask.
    if !core
        .bytes()
        .any(|c| c.is_ascii_digit() || matches!(c, b'@' | b'/' | b'\\' | b'='))
    {
        out.push_str(word);
        return;
    }
    out.push_str(&word[..s]);
    if let Some((before, scheme)) = url_scheme(core) {
        // A URL's scheme is structure (`hdfs://<*>`); what follows is the value.
        mask_segments(before, out);
        out.push_str(scheme);
        out.push_str("://");
        out.push_str(WILDCARD);
    } else if is_value(core) {
        out.push_str(WILDCARD);
    } else {
        mask_segments(core, out);
    }
    out.push_str(&word[e..]);
}

/// The text before a URL and the URL's scheme (`hdfs` of `hdfs://host/a`, `akka.tcp` of
/// `:[akka.tcp://x@h:1`), when the word holds one with something after `://`.
fn url_scheme(core: &str) -> Option<(&str, &str)> {
    let at = core.find("://")?;
    if at + 3 >= core.len() {
        return None;
    }
    let b = core.as_bytes();
    let mut start = at;
    while start > 0
        && (b[start - 1].is_ascii_alphanumeric() || matches!(b[start - 1], b'+' | b'.' | b'-'))
    {
        start -= 1;
    }
    let scheme = &core[start..at];
    scheme
        .as_bytes()
        .first()
        .is_some_and(u8::is_ascii_alphabetic)
        .then_some((&core[..start], scheme))
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
    // A short letter-led word of hex letters is a name with an index (`C1`, `B2`), not hex.
    let short_name = core.len() < 4 && core[0].is_ascii_alphabetic();
    digit && !short_name
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
            | b'#'
    )
}

/// Delimiters after which the rest of a word may be one value (`rhost=::ffff:10.0.0.1`,
/// `chdir(/p/a/b)`, `mLp(FF:F2:9F:16)`).
fn opens_value(b: u8) -> bool {
    matches!(b, b'=' | b'(' | b'[' | b'{' | b'<' | b'"' | b'\'')
}

/// Masks the digit-bearing segments of a word, where segments are separated
/// by punctuation such as `=`, `:`, `,`, `#`, brackets, quotes and runs of dots
/// (`uid=0` -> `uid=<*>`, `caused by dcbf.......0` -> `dcbf.......<*>`).
/// The value of a key that names a person is masked whatever it is (`user=root`).
fn mask_segments(core: &str, out: &mut String) {
    let b = core.as_bytes();
    let mut seg_start = 0;
    let mut i = 0;
    while i < b.len() {
        let dots = b[i] == b'.' && b.get(i + 1) == Some(&b'.');
        if is_segment_delim(b[i]) || dots {
            let seg = &core[seg_start..i];
            push_segment(seg, out);
            let delim_start = i;
            i += 1;
            while dots && i < b.len() && b[i] == b'.' {
                i += 1;
            }
            out.push_str(&core[delim_start..i]);
            seg_start = i;
            if !dots && opens_value(b[delim_start]) {
                let rest = &core[i..];
                let end = rest.len() - trailing_punctuation(rest).len();
                let person = b[delim_start] == b'=' && names_person(seg);
                // A value that starts with punctuation keeps it (`tty=:<*>`).
                let starts_value = rest.bytes().next().is_some_and(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, b'/' | b'\\' | b'-' | b'+')
                });
                if end > 0 && starts_value && (person || is_value(&rest[..end])) {
                    out.push_str(WILDCARD);
                    out.push_str(&rest[end..]);
                    return;
                }
            }
        } else {
            i += 1;
        }
    }
    push_segment(&core[seg_start..], out);
}

fn push_segment(seg: &str, out: &mut String) {
    if mask_numbered_word(seg, out) {
        return;
    }
    if is_variable_segment(seg.as_bytes()) || is_value(seg) {
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

/// A value whatever its digits: a whole value or an e-mail address. (Not `true` and `false`:
/// `status changed to False` and `to True` are two events, a failure and a recovery.)
fn is_value(text: &str) -> bool {
    is_whole_value(text.as_bytes()) || is_email(text)
}

/// `name@host`: an e-mail address or a user at a host, personal data either way.
fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && local
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-'))
        && domain.as_bytes()[0].is_ascii_alphanumeric()
        && domain
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-'))
}

/// A key that names a person's account: its value is a user name.
fn names_person(word: &str) -> bool {
    const KEYS: [&str; 7] = [
        "user", "username", "ruser", "luser", "logname", "login", "account",
    ];
    KEYS.iter().any(|k| word.eq_ignore_ascii_case(k))
}

/// A word that can follow `user` without being a name (`user not found`, `user is`).
fn is_function_word(word: &str) -> bool {
    const WORDS: [&str; 28] = [
        "a", "an", "and", "are", "as", "at", "be", "by", "cannot", "did", "does", "for", "from",
        "has", "had", "have", "in", "is", "not", "of", "on", "or", "the", "to", "was", "were",
        "with", "without",
    ];
    WORDS.iter().any(|w| word.eq_ignore_ascii_case(w))
}

/// Masks the word after `user` when it looks like an account name (`for user cyrus`,
/// `user 'bob'`): user names are personal data, never part of a template.
fn mask_user_name(word: &str, out: &mut String) -> bool {
    let b = word.as_bytes();
    let mut s = 0;
    while s < b.len() && is_open_wrap(b[s]) {
        s += 1;
    }
    let end = b.len() - trailing_punctuation(word).len();
    if s >= end {
        return false;
    }
    let name = &word[s..end];
    let name_like = name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'$' | b'@'));
    if !name_like || is_function_word(name) {
        return false;
    }
    out.push_str(&word[..s]);
    out.push_str(WILDCARD);
    out.push_str(&word[end..]);
    true
}

/// A word and a number joined by `.`, `/` or `-` (`core.2275`, `PS/2`, `CentOS-4`): the
/// word is a name, only the number is a value. (`HTTP/1.1` is a version: one value.)
fn mask_numbered_word(seg: &str, out: &mut String) -> bool {
    let Some(at) = seg.rfind(['.', '/', '-']) else {
        return false;
    };
    let (word, number) = (&seg[..at], &seg[at + 1..]);
    if word.is_empty()
        || number.is_empty()
        || !word.bytes().all(|c| c.is_ascii_alphabetic())
        || !number.bytes().all(|c| c.is_ascii_digit())
    {
        return false;
    }
    out.push_str(&seg[..=at]);
    out.push_str(WILDCARD);
    true
}

/// A segment with a digit is a value, except identifiers with few digits that sit in a name
/// (`Slf4jLogger`, `jk2_init`, `eth0`, `L3`): they name code or a device, and the grouping
/// makes them variables where they vary.
fn is_variable_segment(seg: &[u8]) -> bool {
    has_digit(seg) && !is_indexed_name(seg)
}

/// A name with an index or a version in it (`eth0`, `CPU1`, `jk2_init`, `Slf4jLogger`): a
/// letter first, letters, digits and `_` only, at most two digits.
pub(super) fn is_indexed_name(seg: &[u8]) -> bool {
    let digits = seg.iter().filter(|c| c.is_ascii_digit()).count();
    let starts_alpha = seg.first().is_some_and(u8::is_ascii_alphabetic);
    let identifier = seg.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_');
    starts_alpha && identifier && (1..=2).contains(&digits)
}

fn has_digit(seg: &[u8]) -> bool {
    seg.iter().any(u8::is_ascii_digit)
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
        assert_eq!(mask("GET http://example.com/a?b=1 ok"), "GET http://<*> ok");
        assert_eq!(mask("at :[akka.tcp://a@h:1]"), "at :[akka.tcp://<*>]");
        assert_eq!(mask("url=https://h/x?a=1,"), "url=https://<*>,");
        assert_eq!(
            mask("id 123e4567-e89b-12d3-a456-426614174000 at 10.0.0.1:8080"),
            "id <*> at <*>"
        );
        assert_eq!(mask("took 12ms (0x1f)"), "took <*> (<*>)");
        assert_eq!(mask("at Sun Jul 10 03:55:15 2005"), "at <*>");
        assert_eq!(mask("on Jun 9, 2005 at 10"), "on <*>, <*> at <*>");
        assert_eq!(mask("May I help"), "May I help");
        assert_eq!(mask("Slf4jLogger started"), "Slf4jLogger started");
        assert_eq!(mask("size 5.2 KB, free 93 B)"), "size <*> KB, free <*> B)");
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

    #[test]
    fn user_names_are_always_values() {
        assert_eq!(
            mask("session closed for user cyrus"),
            "session closed for user <*>"
        );
        assert_eq!(
            mask("Invalid user admin from 10.0.0.1"),
            "Invalid user <*> from <*>"
        );
        assert_eq!(mask("user: 'alice' logged in"), "user: '<*>' logged in");
        assert_eq!(
            mask("rhost=a.example.org user=root"),
            "rhost=a.example.org user=<*>"
        );
        assert_eq!(mask("ruser=bob logname=carol"), "ruser=<*> logname=<*>");
        // An empty value stays empty; words that cannot be a name are not masked.
        assert_eq!(mask("logname= uid=0"), "logname= uid=<*>");
        assert_eq!(mask("user not found"), "user not found");
    }

    #[test]
    fn e_mail_addresses_and_ips_are_always_values() {
        assert_eq!(mask("mail from alice@example.org ok"), "mail from <*> ok");
        assert_eq!(mask("to=<bob.smith@mail.example.com>,"), "to=<<*>>,");
        assert_eq!(mask("login as root@db1 (key)"), "login as <*> (key)");
        assert_eq!(mask("from 10.0.0.1 port 22"), "from <*> port <*>");
        assert_eq!(mask("client [192.168.1.20]:5000"), "client [<*>]:<*>");
        assert_eq!(mask("peer fe80::1ff:fe23:4567:890a up"), "peer <*> up");
        assert_eq!(mask("rhost=::ffff:10.1.2.3"), "rhost=::ffff:<*>");
    }

    #[test]
    fn names_with_an_index_and_numbered_words_keep_their_name() {
        assert_eq!(
            mask("jk2_init() Found child 6725"),
            "jk2_init() Found child <*>"
        );
        assert_eq!(mask("via eth1: L2 cache"), "via eth1: L2 cache");
        assert_eq!(mask("generating core.2275"), "generating core.<*>");
        assert_eq!(
            mask("Initializing CPU#0 PS/2"),
            "Initializing CPU#<*> PS/<*>"
        );
        assert_eq!(mask("\"GET /a/b HTTP/1.1\""), "\"GET <*> <*>\"");
        assert_eq!(
            mask("(supports C1) 0x1f deadbeef01"),
            "(supports C1) <*> <*>"
        );
        assert_eq!(mask("block blk_-16089 done"), "block <*> done");
        assert_eq!(mask("file=/etc/xinetd.conf"), "file=<*>");
    }
}
