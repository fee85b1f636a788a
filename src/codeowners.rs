//! A repository's CODEOWNERS, read as GitHub reads it: the first of `.github/CODEOWNERS`,
//! `CODEOWNERS` and `docs/CODEOWNERS` counts; each line is a pattern and its owners; the last
//! line that matches a file wins (a matching line without owners leaves the file unowned).
//! Patterns are gitignore's with GitHub's exceptions: no `!` negation, no `[ ]` ranges, and
//! `dir/*` owns the files directly in `dir` only. A line GitHub would skip (bad syntax, an
//! owner that is not `@user`, `@org/team` or an e-mail address) is skipped here too.

use regex::Regex;

/// Where GitHub looks for the file, in its order.
pub const PATHS: [&str; 3] = [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"];

/// GitHub reads at most this much of the file (3 MB); the rest is ignored.
const MAX_BYTES: usize = 3 * 1024 * 1024;

/// The rules of one CODEOWNERS file.
#[derive(Debug, Clone, Default)]
pub struct CodeOwners {
    /// In file order; matching runs backwards.
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    pattern: Regex,
    owners: Vec<String>,
}

impl CodeOwners {
    pub fn parse(text: &str) -> CodeOwners {
        let mut end = text.len().min(MAX_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let rules = text[..end].lines().filter_map(rule).collect();
        CodeOwners { rules }
    }

    /// The owners of a file (a path from the repository's root), `@`-names and e-mail
    /// addresses as the file writes them; none when no line owns it.
    pub fn owners_of(&self, path: &str) -> &[String] {
        let path = path.trim_start_matches("./").trim_start_matches('/');
        self.rules
            .iter()
            .rev()
            .find(|r| r.pattern.is_match(path))
            .map_or(&[], |r| r.owners.as_slice())
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// One line: `pattern owner…`, or `None` for a comment, a blank line or a line GitHub skips.
fn rule(line: &str) -> Option<Rule> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut words = line.split_whitespace();
    let pattern = words.next()?;
    let mut owners = Vec::new();
    for word in words {
        if word.starts_with('#') {
            break; // the rest of the line is a comment
        }
        if !is_owner(word) {
            return None;
        }
        owners.push(word.to_string());
    }
    Some(Rule {
        pattern: glob(pattern)?,
        owners,
    })
}

/// `@user`, `@org/team`, or an e-mail address.
fn is_owner(word: &str) -> bool {
    static OWNER: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(
            r"^(@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9._-]{1,100})?|[^@\s]+@[^@\s]+\.[^@\s]+)$",
        )
        .unwrap()
    });
    OWNER.is_match(word)
}

/// A CODEOWNERS pattern as a regular expression over a file's path.
fn glob(pattern: &str) -> Option<Regex> {
    // `\#` is how a pattern starts with `#`; `!` and `[ ]` are not supported by GitHub.
    let pattern = pattern.replace("\\#", "#");
    if pattern.starts_with('!') || pattern.contains('[') || pattern.contains(']') {
        return None;
    }
    let dir_only = pattern.ends_with('/');
    let body = pattern.trim_end_matches('/');
    // A slash at the start or in the middle anchors the pattern at the root.
    let anchored = body.contains('/');
    let body = body.trim_start_matches('/');
    if body.is_empty() {
        return None;
    }
    let mut re = String::from(if anchored { "^" } else { "^(?:.*/)?" });
    let mut rest = body;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("**/") {
            re.push_str("(?:.*/)?");
            rest = r;
        } else if let Some(r) = rest.strip_prefix("**") {
            re.push_str(".*");
            rest = r;
        } else if let Some(r) = rest.strip_prefix('*') {
            re.push_str("[^/]*");
            rest = r;
        } else if let Some(r) = rest.strip_prefix('?') {
            re.push_str("[^/]");
            rest = r;
        } else {
            let c = rest.chars().next()?;
            re.push_str(&regex::escape(&c.to_string()));
            rest = &rest[c.len_utf8()..];
        }
    }
    // `dir/*` owns the files directly in `dir`; a directory owns everything beneath it; any
    // other pattern names a file, or a directory and everything beneath it.
    if body == "*" || body.ends_with("/*") {
        re.push('$');
    } else if dir_only {
        re.push_str("/.*$");
    } else {
        re.push_str("(?:/.*)?$");
    }
    Regex::new(&re).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners<'a>(file: &'a CodeOwners, path: &str) -> Vec<&'a str> {
        file.owners_of(path).iter().map(String::as_str).collect()
    }

    /// The examples of GitHub's "About code owners" page.
    #[test]
    fn githubs_documented_examples_resolve_as_github_says() {
        let file = CodeOwners::parse(
            r"
# These owners will be the default owners for everything in the repo.
*       @global-owner1 @global-owner2
*.js    @js-owner #This is an inline comment.
*.go docs@example.com
*.txt @octo-org/octocats
/build/logs/ @doctocat
docs/*  docs@example.com
apps/ @octocat
/docs/ @doctocat
/scripts/ @doctocat @octocat
**/logs @octocat
/apps/ @octocat
/apps/github
",
        );
        assert_eq!(
            owners(&file, "README.md"),
            ["@global-owner1", "@global-owner2"]
        );
        assert_eq!(owners(&file, "src/web/app.js"), ["@js-owner"]);
        assert_eq!(owners(&file, "cmd/main.go"), ["docs@example.com"]);
        assert_eq!(owners(&file, "notes/a.txt"), ["@octo-org/octocats"]);
        // A directory owns everything beneath it, at any depth; the later `**/logs` wins there.
        assert_eq!(owners(&file, "build/logs/deep/x.log"), ["@octocat"]);
        assert_eq!(
            owners(&file, "scripts/deploy/run.sh"),
            ["@doctocat", "@octocat"]
        );
        assert_eq!(owners(&file, "a/b/logs/today.log"), ["@octocat"]);
        // `docs/*` does not reach docs/build-app/…, but `/docs/` (later) does.
        assert_eq!(owners(&file, "docs/getting-started.md"), ["@doctocat"]);
        // A later line without owners leaves the file unowned.
        assert!(owners(&file, "apps/github/x.py").is_empty());
        assert_eq!(owners(&file, "apps/other/x.py"), ["@octocat"]);
    }

    #[test]
    fn last_match_wins_and_unanchored_names_match_at_any_depth() {
        let file = CodeOwners::parse("* @all\nbilling @billing-team\n/billing/legacy.py @old\n");
        assert_eq!(owners(&file, "app/billing/charge.py"), ["@billing-team"]);
        assert_eq!(owners(&file, "billing/legacy.py"), ["@old"]);
        assert_eq!(owners(&file, "app/billing_v2.py"), ["@all"]);
        let file = CodeOwners::parse("docs/* @docs\n");
        assert_eq!(owners(&file, "docs/a.md"), ["@docs"]);
        assert!(owners(&file, "docs/guide/a.md").is_empty());
        // Anchored: a middle slash ties the pattern to the root.
        assert!(owners(&file, "site/docs/a.md").is_empty());
    }

    #[test]
    fn lines_github_skips_are_skipped() {
        let file = CodeOwners::parse(
            "* @all\n!secret.py @nobody\n[ab].py @range\nsrc/ not-an-owner\n\\#notes @hash\n",
        );
        assert_eq!(owners(&file, "secret.py"), ["@all"]);
        assert_eq!(owners(&file, "a.py"), ["@all"]);
        assert_eq!(owners(&file, "src/x.py"), ["@all"]);
        assert_eq!(owners(&file, "#notes"), ["@hash"]);
        assert!(CodeOwners::parse("# only a comment\n\n").is_empty());
    }
}
