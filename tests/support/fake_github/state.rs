//! What the fake changes as requests come: repositories, labels, issues, comments; who a
//! request acts as and what it may see.

use super::*;

impl State {
    pub(super) fn new(base_url: String) -> State {
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

    pub(super) fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(super) fn ensure_repo(&mut self, full_name: &str) -> &mut Repo {
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
    pub(super) fn ensure_labels(&mut self, repo: &str, names: &[String]) -> Vec<String> {
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

    pub(super) fn create_issue(
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

    pub(super) fn create_comment(
        &mut self,
        repo: &str,
        number: u64,
        body: &str,
        author: Actor,
    ) -> u64 {
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

    pub(super) fn author_association(repo: &Repo, actor: &Actor) -> &'static str {
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

    pub(super) fn principal(&self, headers: &HeaderMap) -> Principal {
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
    pub(super) fn repo_access(&self, who: &Principal, full_name: &str) -> Result<String, Reply> {
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

    pub(super) fn writer(who: &Principal) -> Actor {
        match who {
            Principal::User(a) => a.clone(),
            _ => Actor::bot(),
        }
    }

    // ------------------------------------------------------------------------------------
    // Paging
}

/// The `iss` claim of a JWT, as a number (octocrab sends a number, other libraries a
/// string). The signature is not checked: the fake has no public key, and the point is
/// that the client sends a well-formed App JWT.
pub(super) fn jwt_issuer(token: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&base64_decode(payload)?).ok()?;
    match claims.get("iss")? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}
