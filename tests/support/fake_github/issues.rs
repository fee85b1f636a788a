//! A repository's routes: contents, issues, comments, labels, reactions, permissions.

use super::*;

impl State {
    pub(super) fn get_contents(&self, key: &str, path: &str, query: &[(String, String)]) -> Reply {
        let r = &self.repos[key];
        if let Some((_, git_ref)) = query.iter().find(|(k, _)| k == "ref")
            && git_ref != &r.default_branch
            && git_ref != &format!("refs/heads/{}", r.default_branch)
        {
            return Reply::error(404, &format!("No commit found for the ref {git_ref}"));
        }
        let api = &self.base_url;
        let fname = &r.full_name;
        let branch = &r.default_branch;
        let entry = |p: &str, kind: &str, content: Option<&str>| {
            let sha = &hex::encode(Sha256::digest(content.unwrap_or(p).as_bytes()))[..40];
            let self_url = format!("{api}/repos/{fname}/contents/{p}?ref={branch}");
            let git_url = format!(
                "{api}/repos/{fname}/git/{}/{sha}",
                if kind == "file" { "blobs" } else { "trees" }
            );
            let html_url = format!(
                "https://github.com/{fname}/{}/{branch}/{p}",
                if kind == "file" { "blob" } else { "tree" }
            );
            let mut v = json!({
                "name": p.rsplit('/').next().unwrap_or(p),
                "path": p,
                "sha": sha,
                "size": content.map_or(0, str::len),
                "url": self_url,
                "html_url": html_url,
                "git_url": git_url,
                "download_url": (kind == "file").then(|| format!("https://raw.githubusercontent.com/{fname}/{branch}/{p}")),
                "type": kind,
                "_links": {"self": self_url, "git": git_url, "html": html_url},
            });
            if let Some(c) = content {
                v["content"] = json!(base64_lines(c.as_bytes()));
                v["encoding"] = json!("base64");
            }
            v
        };
        if let Some(content) = r.files.get(path) {
            return Reply::ok(entry(path, "file", Some(content)));
        }
        // A directory: list its direct children, as GitHub does (an array).
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let mut children: BTreeMap<String, &str> = BTreeMap::new();
        for p in r.files.keys() {
            if let Some(rest) = p.strip_prefix(&prefix) {
                match rest.split_once('/') {
                    Some((dir, _)) => children.insert(format!("{prefix}{dir}"), "dir"),
                    None => children.insert(p.clone(), "file"),
                };
            }
        }
        if children.is_empty() {
            return Reply::not_found();
        }
        Reply::ok(Value::Array(
            children
                .iter()
                .map(|(p, kind)| {
                    let mut e = entry(p, kind, None);
                    if *kind == "file" {
                        e["size"] = json!(r.files.get(p).map_or(0, String::len));
                    }
                    e
                })
                .collect(),
        ))
    }

    pub(super) fn list_issues(&self, key: &str, path: &str, query: &[(String, String)]) -> Reply {
        let r = &self.repos[key];
        let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let state = param("state").unwrap_or("open");
        let wanted: Vec<String> = param("labels")
            .map(|l| {
                l.split(',')
                    .map(|s| s.trim().to_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let mut issues: Vec<&Issue> = r
            .issues
            .iter()
            .filter(|i| state == "all" || i.state == state)
            .filter(|i| {
                wanted
                    .iter()
                    .all(|w| i.labels.iter().any(|l| l.to_lowercase() == *w))
            })
            .collect();
        sort_issues(&mut issues, param("sort"), param("direction"));
        let items = issues.iter().map(|i| self.issue_json(r, i)).collect();
        self.paged_reply(items, path, query)
    }

    pub(super) fn post_issue(&mut self, key: &str, who: &Principal, body: &Value) -> Reply {
        let Some(title) = body
            .get("title")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        else {
            return Reply::validation("Issue", "title", "missing_field", None);
        };
        if title.chars().count() > 256 {
            return Reply::validation(
                "Issue",
                "title",
                "custom",
                Some("title is too long (maximum is 256 characters)"),
            );
        }
        let text = body.get("body").and_then(Value::as_str).map(str::to_owned);
        if text
            .as_deref()
            .is_some_and(|b| b.chars().count() > MAX_BODY_CHARS)
        {
            return Reply::validation(
                "Issue",
                "body",
                "custom",
                Some("body is too long (maximum is 65536 characters)"),
            );
        }
        let labels = label_names(body.get("labels"));
        let full = self.repos[key].full_name.clone();
        let number = self.create_issue(&full, title, text, &labels, State::writer(who), true);
        let r = &self.repos[key];
        match r.issue(number) {
            Some(i) => Reply::created(self.issue_json(r, i)).with_header(
                "location",
                format!("{}/repos/{}/issues/{number}", self.base_url, r.full_name),
            ),
            None => Reply::error(500, "Server Error"),
        }
    }

    pub(super) fn with_issue(
        &self,
        key: &str,
        n: &str,
        f: impl FnOnce(&State, &Repo, &Issue) -> Reply,
    ) -> Reply {
        let r = &self.repos[key];
        match n.parse::<u64>().ok().and_then(|n| r.issue(n)) {
            Some(i) => f(self, r, i),
            None => Reply::not_found(),
        }
    }

    pub(super) fn with_comment(
        &self,
        key: &str,
        id: &str,
        f: impl FnOnce(&State, &Repo, &Comment) -> Reply,
    ) -> Reply {
        let r = &self.repos[key];
        match id
            .parse::<u64>()
            .ok()
            .and_then(|id| r.comments.iter().find(|c| c.id == id))
        {
            Some(c) => f(self, r, c),
            None => Reply::not_found(),
        }
    }

    pub(super) fn patch_issue(&mut self, key: &str, n: &str, body: &Value) -> Reply {
        let Some(number) = n
            .parse::<u64>()
            .ok()
            .filter(|n| self.repos[key].issue(*n).is_some())
        else {
            return Reply::not_found();
        };
        if body
            .get("body")
            .and_then(Value::as_str)
            .is_some_and(|b| b.chars().count() > MAX_BODY_CHARS)
        {
            return Reply::validation(
                "Issue",
                "body",
                "custom",
                Some("body is too long (maximum is 65536 characters)"),
            );
        }
        let state = body.get("state").and_then(Value::as_str);
        if let Some(s) = state
            && s != "open"
            && s != "closed"
        {
            return Reply::validation("Issue", "state", "invalid", None);
        }
        let reason = body.get("state_reason").and_then(Value::as_str);
        if let Some(r) = reason
            && !["completed", "not_planned", "reopened", "duplicate"].contains(&r)
        {
            return Reply::validation("Issue", "state_reason", "invalid", None);
        }
        let labels = body
            .get("labels")
            .map(|l| label_names(Some(l)))
            .map(|names| {
                let full = self.repos[key].full_name.clone();
                self.ensure_labels(&full, &names)
            });
        let Some(issue) = self.repos.get_mut(key).and_then(|r| r.issue_mut(number)) else {
            return Reply::not_found();
        };
        let now = Utc::now();
        if let Some(t) = body.get("title").and_then(Value::as_str) {
            issue.title = t.to_owned();
        }
        match body.get("body") {
            Some(Value::String(b)) => issue.body = Some(b.clone()),
            Some(Value::Null) => issue.body = None,
            _ => {}
        }
        if let Some(l) = labels {
            issue.labels = l;
        }
        match state {
            Some("closed") if issue.state != "closed" => {
                issue.state = "closed".into();
                issue.state_reason = Some(reason.unwrap_or("completed").to_owned());
                issue.closed_at = Some(now);
            }
            Some("open") if issue.state != "open" => {
                issue.state = "open".into();
                issue.state_reason = Some("reopened".into());
                issue.closed_at = None;
            }
            _ => {
                if let Some(r) = reason {
                    issue.state_reason = Some(r.to_owned());
                }
            }
        }
        issue.updated_at = now;
        let r = &self.repos[key];
        match r.issue(number) {
            Some(i) => Reply::ok(self.issue_json(r, i)),
            None => Reply::not_found(),
        }
    }

    pub(super) fn list_comments(
        &self,
        key: &str,
        n: &str,
        path: &str,
        query: &[(String, String)],
    ) -> Reply {
        let r = &self.repos[key];
        let Some(number) = n.parse::<u64>().ok().filter(|n| r.issue(*n).is_some()) else {
            return Reply::not_found();
        };
        // `since`: only comments updated at or after it, as GitHub filters them.
        let since = query
            .iter()
            .find(|(k, _)| k == "since")
            .and_then(|(_, v)| DateTime::parse_from_rfc3339(v).ok())
            .map(|t| t.with_timezone(&Utc));
        let items = r
            .comments
            .iter()
            .filter(|c| c.issue_number == number)
            .filter(|c| since.is_none_or(|t| c.updated_at >= t))
            .map(|c| self.comment_json(r, c))
            .collect();
        self.paged_reply(items, path, query)
    }

    pub(super) fn post_comment(
        &mut self,
        key: &str,
        n: &str,
        who: &Principal,
        body: &Value,
    ) -> Reply {
        let Some(number) = n
            .parse::<u64>()
            .ok()
            .filter(|n| self.repos[key].issue(*n).is_some())
        else {
            return Reply::not_found();
        };
        let Some(text) = body
            .get("body")
            .and_then(Value::as_str)
            .filter(|b| !b.is_empty())
        else {
            return Reply::validation("IssueComment", "body", "missing_field", None);
        };
        if text.chars().count() > MAX_BODY_CHARS {
            return Reply::validation(
                "IssueComment",
                "body",
                "custom",
                Some("Body is too long (maximum is 65536 characters)"),
            );
        }
        let full = self.repos[key].full_name.clone();
        let id = self.create_comment(&full, number, text, State::writer(who));
        self.with_comment(key, &id.to_string(), |st, r, c| {
            Reply::created(st.comment_json(r, c))
        })
    }

    pub(super) fn set_labels(&mut self, key: &str, n: &str, body: &Value, replace: bool) -> Reply {
        let Some(number) = n
            .parse::<u64>()
            .ok()
            .filter(|n| self.repos[key].issue(*n).is_some())
        else {
            return Reply::not_found();
        };
        // GitHub takes `{"labels": [...]}` or a bare array of names.
        let names = match body {
            Value::Array(_) => label_names(Some(body)),
            _ => label_names(body.get("labels")),
        };
        let full = self.repos[key].full_name.clone();
        let names = self.ensure_labels(&full, &names);
        let Some(issue) = self.repos.get_mut(key).and_then(|r| r.issue_mut(number)) else {
            return Reply::not_found();
        };
        if replace {
            issue.labels.clear();
        }
        for name in names {
            if !issue.labels.iter().any(|l| l.eq_ignore_ascii_case(&name)) {
                issue.labels.push(name);
            }
        }
        issue.updated_at = Utc::now();
        self.with_issue(key, n, |st, r, i| {
            Reply::ok(json!(
                i.labels
                    .iter()
                    .map(|l| st.label_json(r, l))
                    .collect::<Vec<_>>()
            ))
        })
    }

    pub(super) fn remove_label(&mut self, key: &str, n: &str, label: &str) -> Reply {
        let Some(issue) = n
            .parse::<u64>()
            .ok()
            .and_then(|n| self.repos.get_mut(key).and_then(|r| r.issue_mut(n)))
        else {
            return Reply::not_found();
        };
        let before = issue.labels.len();
        issue.labels.retain(|l| !l.eq_ignore_ascii_case(label));
        if issue.labels.len() == before {
            return Reply::error(404, "Label does not exist");
        }
        issue.updated_at = Utc::now();
        self.with_issue(key, n, |st, r, i| {
            Reply::ok(json!(
                i.labels
                    .iter()
                    .map(|l| st.label_json(r, l))
                    .collect::<Vec<_>>()
            ))
        })
    }

    pub(super) fn reaction_target(
        &self,
        key: &str,
        id: &str,
        on_comment: bool,
    ) -> Option<ReactionTarget> {
        let r = &self.repos[key];
        let id = id.parse::<u64>().ok()?;
        if on_comment {
            r.comments
                .iter()
                .any(|c| c.id == id)
                .then_some(ReactionTarget::Comment(id))
        } else {
            r.issue(id).map(|_| ReactionTarget::Issue(id))
        }
    }

    pub(super) fn list_reactions(
        &self,
        key: &str,
        id: &str,
        on_comment: bool,
        path: &str,
        query: &[(String, String)],
    ) -> Reply {
        let Some(target) = self.reaction_target(key, id, on_comment) else {
            return Reply::not_found();
        };
        let items = self.repos[key]
            .reactions
            .iter()
            .filter(|r| r.target == target)
            .map(|r| self.reaction_json(r))
            .collect();
        self.paged_reply(items, path, query)
    }

    pub(super) fn post_reaction(
        &mut self,
        key: &str,
        id: &str,
        on_comment: bool,
        who: &Principal,
        body: &Value,
    ) -> Reply {
        let Some(target) = self.reaction_target(key, id, on_comment) else {
            return Reply::not_found();
        };
        const CONTENTS: [&str; 8] = [
            "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes",
        ];
        let Some(content) = body
            .get("content")
            .and_then(Value::as_str)
            .filter(|c| CONTENTS.contains(c))
        else {
            return Reply::validation("Reaction", "content", "invalid", None);
        };
        let user = State::writer(who);
        let rid = self.id();
        let api = self.base_url.clone();
        let Some(repo) = self.repos.get_mut(key) else {
            return Reply::not_found();
        };
        // The same user reacting the same way again gets the existing reaction with 200.
        if let Some(existing) = repo
            .reactions
            .iter()
            .find(|r| r.target == target && r.content == content && r.user == user)
        {
            return Reply::ok(reaction_json(&api, existing));
        }
        repo.reactions.push(Reaction {
            id: rid,
            target,
            content: content.to_owned(),
            user,
            created_at: Utc::now(),
        });
        Reply::created(
            repo.reactions
                .last()
                .map_or(Value::Null, |r| reaction_json(&api, r)),
        )
    }

    pub(super) fn permission(&self, key: &str, user: &str) -> Reply {
        let r = &self.repos[key];
        let granted = r
            .permissions
            .get(&user.to_lowercase())
            .map(String::as_str)
            .unwrap_or("none");
        // `permission` is the legacy base role: maintain reads as write, triage as read.
        let legacy = match granted {
            "admin" => "admin",
            "maintain" | "write" => "write",
            "triage" | "read" => "read",
            _ => "none",
        };
        let role_name = granted;
        let mut u = user_json(
            &self.base_url,
            user,
            if user.ends_with("[bot]") {
                "Bot"
            } else {
                "User"
            },
        );
        let at_least = |levels: &[&str]| levels.contains(&granted);
        u["permissions"] = json!({
            "admin": granted == "admin",
            "maintain": at_least(&["admin", "maintain"]),
            "push": at_least(&["admin", "maintain", "write"]),
            "triage": at_least(&["admin", "maintain", "write", "triage"]),
            "pull": granted != "none",
        });
        u["role_name"] = json!(role_name);
        Reply::ok(json!({"permission": legacy, "role_name": role_name, "user": u}))
    }

    // ------------------------------------------------------------------------------------
    // Search
}

pub(super) fn sort_issues(issues: &mut [&Issue], sort: Option<&str>, direction: Option<&str>) {
    match sort {
        Some("updated") => issues.sort_by_key(|i| (i.updated_at, i.number)),
        _ => issues.sort_by_key(|i| (i.created_at, i.number)),
    }
    // GitHub's default is newest first.
    if direction != Some("asc") {
        issues.reverse();
    }
}

/// Label names from `["a", "b"]` or `[{"name": "a"}]`.
pub(super) fn label_names(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str().or_else(|| l.get("name").and_then(Value::as_str)))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
