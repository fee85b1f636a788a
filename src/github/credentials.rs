//! How the App authenticates: a token, or the App's id and private key, from the
//! environment; neither is ever printed.

use anyhow::{Context, anyhow};

/// How the App authenticates.
#[derive(Clone)]
pub enum Credentials {
    /// A token allowed to write issues (`GITHUB_TOKEN` of a GitHub Actions workflow).
    Token(String),
    /// The GitHub App: its id and RSA private key (PEM).
    App { app_id: u64, private_key: String },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret, not even in a debug log.
        match self {
            Credentials::Token(_) => f.write_str("Credentials::Token(..)"),
            Credentials::App { app_id, .. } => write!(f, "Credentials::App {{ app_id: {app_id} }}"),
        }
    }
}

impl Credentials {
    /// `GITHUB_TOKEN`, else `APP_ID` with `PRIVATE_KEY` or `PRIVATE_KEY_PATH`; none of them
    /// set is `None`. An `APP_ID` that is not a number, or without its key, is an error: the
    /// user meant to write, and a dry run in its place would hide the mistake.
    pub fn from_env() -> anyhow::Result<Option<Self>> {
        if let Ok(token) = std::env::var("GITHUB_TOKEN")
            && !token.trim().is_empty()
        {
            return Ok(Some(Credentials::Token(token.trim().to_string())));
        }
        let Some(app_id) = std::env::var("APP_ID")
            .ok()
            .filter(|v| !v.trim().is_empty())
        else {
            return Ok(None);
        };
        let app_id = app_id
            .trim()
            .parse()
            .map_err(|_| anyhow!("APP_ID must be the App's numeric id, not {app_id:?}"))?;
        let private_key = private_key_from_env().context("APP_ID is set")?;
        Ok(Some(Credentials::App {
            app_id,
            private_key,
        }))
    }
}

/// `PRIVATE_KEY` (PEM, `\n` escapes allowed) or the file at `PRIVATE_KEY_PATH`.
pub fn private_key_from_env() -> anyhow::Result<String> {
    if let Ok(key) = std::env::var("PRIVATE_KEY")
        && !key.trim().is_empty()
    {
        return Ok(key.replace("\\n", "\n"));
    }
    let path = std::env::var("PRIVATE_KEY_PATH")
        .map_err(|_| anyhow!("PRIVATE_KEY or PRIVATE_KEY_PATH is required"))?;
    std::fs::read_to_string(&path).with_context(|| format!("cannot read PRIVATE_KEY_PATH {path}"))
}

/// `GITHUB_API_URL`, else api.github.com.
pub fn api_url_from_env() -> String {
    std::env::var("GITHUB_API_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| crate::model::GITHUB_API_URL.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_print_their_secret() {
        let c = Credentials::Token("ghp_secret".into());
        assert!(!format!("{c:?}").contains("ghp_secret"));
    }
}
