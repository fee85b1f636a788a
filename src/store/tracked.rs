//! Tracked root causes: the issue of each fingerprint, when it was last seen, mutes and merges.

use super::{Store, db_time, parse_time};
use crate::config::Priority;
use crate::plan::Tracked;
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::HashMap;

impl Store {
    /// What the App remembers of each fingerprint of a repository.
    pub async fn tracked(&self, repo: &str) -> anyhow::Result<HashMap<String, Tracked>> {
        let rows = with_pool!(self, p => sqlx::query(
            "SELECT fingerprint, issue, priority, muted_until, merged_into, last_comment_at, service, last_seen, quiet_sweeps, quiet_noted_at FROM tracked WHERE repo = $1",
        )
        .bind(repo)
        .fetch_all(p)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>("fingerprint")?,
                Tracked {
                    issue: r.try_get::<Option<i64>, _>("issue")?.map(|n| n as u64),
                    priority: r
                        .try_get::<Option<String>, _>("priority")?
                        .and_then(|p| p.parse::<Priority>().ok()),
                    muted_until: parse_time(r.try_get("muted_until")?),
                    merged_into: r.try_get::<Option<i64>, _>("merged_into")?.map(|n| n as u64),
                    last_comment_at: parse_time(r.try_get("last_comment_at")?),
                    service: r.try_get("service")?,
                    last_seen: parse_time(r.try_get("last_seen")?),
                    quiet_sweeps: r.try_get::<i64, _>("quiet_sweeps")?.max(0) as u64,
                    quiet_noted_at: parse_time(r.try_get("quiet_noted_at")?),
                },
            ))
        })
        .collect::<Result<HashMap<_, _>, sqlx::Error>>())?;
        Ok(rows)
    }

    /// Records the issue that tracks a fingerprint, after a create, comment or reopen.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_issue(
        &self,
        repo: &str,
        fingerprint: &str,
        issue: u64,
        service: Option<&str>,
        title: &str,
        priority: Priority,
        count: u64,
        commented: bool,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let now = db_time(now);
        let comment_at = commented.then(|| now.clone());
        execute!(self, "INSERT INTO tracked (repo, fingerprint, issue, service, title, state, priority, last_comment_at, last_count, last_seen, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $9, $9)
             ON CONFLICT (repo, fingerprint) DO UPDATE SET issue = excluded.issue, service = COALESCE(excluded.service, tracked.service), title = excluded.title, state = 'open',
                 priority = excluded.priority, last_comment_at = COALESCE(excluded.last_comment_at, tracked.last_comment_at),
                 last_count = excluded.last_count, updated_at = excluded.updated_at", repo, fingerprint, issue as i64, service, title, priority.label(), comment_at, count as i64, &now)?;
        Ok(())
    }

    /// The last counts recorded for a fingerprint.
    pub async fn last_count(&self, repo: &str, fingerprint: &str) -> anyhow::Result<Option<u64>> {
        Ok(with_pool!(self, p => sqlx::query(
            "SELECT last_count FROM tracked WHERE repo = $1 AND fingerprint = $2",
        )
        .bind(repo)
        .bind(fingerprint)
        .fetch_optional(p)
        .await?
        .map(|r| r.try_get::<i64, _>("last_count").map(|n| n as u64))
        .transpose())?)
    }

    /// The fingerprint an issue tracks.
    pub async fn fingerprint_of(&self, repo: &str, issue: u64) -> anyhow::Result<Option<String>> {
        Ok(with_pool!(self, p => sqlx::query(
            "SELECT fingerprint FROM tracked WHERE repo = $1 AND issue = $2 ORDER BY updated_at DESC LIMIT 1",
        )
        .bind(repo)
        .bind(issue as i64)
        .fetch_optional(p)
        .await?
        .map(|r| r.try_get::<String, _>("fingerprint"))
        .transpose())?)
    }

    /// `issues.closed` / `issues.reopened`.
    pub async fn set_issue_state(
        &self,
        repo: &str,
        issue: u64,
        state: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let now = db_time(now);
        execute!(
            self,
            "UPDATE tracked SET state = $3, updated_at = $4 WHERE repo = $1 AND issue = $2",
            repo,
            issue as i64,
            state,
            &now
        )?;
        Ok(())
    }

    /// A sweep saw a tracked fingerprint: when it last occurred, and no longer quiet.
    pub async fn seen(
        &self,
        repo: &str,
        fingerprint: &str,
        last_seen: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let (last_seen, now) = (db_time(last_seen), db_time(now));
        execute!(
            self,
            "UPDATE tracked SET last_seen = $3, quiet_sweeps = 0, quiet_noted_at = NULL, updated_at = $4 WHERE repo = $1 AND fingerprint = $2",
            repo,
            fingerprint,
            &last_seen,
            &now
        )?;
        Ok(())
    }

    /// A sweep of its service did not see a tracked fingerprint.
    pub async fn unseen(&self, repo: &str, fingerprint: &str) -> anyhow::Result<()> {
        execute!(
            self,
            "UPDATE tracked SET quiet_sweeps = quiet_sweeps + 1 WHERE repo = $1 AND fingerprint = $2",
            repo,
            fingerprint
        )?;
        Ok(())
    }

    /// The issue of a fingerprint was told "not seen since".
    pub async fn quiet_noted(
        &self,
        repo: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let now = db_time(now);
        execute!(
            self,
            "UPDATE tracked SET quiet_noted_at = $3, updated_at = $3 WHERE repo = $1 AND fingerprint = $2",
            repo,
            fingerprint,
            &now
        )?;
        Ok(())
    }

    /// `/gardener ignore`: mutes the fingerprint of an issue until `until`.
    pub async fn mute(
        &self,
        repo: &str,
        fingerprint: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let (until, now) = (db_time(until), db_time(now));
        execute!(
            self,
            "UPDATE tracked SET muted_until = $3, updated_at = $4 WHERE repo = $1 AND fingerprint = $2",
            repo,
            fingerprint,
            &until,
            &now
        )?;
        Ok(())
    }

    /// `/gardener merge #N`: routes a fingerprint to issue `into`.
    pub async fn merge(
        &self,
        repo: &str,
        fingerprint: &str,
        into: u64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let now = db_time(now);
        execute!(
            self,
            "UPDATE tracked SET merged_into = $3, updated_at = $4 WHERE repo = $1 AND fingerprint = $2",
            repo,
            fingerprint,
            into as i64,
            &now
        )?;
        Ok(())
    }
}
