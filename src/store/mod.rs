//! Durable state with sqlx: SQLite (embedded, the default) or PostgreSQL (several replicas).
//! One schema, two migration sets; every query is written once with `$N` placeholders, which
//! both drivers accept.

use crate::config::Priority;
use crate::plan::Tracked;
use chrono::{DateTime, Utc};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Row, SqlStr};
use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// The database behind the store.
#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same code against whichever pool the store has.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// Runs a statement on whichever pool the store has; gives the number of rows it changed.
macro_rules! execute {
    ($store:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        with_pool!($store, p => sqlx::query($sql)
            $(.bind($bind))*
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
    };
}

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

/// The App's state: deliveries, jobs, installations, cursors, tracked root causes, sweeps.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
}

/// A job taken by a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub attempts: i64,
}

/// One sweep, as `/gardener status` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRecord {
    pub trigger: String,
    pub window_start: String,
    pub window_end: String,
    pub outcome: String,
    pub summary: String,
    pub finished_at: String,
}

/// Fixed-width UTC text, so that comparing text compares time on both databases.
pub fn db_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn parse_time(text: Option<String>) -> Option<DateTime<Utc>> {
    text.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The migrations of each database, in order: (version, name, SQLite, PostgreSQL).
const MIGRATIONS: [(i64, &str, &str, &str); 2] = [
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "quiet",
        include_str!("../../migrations/sqlite/0002_quiet.sql"),
        include_str!("../../migrations/postgres/0002_quiet.sql"),
    ),
];

fn migrator(postgres: bool) -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|(version, name, sqlite, pg)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*name),
                    MigrationType::Simple,
                    SqlStr::from_static(if postgres { pg } else { sqlite }),
                    false,
                )
            })
            .collect(),
    )
}

impl Store {
    /// Connects to `sqlite://FILE` (created if missing) or `postgres://…` and migrates.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(3))
                .connect(url)
                .await
                .map_err(|e| anyhow::anyhow!("cannot connect to PostgreSQL: {e}"))?;
            migrator(true).run(&pool).await?;
            Pool::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| anyhow::anyhow!("DATABASE_URL {url:?}: {e}"))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await
                .map_err(|e| anyhow::anyhow!("cannot open {url}: {e}"))?;
            migrator(false).run(&pool).await?;
            Pool::Sqlite(pool)
        } else {
            anyhow::bail!("DATABASE_URL must start with sqlite:// or postgres://, not {url:?}");
        };
        Ok(Store { pool })
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> bool {
        with_pool!(self, p => sqlx::query("SELECT 1").execute(p).await.is_ok())
    }

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
                        .and_then(|p| serde_json::from_value::<Priority>(serde_json::Value::String(p)).ok()),
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

    /// Takes a named lease (a repository's sweep); `false` while another holder has it.
    pub async fn try_lock(
        &self,
        name: &str,
        holder: &str,
        lease: chrono::Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let until = db_time(now + lease);
        let now = db_time(now);
        let n = execute!(
            self,
            "INSERT INTO locks (name, holder, until) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
             WHERE locks.until < $4 OR locks.holder = excluded.holder",
            name,
            holder,
            &until,
            &now
        )?;
        Ok(n == 1)
    }

    pub async fn unlock(&self, name: &str, holder: &str) -> anyhow::Result<()> {
        execute!(
            self,
            "DELETE FROM locks WHERE name = $1 AND holder = $2",
            name,
            holder
        )?;
        Ok(())
    }

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
