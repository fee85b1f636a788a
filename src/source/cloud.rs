//! Cloud Logging `entries.list` through Google's official client.

use crate::analyze::Analysis;
use crate::cli::{CliError, SweepArgs};
use crate::config::Config;
use chrono::{DateTime, Utc};

/// Sweeps Cloud Logging for the services of the flags or the configuration.
pub async fn sweep_cloud(
    _args: &SweepArgs,
    _config: &Config,
    _now: DateTime<Utc>,
) -> Result<Analysis, CliError> {
    Err(CliError::usage(
        "reading Cloud Logging is not built yet: pass --logs PATH",
    ))
}
