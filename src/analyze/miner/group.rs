//! Grouping one token count's distinct forms, in the spirit of Brain (Yu et al., 2023): the
//! most common token frequency of a form selects its longest common pattern, and a tree over
//! the other columns decides which of them are variables and which split the group.

use super::WILDCARD;
use super::hash::FxMap;
use super::mask::{is_indexed_name, is_unit};
use super::template::Shape;

/// Per form and token: `Some(text)` when the token is a variable, with the text it renders as.
pub(super) type Variables = Vec<Vec<Option<Box<str>>>>;

/// A column whose number of distinct words within a pattern group is below
/// this stays a constant (and splits the group); at or above it the column is
/// a variable. Few distinct words usually mean different events ("opened" vs
/// "closed"), many mean a parameter (user names, host names).
const SPLIT_BELOW: usize = 7;

/// Like [`SPLIT_BELOW`], for columns whose values all contain a masked part.
const STRUCTURED_SPLIT_BELOW: usize = 16;

/// Read-only view of the distinct forms while one length group is clustered.
pub(super) struct GroupCtx<'a, 't> {
    pub(super) tokens: &'a [Vec<&'t str>],
    pub(super) weights: &'a [u64],
}

impl<'t> GroupCtx<'_, 't> {
    /// Clusters one group of forms that all have the same token count.
    pub(super) fn cluster(&self, group: &[u32], variable: &mut Variables) {
        let Some(&first) = group.first() else { return };
        let width = self.tokens[first as usize].len();
        if width == 0 {
            return;
        }
        let mut freq: FxMap<(usize, &'t str), u64> = FxMap::default();
        for &key in group {
            let w = self.weights[key as usize];
            for (pos, &tok) in self.tokens[key as usize].iter().enumerate() {
                *freq.entry((pos, tok)).or_insert(0) += w;
            }
        }
        let freq_of = |key: u32, pos: usize| -> u64 {
            self.tokens[key as usize]
                .get(pos)
                .and_then(|&tok| freq.get(&(pos, tok)).copied())
                .unwrap_or(0)
        };

        // The root of a form is the frequency shared by most of its tokens
        // (ties: the higher frequency); the tokens with exactly that frequency
        // are its longest common pattern, and forms with the same pattern
        // start out in one group.
        let mut roots: FxMap<Vec<Option<&'t str>>, (u64, Vec<u32>)> = FxMap::default();
        let mut root_order: Vec<Vec<Option<&'t str>>> = Vec::new();
        let mut freqs: Vec<u64> = Vec::with_capacity(width);
        for &key in group {
            freqs.clear();
            freqs.extend((0..width).map(|pos| freq_of(key, pos)));
            let root = most_common(&freqs);
            let pattern: Vec<Option<&'t str>> = self.tokens[key as usize]
                .iter()
                .zip(&freqs)
                .map(|(&tok, &f)| (f == root).then_some(tok))
                .collect();
            match roots.get_mut(&pattern) {
                Some((_, members)) => members.push(key),
                None => {
                    root_order.push(pattern.clone());
                    roots.insert(pattern, (root, vec![key]));
                }
            }
        }

        for pattern in &root_order {
            let Some((root, members)) = roots.get(pattern) else {
                continue;
            };
            let open: Vec<usize> = (0..width).filter(|&p| pattern[p].is_none()).collect();
            self.resolve(members, &open, *root, &freq_of, variable);
        }
    }

    /// Decides which of the `open` columns of `members` are variables.
    ///
    /// Columns whose words are all more frequent than the root are shared with
    /// other templates, so when they vary inside the group they are variables.
    /// The other varying columns are split on the one with the fewest distinct
    /// words while that number stays below [`SPLIT_BELOW`].
    fn resolve(
        &self,
        members: &[u32],
        open: &[usize],
        root: u64,
        freq_of: &dyn Fn(u32, usize) -> u64,
        variable: &mut Variables,
    ) {
        let mut best: Option<(usize, usize)> = None; // (distinct, column)
        let mut children: Vec<usize> = Vec::new();
        for &col in open {
            let values = self.values_in(members, col);
            let distinct = values.len();
            if distinct <= 1 {
                continue;
            }
            // Names with an index (`eth0`, `CPU1`, `[LNKB]` beside `[CPU0]`) that differ are
            // values, as a masked value would be; so are tokens that are all data.
            if values.iter().all(|v| !has_word(v)) || indexed_names_vary(&values) {
                self.mark(members, col, variable);
                continue;
            }
            // Units that differ after a value (`KB` vs `B`) are part of the value.
            if values.iter().all(|v| is_unit(v)) {
                self.mark(members, col, variable);
                continue;
            }
            // A masked value that matches another value of the same column
            // (`rhost=<*>` vs `rhost=example.org`) shows the column holds data.
            if generalizes(&values) {
                self.mark(members, col, variable);
                continue;
            }
            let parent = members.iter().all(|&k| freq_of(k, col) > root);
            if parent {
                self.mark(members, col, variable);
                continue;
            }
            children.push(col);
            // Values that all carry a masked part differ only in their
            // constant text (`icbi....<*>` vs `dcbf....<*>`): structure, not
            // data, so they may split even when there are many of them.
            let structured = values.iter().all(|v| v.contains(WILDCARD));
            let limit = if structured {
                STRUCTURED_SPLIT_BELOW
            } else if col == 0 {
                SPLIT_BELOW
            } else {
                SPLIT_BELOW - 1
            };
            if distinct < limit && best.is_none_or(|(d, _)| distinct < d) {
                best = Some((distinct, col));
            }
        }
        match best {
            Some((_, col)) => {
                let rest: Vec<usize> = children.iter().copied().filter(|&c| c != col).collect();
                let mut parts: Vec<(&str, Vec<u32>)> = Vec::new();
                for &key in members {
                    let tok = self.tokens[key as usize].get(col).copied().unwrap_or("");
                    match parts.iter_mut().find(|(t, _)| *t == tok) {
                        Some((_, part)) => part.push(key),
                        None => parts.push((tok, vec![key])),
                    }
                }
                for (_, part) in &parts {
                    self.resolve(part, &rest, root, freq_of, variable);
                }
            }
            _ => {
                for &col in &children {
                    self.mark(members, col, variable);
                }
            }
        }
    }

    /// Makes column `col` of `members` a variable, rendered with the punctuation and key that
    /// all its values share.
    fn mark(&self, members: &[u32], col: usize, variable: &mut Variables) {
        let values = members
            .iter()
            .filter_map(|&k| self.tokens[k as usize].get(col).copied());
        let shape = Shape::of(values);
        for &key in members {
            let Some(&token) = self.tokens[key as usize].get(col) else {
                continue;
            };
            if let Some(slot) = variable.get_mut(key as usize).and_then(|v| v.get_mut(col)) {
                *slot = Some(shape.render(token).into());
            }
        }
    }

    /// The distinct words of a column (stops counting past the split limit).
    fn values_in(&self, members: &[u32], col: usize) -> Vec<&'t str> {
        let mut seen: Vec<&'t str> = Vec::new();
        for &key in members {
            let tok = self.tokens[key as usize].get(col).copied().unwrap_or("");
            if !seen.contains(&tok) {
                seen.push(tok);
                // Past the split limit the exact number no longer matters.
                if seen.len() >= STRUCTURED_SPLIT_BELOW {
                    break;
                }
            }
        }
        seen
    }
}

/// True when one of `values` containing `<*>` matches another of them.
///
/// A value that is itself partly masked only counts as matched by a pattern
/// without words (`<*>,` matches `LOCAL(<*>),`); otherwise
/// `instruction...<*>` would swallow the distinct `instruction......<*>`.
fn generalizes(values: &[&str]) -> bool {
    // Matching is quadratic in token length; giant tokens are never worth it.
    const MAX_LEN: usize = 256;
    values.iter().any(|pattern| {
        pattern.len() <= MAX_LEN
            && pattern.contains(WILDCARD)
            && values.iter().any(|v| {
                v != pattern
                    && v.len() <= MAX_LEN
                    && (!v.contains(WILDCARD) || !has_word(pattern))
                    && (has_word(pattern) || !is_acronym(v))
                    // A bare `<*>` stands for data, not for punctuation (`****`).
                    && (has_word(pattern) || v.bytes().any(|c| c.is_ascii_alphanumeric()))
                    && wildcard_match(pattern.as_bytes(), v.as_bytes())
            })
    })
}

/// An all-capitals word (`HTTPS`, `INFO`): a keyword, not data, so a bare
/// `<*>` in its column (`SOCKS5`) does not make the column a variable.
fn is_acronym(token: &str) -> bool {
    token.len() >= 2 && token.bytes().all(|c| c.is_ascii_uppercase())
}

/// True when `token` has an alphanumeric character outside its wildcards.
pub(super) fn has_word(token: &str) -> bool {
    token
        .split(WILDCARD)
        .any(|part| part.bytes().any(|c| c.is_ascii_alphanumeric()))
}

/// True when the column's values hold a name with an index (`eth0`) and, with the index
/// taken as a value (`<*>`), it matches another value of the column (`lo`, `[LNKB]` for
/// `[CPU0]`), the way a masked value does in [`generalizes`].
fn indexed_names_vary(values: &[&str]) -> bool {
    let patterns: Vec<(usize, String)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| index_as_value(v).map(|p| (i, p)))
        .collect();
    if patterns.is_empty() {
        return false;
    }
    if patterns.len() == values.len() {
        return true;
    }
    patterns.iter().any(|(i, pattern)| {
        values.iter().enumerate().any(|(j, v)| {
            j != *i
                && v.len() <= 256
                && !is_acronym(v)
                && v.bytes().any(|c| c.is_ascii_alphanumeric())
                && wildcard_match(pattern.as_bytes(), v.as_bytes())
        })
    })
}

/// `token` with each name with an index in it as `<*>` (`[CPU0]` -> `[<*>]`); `None` when
/// it has none.
fn index_as_value(token: &str) -> Option<String> {
    let mut out = String::with_capacity(token.len());
    let mut found = false;
    let mut rest = token;
    while !rest.is_empty() {
        let word_len = rest
            .bytes()
            .take_while(|&c| c.is_ascii_alphanumeric() || c == b'_')
            .count();
        if word_len == 0 {
            let c = rest.chars().next()?;
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let word = &rest[..word_len];
        if is_indexed_name(word.as_bytes()) {
            out.push_str(WILDCARD);
            found = true;
        } else {
            out.push_str(word);
        }
        rest = &rest[word_len..];
    }
    found.then_some(out)
}

/// Glob match where `<*>` in `pattern` stands for one or more bytes.
///
/// Classic greedy matching with backtracking to the last wildcard, so the
/// cost stays O(pattern * text) even for long tokens.
fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    let w = WILDCARD.as_bytes();
    let (mut p, mut t) = (0, 0);
    // Pattern index after the last wildcard, and where in the text the
    // pattern after it is currently tried.
    let mut back: Option<(usize, usize)> = None;
    while t < text.len() {
        if pattern[p..].starts_with(w) {
            // A wildcard consumes at least one byte.
            p += w.len();
            t += 1;
            back = Some((p, t));
        } else if pattern.get(p) == Some(&text[t]) {
            p += 1;
            t += 1;
        } else if let Some((bp, bt)) = back {
            // Let the last wildcard swallow one more byte and retry.
            p = bp;
            t = bt + 1;
            back = Some((bp, t));
        } else {
            return false;
        }
    }
    p == pattern.len()
}

/// The value occurring most often in `values` (ties: the larger value).
fn most_common(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let mut best = (0usize, 0u64);
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len() && sorted[j] == sorted[i] {
            j += 1;
        }
        if (j - i, sorted[i]) >= best {
            best = (j - i, sorted[i]);
        }
        i = j;
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_matching() {
        assert!(wildcard_match(b"rhost=<*>", b"rhost=example.org"));
        assert!(wildcard_match(b"<*>,", b"LOCAL(<*>),"));
        assert!(wildcard_match(b"a<*>b<*>c", b"axxbyybzc"));
        assert!(!wildcard_match(b"rhost=<*>", b"rhost="));
        assert!(!wildcard_match(b"(uid=<*>)", b"LOGIN(uid=<*>)"));
        assert!(!wildcard_match(b"a<*>", b"b1"));
        assert!(wildcard_match(b"", b""));
    }
}
