//! Installations (which repositories to sweep) and cursors (where each service's last sweep ended).

use super::{Store, db_time, parse_time};
use chrono::{DateTime, Utc};
use sqlx::Row;

impl Store {
    /// Records that an installation covers a repository.
    pub async fn add_installation(
        &self,
        repo: &str,
        installation: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let now = db_time(now);
        execute!(
            self,
            "INSERT INTO installations (repo, installation_id, added_at) VALUES ($1, $2, $3)
             ON CONFLICT (repo) DO UPDATE SET installation_id = excluded.installation_id",
            repo,
            installation,
            &now
        )?;
        Ok(())
    }

    pub async fn remove_installation_repo(&self, repo: &str) -> anyhow::Result<()> {
        execute!(self, "DELETE FROM installations WHERE repo = $1", repo)?;
        Ok(())
    }

    pub async fn remove_installation(&self, installation: i64) -> anyhow::Result<()> {
        execute!(
            self,
            "DELETE FROM installations WHERE installation_id = $1",
            installation
        )?;
        Ok(())
    }

    /// Every (repository, installation) to sweep.
    pub async fn installations(&self) -> anyhow::Result<Vec<(String, i64)>> {
        Ok(
            with_pool!(self, p => sqlx::query("SELECT repo, installation_id FROM installations ORDER BY repo")
            .fetch_all(p)
            .await?
            .iter()
            .map(|r| Ok((r.try_get::<String, _>("repo")?, r.try_get::<i64, _>("installation_id")?)))
            .collect::<Result<Vec<_>, sqlx::Error>>())?,
        )
    }

    /// Where the last complete sweep of a service ended.
    pub async fn cursor(&self, repo: &str, service: &str) -> anyhow::Result<Option<DateTime<Utc>>> {
        let text: Option<String> = with_pool!(self, p => sqlx::query(
            "SELECT swept_until FROM cursors WHERE repo = $1 AND service = $2",
        )
        .bind(repo)
        .bind(service)
        .fetch_optional(p)
        .await?
        .map(|r| r.try_get::<String, _>("swept_until"))
        .transpose())?;
        Ok(parse_time(text))
    }

    /// Moves a cursor forward (never back).
    pub async fn advance_cursor(
        &self,
        repo: &str,
        service: &str,
        until: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let until = db_time(until);
        execute!(
            self,
            "INSERT INTO cursors (repo, service, swept_until) VALUES ($1, $2, $3)
             ON CONFLICT (repo, service) DO UPDATE SET swept_until = excluded.swept_until
             WHERE cursors.swept_until < excluded.swept_until",
            repo,
            service,
            &until
        )?;
        Ok(())
    }
}
