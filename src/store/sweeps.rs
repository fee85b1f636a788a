//! Finished sweeps, as `/gardener status` shows them.

use super::{Store, SweepRecord, db_time};
use chrono::{DateTime, Utc};
use sqlx::Row;

impl Store {
    /// Records a finished sweep.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_sweep(
        &self,
        repo: &str,
        trigger: &str,
        window_start: DateTime<Utc>,
        window_end: DateTime<Utc>,
        outcome: &str,
        summary: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let (start, end, now) = (db_time(window_start), db_time(window_end), db_time(now));
        execute!(self, "INSERT INTO sweeps (repo, trigger_kind, window_start, window_end, outcome, summary, finished_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)", repo, trigger, &start, &end, outcome, summary, &now)?;
        Ok(())
    }

    /// The last sweeps of a repository, newest first.
    pub async fn last_sweeps(&self, repo: &str, limit: i64) -> anyhow::Result<Vec<SweepRecord>> {
        Ok(with_pool!(self, p => sqlx::query(
            "SELECT trigger_kind, window_start, window_end, outcome, summary, finished_at FROM sweeps
             WHERE repo = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(repo)
        .bind(limit)
        .fetch_all(p)
        .await?
        .iter()
        .map(|r| {
            Ok(SweepRecord {
                trigger: r.try_get("trigger_kind")?,
                window_start: r.try_get("window_start")?,
                window_end: r.try_get("window_end")?,
                outcome: r.try_get("outcome")?,
                summary: r.try_get("summary")?,
                finished_at: r.try_get("finished_at")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>())?)
    }
}
