//! Durable state with sqlx: SQLite (embedded, the default) or PostgreSQL (several replicas).
//! One schema, two migration sets; every query is written once with `$N` placeholders, which
//! both drivers accept. Each table's queries live in their own file: `jobs` (deliveries and
//! the queue), `installations` (with cursors), `tracked`, `locks`, `sweeps`.

use chrono::{DateTime, Utc};
use sqlx::SqlStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use std::borrow::Cow;
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
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
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

mod installations;
mod jobs;
mod locks;
mod sweeps;
mod tracked;

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
}
