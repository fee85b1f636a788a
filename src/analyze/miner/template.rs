//! Template text from the grouping's decisions: variables rendered as `<*>`, and templates
//! that differ only in pure-data tokens merged into one.

use super::WILDCARD;
use super::group::has_word;
use super::hash::FxMap;

/// True when `token` is pure data: a wildcard with punctuation around it
/// (`<*>`, `(<*>)`, `<<*>,`) and no word.
fn is_value_token(token: &str) -> bool {
    token.contains(WILDCARD) && !has_word(token)
}

/// Merges templates that differ only in pure-data tokens.
///
/// Templates are mined per token count, so an optional value (`1190 bytes
/// (1.16 KB) sent` vs `0 bytes sent`) or a value that spans a varying number
/// of words (`lifetime <1 sec` vs `lifetime 00:01`) splits one event into
/// several templates. Templates whose word-bearing tokens are identical, in
/// order, are one event; the merged text has a `<*>` wherever any of them
/// has a value between two words.
pub(super) fn merge_optional_values(texts: Vec<String>) -> Vec<String> {
    let skeleton = |text: &str| -> String {
        let words: Vec<&str> = text.split(' ').filter(|t| !is_value_token(t)).collect();
        words.join(" ")
    };
    let mut by_skeleton: FxMap<String, Vec<usize>> = FxMap::default();
    for (i, text) in texts.iter().enumerate() {
        by_skeleton.entry(skeleton(text)).or_default().push(i);
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
        let words: Vec<&str> = distinct[0]
            .split(' ')
            .filter(|t| !is_value_token(t))
            .collect();
        // Messages that are all data (`sda1 sda2`, `v2.0 (20020519)`) have
        // nothing in common to merge on.
        if words.is_empty() {
            continue;
        }
        let mut gaps = vec![false; words.len() + 1];
        for text in &distinct {
            let mut w = 0;
            for tok in text.split(' ') {
                if is_value_token(tok) {
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

/// Joins tokens with single spaces, variables as `<*>`. A token ending in
/// `<*>` followed by one starting with `<*>` are fused (`<*> <*>` -> `<*>`,
/// `(<*> <*>):` -> `(<*>):`) so that values spanning a varying number of
/// words (lists, paths with spaces) end in the same template.
pub(super) fn render(tokens: &[&str], variable: &[bool]) -> String {
    let mut out = String::new();
    for (tok, &var) in tokens.iter().zip(variable) {
        let kept;
        let tok = if !var {
            tok
        } else if let Some(key) = kv_key(tok) {
            kept = format!("{key}={WILDCARD}");
            kept.as_str()
        } else {
            WILDCARD
        };
        if out.ends_with(WILDCARD) && tok.starts_with(WILDCARD) {
            out.truncate(out.len() - WILDCARD.len());
        } else if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(tok);
    }
    out
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
