//! GitHub: App and token authentication, and the calls the App makes on a repository (with
//! retries only where a retry cannot duplicate anything). It sends the texts `report`
//! renders and knows nothing of root causes. `credentials` reads who the App is, `app` talks
//! as the App, `repo` as an installation or a token on one repository, `responses` holds the
//! shapes of what GitHub answers, `retry` decides when a call is sent again.

mod app;
mod credentials;
mod repo;
mod responses;
mod retry;

pub use app::App;
pub use credentials::{Credentials, api_url_from_env, private_key_from_env};
pub use repo::{IssueComment, Repo};
use retry::{backoff, is_transient};
pub use retry::{retry, status_of};

use anyhow::{Context, bail};
use octocrab::Octocrab;
use std::time::Duration;

pub(super) fn builder(
    api_url: &str,
) -> anyhow::Result<
    octocrab::OctocrabBuilder<
        octocrab::NoSvc,
        octocrab::DefaultOctocrabBuilderConfig,
        octocrab::NoAuth,
        octocrab::NotLayerReady,
    >,
> {
    Ok(Octocrab::builder()
        .base_uri(api_url)
        .with_context(|| format!("GITHUB_API_URL {api_url:?} is not a URL"))?
        .set_connect_timeout(Some(Duration::from_secs(10)))
        .set_read_timeout(Some(Duration::from_secs(60)))
        .set_write_timeout(Some(Duration::from_secs(60))))
}

/// A client for `repo_name` with the CLI's credentials (a token, or the App's installation).
pub async fn connect(repo_name: &str, credentials: Credentials) -> anyhow::Result<Repo> {
    let api_url = api_url_from_env();
    match credentials {
        Credentials::Token(token) => Repo::with_token(&api_url, &token, repo_name),
        Credentials::App {
            app_id,
            private_key,
        } => {
            let app = App::new(&api_url, app_id, &private_key)?;
            let installation = app.installation_for(repo_name).await?;
            Repo::new(app.installation(installation)?, repo_name)
        }
    }
}

/// A repository's name must be `OWNER/NAME`.
pub fn check_repo_name(full_name: &str) -> anyhow::Result<()> {
    if full_name.split('/').count() != 2 || full_name.split('/').any(str::is_empty) {
        bail!("--repo must be OWNER/NAME, not {full_name:?}");
    }
    Ok(())
}

/// A route with its query string, each value percent-encoded.
pub(super) fn with_query(route: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect();
    format!("{route}?{}", query.join("&"))
}
