//! A stateful fake of the GitHub REST API, good enough for octocrab 0.54 and for
//! hand-written `reqwest`-style calls.
//!
//! It is a small in-memory GitHub, not a mock that replays canned answers: an issue created
//! through the API shows up in the next listing, a label added to an issue exists on the
//! repository afterwards, closing sets `state_reason`, and so on. Responses carry the same
//! fields GitHub sends (octocrab's models are strict: `Issue`, `Author`, `Label`,
//! `Installation` all have many required fields), `Link` headers with absolute URLs for
//! paging, and GitHub's JSON error bodies.
//!
//! Realism that tests rely on:
//! - `/repos/*` without `Authorization` is 401 "Requires authentication". octocrab's App
//!   auth does not attach the token to absolute `Link` URLs of a non-github.com host, so
//!   a client that pages with `next` links is caught here.
//! - an installation token only sees the repositories of its installation (404 otherwise).
//! - the search index lags (default on): issues created through the API are not found by
//!   `/search/issues` until `set_search_lag(false)`; issues added with `add_issue` are.
//! - bodies and comments over 65,536 characters are refused with 422, as GitHub does.
//! - fault injection: `fail_next` answers without applying; `fail_after_apply` applies the
//!   write and then answers with an error (a response lost after the write).

#![allow(dead_code)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State as AxumState};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::Notify;

/// The App's bot account: what issues and comments created with an installation token are
/// authored by.
pub const APP_BOT_LOGIN: &str = "log-gardener[bot]";
/// The App's slug (`https://github.com/apps/<slug>`).
pub const APP_SLUG: &str = "log-gardener";
/// The account that personal tokens (`ghp_…`, `github_pat_…`) act as.
pub const TOKEN_USER_LOGIN: &str = "token-user";
/// GitHub's limit on issue and comment bodies.
pub const MAX_BODY_CHARS: usize = 65_536;

/// TEST ONLY: a throwaway 2048-bit RSA key (PKCS#1, the format GitHub hands out for Apps),
/// generated with `openssl genrsa -traditional 2048` for these tests. It protects nothing.
pub const TEST_ONLY_APP_PRIVATE_KEY_PEM: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAynNN/F6dxZvR2IQuJsD0SseEU+WKCdVEjo+WxDqShJo4m+sa
f/HdjXZOQIBFruokPBzsh4Jiv87nVQ6zvLlAUhRVbHhV1d+znfbqRB3wOoAGvP1m
CRQLNvIGOPc/tpWTAvIwdAOIGtHZ8c3nRWHydjTOzdzvNc4DxfH9NzowuGdjUH2q
hotOpHXZkUV8ViwrhBhpSGiyJyY/IJy9MA+d5EW/mNeLFAGaNMEDEQ4+lX9neYpt
tNLFh+/fXkfgFgWuDzXP38xi3W4DhaMiGvaUvvSzzyBq7DaAlF0BwXfwuYsf0/U/
RBj8jJjix1RrSJDOwKcKwRywTWpzuRKImBgBzwIDAQABAoIBABM2T1z3GwCDwa2g
bZjJOuWrJXL+F37IubwlrZMVqTiNl3hZyVFXAfAeHV2gTqdDb7OHXdLw8VoZJ87k
mZ378+Srf/0j4PwY7JITD+GYTbyKJcQ4RT9F+FfQg/1Snr3prTfcWp4dL69hNs5B
p1mS6qWDwWm74Qo5cMDk2WOCUYP48IwqRLEECf2/WSy9KwJJvVJ7wz7uwjRHl33S
gtogxWd+zQAelik4Ft0Mq7A7QmCmLgyUL0qXx0IuJ5i3Wj9/a5M1JzfawL3L44gu
ECqAIMV82bnm0ax7JGm+wWFaqhCWS0DtM4RLGDD6GA+Sn5Uf9dSWlF/sq+T4PwJs
EaJ3mQECgYEA53apYzCUXyq/DiZa+SSe8GPkKs8wpX186oCBcY2/W76Hhx2AnTNu
LHJGlroqaNYd0RCBeYsIwOs+01QL87Te5cgIQVZkWR3j6BYoiN+UJ6+EyKlPCt6/
2npQwU7WqypSwBZrd65W22DolKTpMtjA/HcWutKoz0R8nAR9fT0BiQ8CgYEA3+lM
ywdXtPq3JAyrIifxoJg3FOYUFP1WocJ2iZj/vMWNhPNGbOk8rvDYhDsppeTJx+kf
E6lK1WorOZWKv//UsEvCFD6FLwSxbkcoJo8Yh3J9ClhQnFCpPcLDinPV5o+d9+Ex
dIp7csAwd+LrPdNcOgw+MhT9+J8qGsWbN2CGe0ECgYAJL6tvVVk+Iaste5Y2tx5b
ugsvK8PpfX58rBb3E8IZeQlV8nTNSGJB/1MP3lmaiYzrZDVPRpZVWcDHkFldFbuW
8QZq2WvoIYiPCHoZXI47uPqTIC0T6F1C5YHY+jEI4AgiuYEQYenukP0KETV0ICgg
nPVY+s1aVISBiKgWVVp/PwKBgQCTsBNJ2zb7lV8U9RIvvj7+2UeDjlpymcL5gQWk
rnkILxmwNrIeBh1TmmKFnWxUErsRE+++jSxh5dxK6BsTlw/XlLCXn8FDCQprHZ4b
CMl6FYbqOuQ4pm9q4DsP6GWO5O2h4TQ4lVrljmSpvs/BANdVJlwjtnrp8TnZXLuL
ZCxvwQKBgHuuzgYwl9U1GKJXEuxbFQARtD4UBn4KlkOThK2yaV9+vUpkdfZZhmXg
nbU8tvYEIWk0WZUuKFmMPNsgUpHz+xeemP1SVWVF0KKiXT4g/8srw3iZzYkz2pDI
d2XPIir+38FDHqUbk+Y3LzITiKgLH26nnCQFCNIvvJEEZZetVoTn
-----END RSA PRIVATE KEY-----
";

/// An issue as the fake holds it, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueSnapshot {
    pub number: u64,
    pub title: String,
    pub body: String,
    /// `"open"` or `"closed"`.
    pub state: String,
    /// `"completed"`, `"not_planned"`, `"reopened"`, or `None`.
    pub state_reason: Option<String>,
    pub labels: Vec<String>,
    pub author: String,
}

/// A comment as the fake holds it, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentSnapshot {
    pub id: u64,
    pub body: String,
    pub author: String,
}

/// A running fake GitHub. The server stops when this is dropped.
pub struct FakeGitHub {
    /// `http://127.0.0.1:PORT`, to use as the API base URI.
    pub url: String,
    state: Arc<Mutex<State>>,
    /// Woken after every request the fake has answered: what tests wait on.
    changed: Arc<Notify>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeGitHub {
    /// Starts the fake on a random local port.
    pub async fn start() -> FakeGitHub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake GitHub");
        let addr = listener.local_addr().expect("fake GitHub address");
        let url = format!("http://{addr}");
        let state = Arc::new(Mutex::new(State::new(url.clone())));
        let changed = Arc::new(Notify::new());
        let app = Router::new()
            .fallback(handle)
            .with_state((state.clone(), changed.clone()));
        let server = tokio::spawn(async move {
            // The server only ends when the task is aborted; an I/O error here would show up
            // as failed requests in the test, which is where it is visible.
            let _ = axum::serve(listener, app).await;
        });
        FakeGitHub {
            url,
            state,
            changed,
            server,
        }
    }

    /// Waits until `check` finds what it looks for, looking again after each request the
    /// fake answers (no polling); panics naming `what` after 30 seconds without it.
    pub async fn until<T>(&self, what: &str, mut check: impl FnMut(&Self) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            // Registered before looking, so that a request answered in between is not missed.
            let next = self.changed.notified();
            if let Some(found) = check(self) {
                return found;
            }
            if tokio::time::timeout_at(deadline, next).await.is_err() {
                panic!("the fake GitHub never saw {what}");
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The App id that JWTs must carry in `iss` (default 1).
    pub fn set_app(&self, app_id: u64) {
        self.lock().app_id = app_id;
    }

    /// Adds a repository (default branch `main`). Adding it twice is harmless.
    pub fn add_repo(&self, full_name: &str) {
        self.lock().ensure_repo(full_name);
    }

    /// Puts a file on the default branch.
    pub fn set_file(&self, repo: &str, path: &str, content: &str) {
        let mut st = self.lock();
        st.ensure_repo(repo)
            .files
            .insert(path.trim_start_matches('/').to_owned(), content.to_owned());
    }

    /// Deletes a file from the default branch.
    pub fn remove_file(&self, repo: &str, path: &str) {
        let mut st = self.lock();
        st.ensure_repo(repo)
            .files
            .remove(path.trim_start_matches('/'));
    }

    /// Gives `user` a permission on `repo`: admin, maintain, write, triage, read or none.
    pub fn set_permission(&self, repo: &str, user: &str, permission: &str) {
        let mut st = self.lock();
        st.ensure_repo(repo)
            .permissions
            .insert(user.to_lowercase(), permission.to_owned());
    }

    /// Installs the App on `account` for `repos` (created if missing).
    pub fn add_installation(&self, id: u64, account: &str, repos: &[&str]) {
        let mut st = self.lock();
        for r in repos {
            st.ensure_repo(r);
        }
        st.installations.insert(
            id,
            Installation {
                id,
                account: account.to_owned(),
                repos: repos.iter().map(|r| (*r).to_owned()).collect(),
            },
        );
    }

    /// Adds repositories to an existing installation (as `installation_repositories.added`).
    pub fn add_installation_repos(&self, id: u64, repos: &[&str]) {
        let mut st = self.lock();
        for r in repos {
            st.ensure_repo(r);
        }
        if let Some(inst) = st.installations.get_mut(&id) {
            for r in repos {
                if !inst.repos.iter().any(|x| x == r) {
                    inst.repos.push((*r).to_owned());
                }
            }
        }
    }

    /// Registers an extra accepted token, e.g. a GitHub Actions `GITHUB_TOKEN` acting as
    /// `github-actions[bot]` ("Bot").
    pub fn add_token(&self, token: &str, login: &str, user_type: &str) {
        self.lock().tokens.insert(
            token.to_owned(),
            Principal::User(Actor::new(login, user_type)),
        );
    }

    /// Files an issue as a human would (searchable at once). Returns its number.
    pub fn add_issue(
        &self,
        repo: &str,
        title: &str,
        body: &str,
        labels: &[&str],
        author: &str,
    ) -> u64 {
        let mut st = self.lock();
        let labels: Vec<String> = labels.iter().map(|l| (*l).to_owned()).collect();
        st.create_issue(
            repo,
            title,
            Some(body.to_owned()),
            &labels,
            Actor::user(author),
            false,
        )
    }

    /// Closes an issue as a human would; `reason` is "completed" or "not_planned".
    pub fn close_issue(&self, repo: &str, number: u64, reason: &str) {
        let mut st = self.lock();
        if let Some(issue) = st.ensure_repo(repo).issue_mut(number) {
            let now = Utc::now();
            issue.state = "closed".into();
            issue.state_reason = Some(reason.to_owned());
            issue.closed_at = Some(now);
            issue.updated_at = now;
        }
    }

    /// Moves an issue's creation into the past, as if it had been filed `ago` earlier.
    pub fn backdate_issue(&self, repo: &str, number: u64, ago: chrono::Duration) {
        let mut st = self.lock();
        if let Some(issue) = st.ensure_repo(repo).issue_mut(number) {
            issue.created_at -= ago;
        }
    }

    /// Reopens an issue as a human would (`state_reason` becomes "reopened").
    pub fn reopen_issue(&self, repo: &str, number: u64) {
        let mut st = self.lock();
        if let Some(issue) = st.ensure_repo(repo).issue_mut(number) {
            issue.state = "open".into();
            issue.state_reason = Some("reopened".into());
            issue.closed_at = None;
            issue.updated_at = Utc::now();
        }
    }

    /// The repository's issues, by number.
    pub fn issues(&self, repo: &str) -> Vec<IssueSnapshot> {
        let st = self.lock();
        let Some(r) = st.repos.get(&repo.to_lowercase()) else {
            return Vec::new();
        };
        r.issues
            .iter()
            .map(|i| IssueSnapshot {
                number: i.number,
                title: i.title.clone(),
                body: i.body.clone().unwrap_or_default(),
                state: i.state.clone(),
                state_reason: i.state_reason.clone(),
                labels: i.labels.clone(),
                author: i.author.login.clone(),
            })
            .collect()
    }

    /// The comments on an issue, oldest first.
    pub fn comments(&self, repo: &str, number: u64) -> Vec<CommentSnapshot> {
        let st = self.lock();
        let Some(r) = st.repos.get(&repo.to_lowercase()) else {
            return Vec::new();
        };
        r.comments
            .iter()
            .filter(|c| c.issue_number == number)
            .map(|c| CommentSnapshot {
                id: c.id,
                body: c.body.clone(),
                author: c.author.login.clone(),
            })
            .collect()
    }

    /// The reactions on a comment, in the order they were made ("eyes", "rocket", ...).
    pub fn reactions(&self, repo: &str, comment_id: u64) -> Vec<String> {
        self.reactions_on(repo, ReactionTarget::Comment(comment_id))
    }

    /// The reactions on an issue itself.
    pub fn issue_reactions(&self, repo: &str, number: u64) -> Vec<String> {
        self.reactions_on(repo, ReactionTarget::Issue(number))
    }

    fn reactions_on(&self, repo: &str, target: ReactionTarget) -> Vec<String> {
        let st = self.lock();
        let Some(r) = st.repos.get(&repo.to_lowercase()) else {
            return Vec::new();
        };
        r.reactions
            .iter()
            .filter(|x| x.target == target)
            .map(|x| x.content.clone())
            .collect()
    }

    /// Adds a comment as `author` (`author_type` "User" or "Bot"), e.g. the command a webhook
    /// delivery is about. Returns the comment id.
    pub fn add_comment(
        &self,
        repo: &str,
        number: u64,
        body: &str,
        author: &str,
        author_type: &str,
    ) -> u64 {
        let mut st = self.lock();
        st.create_comment(repo, number, body, Actor::new(author, author_type))
    }

    /// The issue as `GET /repos/{repo}/issues/{number}` returns it (e.g. to embed in a
    /// webhook payload), or `Value::Null` if there is none.
    pub fn issue_json(&self, repo: &str, number: u64) -> Value {
        let st = self.lock();
        st.repos
            .get(&repo.to_lowercase())
            .and_then(|r| r.issue(number).map(|i| st.issue_json(r, i)))
            .unwrap_or(Value::Null)
    }

    /// The comment as the API returns it, or `Value::Null`.
    pub fn comment_json(&self, repo: &str, comment_id: u64) -> Value {
        let st = self.lock();
        st.repos
            .get(&repo.to_lowercase())
            .and_then(|r| {
                r.comments
                    .iter()
                    .find(|c| c.id == comment_id)
                    .map(|c| st.comment_json(r, c))
            })
            .unwrap_or(Value::Null)
    }

    /// The next `times` requests whose method matches and whose path and query contain
    /// `path_contains` are answered with `status`, GitHub's JSON error body and `headers`
    /// (e.g. `("retry-after", "1")`), without being applied.
    pub fn fail_next(
        &self,
        method: &str,
        path_contains: &str,
        status: u16,
        headers: &[(&str, &str)],
        times: usize,
    ) {
        self.lock().faults.push(Fault {
            method: method.to_uppercase(),
            path_contains: path_contains.to_owned(),
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            remaining: times,
            after_apply: false,
        });
    }

    /// Like `fail_next`, but the request IS applied (the issue is created, the comment
    /// posted) before the error is returned: the response was lost after the write.
    pub fn fail_after_apply(&self, method: &str, path_contains: &str, status: u16, times: usize) {
        self.lock().faults.push(Fault {
            method: method.to_uppercase(),
            path_contains: path_contains.to_owned(),
            status,
            headers: Vec::new(),
            remaining: times,
            after_apply: true,
        });
    }

    /// Every request so far: (method, path and query, status answered).
    pub fn requests(&self) -> Vec<(String, String, u16)> {
        self.lock().requests.clone()
    }

    /// Whether issues created through the API are hidden from `/search/issues` (default
    /// true: GitHub's search index lags by minutes). Turning it off "catches the index up".
    pub fn set_search_lag(&self, lagging: bool) {
        self.lock().search_lag = lagging;
    }

    pub fn app_bot_login(&self) -> String {
        APP_BOT_LOGIN.to_owned()
    }
}

// ----------------------------------------------------------------------------------------
// State

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in one handler must not turn every later request into a second panic.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Actor {
    login: String,
    /// "User", "Bot" or "Organization".
    kind: String,
}

impl Actor {
    fn new(login: &str, kind: &str) -> Actor {
        Actor {
            login: login.to_owned(),
            kind: kind.to_owned(),
        }
    }
    fn user(login: &str) -> Actor {
        Actor::new(login, "User")
    }
    fn bot() -> Actor {
        Actor::new(APP_BOT_LOGIN, "Bot")
    }
}

#[derive(Debug, Clone)]
enum Principal {
    Anonymous,
    /// A JWT signed for the App.
    App,
    Installation(u64),
    User(Actor),
    /// Credentials were sent but are not valid; the message says why.
    Invalid(&'static str),
}

struct Installation {
    id: u64,
    account: String,
    repos: Vec<String>,
}

struct Issue {
    id: u64,
    number: u64,
    title: String,
    body: Option<String>,
    state: String,
    state_reason: Option<String>,
    labels: Vec<String>,
    author: Actor,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    /// Created through the API: hidden from search while the index lags.
    via_api: bool,
}

struct Comment {
    id: u64,
    issue_number: u64,
    body: String,
    author: Actor,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReactionTarget {
    Comment(u64),
    Issue(u64),
}

struct Reaction {
    id: u64,
    target: ReactionTarget,
    content: String,
    user: Actor,
    created_at: DateTime<Utc>,
}

struct LabelDef {
    id: u64,
    name: String,
    color: String,
}

struct Repo {
    id: u64,
    full_name: String,
    default_branch: String,
    files: BTreeMap<String, String>,
    /// lowercase login -> permission
    permissions: HashMap<String, String>,
    issues: Vec<Issue>,
    comments: Vec<Comment>,
    reactions: Vec<Reaction>,
    /// lowercase name -> label (GitHub label names are case-insensitive)
    labels: BTreeMap<String, LabelDef>,
    created_at: DateTime<Utc>,
}

impl Repo {
    fn owner(&self) -> &str {
        self.full_name.split('/').next().unwrap_or_default()
    }
    fn name(&self) -> &str {
        self.full_name.split('/').nth(1).unwrap_or_default()
    }
    fn issue(&self, number: u64) -> Option<&Issue> {
        self.issues.iter().find(|i| i.number == number)
    }
    fn issue_mut(&mut self, number: u64) -> Option<&mut Issue> {
        self.issues.iter_mut().find(|i| i.number == number)
    }
}

struct Fault {
    method: String,
    path_contains: String,
    status: u16,
    headers: Vec<(String, String)>,
    remaining: usize,
    after_apply: bool,
}

struct State {
    base_url: String,
    app_id: u64,
    next_id: u64,
    repos: BTreeMap<String, Repo>,
    installations: BTreeMap<u64, Installation>,
    /// Extra tokens registered with `add_token`, and minted installation tokens.
    tokens: HashMap<String, Principal>,
    faults: Vec<Fault>,
    requests: Vec<(String, String, u16)>,
    search_lag: bool,
}

/// What a handler answers; turned into an HTTP response outside the lock.
struct Reply {
    status: u16,
    body: Value,
    headers: Vec<(String, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body,
            headers: Vec::new(),
        }
    }
    fn ok(body: Value) -> Reply {
        Reply::json(200, body)
    }
    fn created(body: Value) -> Reply {
        Reply::json(201, body)
    }
    fn error(status: u16, message: &str) -> Reply {
        Reply::json(
            status,
            json!({
                "message": message,
                "documentation_url": "https://docs.github.com/rest",
                "status": status.to_string(),
            }),
        )
    }
    fn not_found() -> Reply {
        Reply::error(404, "Not Found")
    }
    fn validation(resource: &str, field: &str, code: &str, message: Option<&str>) -> Reply {
        let mut e = json!({"resource": resource, "field": field, "code": code});
        if let Some(m) = message {
            e["message"] = json!(m);
        }
        Reply::json(
            422,
            json!({
                "message": "Validation Failed",
                "errors": [e],
                "documentation_url": "https://docs.github.com/rest",
                "status": "422",
            }),
        )
    }
    fn with_header(mut self, name: &str, value: String) -> Reply {
        self.headers.push((name.to_owned(), value));
        self
    }
}

/// A stable id for a name, so the fake and the webhook builders agree on user and
/// repository ids without sharing state.
pub fn stable_id(kind: &str, name: &str) -> u64 {
    let digest = Sha256::digest(format!("{kind}:{}", name.to_lowercase()).as_bytes());
    let mut b = [0u8; 4];
    b.copy_from_slice(&digest[..4]);
    10_000 + u64::from(u32::from_be_bytes(b) % 90_000_000)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn enc(s: &str) -> String {
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

fn app_json(api: &str, app_id: u64) -> Value {
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
    fn new(base_url: String) -> State {
        State {
            base_url,
            app_id: 1,
            next_id: 1_000_000,
            repos: BTreeMap::new(),
            installations: BTreeMap::new(),
            tokens: HashMap::new(),
            faults: Vec::new(),
            requests: Vec::new(),
            search_lag: true,
        }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn ensure_repo(&mut self, full_name: &str) -> &mut Repo {
        self.repos
            .entry(full_name.to_lowercase())
            .or_insert_with(|| Repo {
                id: stable_id("repo", full_name),
                full_name: full_name.to_owned(),
                default_branch: "main".into(),
                files: BTreeMap::new(),
                permissions: HashMap::new(),
                issues: Vec::new(),
                comments: Vec::new(),
                reactions: Vec::new(),
                labels: BTreeMap::new(),
                created_at: Utc::now(),
            })
    }

    /// Makes sure the labels exist on the repository (GitHub creates missing ones when an
    /// issue is created or labelled) and returns them with the repository's spelling.
    fn ensure_labels(&mut self, repo: &str, names: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for n in names {
            let id = self.id();
            let r = self.ensure_repo(repo);
            let def = r
                .labels
                .entry(n.to_lowercase())
                .or_insert_with(|| LabelDef {
                    id,
                    name: n.clone(),
                    color: "ededed".into(),
                });
            if !out.iter().any(|o| o.eq_ignore_ascii_case(&def.name)) {
                out.push(def.name.clone());
            }
        }
        out
    }

    fn create_issue(
        &mut self,
        repo: &str,
        title: &str,
        body: Option<String>,
        labels: &[String],
        author: Actor,
        via_api: bool,
    ) -> u64 {
        let labels = self.ensure_labels(repo, labels);
        let id = self.id();
        let r = self.ensure_repo(repo);
        let number = r.issues.len() as u64 + 1;
        let now = Utc::now();
        r.issues.push(Issue {
            id,
            number,
            title: title.to_owned(),
            body,
            state: "open".into(),
            state_reason: None,
            labels,
            author,
            created_at: now,
            updated_at: now,
            closed_at: None,
            via_api,
        });
        number
    }

    fn create_comment(&mut self, repo: &str, number: u64, body: &str, author: Actor) -> u64 {
        let id = self.id();
        let r = self.ensure_repo(repo);
        let now = Utc::now();
        r.comments.push(Comment {
            id,
            issue_number: number,
            body: body.to_owned(),
            author,
            created_at: now,
            updated_at: now,
        });
        if let Some(i) = r.issue_mut(number) {
            i.updated_at = now;
        }
        id
    }

    fn author_association(repo: &Repo, actor: &Actor) -> &'static str {
        if actor.login.eq_ignore_ascii_case(repo.owner()) {
            return "OWNER";
        }
        match repo
            .permissions
            .get(&actor.login.to_lowercase())
            .map(String::as_str)
        {
            Some("admin" | "maintain" | "write" | "triage") => "COLLABORATOR",
            _ => "NONE",
        }
    }

    fn label_json(&self, repo: &Repo, name: &str) -> Value {
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

    fn issue_json(&self, repo: &Repo, i: &Issue) -> Value {
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

    fn comment_json(&self, repo: &Repo, c: &Comment) -> Value {
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

    fn reactions_summary(&self, repo: &Repo, target: ReactionTarget, url: &str) -> Value {
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

    fn reaction_json(&self, r: &Reaction) -> Value {
        reaction_json(&self.base_url, r)
    }

    // ------------------------------------------------------------------------------------
    // Authentication

    fn principal(&self, headers: &HeaderMap) -> Principal {
        let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
            return Principal::Anonymous;
        };
        let token = value
            .strip_prefix("token ")
            .or_else(|| value.strip_prefix("Bearer "))
            .or_else(|| value.strip_prefix("bearer "))
            .unwrap_or("")
            .trim();
        if let Some(p) = self.tokens.get(token) {
            return p.clone();
        }
        if token.starts_with("ghp_") || token.starts_with("github_pat_") {
            return Principal::User(Actor::user(TOKEN_USER_LOGIN));
        }
        if token.starts_with("ghs_") {
            // An installation token this fake never minted (or one made up by a test).
            return Principal::Invalid("Bad credentials");
        }
        if token.split('.').count() == 3 {
            return match jwt_issuer(token) {
                Some(iss) if iss == self.app_id => Principal::App,
                Some(_) => Principal::Invalid("Integration not found"),
                None => Principal::Invalid("A JSON web token could not be decoded"),
            };
        }
        Principal::Invalid("Bad credentials")
    }

    /// The repository a request for `/repos/{owner}/{repo}/...` may touch, or the reply
    /// that refuses it.
    fn repo_access(&self, who: &Principal, full_name: &str) -> Result<String, Reply> {
        let key = full_name.to_lowercase();
        match who {
            Principal::Anonymous => return Err(Reply::error(401, "Requires authentication")),
            Principal::App => {
                return Err(Reply::error(403, "Resource not accessible by integration"));
            }
            Principal::Invalid(m) => return Err(Reply::error(401, m)),
            Principal::Installation(id) => {
                let visible = self
                    .installations
                    .get(id)
                    .is_some_and(|i| i.repos.iter().any(|r| r.eq_ignore_ascii_case(full_name)));
                if !visible {
                    return Err(Reply::not_found());
                }
            }
            Principal::User(_) => {}
        }
        if self.repos.contains_key(&key) {
            Ok(key)
        } else {
            Err(Reply::not_found())
        }
    }

    fn writer(who: &Principal) -> Actor {
        match who {
            Principal::User(a) => a.clone(),
            _ => Actor::bot(),
        }
    }

    // ------------------------------------------------------------------------------------
    // Paging

    /// Slices `items` by `per_page`/`page` and builds GitHub's `Link` header with absolute
    /// URLs of this fake.
    fn paginate(
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

    fn paged_reply(&self, items: Vec<Value>, path: &str, query: &[(String, String)]) -> Reply {
        let (slice, link) = self.paginate(items, path, query);
        let reply = Reply::ok(Value::Array(slice));
        match link {
            Some(l) => reply.with_header("link", l),
            None => reply,
        }
    }

    // ------------------------------------------------------------------------------------
    // Routing

    fn route(&mut self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Reply {
        let query: Vec<(String, String)> = Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map(|q| q.0)
            .unwrap_or_default();
        let segs: Vec<String> = uri
            .path()
            .trim_matches('/')
            .split('/')
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let who = self.principal(headers);
        let json_body = || -> Result<Value, Reply> {
            if body.is_empty() {
                return Ok(Value::Object(Map::new()));
            }
            serde_json::from_slice(body).map_err(|_| Reply::error(400, "Problems parsing JSON"))
        };
        let m = method.as_str();
        match (m, segs.as_slice()) {
            ("POST", ["app", "installations", id, "access_tokens"]) => self.mint_token(&who, id),
            ("GET", ["app", "installations"]) => self.list_installations(&who, uri.path(), &query),
            ("GET", ["app", "installations", id]) => self.get_installation(&who, id),
            ("GET", ["installation", "repositories"]) => {
                self.installation_repositories(&who, uri.path(), &query)
            }
            ("GET", ["search", "issues"]) => self.search_issues(&who, uri.path(), &query),
            (_, ["repos", owner, name, rest @ ..]) => {
                let full = format!("{owner}/{name}");
                if let (Principal::App, ["installation"], "GET") = (&who, rest, m) {
                    return self.repo_installation(&full);
                }
                match self.repo_access(&who, &full) {
                    Err(r) => r,
                    Ok(key) => match json_body() {
                        Err(r) => r,
                        Ok(b) => self.repo_route(m, &key, rest, &who, uri.path(), &query, b),
                    },
                }
            }
            _ => Reply::not_found(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn repo_route(
        &mut self,
        method: &str,
        key: &str,
        rest: &[&str],
        who: &Principal,
        path: &str,
        query: &[(String, String)],
        body: Value,
    ) -> Reply {
        match (method, rest) {
            ("GET", []) => {
                let r = &self.repos[key];
                Reply::ok(repo_json(&self.base_url, &r.full_name, &r.default_branch))
            }
            ("GET", ["contents", path @ ..]) => self.get_contents(key, &path.join("/"), query),
            ("GET", ["issues"]) => self.list_issues(key, path, query),
            ("POST", ["issues"]) => self.post_issue(key, who, &body),
            ("GET", ["issues", "comments", id]) => {
                self.with_comment(key, id, |st, r, c| Reply::ok(st.comment_json(r, c)))
            }
            ("GET", ["issues", "comments", id, "reactions"]) => {
                self.list_reactions(key, id, true, path, query)
            }
            ("POST", ["issues", "comments", id, "reactions"]) => {
                self.post_reaction(key, id, true, who, &body)
            }
            ("GET", ["issues", n]) => {
                self.with_issue(key, n, |st, r, i| Reply::ok(st.issue_json(r, i)))
            }
            ("PATCH", ["issues", n]) => self.patch_issue(key, n, &body),
            ("GET", ["issues", n, "comments"]) => self.list_comments(key, n, path, query),
            ("POST", ["issues", n, "comments"]) => self.post_comment(key, n, who, &body),
            ("GET", ["issues", n, "labels"]) => self.with_issue(key, n, |st, r, i| {
                Reply::ok(json!(
                    i.labels
                        .iter()
                        .map(|l| st.label_json(r, l))
                        .collect::<Vec<_>>()
                ))
            }),
            ("POST", ["issues", n, "labels"]) => self.set_labels(key, n, &body, false),
            ("PUT", ["issues", n, "labels"]) => self.set_labels(key, n, &body, true),
            ("DELETE", ["issues", n, "labels", label]) => self.remove_label(key, n, label),
            ("GET", ["issues", n, "reactions"]) => self.list_reactions(key, n, false, path, query),
            ("POST", ["issues", n, "reactions"]) => self.post_reaction(key, n, false, who, &body),
            ("GET", ["collaborators", user, "permission"]) => self.permission(key, user),
            _ => Reply::not_found(),
        }
    }

    // ------------------------------------------------------------------------------------
    // App endpoints

    fn mint_token(&mut self, who: &Principal, id: &str) -> Reply {
        match who {
            Principal::App => {}
            Principal::Invalid(m) => return Reply::error(401, m),
            _ => {
                return Reply::error(401, "A JSON web token could not be decoded");
            }
        }
        let Some(id) = id
            .parse::<u64>()
            .ok()
            .filter(|i| self.installations.contains_key(i))
        else {
            return Reply::not_found();
        };
        let token = format!("ghs_fake{id}");
        self.tokens
            .insert(token.clone(), Principal::Installation(id));
        let expires = Utc::now() + Duration::hours(1);
        Reply::created(json!({
            "token": token,
            "expires_at": ts(expires),
            "permissions": {"issues": "write", "metadata": "read", "single_file": "read"},
            "repository_selection": "selected",
        }))
    }

    fn list_installations(&self, who: &Principal, path: &str, query: &[(String, String)]) -> Reply {
        if !matches!(who, Principal::App) {
            return Reply::error(401, "A JSON web token could not be decoded");
        }
        let items = self
            .installations
            .values()
            .map(|i| installation_json(&self.base_url, i.id, &i.account, self.app_id))
            .collect();
        self.paged_reply(items, path, query)
    }

    fn get_installation(&self, who: &Principal, id: &str) -> Reply {
        if !matches!(who, Principal::App) {
            return Reply::error(401, "A JSON web token could not be decoded");
        }
        match id
            .parse::<u64>()
            .ok()
            .and_then(|i| self.installations.get(&i))
        {
            Some(i) => Reply::ok(installation_json(
                &self.base_url,
                i.id,
                &i.account,
                self.app_id,
            )),
            None => Reply::not_found(),
        }
    }

    fn repo_installation(&self, full_name: &str) -> Reply {
        self.installations
            .values()
            .find(|i| i.repos.iter().any(|r| r.eq_ignore_ascii_case(full_name)))
            .map(|i| {
                Reply::ok(installation_json(
                    &self.base_url,
                    i.id,
                    &i.account,
                    self.app_id,
                ))
            })
            .unwrap_or_else(Reply::not_found)
    }

    fn installation_repositories(
        &self,
        who: &Principal,
        path: &str,
        query: &[(String, String)],
    ) -> Reply {
        let Principal::Installation(id) = who else {
            return match who {
                Principal::Anonymous => Reply::error(401, "Requires authentication"),
                _ => Reply::error(
                    403,
                    "You must authenticate with an installation access token in order to list repositories for an installation.",
                ),
            };
        };
        let repos: Vec<Value> = self
            .installations
            .get(id)
            .map(|i| {
                i.repos
                    .iter()
                    .filter_map(|r| self.repos.get(&r.to_lowercase()))
                    .map(|r| repo_json(&self.base_url, &r.full_name, &r.default_branch))
                    .collect()
            })
            .unwrap_or_default();
        let total = repos.len();
        let (slice, link) = self.paginate(repos, path, query);
        let reply = Reply::ok(json!({
            "total_count": total,
            "repository_selection": "selected",
            "repositories": slice,
        }));
        match link {
            Some(l) => reply.with_header("link", l),
            None => reply,
        }
    }

    // ------------------------------------------------------------------------------------
    // Repository endpoints

    fn get_contents(&self, key: &str, path: &str, query: &[(String, String)]) -> Reply {
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

    fn list_issues(&self, key: &str, path: &str, query: &[(String, String)]) -> Reply {
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

    fn post_issue(&mut self, key: &str, who: &Principal, body: &Value) -> Reply {
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

    fn with_issue(
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

    fn with_comment(
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

    fn patch_issue(&mut self, key: &str, n: &str, body: &Value) -> Reply {
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

    fn list_comments(&self, key: &str, n: &str, path: &str, query: &[(String, String)]) -> Reply {
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

    fn post_comment(&mut self, key: &str, n: &str, who: &Principal, body: &Value) -> Reply {
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

    fn set_labels(&mut self, key: &str, n: &str, body: &Value, replace: bool) -> Reply {
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

    fn remove_label(&mut self, key: &str, n: &str, label: &str) -> Reply {
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

    fn reaction_target(&self, key: &str, id: &str, on_comment: bool) -> Option<ReactionTarget> {
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

    fn list_reactions(
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

    fn post_reaction(
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

    fn permission(&self, key: &str, user: &str) -> Reply {
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

    fn search_issues(&self, who: &Principal, path: &str, query: &[(String, String)]) -> Reply {
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

fn reaction_json(api: &str, r: &Reaction) -> Value {
    json!({
        "id": r.id,
        "node_id": format!("REA_lADO{}", r.id),
        "user": user_json(api, &r.user.login, &r.user.kind),
        "content": r.content,
        "created_at": ts(r.created_at),
    })
}

fn sort_issues(issues: &mut [&Issue], sort: Option<&str>, direction: Option<&str>) {
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
fn label_names(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str().or_else(|| l.get("name").and_then(Value::as_str)))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The subset of GitHub's issue search syntax the App uses.
#[derive(Debug, Default)]
struct SearchQuery {
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
    fn parse(q: &str) -> SearchQuery {
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
    fn matches(&self, i: &Issue, comments: &str) -> bool {
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

struct Token {
    text: String,
    quoted: bool,
}

impl Token {
    fn split_once(&self, c: char) -> Option<(&str, &str)> {
        self.text.split_once(c)
    }
}

/// Splits a search query on spaces, keeping `"quoted phrases"` and `label:"two words"`
/// together.
fn tokenize(q: &str) -> Vec<Token> {
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

/// The `iss` claim of a JWT, as a number (octocrab sends a number, other libraries a
/// string). The signature is not checked: the fake has no public key, and the point is
/// that the client sends a well-formed App JWT.
fn jwt_issuer(token: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&base64_decode(payload)?).ok()?;
    match claims.get("iss")? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

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
fn base64_lines(data: &[u8]) -> String {
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

// ----------------------------------------------------------------------------------------
// The one handler: records, injects faults, routes.

fn error_message(status: u16) -> &'static str {
    match status {
        401 => "Bad credentials",
        403 => {
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID."
        }
        404 => "Not Found",
        409 => "Conflict",
        422 => "Validation Failed",
        429 => "API rate limit exceeded for installation.",
        500 => "Server Error",
        502 => "Server Error",
        503 => "Service Unavailable",
        _ => "Injected failure",
    }
}

async fn handle(
    AxumState((state, changed)): AxumState<(Arc<Mutex<State>>, Arc<Notify>)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_q = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| uri.path().to_owned());
    let reply = {
        let mut st = lock(&state);
        let fault = st
            .faults
            .iter_mut()
            .find(|f| {
                f.remaining > 0 && f.method == method.as_str() && path_q.contains(&f.path_contains)
            })
            .map(|f| {
                f.remaining -= 1;
                (f.status, f.headers.clone(), f.after_apply)
            });
        let reply = match fault {
            Some((status, fault_headers, after_apply)) => {
                if after_apply {
                    // Apply the write with the request's own credentials, then lose its answer.
                    let _lost = st.route(&method, &uri, &headers, &body);
                }
                let mut r = Reply::error(status, error_message(status));
                r.headers = fault_headers;
                r
            }
            None => st.route(&method, &uri, &headers, &body),
        };
        st.requests
            .push((method.as_str().to_owned(), path_q, reply.status));
        reply
    };
    changed.notify_waiters();
    to_response(reply)
}

fn to_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, reply.body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    let reset = (Utc::now() + Duration::hours(1)).timestamp().to_string();
    for (k, v) in [
        ("x-github-api-version-selected", "2022-11-28".to_owned()),
        ("x-ratelimit-limit", "5000".to_owned()),
        ("x-ratelimit-remaining", "4999".to_owned()),
        ("x-ratelimit-used", "1".to_owned()),
        ("x-ratelimit-resource", "core".to_owned()),
        ("x-ratelimit-reset", reset),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(&v)) {
            h.insert(k, v);
        }
    }
    resp
}
