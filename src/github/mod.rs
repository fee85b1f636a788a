//! GitHub: credentials, the repository's issues, and applying a plan.

use crate::analyze::Analysis;
use crate::config::Config;
use crate::plan::Action;
use crate::report::Links;
use chrono::{DateTime, Utc};

/// How the App authenticates to GitHub.
#[derive(Debug, Clone)]
pub enum Credentials {
    Token(String),
}

impl Credentials {
    pub fn from_env() -> Option<Self> {
        None
    }
}

/// Plans (and unless `dry_run`, applies) a sweep's root causes on a repository.
pub async fn sweep_repo(
    _repo: &str,
    _credentials: Credentials,
    _analysis: &Analysis,
    _config: &Config,
    _links: &Links,
    _dry_run: bool,
    _now: DateTime<Utc>,
) -> anyhow::Result<Vec<Action>> {
    anyhow::bail!("writing to GitHub is not built yet")
}
