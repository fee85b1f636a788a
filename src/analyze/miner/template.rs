//! Template text from the grouping's decisions: variables rendered as `<*>`, and templates
//! that differ only in pure-data tokens merged into one.

use super::WILDCARD;
use super::group::has_word;
use super::hash::FxMap;
use super::mask::{is_indexed_name, is_unit};

/// True when `token` is pure data: a wildcard with punctuation around it
/// (`<*>`, `(<*>)`, `<<*>,`) and no word.
fn is_value_token(token: &str) -> bool {
    token.contains(WILDCARD) && !has_word(token)
}

/// The tokens of a template, each with whether it may be data: a value token, a unit right
/// after one (`(<*> KB)`), or a name with an index (`an14`), which is a value where it varies.
fn classified(text: &str) -> impl Iterator<Item = (&str, bool)> {
    let mut after_value = false;
    text.split(' ').map(move |tok| {
        let value =
            is_value_token(tok) || (after_value && is_unit(tok)) || is_indexed_name(tok.as_bytes());
        after_value = is_value_token(tok);
        (tok, value)
    })
}

/// Merges templates that differ only in pure-data tokens.
///
/// Templates are mined per token count, so an optional value (`1190 bytes
/// (1.16 KB) sent` vs `0 bytes sent`) or a value that spans a varying number
/// of words (`lifetime <1 sec` vs `lifetime 00:01`) splits one event into
/// several templates. Templates whose word-bearing tokens are identical, in
/// order, are one event; the merged text has a `<*>` wherever any of them
/// has a value between two words. A template that needs no merge keeps each
/// of its values (`<*> <*> <*>` stays three).
pub(super) fn merge_optional_values(texts: Vec<String>) -> Vec<String> {
    let skeleton = |text: &str| -> String {
        let words: Vec<&str> = classified(text)
            .filter(|(_, value)| !value)
            .map(|(t, _)| t)
            .collect();
        words.join(" ")
    };
    let mut by_skeleton: FxMap<String, Vec<usize>> = FxMap::default();
    for (i, text) in texts.iter().enumerate() {
        let mut key = skeleton(text);
        // Messages that are all data (`sda1 sda2`, `v2.0 (20020519)`) have no words to merge
        // on: they are one template when they are one once their values are fused.
        if key.is_empty() {
            key = format!("\0{}", fuse(text));
        }
        by_skeleton.entry(key).or_default().push(i);
    }
    let mut merged: Vec<String> = texts.clone();
    for members in by_skeleton.values() {
        let mut distinct: Vec<&str> = members.iter().map(|&i| texts[i].as_str()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < 2 {
            continue;
        }
        // gaps[i]: some template has a value before its i-th word
        // (the last entry: after the last word).
        let words: Vec<&str> = classified(distinct[0])
            .filter(|(_, value)| !value)
            .map(|(t, _)| t)
            .collect();
        if words.is_empty() {
            let out = fuse(distinct[0]);
            for &i in members {
                merged[i].clone_from(&out);
            }
            continue;
        }
        let mut gaps = vec![false; words.len() + 1];
        for text in &distinct {
            let mut w = 0;
            for (_, value) in classified(text) {
                if value {
                    if let Some(g) = gaps.get_mut(w) {
                        *g = true;
                    }
                } else {
                    w += 1;
                }
            }
        }
        let mut out = String::new();
        for (i, gap) in gaps.iter().enumerate() {
            let word = words.get(i).copied();
            let mut push = |tok: &str| {
                if out.ends_with(WILDCARD) && tok.starts_with(WILDCARD) {
                    out.truncate(out.len() - WILDCARD.len());
                } else if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(tok);
            };
            if *gap {
                push(WILDCARD);
            }
            if let Some(word) = word {
                push(word);
            }
        }
        for &i in members {
            merged[i].clone_from(&out);
        }
    }
    merged
}

/// Joins tokens with single spaces, each variable as its column renders it. Inside a quoted
/// string, adjacent values are one value (`"GET <*> <*>"` is `"GET <*>"`): a quoted string is
/// one field of the message.
pub(super) fn render(tokens: &[&str], variable: &[Option<Box<str>>]) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for (&raw, var) in tokens.iter().zip(variable) {
        let tok = var.as_deref().unwrap_or(raw);
        // A unit that varies belongs to the value before it (`size <*>` of `5.2 KB`, `93 B`).
        if var.is_some() && is_unit(raw) && out.ends_with(WILDCARD) {
            out.push_str(tok.strip_prefix(WILDCARD).unwrap_or(""));
            continue;
        }
        if quoted && out.ends_with(WILDCARD) && tok.starts_with(WILDCARD) {
            out.truncate(out.len() - WILDCARD.len());
        } else if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(tok);
        if tok.bytes().filter(|&c| c == b'"').count() % 2 == 1 {
            quoted = !quoted;
        }
    }
    out
}

/// `text` with a token ending in `<*>` and the next one starting with `<*>` fused (`<*> <*>`
/// -> `<*>`, `(<*> <*>):` -> `(<*>):`), so that values spanning a varying number of words
/// (lists, dates, paths with spaces) end in one template.
fn fuse(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for tok in text.split(' ') {
        if out.ends_with(WILDCARD) && tok.starts_with(WILDCARD) {
            out.truncate(out.len() - WILDCARD.len());
        } else if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(tok);
    }
    out
}

/// What every value of a variable column shares and the template keeps: the key and the
/// opening punctuation before the value, the closing punctuation after it.
#[derive(Debug, Clone, Default)]
pub(super) struct Shape {
    lead: String,
    trail: String,
}

impl Shape {
    /// The shape of a column with these values (`rhost=`, `(` and `)`, `,`).
    pub(super) fn of<'t>(values: impl Iterator<Item = &'t str>) -> Shape {
        let mut prefix: Option<&str> = None;
        let mut suffix: Option<&str> = None;
        let mut shortest = usize::MAX;
        for value in values {
            shortest = shortest.min(value.len());
            prefix = Some(prefix.map_or(value, |p| common_prefix(p, value)));
            suffix = Some(suffix.map_or(value, |s| common_suffix(s, value)));
        }
        let lead = prefix.map_or("", structural_prefix);
        let mut trail = suffix.map_or("", structural_suffix);
        if lead.len() + trail.len() > shortest {
            trail = "";
        }
        Shape {
            lead: lead.to_owned(),
            trail: trail.to_owned(),
        }
    }

    /// How `token` of the column renders: `<*>` in the shared shape; a `key=value` whose key
    /// is not shared keeps its own key (`user=<*>`).
    pub(super) fn render(&self, token: &str) -> String {
        match kv_key(token) {
            Some(key) if self.lead.is_empty() => format!("{key}={WILDCARD}{}", self.trail),
            _ => format!("{}{WILDCARD}{}", self.lead, self.trail),
        }
    }
}

fn common_prefix<'a>(a: &'a str, b: &str) -> &'a str {
    let n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    // Cut on a character boundary of `a`.
    let mut n = n;
    while !a.is_char_boundary(n) {
        n -= 1;
    }
    &a[..n]
}

fn common_suffix<'a>(a: &'a str, b: &str) -> &'a str {
    let n = a
        .bytes()
        .rev()
        .zip(b.bytes().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mut start = a.len() - n;
    while !a.is_char_boundary(start) {
        start += 1;
    }
    &a[start..]
}

/// The part of a shared prefix that is structure: up to and with its last opening mark or
/// key separator (`[file=` of `[file=/etc/a`, `(` of `(root`), never into a wildcard.
fn structural_prefix(prefix: &str) -> &str {
    let b = prefix.as_bytes();
    let mut end = 0;
    for (i, &c) in b.iter().enumerate() {
        if b[i..].starts_with(WILDCARD.as_bytes()) {
            break;
        }
        if matches!(
            c,
            b'=' | b'(' | b'[' | b'{' | b'"' | b'\'' | b'<' | b'#' | b':' | b'`'
        ) {
            end = i + 1;
        }
    }
    &prefix[..end]
}

/// The part of a shared suffix that is structure: its closing punctuation (`),` of
/// `LOCAL(<*>),` and `<*>),`), never a word and never part of a wildcard.
fn structural_suffix(suffix: &str) -> &str {
    let b = suffix.as_bytes();
    let mut start = b.len();
    while start > 0 {
        let c = b[start - 1];
        let closing = matches!(
            c,
            b')' | b']'
                | b'}'
                | b'"'
                | b'\''
                | b'>'
                | b'`'
                | b','
                | b';'
                | b':'
                | b'.'
                | b'!'
                | b'?'
                | b'#'
        );
        if !closing || (c == b'>' && suffix[..start].ends_with(WILDCARD)) {
            break;
        }
        start -= 1;
    }
    &suffix[start..]
}

/// The key of a `key=value` token whose key is a plain name (`user` of `user=root`).
fn kv_key(tok: &str) -> Option<&str> {
    let (key, _) = tok.split_once('=')?;
    (!key.is_empty()
        && key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')))
    .then_some(key)
}
