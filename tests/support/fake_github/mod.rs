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

mod issues;
mod json;
mod routes;
mod search;
mod state;

use json::*;
pub use json::{base64_decode, installation_json, repo_json, stable_id, user_json};
use routes::handle;

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
