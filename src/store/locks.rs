//! Named leases, so that one replica sweeps a repository at a time.

use super::{Store, db_time};
use chrono::{DateTime, Utc};

impl Store {
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
}
