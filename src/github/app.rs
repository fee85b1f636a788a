//! The GitHub App itself, authenticated by its JWT: its slug, its installations and the
//! repositories each covers, and a client acting as one installation.

use super::responses::{AppJson, Id, RepositoriesJson};
use super::{builder, retry, status_of, with_query};
use anyhow::{Context, anyhow};
use octocrab::Octocrab;
use octocrab::models::{AppId, InstallationId};

/// The GitHub App itself (JWT auth): installations, and clients for each.
#[derive(Clone)]
pub struct App {
    app: Octocrab,
}

impl App {
    pub fn new(api_url: &str, app_id: u64, private_key: &str) -> anyhow::Result<App> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key.as_bytes())
            .context("the App's private key is not an RSA key in PEM form")?;
        let app = builder(api_url)?
            .app(AppId(app_id), key)
            .build()
            .context("building the GitHub client")?;
        Ok(App { app })
    }

    /// The App's slug (`@slug` in comments, `slug[bot]` as the author of its comments).
    pub async fn slug(&self) -> anyhow::Result<String> {
        let app: AppJson = retry(true, || self.app.get("/app", None::<&()>)).await?;
        Ok(app.slug)
    }

    /// A client acting as one installation.
    pub fn installation(&self, id: u64) -> anyhow::Result<Octocrab> {
        Ok(self.app.installation(InstallationId(id))?)
    }

    /// Every installation and the repositories it covers.
    pub async fn installations(&self) -> anyhow::Result<Vec<(u64, Vec<String>)>> {
        let mut out = Vec::new();
        for page in 1u32..=20 {
            let route = with_query(
                "/app/installations",
                &[("per_page", "100"), ("page", &page.to_string())],
            );
            let installs: Vec<Id> = retry(true, || self.app.get(&route, None::<&()>)).await?;
            if installs.is_empty() {
                break;
            }
            for i in &installs {
                let client = self.installation(i.id)?;
                out.push((i.id, installation_repos(&client).await?));
            }
            if installs.len() < 100 {
                break;
            }
        }
        Ok(out)
    }

    /// The installation that covers a repository.
    pub async fn installation_for(&self, repo: &str) -> anyhow::Result<u64> {
        let route = format!("/repos/{repo}/installation");
        match retry(true, || self.app.get::<Id, _, _>(&route, None::<&()>)).await {
            Ok(installation) => Ok(installation.id),
            Err(e) if status_of(&e) == Some(404) => {
                Err(anyhow!("the App is not installed on {repo}"))
            }
            Err(e) => Err(e),
        }
    }
}

async fn installation_repos(client: &Octocrab) -> anyhow::Result<Vec<String>> {
    let mut repos = Vec::new();
    for page in 1u32..=50 {
        let route = with_query(
            "/installation/repositories",
            &[("per_page", "100"), ("page", &page.to_string())],
        );
        let page: RepositoriesJson = retry(true, || client.get(&route, None::<&()>)).await?;
        let n = page.repositories.len();
        repos.extend(page.repositories.into_iter().map(|r| r.full_name));
        if n < 100 {
            break;
        }
    }
    Ok(repos)
}
