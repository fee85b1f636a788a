//! Webhook deliveries and the job queue: enqueue, claim with a lease, finish or retry.

use super::{Job, Pool, Store, db_time};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::HashMap;

/// The statement that takes the oldest ready job, with the row lock a database needs.
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE jobs SET status = 'running', lease_until = $1, worker = $2, attempts = attempts + 1, updated_at = $3
             WHERE id = (SELECT id FROM jobs
                         WHERE (status = 'queued' AND run_after <= $3) OR (status = 'running' AND lease_until < $3)
                         ORDER BY id LIMIT 1 ",
            $lock,
            ")
             RETURNING id, kind, payload, attempts"
        )
    };
}

impl Store {
    /// Stores a webhook delivery and its job in one transaction; `false` if the delivery id
    /// was seen before (nothing is queued then).
    pub async fn accept_delivery(
        &self,
        id: &str,
        event: &str,
        payload: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let now = db_time(now);
        let payload = payload.to_string();
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO deliveries (id, event, received_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(event)
            .bind(&now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 1 {
                sqlx::query(
                    "INSERT INTO jobs (kind, payload, status, run_after, created_at, updated_at) VALUES ('webhook', $1, 'queued', $2, $2, $2)",
                )
                .bind(&payload)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(inserted == 1)
        })
    }

    /// Queues a job; with a `dedup_key`, a job with the same key is queued only once.
    pub async fn enqueue(
        &self,
        kind: &str,
        payload: &serde_json::Value,
        dedup_key: Option<&str>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let now = db_time(now);
        let payload = payload.to_string();
        let n = execute!(
            self,
            "INSERT INTO jobs (kind, payload, dedup_key, status, run_after, created_at, updated_at) VALUES ($1, $2, $3, 'queued', $4, $4, $4) ON CONFLICT (dedup_key) DO NOTHING",
            kind,
            &payload,
            dedup_key,
            &now
        )?;
        Ok(n == 1)
    }

    /// Takes the oldest ready job (queued and due, or running with an expired lease).
    pub async fn claim(
        &self,
        worker: &str,
        lease: chrono::Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Job>> {
        let until = db_time(now + lease);
        let now = db_time(now);
        // PostgreSQL: replicas skip the rows another one is taking. SQLite writes one at a
        // time, so the sub-select and the update are already one atomic statement.
        let sql = match self.pool {
            Pool::Postgres(_) => claim_sql!("FOR UPDATE SKIP LOCKED"),
            Pool::Sqlite(_) => claim_sql!(""),
        };
        let row = with_pool!(self, p => sqlx::query(sql)
            .bind(&until)
            .bind(worker)
            .bind(&now)
            .fetch_optional(p)
            .await?
            .map(|r| job_from(&r)));
        row.transpose()
    }

    /// Extends the leases of a worker's running jobs and locks while it is alive, so that a
    /// long sweep is not taken over by another replica.
    pub async fn heartbeat(
        &self,
        worker: &str,
        lease: chrono::Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let until = db_time(now + lease);
        execute!(
            self,
            "UPDATE jobs SET lease_until = $1 WHERE worker = $2 AND status = 'running'",
            &until,
            worker
        )?;
        execute!(
            self,
            "UPDATE locks SET until = $1 WHERE holder = $2 AND until < $1",
            &until,
            worker
        )?;
        Ok(())
    }

    /// Marks a job done.
    pub async fn finish_job(&self, id: i64, now: DateTime<Utc>) -> anyhow::Result<()> {
        let now = db_time(now);
        execute!(
            self,
            "UPDATE jobs SET status = 'done', lease_until = NULL, updated_at = $2 WHERE id = $1",
            id,
            &now
        )?;
        Ok(())
    }

    /// Records a failure: retried at `retry_at`, or failed for good when `None`.
    pub async fn fail_job(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let now = db_time(now);
        let (status, run_after) = match retry_at {
            Some(t) => ("queued", db_time(t)),
            None => ("failed", now.clone()),
        };
        // A job that failed for good frees its dedup key, so that the same sweep can be asked
        // for again in the same interval.
        execute!(self, "UPDATE jobs SET status = $2, run_after = $3, last_error = $4, lease_until = NULL, updated_at = $5,
                 dedup_key = CASE WHEN $2 = 'failed' THEN NULL ELSE dedup_key END
             WHERE id = $1", id, status, &run_after, error, &now)?;
        Ok(())
    }

    /// Jobs per status.
    pub async fn job_counts(&self) -> anyhow::Result<HashMap<String, i64>> {
        let rows = with_pool!(self, p => sqlx::query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
            .fetch_all(p)
            .await?
            .iter()
            .map(|r| Ok((r.try_get::<String, _>("status")?, r.try_get::<i64, _>("n")?)))
            .collect::<Result<HashMap<_, _>, sqlx::Error>>())?;
        Ok(rows)
    }

    /// The last failed jobs' errors, newest first.
    pub async fn failed_jobs(&self, limit: i64) -> anyhow::Result<Vec<(i64, String)>> {
        Ok(with_pool!(self, p => sqlx::query(
            "SELECT id, COALESCE(last_error, '') AS e FROM jobs WHERE status = 'failed' ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(p)
        .await?
        .iter()
        .map(|r| Ok((r.try_get::<i64, _>("id")?, r.try_get::<String, _>("e")?)))
        .collect::<Result<Vec<_>, sqlx::Error>>())?)
    }
}

fn job_from<R: Row>(row: &R) -> anyhow::Result<Job>
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    let payload: String = row.try_get("payload")?;
    Ok(Job {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        payload: serde_json::from_str(&payload)?,
        attempts: row.try_get("attempts")?,
    })
}
