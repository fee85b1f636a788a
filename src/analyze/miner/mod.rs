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
//!    A name with an index (`eth0`) or a unit that varies is a variable, never a
//!    split. A variable keeps the key and punctuation its column shares
//!    (`rhost=<*>`, `[<*>]`). Finally, templates that differ only in pure-value
//!    tokens (an optional `(1.16 KB)`, `<1 sec` vs `00:01`) are merged across
//!    token counts, fusing their adjacent wildcards; other values stay one each.
//!
//! User names, e-mail addresses and IPs are masked wherever they occur, so a
//! template never carries personal data.
//!
//! One configuration serves every log source; there are no per-source rules.
//!
//! The parts: [`mask`] (tokens and their masking), `hash` (the maps' hasher), `group`
//! (which columns of a token count's forms are variables), `template` (the template text
//! from those decisions, and the merge across token counts).

mod group;
mod hash;
mod mask;
mod template;

pub use mask::mask;

use group::{GroupCtx, Variables};
use hash::FxMap;
use mask::mask_into;
use template::{merge_optional_values, render};

/// The placeholder that stands for a variable part.
const WILDCARD: &str = "<*>";

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
        let mut variable: Variables = tokens.iter().map(|t| vec![None; t.len()]).collect();

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

    #[test]
    fn personal_data_is_never_part_of_a_template() {
        // Each user, address and host occurs in one line only, so no grouping could tell.
        let (t, keys) = group(&[
            "session closed for user cyrus",
            "Accepted publickey for alice@example.org from 203.0.113.9 port 52113 ssh2",
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 ruser= rhost=198.51.100.4 user=carol",
        ]);
        let texts: Vec<&str> = keys.iter().map(|&k| t.template(t.template_of(k))).collect();
        assert_eq!(texts[0], "session closed for user <*>");
        assert_eq!(
            texts[1],
            "Accepted publickey for <*> from <*> port <*> ssh2"
        );
        assert_eq!(
            texts[2],
            "pam_unix(sshd:auth): authentication failure; logname= uid=<*> ruser= rhost=<*> user=<*>"
        );
    }

    #[test]
    fn a_constant_name_stays_and_a_varying_one_goes() {
        let mut lines: Vec<String> = (0..4)
            .map(|i| format!("jk2_init() Found child {i} in scoreboard slot {i}"))
            .collect();
        lines.extend((0..4).map(|i| format!("Processor [CPU{i}] (supports C1)")));
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (t, keys) = group(&refs);
        assert_eq!(
            t.template(t.template_of(keys[0])),
            "jk2_init() Found child <*> in scoreboard slot <*>"
        );
        assert_eq!(
            t.template(t.template_of(keys[4])),
            "Processor [<*>] (supports C1)"
        );
        assert_eq!(t.template_of(keys[4]), t.template_of(keys[7]));
    }

    #[test]
    fn a_variable_keeps_the_punctuation_of_its_column() {
        let mut lines: Vec<String> = (0..8)
            .map(|i| format!("synchronized to 10.0.0.{i}, stratum {i}"))
            .collect();
        lines.push("synchronized to LOCAL(0), stratum 10".to_string());
        lines.extend((0..3).map(|i| format!("REPORT : {i} 5 {i}00 7")));
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (t, keys) = group(&refs);
        assert_eq!(
            t.template(t.template_of(keys[8])),
            "synchronized to <*>, stratum <*>"
        );
        assert_eq!(t.template_of(keys[0]), t.template_of(keys[8]));
        // Values that are one each stay one each.
        assert_eq!(
            t.template(t.template_of(keys[9])),
            "REPORT : <*> <*> <*> <*>"
        );
    }
}
