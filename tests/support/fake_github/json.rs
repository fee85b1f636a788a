//! The JSON GitHub sends for each object, with every field octocrab requires, and pages
//! with absolute `Link` URLs.

use super::*;

/// A stable id for a name, so the fake and the webhook builders agree on user and
/// repository ids without sharing state.
pub fn stable_id(kind: &str, name: &str) -> u64 {
    let digest = Sha256::digest(format!("{kind}:{}", name.to_lowercase()).as_bytes());
    let mut b = [0u8; 4];
    b.copy_from_slice(&digest[..4]);
    10_000 + u64::from(u32::from_be_bytes(b) % 90_000_000)
}

pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(super) fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// A GitHub user object (octocrab's `Author`: every `*_url` is required).
pub fn user_json(api: &str, login: &str, kind: &str) -> Value {
    let id = stable_id("user", login);
    let path = enc(login);
    let html = match login.strip_suffix("[bot]") {
        Some(slug) if kind == "Bot" => format!("https://github.com/apps/{slug}"),
        _ => format!("https://github.com/{login}"),
    };
    json!({
        "login": login,
        "id": id,
        "node_id": format!("MDQ6VXNlcj{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": format!("{api}/users/{path}"),
        "html_url": html,
        "followers_url": format!("{api}/users/{path}/followers"),
        "following_url": format!("{api}/users/{path}/following{{/other_user}}"),
        "gists_url": format!("{api}/users/{path}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/users/{path}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/users/{path}/subscriptions"),
        "organizations_url": format!("{api}/users/{path}/orgs"),
        "repos_url": format!("{api}/users/{path}/repos"),
        "events_url": format!("{api}/users/{path}/events{{/privacy}}"),
        "received_events_url": format!("{api}/users/{path}/received_events"),
        "type": kind,
        "user_view_type": "public",
        "site_admin": false,
    })
}

/// A repository object (the fields GitHub sends that clients commonly read).
pub fn repo_json(api: &str, full_name: &str, default_branch: &str) -> Value {
    let (owner, name) = full_name.split_once('/').unwrap_or((full_name, full_name));
    let id = stable_id("repo", full_name);
    let r = format!("{api}/repos/{full_name}");
    let mut v = json!({
        "id": id,
        "node_id": format!("R_kgDO{id}"),
        "name": name,
        "full_name": full_name,
        "private": true,
        "owner": user_json(api, owner, "Organization"),
        "html_url": format!("https://github.com/{full_name}"),
        "description": null,
        "fork": false,
        "url": r,
        "archive_url": format!("{r}/{{archive_format}}{{/ref}}"),
        "branches_url": format!("{r}/branches{{/branch}}"),
        "collaborators_url": format!("{r}/collaborators{{/collaborator}}"),
        "comments_url": format!("{r}/comments{{/number}}"),
        "contents_url": format!("{r}/contents/{{+path}}"),
        "events_url": format!("{r}/events"),
        "hooks_url": format!("{r}/hooks"),
        "issue_comment_url": format!("{r}/issues/comments{{/number}}"),
        "issue_events_url": format!("{r}/issues/events{{/number}}"),
        "issues_url": format!("{r}/issues{{/number}}"),
        "labels_url": format!("{r}/labels{{/name}}"),
        "pulls_url": format!("{r}/pulls{{/number}}"),
        "git_url": format!("git://github.com/{full_name}.git"),
        "ssh_url": format!("git@github.com:{full_name}.git"),
        "clone_url": format!("https://github.com/{full_name}.git"),
        "svn_url": format!("https://github.com/{full_name}"),
    });
    // Split in two: one `json!` this size exceeds the macro recursion limit.
    let more = json!({
        "homepage": null,
        "size": 1,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": "Python",
        "has_issues": true,
        "has_projects": false,
        "has_downloads": true,
        "has_wiki": false,
        "has_pages": false,
        "forks_count": 0,
        "archived": false,
        "disabled": false,
        "open_issues_count": 0,
        "topics": [],
        "visibility": "private",
        "default_branch": default_branch,
        "is_template": false,
        "created_at": "2024-01-02T03:04:05Z",
        "updated_at": "2025-01-02T03:04:05Z",
        "pushed_at": "2025-01-02T03:04:05Z",
    });
    if let (Value::Object(a), Value::Object(b)) = (&mut v, more) {
        a.extend(b);
    }
    v
}

/// The App's installation object (octocrab's `Installation`: `account`, `permissions` and
/// `events` are required).
pub fn installation_json(api: &str, id: u64, account: &str, app_id: u64) -> Value {
    json!({
        "id": id,
        "client_id": "Iv1.fakefakefake",
        "account": user_json(api, account, "Organization"),
        "repository_selection": "selected",
        "access_tokens_url": format!("{api}/app/installations/{id}/access_tokens"),
        "repositories_url": format!("{api}/installation/repositories"),
        "html_url": format!("https://github.com/organizations/{account}/settings/installations/{id}"),
        "app_id": app_id,
        "app_slug": APP_SLUG,
        "target_id": stable_id("user", account),
        "target_type": "Organization",
        "permissions": {"issues": "write", "metadata": "read", "single_file": "read"},
        "events": ["issue_comment", "issues"],
        "created_at": "2025-01-02T03:04:05.000Z",
        "updated_at": "2025-01-02T03:04:05.000Z",
        "single_file_name": ".github/log-gardener.yml",
        "has_multiple_single_files": false,
        "single_file_paths": [],
        "suspended_by": null,
        "suspended_at": null,
    })
}

pub(super) fn app_json(api: &str, app_id: u64) -> Value {
    json!({
        "id": app_id,
        "slug": APP_SLUG,
        "node_id": format!("A_kwDO{app_id}"),
        "owner": user_json(api, "log-gardener-dev", "Organization"),
        "name": "log-gardener",
        "description": "One issue per root cause",
        "external_url": "https://example.com/log-gardener",
        "html_url": format!("https://github.com/apps/{APP_SLUG}"),
        "created_at": "2025-01-02T03:04:05Z",
        "updated_at": "2025-01-02T03:04:05Z",
        "permissions": {"issues": "write", "metadata": "read", "single_file": "read"},
        "events": ["issue_comment", "issues"],
    })
}

impl State {
    pub(super) fn label_json(&self, repo: &Repo, name: &str) -> Value {
        let api = &self.base_url;
        let (id, color) = repo
            .labels
            .get(&name.to_lowercase())
            .map(|l| (l.id, l.color.clone()))
            .unwrap_or((0, "ededed".into()));
        json!({
            "id": id,
            "node_id": format!("LA_kwDO{id}"),
            "url": format!("{api}/repos/{}/labels/{}", repo.full_name, enc(name)),
            "name": name,
            "color": color,
            "default": false,
            "description": null,
        })
    }

    pub(super) fn issue_json(&self, repo: &Repo, i: &Issue) -> Value {
        let api = &self.base_url;
        let fname = &repo.full_name;
        let u = format!("{api}/repos/{fname}/issues/{}", i.number);
        let comments = repo
            .comments
            .iter()
            .filter(|c| c.issue_number == i.number)
            .count();
        let via_app = if i.author.login == APP_BOT_LOGIN {
            app_json(api, self.app_id)
        } else {
            Value::Null
        };
        json!({
            "url": u,
            "repository_url": format!("{api}/repos/{fname}"),
            "labels_url": format!("{u}/labels{{/name}}"),
            "comments_url": format!("{u}/comments"),
            "events_url": format!("{u}/events"),
            "html_url": format!("https://github.com/{fname}/issues/{}", i.number),
            "id": i.id,
            "node_id": format!("I_kwDO{}", i.id),
            "number": i.number,
            "title": i.title,
            "user": user_json(api, &i.author.login, &i.author.kind),
            "labels": i.labels.iter().map(|l| self.label_json(repo, l)).collect::<Vec<_>>(),
            "state": i.state,
            "locked": false,
            "assignee": null,
            "assignees": [],
            "milestone": null,
            "comments": comments,
            "created_at": ts(i.created_at),
            "updated_at": ts(i.updated_at),
            "closed_at": i.closed_at.map(ts),
            "author_association": State::author_association(repo, &i.author),
            "type": null,
            "active_lock_reason": null,
            "sub_issues_summary": {"total": 0, "completed": 0, "percent_completed": 0},
            "body": i.body,
            "closed_by": null,
            "reactions": self.reactions_summary(repo, ReactionTarget::Issue(i.number), &format!("{u}/reactions")),
            "timeline_url": format!("{u}/timeline"),
            "performed_via_github_app": via_app,
            "state_reason": i.state_reason,
        })
    }

    pub(super) fn comment_json(&self, repo: &Repo, c: &Comment) -> Value {
        let api = &self.base_url;
        let fname = &repo.full_name;
        let u = format!("{api}/repos/{fname}/issues/comments/{}", c.id);
        json!({
            "url": u,
            "html_url": format!("https://github.com/{fname}/issues/{}#issuecomment-{}", c.issue_number, c.id),
            "issue_url": format!("{api}/repos/{fname}/issues/{}", c.issue_number),
            "id": c.id,
            "node_id": format!("IC_kwDO{}", c.id),
            "user": user_json(api, &c.author.login, &c.author.kind),
            "created_at": ts(c.created_at),
            "updated_at": ts(c.updated_at),
            "author_association": State::author_association(repo, &c.author),
            "body": c.body,
            "reactions": self.reactions_summary(repo, ReactionTarget::Comment(c.id), &format!("{u}/reactions")),
            "performed_via_github_app": null,
        })
    }

    pub(super) fn reactions_summary(
        &self,
        repo: &Repo,
        target: ReactionTarget,
        url: &str,
    ) -> Value {
        let count = |name: &str| {
            repo.reactions
                .iter()
                .filter(|r| r.target == target && r.content == name)
                .count()
        };
        let total = repo.reactions.iter().filter(|r| r.target == target).count();
        json!({
            "url": url,
            "total_count": total,
            "+1": count("+1"), "-1": count("-1"), "laugh": count("laugh"), "hooray": count("hooray"),
            "confused": count("confused"), "heart": count("heart"), "rocket": count("rocket"), "eyes": count("eyes"),
        })
    }

    pub(super) fn reaction_json(&self, r: &Reaction) -> Value {
        reaction_json(&self.base_url, r)
    }

    // ------------------------------------------------------------------------------------
    // Authentication

    /// Slices `items` by `per_page`/`page` and builds GitHub's `Link` header with absolute
    /// URLs of this fake.
    pub(super) fn paginate(
        &self,
        items: Vec<Value>,
        path: &str,
        query: &[(String, String)],
    ) -> (Vec<Value>, Option<String>) {
        let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let per_page = param("per_page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let page = param("page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let last = items.len().div_ceil(per_page).max(1);
        let slice: Vec<Value> = items
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect();
        let link_to = |p: usize| {
            let mut q: Vec<String> = query
                .iter()
                .filter(|(k, _)| k != "page")
                .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
                .collect();
            q.push(format!("page={p}"));
            format!("<{}{}?{}>", self.base_url, path, q.join("&"))
        };
        let mut links = Vec::new();
        if page > 1 {
            links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
        }
        if page < last {
            links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
            links.push(format!("{}; rel=\"last\"", link_to(last)));
        }
        if page > 1 {
            links.push(format!("{}; rel=\"first\"", link_to(1)));
        }
        (slice, (!links.is_empty()).then(|| links.join(", ")))
    }

    pub(super) fn paged_reply(
        &self,
        items: Vec<Value>,
        path: &str,
        query: &[(String, String)],
    ) -> Reply {
        let (slice, link) = self.paginate(items, path, query);
        let reply = Reply::ok(Value::Array(slice));
        match link {
            Some(l) => reply.with_header("link", l),
            None => reply,
        }
    }

    // ------------------------------------------------------------------------------------
    // Routing
}

pub(super) fn reaction_json(api: &str, r: &Reaction) -> Value {
    json!({
        "id": r.id,
        "node_id": format!("REA_lADO{}", r.id),
        "user": user_json(api, &r.user.login, &r.user.kind),
        "content": r.content,
        "created_at": ts(r.created_at),
    })
}

pub(super) const B64: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (k, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if k <= chunk.len() {
                out.push(char::from(B64[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// GitHub's contents API wraps base64 at 60 characters a line, each line ending in `\n`.
pub(super) fn base64_lines(data: &[u8]) -> String {
    let b = base64_encode(data);
    let mut out = String::with_capacity(b.len() + b.len() / 60 + 1);
    for chunk in b.as_bytes().chunks(60) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Decodes standard or URL-safe base64, padded or not.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
        }
    }
    Some(out)
}
