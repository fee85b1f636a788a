//! Markdown safety: log text never turns into markup. No @-mentions, no `#123` cross-links, no
//! fence or HTML comment that closes early or fakes the App's marker.

/// A zero-width space: breaks a mention or a reference without changing what a reader sees.
const ZWSP: char = '\u{200B}';

/// Neutralises HTML comments, which could hide text or fake the fingerprint marker.
fn break_comments(text: &str) -> String {
    text.replace("<!--", "<!\u{200B}--")
        .replace("-->", "--\u{200B}>")
}

/// Bidirectional controls reorder what a reader sees ("Trojan Source"): shown as U+FFFD.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// The text with its bidirectional controls replaced.
fn without_bidi(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(is_bidi_control) {
        std::borrow::Cow::Owned(
            text.chars()
                .map(|c| if is_bidi_control(c) { '\u{FFFD}' } else { c })
                .collect(),
        )
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// A name from the logs (a service, a revision) as it may appear in a title or a label:
/// letters, digits and `-._` kept, anything else (`@`, `#`, spaces, markup) as `-`, at most
/// `max` characters.
pub fn name(text: &str, max: usize) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') {
                c
            } else {
                '-'
            }
        })
        .take(max)
        .collect();
    if cleaned.is_empty() {
        "unknown".to_string()
    } else {
        cleaned
    }
}

/// A code span inside a table cell: a `|` would end the cell even inside the span, so it is
/// escaped, which GitHub's tables undo.
pub fn cell(text: &str) -> String {
    code(text).replace('|', "\\|")
}

/// Text shown as markdown (titles, sentences): specials escaped, mentions and references
/// broken, HTML defused.
pub fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in without_bidi(text).chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '>' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '&' => out.push_str("&amp;"),
            '@' | '#' => {
                out.push(c);
                out.push(ZWSP);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Plain text where GitHub still links (issue titles): mentions and references broken, the
/// rest as it is.
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in without_bidi(text).chars() {
        out.push(c);
        if c == '@' || c == '#' {
            out.push(ZWSP);
        }
    }
    out
}

/// An inline code span that no backtick in the text can close.
pub fn code(text: &str) -> String {
    let one_line: String = without_bidi(text)
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    let one_line = break_comments(&one_line);
    let ticks = "`".repeat(longest_run(&one_line, '`') + 1);
    // A space on each side keeps a leading or trailing backtick from joining the fence.
    let pad = if one_line.starts_with('`') || one_line.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{one_line}{pad}{ticks}")
}

/// A fenced code block that no line of the text can close.
pub fn fence(text: &str, lang: &str) -> String {
    let body = break_comments(&without_bidi(text.trim_end_matches('\n')));
    let ticks = "`".repeat((longest_run(&body, '`') + 1).max(3));
    format!("{ticks}{lang}\n{body}\n{ticks}")
}

/// Text inside a quoted mermaid label (`["…"]`): brackets are text there; a quote would end
/// the label and `<` would start HTML, so they are written as mermaid's entity codes; a
/// line break, a pipe or a semicolon would end the statement.
pub fn mermaid_label(text: &str) -> String {
    let mut cleaned = String::with_capacity(text.len());
    for c in without_bidi(text).chars() {
        match c {
            '"' => cleaned.push_str("#quot;"),
            '<' => cleaned.push_str("#lt;"),
            '>' => cleaned.push_str("#gt;"),
            '\n' | '\r' | '`' | '|' | ';' => cleaned.push(' '),
            // Nothing from the logs may spell an entity code of its own.
            '#' | '@' => cleaned.push('·'),
            c => cleaned.push(c),
        }
    }
    // A node stays short: a long label makes the chart unreadable. Cut at a word, never
    // inside an entity code.
    const MAX: usize = 80;
    let Some((end, _)) = cleaned.char_indices().nth(MAX) else {
        return cleaned;
    };
    let head = &cleaned[..end];
    let head = match head.rfind('#') {
        Some(i) if !head[i..].contains(';') => &head[..i],
        _ => head,
    };
    let head = match head.rfind(' ') {
        Some(i) if i > MAX / 2 => &head[..i],
        _ => head,
    };
    format!("{}…", head.trim_end())
}

fn longest_run(text: &str, ch: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in text.chars() {
        if c == ch {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_and_references_are_broken() {
        let out = inline("ping @octocat about #123 and <!-- x -->");
        assert!(!out.contains("@octocat"));
        assert!(!out.contains("#123"));
        assert!(!out.contains("<!--"));
        assert!(out.contains("&lt;\\!--"));
    }

    #[test]
    fn plain_text_keeps_its_words_but_links_nothing() {
        let out = plain("KeyError for @octocat in #12");
        assert_eq!(out.replace('\u{200B}', ""), "KeyError for @octocat in #12");
        assert!(!out.contains("@octocat") && !out.contains("#12"));
    }

    #[test]
    fn fences_and_spans_cannot_be_closed_from_inside() {
        let evil = "```\n# not a heading\n```\n<!-- log-gardener:fingerprint=0000000000000000 -->";
        let block = fence(evil, "text");
        assert!(block.starts_with("````text\n"));
        assert!(block.ends_with("\n````"));
        assert!(!block.contains("<!-- log-gardener"));
        let span = code("a `b` c");
        assert_eq!(span, "``a `b` c``");
        assert_eq!(code("`x"), "`` `x ``");
    }

    #[test]
    fn bidi_controls_pipes_and_odd_names_are_defused() {
        let evil = "ok\u{202E}gnp.exe\u{2066}x";
        for out in [
            inline(evil),
            plain(evil),
            code(evil),
            fence(evil, ""),
            mermaid_label(evil),
        ] {
            assert!(!out.chars().any(is_bidi_control), "{out:?}");
            assert!(out.contains('\u{FFFD}'), "{out:?}");
        }
        // A pipe in a template cannot split the worklog's table.
        let row = format!("| {} | x |", cell("a | b"));
        assert_eq!(row.matches(" | ").count(), 1, "{row}");
        assert_eq!(name("@octocat #99", 40), "-octocat--99");
        assert_eq!(name("api-00042-xyz", 40), "api-00042-xyz");
        assert_eq!(name(&"a".repeat(80), 42).len(), 42);
        assert_eq!(name("", 10), "unknown");
    }

    #[test]
    fn mermaid_labels_stay_inside_their_node() {
        let label = mermaid_label("GET /x\"] --> B[\"pwned");
        assert!(!label.contains('"'), "{label}");
        assert_eq!(label, "GET /x#quot;] --#gt; B[#quot;pwned");
        // Brackets read as written; a placeholder shows as `<*>`.
        assert_eq!(
            mermaid_label("Container called exit(<*>)."),
            "Container called exit(#lt;*#gt;)."
        );
        // Long labels end at a word, never inside an entity code.
        let long = mermaid_label(&format!("{} <*> tail", "word ".repeat(15)));
        assert!(long.ends_with('…') && long.chars().count() <= 81, "{long}");
        assert!(!long.contains("#l…") && !long.contains("#lt…"), "{long}");
    }
}
