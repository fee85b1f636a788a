//! Throwaway PostgreSQL databases on the machine's server (127.0.0.1:5432, user postgres,
//! trust auth): each test creates its own and drops it.

#![allow(dead_code)]

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::sync::atomic::{AtomicU64, Ordering};

/// The maintenance database the test databases are created from (`$TEST_POSTGRES_URL`).
pub fn admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

fn server_url(database: &str) -> String {
    let admin = admin_url();
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
    pub async fn create() -> TempDatabase {
        let name = format!(
            "lg_test_{}_{}_{}",
            std::process::id(),
            chrono::Utc::now().timestamp_micros() % 1_000_000_000,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::connect(&admin_url())
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 (user postgres) is needed for this test");
        drop_leftovers(&mut admin).await;
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        TempDatabase {
            url: server_url(&name),
            name,
        }
    }

    /// Drops the database (connections still open are ended).
    pub async fn drop_database(self) {
        if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
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
