//! Commands in issue comments (SPEC section 4), found in the comment's markdown (one per line
//! of a plain paragraph) and read only after the author's permission has been checked.

use crate::model::parse_duration;

/// A command a maintainer gave the App.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `/gardener sweep [SERVICE…] [last 1h | since 2h]`: sweep now, reply with the worklog.
    Sweep {
        services: Vec<String>,
        window: Option<chrono::Duration>,
    },
    /// `/gardener dry-run [SERVICE…] [last 1h]`: the same, plan only.
    DryRun {
        services: Vec<String>,
        window: Option<chrono::Duration>,
    },
    /// `/gardener status`: configuration in force, last sweeps, next scheduled sweep.
    Status,
    /// `/gardener ignore [for 7d]`: on a tracked issue, mute its root cause.
    Ignore { duration: Option<chrono::Duration> },
    /// `/gardener merge #N`: this issue's root cause is #N's from now on.
    Merge { into: u64 },
    /// `/gardener help`: the commands.
    Help,
}

/// A line that addressed the App but could not be understood.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: String,
    pub message: String,
}

/// The help text, as the App replies it.
pub const HELP: &str = "| command | effect |
|---|---|
| `/gardener sweep [SERVICE…] [last 1h \\| since 2h]` | sweep now; reply with the worklog |
| `/gardener dry-run [SERVICE…] [last 1h]` | the same, plan only: nothing is filed |
| `/gardener status` | the configuration in force, last sweeps, next scheduled sweep |
| `/gardener ignore [for 7d]` | on a tracked issue: mute its root cause (for good without a duration) |
| `/gardener merge #N` | on a tracked issue: its root cause is the same as #N's from now on |
| `/gardener help` | this table |

Only people with write, maintain or admin permission on the repository can run commands.";

/// The commands of a comment body. `slug` is the App's slug, for `@slug command`.
pub fn parse(body: &str, slug: Option<&str>) -> Vec<Result<Command, ParseError>> {
    addressed(body, slug)
        .into_iter()
        .map(|line| parse_addressed(&line))
        .collect()
}

/// One line that [`addressed`] returned, read as a command.
pub fn parse_addressed(line: &str) -> Result<Command, ParseError> {
    let rest = line
        .split_once(char::is_whitespace)
        .map_or("", |(_, rest)| rest);
    parse_line(rest.trim()).map_err(|message| ParseError {
        line: line.to_string(),
        message,
    })
}

/// The lines of a comment that address the App (`/gardener …` or `@slug …`), found in its
/// markdown as GitHub renders it: only plain paragraphs count, never code (fenced, indented or
/// inline), quotes, lists, tables or HTML (an `<!-- /gardener sweep -->` included). Nothing of
/// a line is interpreted here: that waits until the author's permission has been checked.
pub fn addressed(body: &str, slug: Option<&str>) -> Vec<String> {
    use pulldown_cmark::{Event, Parser, Tag, TagEnd};
    // Code and HTML inside a paragraph become this, so that no line starts with what they hold.
    const HIDDEN: char = '\u{FFFC}';
    let mention = slug.map(|s| format!("@{s}"));
    let mut out = Vec::new();
    let mut nesting = 0usize;
    let mut paragraph: Option<String> = None;
    for event in Parser::new(body) {
        match event {
            Event::Start(Tag::Paragraph) if nesting == 0 => paragraph = Some(String::new()),
            Event::End(TagEnd::Paragraph) if paragraph.is_some() => {
                let text = paragraph.take().unwrap_or_default();
                out.extend(
                    text.lines()
                        .map(str::trim)
                        .filter(|line| addresses(line, mention.as_deref()))
                        .map(str::to_string),
                );
            }
            Event::Start(Tag::BlockQuote(_) | Tag::List(_) | Tag::Table(_)) => nesting += 1,
            Event::End(TagEnd::BlockQuote(_) | TagEnd::List(_) | TagEnd::Table) => {
                nesting = nesting.saturating_sub(1);
            }
            Event::Text(text) => {
                if let Some(p) = &mut paragraph {
                    p.push_str(&text);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(p) = &mut paragraph {
                    p.push('\n');
                }
            }
            Event::Code(_) | Event::InlineHtml(_) | Event::Html(_) => {
                if let Some(p) = &mut paragraph {
                    p.push(HIDDEN);
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether a line starts with `/gardener` or `@slug` as a word (`/gardenerx` does not).
fn addresses(line: &str, mention: Option<&str>) -> bool {
    let rest = line
        .strip_prefix("/gardener")
        .or_else(|| mention.and_then(|m| line.strip_prefix(m)));
    rest.is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
}

fn parse_line(args: &str) -> Result<Command, String> {
    let words: Vec<&str> = args.split_whitespace().collect();
    let Some((&name, rest)) = words.split_first() else {
        return Err("a command is missing after /gardener; try `/gardener help`".into());
    };
    match name.to_ascii_lowercase().as_str() {
        "sweep" => {
            let (services, window) = services_and_window(rest)?;
            Ok(Command::Sweep { services, window })
        }
        "dry-run" | "dryrun" => {
            let (services, window) = services_and_window(rest)?;
            Ok(Command::DryRun { services, window })
        }
        "status" => no_arguments(rest, Command::Status),
        "help" => no_arguments(rest, Command::Help),
        "ignore" | "mute" => match rest {
            [] => Ok(Command::Ignore { duration: None }),
            ["for", d] => Ok(Command::Ignore {
                duration: Some(positive(d)?),
            }),
            _ => Err("expected `/gardener ignore` or `/gardener ignore for 7d`".into()),
        },
        "merge" => match rest {
            [n] => n
                .trim_start_matches('#')
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .map(|into| Command::Merge { into })
                .ok_or_else(|| format!("expected an issue number like #12, not `{n}`")),
            _ => Err("expected `/gardener merge #N`".into()),
        },
        other => Err(format!(
            "unknown command `{other}`; the commands are sweep, dry-run, status, ignore, merge and help"
        )),
    }
}

fn no_arguments(rest: &[&str], command: Command) -> Result<Command, String> {
    if rest.is_empty() {
        Ok(command)
    } else {
        Err(format!(
            "this command takes no arguments, got `{}`",
            rest.join(" ")
        ))
    }
}

fn positive(text: &str) -> Result<chrono::Duration, String> {
    let d = parse_duration(text)?;
    if d <= chrono::Duration::zero() {
        return Err(format!("{text} must be longer than 0s"));
    }
    Ok(d)
}

/// `api worker last 2h`: services, then an optional `last D` or `since D`.
fn services_and_window(rest: &[&str]) -> Result<(Vec<String>, Option<chrono::Duration>), String> {
    let mut services = Vec::new();
    let mut window = None;
    let mut words = rest.iter();
    while let Some(word) = words.next() {
        match *word {
            "last" | "since" => {
                let d = words
                    .next()
                    .ok_or_else(|| format!("`{word}` needs a duration, such as `{word} 1h`"))?;
                if window.is_some() {
                    return Err("give the window once".into());
                }
                let d = positive(d)?;
                if d > chrono::Duration::days(30) {
                    return Err("Cloud Logging keeps 30 days: at most `last 30d`".into());
                }
                window = Some(d);
            }
            name if window.is_none()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                services.push(name.to_string());
            }
            other => return Err(format!("`{other}` is not a service name or `last 1h`")),
        }
    }
    Ok((services, window))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(body: &str) -> Result<Command, ParseError> {
        let mut all = parse(body, Some("log-gardener"));
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    #[test]
    fn sweep_takes_services_and_a_window() {
        assert_eq!(
            one("/gardener sweep"),
            Ok(Command::Sweep {
                services: vec![],
                window: None
            })
        );
        assert_eq!(
            one("please look\n/gardener sweep api worker last 2h\nthanks"),
            Ok(Command::Sweep {
                services: vec!["api".into(), "worker".into()],
                window: Some(chrono::Duration::hours(2))
            })
        );
        assert_eq!(
            one("@log-gardener dry-run since 30m"),
            Ok(Command::DryRun {
                services: vec![],
                window: Some(chrono::Duration::minutes(30))
            })
        );
        // A window that would overflow time is a reply, never a panic of the worker.
        let err = one("/gardener sweep last 9223372036854775s9223372036854775s").unwrap_err();
        assert!(format!("{err:?}").contains("too large"), "{err:?}");
    }

    #[test]
    fn other_commands() {
        assert_eq!(one("/gardener status"), Ok(Command::Status));
        assert_eq!(one("/gardener help"), Ok(Command::Help));
        assert_eq!(
            one("/gardener ignore"),
            Ok(Command::Ignore { duration: None })
        );
        assert_eq!(
            one("/gardener ignore for 7d"),
            Ok(Command::Ignore {
                duration: Some(chrono::Duration::days(7))
            })
        );
        assert_eq!(one("/gardener merge #12"), Ok(Command::Merge { into: 12 }));
    }

    #[test]
    fn code_blocks_quotes_and_lookalikes_are_not_commands() {
        let body = "```\n/gardener sweep\n```\n> /gardener sweep\n    /gardener sweep\n/gardenerx sweep\ntext /gardener sweep";
        assert!(parse(body, None).is_empty());
        let tilde = "~~~~\n/gardener help\n~~~~\n/gardener status";
        assert_eq!(parse(tilde, None), vec![Ok(Command::Status)]);
    }

    #[test]
    fn html_comments_inline_code_and_lists_hide_commands() {
        for hidden in [
            "<!-- /gardener sweep -->",
            "<!--\n/gardener sweep\n-->",
            "note <!-- x\n/gardener sweep -->",
            "`/gardener sweep`",
            "``/gardener sweep last 1h``",
            "<details>\n/gardener sweep\n</details>",
            "- /gardener sweep",
            "| a |\n|---|\n| /gardener sweep |",
            "> quoted\n/gardener sweep",
        ] {
            assert!(parse(hidden, None).is_empty(), "{hidden:?} ran");
        }
        // A paragraph's lines are each a command; emphasis inside one is read as its text.
        assert_eq!(
            parse(
                "Thanks!\n/gardener status\n\n/gardener sweep my_api *worker*",
                None
            ),
            vec![
                Ok(Command::Status),
                Ok(Command::Sweep {
                    services: vec!["my_api".into(), "worker".into()],
                    window: None
                })
            ]
        );
    }

    #[test]
    fn finding_commands_interprets_nothing() {
        // The overflowing duration is only read by `parse_addressed`, after the permission check.
        let lines = addressed(
            "/gardener sweep last 9223372036854775s9223372036854775s",
            None,
        );
        assert_eq!(
            lines,
            vec!["/gardener sweep last 9223372036854775s9223372036854775s"]
        );
        assert!(parse_addressed(&lines[0]).is_err());
    }

    #[test]
    fn errors_say_what_was_expected() {
        let e = one("/gardener frobnicate").unwrap_err();
        assert!(e.message.contains("unknown command `frobnicate`"), "{e:?}");
        let e = one("/gardener merge twelve").unwrap_err();
        assert!(e.message.contains("issue number"), "{e:?}");
        let e = one("/gardener sweep last").unwrap_err();
        assert!(e.message.contains("needs a duration"), "{e:?}");
        let e = one("/gardener ignore for ever").unwrap_err();
        assert!(e.message.contains("ever"), "{e:?}");
        let e = one("/gardener").unwrap_err();
        assert!(e.message.contains("missing"), "{e:?}");
    }
}
