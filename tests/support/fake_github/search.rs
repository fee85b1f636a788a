//! `/search/issues`, with the subset of GitHub's search syntax the App uses.

use super::*;

impl State {
    pub(super) fn search_issues(
        &self,
        who: &Principal,
        path: &str,
        query: &[(String, String)],
    ) -> Reply {
        if let Principal::Invalid(m) = who {
            return Reply::error(401, m);
        }
        let q = query
            .iter()
            .find(|(k, _)| k == "q")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        if q.trim().is_empty() {
            return Reply::validation("Search", "q", "missing", None);
        }
        let parsed = SearchQuery::parse(q);
        // Private repositories cannot be searched without credentials that can see them.
        for repo in &parsed.repos {
            let visible = match who {
                Principal::Anonymous | Principal::App | Principal::Invalid(_) => false,
                Principal::User(_) => self.repos.contains_key(&repo.to_lowercase()),
                Principal::Installation(id) => self
                    .installations
                    .get(id)
                    .is_some_and(|i| i.repos.iter().any(|r| r.eq_ignore_ascii_case(repo))),
            };
            if !visible {
                return Reply::json(
                    422,
                    json!({
                        "message": "Validation Failed",
                        "errors": [{
                            "message": "The listed users and repositories cannot be searched either because the resources do not exist or you do not have permission to view them.",
                            "resource": "Search", "field": "q", "code": "invalid",
                        }],
                        "documentation_url": "https://docs.github.com/v3/search/",
                        "status": "422",
                    }),
                );
            }
        }
        let mut hits: Vec<(&Repo, &Issue)> = Vec::new();
        for r in self.repos.values() {
            if !parsed.repos.is_empty()
                && !parsed
                    .repos
                    .iter()
                    .any(|x| x.eq_ignore_ascii_case(&r.full_name))
            {
                continue;
            }
            if let Principal::Installation(id) = who
                && !self
                    .installations
                    .get(id)
                    .is_some_and(|i| i.repos.iter().any(|x| x.eq_ignore_ascii_case(&r.full_name)))
            {
                continue;
            }
            for i in &r.issues {
                // Comments reach the index late too: none while it lags.
                let comments = if self.search_lag {
                    String::new()
                } else {
                    r.comments
                        .iter()
                        .filter(|c| c.issue_number == i.number)
                        .map(|c| c.body.as_str())
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                if (self.search_lag && i.via_api) || !parsed.matches(i, &comments) {
                    continue;
                }
                hits.push((r, i));
            }
        }
        let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let desc = param("order") != Some("asc");
        match param("sort") {
            Some("updated") => hits.sort_by_key(|(_, i)| (i.updated_at, i.number)),
            _ => hits.sort_by_key(|(_, i)| (i.created_at, i.number)),
        }
        if desc {
            hits.reverse();
        }
        let total = hits.len();
        let items: Vec<Value> = hits
            .iter()
            .map(|(r, i)| {
                let mut v = self.issue_json(r, i);
                v["score"] = json!(1.0);
                v
            })
            .collect();
        let (slice, link) = self.paginate(items, path, query);
        let reply = Reply::ok(json!({
            "total_count": total,
            "incomplete_results": false,
            "items": slice,
        }));
        match link {
            Some(l) => reply.with_header("link", l),
            None => reply,
        }
    }
}

/// The subset of GitHub's issue search syntax the App uses.
#[derive(Debug, Default)]
pub(super) struct SearchQuery {
    repos: Vec<String>,
    labels: Vec<String>,
    state: Option<String>,
    only_prs: bool,
    in_title: bool,
    in_body: bool,
    in_comments: bool,
    phrases: Vec<String>,
}

impl SearchQuery {
    pub(super) fn parse(q: &str) -> SearchQuery {
        let mut out = SearchQuery::default();
        for tok in tokenize(q) {
            let (key, value) = match tok.split_once(':') {
                // `"fp:abc"` was quoted, so it is a phrase even though it has a colon.
                Some((k, v)) if !tok.quoted => (k.to_lowercase(), v.to_owned()),
                _ => {
                    out.phrases.push(tok.text.to_lowercase());
                    continue;
                }
            };
            match (key.as_str(), value.as_str()) {
                ("repo", v) => out.repos.push(v.to_owned()),
                ("label", v) => out.labels.push(v.to_lowercase()),
                ("is" | "type", "issue") => {}
                ("is" | "type", "pr" | "pull-request") => out.only_prs = true,
                ("is" | "state", s @ ("open" | "closed")) => out.state = Some(s.to_owned()),
                ("in", v) => {
                    for f in v.split(',') {
                        match f {
                            "title" => out.in_title = true,
                            "body" => out.in_body = true,
                            "comments" => out.in_comments = true,
                            _ => {}
                        }
                    }
                }
                // Other qualifiers (sort:, author:, ...) are accepted and ignored.
                _ => {}
            }
        }
        out
    }

    /// `comments`: the issue's comments as one text (empty while the index lags).
    pub(super) fn matches(&self, i: &Issue, comments: &str) -> bool {
        if self.only_prs {
            return false;
        }
        if let Some(s) = &self.state
            && &i.state != s
        {
            return false;
        }
        if !self
            .labels
            .iter()
            .all(|w| i.labels.iter().any(|l| l.to_lowercase() == *w))
        {
            return false;
        }
        let (title, body, in_comments) = if self.in_title || self.in_body || self.in_comments {
            (self.in_title, self.in_body, self.in_comments)
        } else {
            (true, true, true)
        };
        let t = i.title.to_lowercase();
        let b = i.body.as_deref().unwrap_or("").to_lowercase();
        let c = comments.to_lowercase();
        self.phrases.iter().all(|p| {
            (title && t.contains(p)) || (body && b.contains(p)) || (in_comments && c.contains(p))
        })
    }
}

pub(super) struct Token {
    text: String,
    quoted: bool,
}

impl Token {
    pub(super) fn split_once(&self, c: char) -> Option<(&str, &str)> {
        self.text.split_once(c)
    }
}

/// Splits a search query on spaces, keeping `"quoted phrases"` and `label:"two words"`
/// together.
pub(super) fn tokenize(q: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut quoted_whole = false;
    for c in q.chars() {
        match c {
            '"' => {
                if !in_quotes && cur.is_empty() {
                    quoted_whole = true;
                }
                in_quotes = !in_quotes;
            }
            c if c.is_whitespace() && !in_quotes => {
                if !cur.is_empty() {
                    out.push(Token {
                        text: std::mem::take(&mut cur),
                        quoted: quoted_whole,
                    });
                }
                quoted_whole = false;
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(Token {
            text: cur,
            quoted: quoted_whole,
        });
    }
    out
}
