//! The one handler (records, injects faults, routes) and the App's own routes: tokens,
//! installations.

use super::*;

impl State {
    pub(super) fn route(
        &mut self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Reply {
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
    pub(super) fn repo_route(
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

    pub(super) fn mint_token(&mut self, who: &Principal, id: &str) -> Reply {
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

    pub(super) fn list_installations(
        &self,
        who: &Principal,
        path: &str,
        query: &[(String, String)],
    ) -> Reply {
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

    pub(super) fn get_installation(&self, who: &Principal, id: &str) -> Reply {
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

    pub(super) fn repo_installation(&self, full_name: &str) -> Reply {
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

    pub(super) fn installation_repositories(
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
}

// ----------------------------------------------------------------------------------------
// The one handler: records, injects faults, routes.

pub(super) fn error_message(status: u16) -> &'static str {
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

pub(super) async fn handle(
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

pub(super) fn to_response(reply: Reply) -> Response {
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
