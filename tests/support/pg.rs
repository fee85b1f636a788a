//! Throwaway PostgreSQL databases on the machine's server (127.0.0.1:5432, user postgres,
//! trust auth): each test creates its own and drops it.

#![allow(dead_code)]

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::sync::atomic::{AtomicU64, Ordering};

/// The maintenance database the test databases are created from: `$TEST_POSTGRES_URL`
/// (`.ci/run` sets `postgres://postgres@127.0.0.1:5432/test`). Unset, the PostgreSQL tests
/// say so and do not run.
pub fn admin_url() -> Option<String> {
    std::env::var("TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

fn admin() -> String {
    admin_url().unwrap_or_default()
}

fn server_url(database: &str) -> String {
    let admin = admin();
    match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{database}"),
        None => admin,
    }
}

/// A database that exists for one test.
pub struct TempDatabase {
    pub name: String,
    pub url: String,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

impl TempDatabase {
    /// A new database; `None` (and a line on stderr saying the test did not run) when
    /// `TEST_POSTGRES_URL` is not set.
    pub async fn create() -> Option<TempDatabase> {
        if admin_url().is_none() {
            eprintln!(
                "NOT RUN: this PostgreSQL test needs TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test)"
            );
            return None;
        }
        let name = format!(
            "lg_test_{}_{}_{}",
            std::process::id(),
            chrono::Utc::now().timestamp_micros() % 1_000_000_000,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::connect(&admin())
            .await
            .expect("TEST_POSTGRES_URL names a PostgreSQL server that answers");
        drop_leftovers(&mut admin).await;
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        Some(TempDatabase {
            url: server_url(&name),
            name,
        })
    }

    /// Drops the database (connections still open are ended).
    pub async fn drop_database(self) {
        if let Ok(mut admin) = PgConnection::connect(&admin()).await {
            let _ = sqlx::query(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut admin)
            .await;
        }
    }
}

/// Drops the databases of test processes that ended without dropping theirs (a failed
/// assertion skips the cleanup): their process id is in the name.
async fn drop_leftovers(admin: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'lg_test_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for name in names {
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_none_or(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = sqlx::query(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut *admin)
            .await;
        }
    }
}
