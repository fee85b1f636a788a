//! Log template miner: masks the obvious variable parts of messages online and
//! groups the distinct masked forms into `<*>` templates in one batch step.
//!
//! Two stages keep memory proportional to the number of *distinct* masked
//! messages rather than to the number of lines:
//!
//! 1. [`Miner::add`] runs a hand-written byte scanner (see [`mask`]) that
//!    replaces numbers, hex, ids, IPs, paths, URLs, dates and similar values by
//!    `<*>`, then deduplicates the masked text into a table with line counts.
//! 2. [`Miner::finish`] groups the distinct forms with a statistics-based
//!    algorithm in the spirit of Brain (Yu et al., 2023): forms are grouped by
//!    token count, every token gets the line frequency of its word at its
//!    position, the most common frequency of a form selects its longest common
//!    pattern, and the columns outside that pattern are resolved by a tree that
//!    splits on columns with few distinct values and turns the rest into
//!    variables. Two generic signals refine the tree: a column where a masked
//!    value matches another value (`rhost=<*>` vs `rhost=a.org`) is a
//!    variable, and a column whose values all carry a masked part but differ
//!    in their text (`dcbf...<*>` vs `icbi...<*>`) is structure and splits.
//!    Finally, adjacent wildcards are fused, so values that span a varying
//!    number of words still share a template, and templates that differ only
//!    in pure-value tokens (an optional `(1.16 KB)`, `<1 sec` vs `00:01`)
//!    are merged across token counts.
//!
//! One configuration serves every log source; there are no per-source rules.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The placeholder that stands for a variable part.
const WILDCARD: &str = "<*>";

/// A column whose number of distinct words within a pattern group is below
/// this stays a constant (and splits the group); at or above it the column is
/// a variable. Few distinct words usually mean different events ("opened" vs
/// "closed"), many mean a parameter (user names, host names).
const SPLIT_BELOW: usize = 7;

/// Like [`SPLIT_BELOW`], for columns whose values all contain a masked part.
const STRUCTURED_SPLIT_BELOW: usize = 16;

/// Fast, deterministic hasher (the FxHash mixing step). The miner hashes every
/// input line, so SipHash's DoS resistance is not worth its cost here, and a
/// fixed seed keeps the whole pipeline deterministic.
#[derive(Debug, Default, Clone, Copy)]
struct FxHasher {
    hash: u64,
}

impl FxHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    #[inline]
    fn mix(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, byte: u8) {
        self.mix(u64::from(byte));
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

type FxBuild = BuildHasherDefault<FxHasher>;
type FxMap<K, V> = HashMap<K, V, FxBuild>;

/// Online deduplicating miner; see the module documentation.
#[derive(Debug, Default)]
pub struct Miner {
    /// Distinct masked form -> key.
    keys: FxMap<Box<str>, u32>,
    /// Number of lines per key.
    counts: Vec<u64>,
    /// Reused output buffer so `add` does not allocate for known forms.
    scratch: String,
}

impl Miner {
    /// Creates an empty miner.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one message; returns the key of its distinct masked form.
    ///
    /// Keys are dense (`0..distinct()`), in order of first appearance. Past
    /// `u32::MAX - 1` distinct forms, further new forms share the last key.
    pub fn add(&mut self, message: &str) -> u32 {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        mask_into(message, &mut buf);
        let key = match self.keys.get(buf.as_str()) {
            Some(&key) => key,
            None => match u32::try_from(self.counts.len()) {
                Ok(key) if key < u32::MAX => {
                    self.keys.insert(buf.as_str().into(), key);
                    self.counts.push(0);
                    key
                }
                // Out of keys: count the line against the last form rather
                // than panicking (needs over four billion distinct forms).
                _ => u32::MAX - 1,
            },
        };
        if let Some(count) = self.counts.get_mut(key as usize) {
            *count += 1;
        }
        self.scratch = buf;
        key
    }

    /// Like [`Miner::add`], but a form not seen before is only kept while fewer than `cap`
    /// are: `None` when the message is new and the miner is full.
    pub fn add_within(&mut self, message: &str, cap: usize) -> Option<u32> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        mask_into(message, &mut buf);
        let known = self.keys.get(buf.as_str()).copied();
        self.scratch = buf;
        match known {
            Some(key) => {
                self.counts[key as usize] += 1;
                Some(key)
            }
            None if self.counts.len() < cap => Some(self.add(message)),
            None => None,
        }
    }

    /// Number of distinct masked forms so far.
    pub fn distinct(&self) -> usize {
        self.counts.len()
    }

    /// Groups the distinct forms into templates.
    ///
    /// The result does not depend on the order in which messages were added
    /// (only on the multiset of messages), and template indices are assigned
    /// in lexicographic order of the template text.
    pub fn finish(&self) -> Templates {
        let n = self.counts.len();
        let mut forms: Vec<&str> = vec![""; n];
        for (form, &key) in &self.keys {
            if let Some(slot) = forms.get_mut(key as usize) {
                *slot = form;
            }
        }
        // Sorting first makes every later tie-break independent of arrival order.
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_unstable_by(|&a, &b| forms[a as usize].cmp(forms[b as usize]));

        let tokens: Vec<Vec<&str>> = forms
            .iter()
            .map(|form| form.split(' ').filter(|t| !t.is_empty()).collect())
            .collect();
        let mut variable: Vec<Vec<bool>> = tokens.iter().map(|t| vec![false; t.len()]).collect();

        let mut by_len: FxMap<usize, Vec<u32>> = FxMap::default();
        for &key in &order {
            by_len
                .entry(tokens[key as usize].len())
                .or_default()
                .push(key);
        }
        let mut lengths: Vec<usize> = by_len.keys().copied().collect();
        lengths.sort_unstable();
        for len in lengths {
            if let Some(group) = by_len.get(&len) {
                let ctx = GroupCtx {
                    tokens: &tokens,
                    weights: &self.counts,
                };
                ctx.cluster(group, &mut variable);
            }
        }

        let texts: Vec<String> = tokens
            .iter()
            .zip(&variable)
            .map(|(toks, vars)| render(toks, vars))
            .collect();
        let texts = merge_optional_values(texts);
        let mut unique: Vec<&str> = texts.iter().map(String::as_str).collect();
        unique.sort_unstable();
        unique.dedup();
        let index: FxMap<&str, usize> = unique.iter().enumerate().map(|(i, t)| (*t, i)).collect();
        let of_key = texts
            .iter()
            .map(|t| index.get(t.as_str()).copied().unwrap_or(0))
            .collect();
        Templates {
            texts: unique.into_iter().map(str::to_owned).collect(),
            of_key,
        }
    }
}

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
fn merge_optional_values(texts: Vec<String>) -> Vec<String> {
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
fn render(tokens: &[&str], variable: &[bool]) -> String {
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

/// Read-only view of the distinct forms while one length group is clustered.
struct GroupCtx<'a, 't> {
    tokens: &'a [Vec<&'t str>],
    weights: &'a [u64],
}

impl<'t> GroupCtx<'_, 't> {
    /// Clusters one group of forms that all have the same token count.
    fn cluster(&self, group: &[u32], variable: &mut [Vec<bool>]) {
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
        variable: &mut [Vec<bool>],
    ) {
        let mut best: Option<(usize, usize)> = None; // (distinct, column)
        let mut children: Vec<usize> = Vec::new();
        for &col in open {
            let values = self.values_in(members, col);
            let distinct = values.len();
            if distinct <= 1 {
                continue;
            }
            // A masked value that matches another value of the same column
            // (`rhost=<*>` vs `rhost=example.org`) shows the column holds data.
            if generalizes(&values) {
                mark(members, col, variable);
                continue;
            }
            let parent = members.iter().all(|&k| freq_of(k, col) > root);
            if parent {
                mark(members, col, variable);
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
                    mark(members, col, variable);
                }
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

fn mark(members: &[u32], col: usize, variable: &mut [Vec<bool>]) {
    for &key in members {
        if let Some(flag) = variable.get_mut(key as usize).and_then(|v| v.get_mut(col)) {
            *flag = true;
        }
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
fn has_word(token: &str) -> bool {
    token
        .split(WILDCARD)
        .any(|part| part.bytes().any(|c| c.is_ascii_alphanumeric()))
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

/// Templates produced by [`Miner::finish`].
#[derive(Debug, Clone, Default)]
pub struct Templates {
    texts: Vec<String>,
    of_key: Vec<usize>,
}

impl Templates {
    /// The template index of a key returned by `add`.
    ///
    /// Unknown keys map to template 0 rather than panicking.
    pub fn template_of(&self, key: u32) -> usize {
        self.of_key.get(key as usize).copied().unwrap_or(0)
    }

    /// The template text, variables as `<*>`; empty for an unknown index.
    pub fn template(&self, index: usize) -> &str {
        self.texts.get(index).map_or("", String::as_str)
    }

    /// Number of templates.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// True when no message was added.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }
}

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
fn mask_into(message: &str, out: &mut String) {
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

    fn group(lines: &[&str]) -> (Templates, Vec<u32>) {
        let mut miner = Miner::new();
        let keys = lines.iter().map(|l| miner.add(l)).collect();
        (miner.finish(), keys)
    }

    #[test]
    fn a_variable_key_value_keeps_its_key() {
        let users = ["root", "ftp", "git", "mysql", "sshd", "uucp"];
        let lines: Vec<String> = users
            .iter()
            .flat_map(|u| {
                [
                    format!("authentication failure; rhost=10.0.0.1 user={u}"),
                    format!("Failed password for {u} from 10.0.0.1 port 22 ssh2"),
                ]
            })
            .chain(["authentication failure; rhost=10.0.0.2".to_string()])
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (t, keys) = group(&refs);
        // Six users are data in the middle of a message, and `user=` stays in the template,
        // so the failure with a user is not the one without.
        assert_eq!(
            t.template(t.template_of(keys[0])),
            "authentication failure; rhost=<*> user=<*>"
        );
        assert_eq!(t.template_of(keys[0]), t.template_of(keys[2]));
        assert_eq!(t.template_of(keys[1]), t.template_of(keys[3]));
        assert_ne!(t.template_of(keys[0]), t.template_of(keys[12]));
    }

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

    #[test]
    fn numbers_and_ids_do_not_split_a_template() {
        let (t, keys) = group(&[
            "PacketResponder 1 for block blk_38865049064139660 terminating",
            "PacketResponder 0 for block blk_-6952295868487656571 terminating",
            "PacketResponder 2 for block blk_123 terminating",
        ]);
        assert_eq!(t.template_of(keys[0]), t.template_of(keys[1]));
        assert_eq!(t.template_of(keys[0]), t.template_of(keys[2]));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn different_words_split_templates() {
        let mut lines = Vec::new();
        for i in 0..20 {
            lines.push(format!("session opened for user root by (uid={i})"));
            lines.push(format!("session closed for user root by (uid={i})"));
        }
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (t, keys) = group(&refs);
        assert_ne!(t.template_of(keys[0]), t.template_of(keys[1]));
        assert_eq!(t.template_of(keys[0]), t.template_of(keys[2]));
    }

    #[test]
    fn many_distinct_words_become_a_variable() {
        let users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"];
        let lines: Vec<String> = users
            .iter()
            .map(|u| format!("Accepted password for {u} from host"))
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (t, keys) = group(&refs);
        assert_eq!(t.len(), 1);
        assert_eq!(
            t.template(t.template_of(keys[0])),
            "Accepted password for <*> from host"
        );
    }

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

    #[test]
    fn keys_are_dense_and_deduplicated() {
        let mut miner = Miner::new();
        let a = miner.add("disk 1 full");
        let b = miner.add("disk 2 full");
        let c = miner.add("disk quota exceeded");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(miner.distinct(), 2);
    }

    #[test]
    fn result_does_not_depend_on_input_order() {
        let mut lines: Vec<String> = Vec::new();
        for i in 0..30 {
            lines.push(format!("job {i} finished in {i}ms"));
            lines.push(format!("user u{} logged in", i % 7));
            lines.push(format!("state changed to {}", ["up", "down"][i % 2]));
        }
        let texts = |ls: &[String]| {
            let mut m = Miner::new();
            let keys: Vec<u32> = ls.iter().map(|l| m.add(l)).collect();
            let t = m.finish();
            let mut out: Vec<(String, String)> = ls
                .iter()
                .zip(keys)
                .map(|(l, k)| (l.clone(), t.template(t.template_of(k)).to_owned()))
                .collect();
            out.sort();
            out
        };
        let forward = texts(&lines);
        lines.reverse();
        assert_eq!(forward, texts(&lines));
    }

    #[test]
    fn templates_keep_the_message_shape() {
        let lines: Vec<String> = (0..10)
            .map(|i| {
                format!(
                    "Received block blk_{i}{i}7 of size {} from /10.0.0.{i}:50010",
                    i * 1000
                )
            })
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (t, keys) = group(&refs);
        assert_eq!(
            t.template(t.template_of(keys[0])),
            "Received block <*> of size <*> from <*>"
        );
    }

    #[test]
    fn few_masked_variants_of_a_label_split() {
        // Dot-leader labels differ in constant text around the masked value.
        let mut lines = Vec::new();
        for label in [
            "illegal instruction......",
            "privileged instruction...",
            "trap instruction.........",
        ] {
            for v in 0..3 {
                lines.push(format!("program interrupt: {label}{v}"));
            }
        }
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (t, keys) = group(&refs);
        assert_eq!(t.len(), 3);
        assert_eq!(t.template_of(keys[0]), t.template_of(keys[2]));
        assert_ne!(t.template_of(keys[0]), t.template_of(keys[3]));
    }

    #[test]
    fn optional_values_do_not_split_an_event() {
        let lines = [
            "proxy.example.org:5070 close, 0 bytes sent, 0 bytes received, lifetime <1 sec",
            "proxy.example.org:5070 close, 1190 bytes (1.16 KB) sent, 367 bytes received, lifetime 00:01",
            "10.0.0.1:443 close, 451 bytes sent, 18846 bytes (18.4 KB) received, lifetime <1 sec",
            "proxy.example.org:5070 open through proxy proxy.example.org:5070 HTTPS",
            "10.0.0.2:22 open through proxy socks.example.org:5070 SOCKS5",
        ];
        let (t, keys) = group(&lines);
        assert_eq!(t.template_of(keys[0]), t.template_of(keys[1]));
        assert_eq!(t.template_of(keys[0]), t.template_of(keys[2]));
        assert_ne!(t.template_of(keys[3]), t.template_of(keys[4]));
        assert_eq!(
            t.template(t.template_of(keys[0])),
            "<*> close, <*> bytes <*> sent, <*> bytes <*> received, lifetime <*>"
        );
        assert_eq!(mask("at db.example.org:5432 ok"), "at <*> ok");
        // Messages made only of values are not merged with each other.
        let (t, keys) = group(&["sda1 sda2 sda3", "v2.0 (20020519)"]);
        assert_ne!(t.template_of(keys[0]), t.template_of(keys[1]));
    }

    #[test]
    fn arbitrary_text_does_not_panic() {
        // Deterministic pseudo-random mix of ASCII punctuation, digits,
        // whitespace and multi-byte characters.
        const ALPHABET: [&str; 24] = [
            " ",
            "\t",
            "0",
            "7",
            "a",
            "Z",
            ".",
            "..",
            ":",
            "=",
            ",",
            "(",
            ")",
            "<*>",
            "\"",
            "'",
            "/",
            "é",
            "日",
            "☃",
            "\u{10FFFF}",
            "x",
            "-",
            "Jan",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut miner = Miner::new();
        for _ in 0..2000 {
            let mut line = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for _ in 0..(state % 40) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                line.push_str(ALPHABET[(state % ALPHABET.len() as u64) as usize]);
            }
            let _ = mask(&line);
            miner.add(&line);
        }
        miner.add(&"9".repeat(1 << 20));
        miner.add(&"word ".repeat(100_000));
        let t = miner.finish();
        assert!(!t.is_empty());
    }

    #[test]
    fn empty_and_odd_inputs_do_not_panic() {
        let mut miner = Miner::new();
        let k = miner.add("");
        miner.add("   ");
        miner.add("<*> <*>");
        miner.add("\u{0}\u{7f}\u{ffff}");
        let t = miner.finish();
        assert!(!t.is_empty());
        let _ = t.template(t.template_of(k));
        assert_eq!(t.template(usize::MAX), "");
        assert_eq!(Miner::new().finish().len(), 0);
    }
}
