//! A sweep of one repository by the App: its configuration from the default branch, one lock
//! among the replicas, each service's window from its cursor, then [`crate::sweep::run`];
//! the cursors move only when the whole window was read and the plan applied.

use super::AppState;
use crate::config::{CONFIG_PATH, Config, Schedule, ServiceSpec};
use crate::error::UserError;
use crate::github::Repo;
use crate::model::Window;
use crate::plan::Action;
use crate::report::Links;
use crate::sweep::{self, Known, Logs, Read, Sweep};
use chrono::{DateTime, Utc};

/// Why a sweep runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// The scheduler or `POST /api/sweep`: from the cursor to now.
    Scheduled(&'static str),
    /// A `/gardener sweep` or `dry-run` command: a look-back window.
    Command {
        services: Vec<String>,
        window: Option<chrono::Duration>,
        dry_run: bool,
    },
}

/// What a sweep did.
pub struct Outcome {
    /// The worklog, one section per service.
    pub worklog: String,
    pub actions: Vec<Action>,
    /// The sweep did not run (another replica holds the repository, or schedule is off).
    pub skipped: Option<String>,
}

/// The repository's configuration; a user error when missing or invalid.
pub async fn repo_config(repo: &Repo) -> anyhow::Result<Config> {
    let text = repo.file(CONFIG_PATH).await?.ok_or_else(|| {
        UserError(format!(
            "log-gardener is installed on {} but idle: there is no `{CONFIG_PATH}` on the default branch. Add one (see the README) to start sweeping.",
            repo.full_name
        ))
    })?;
    Config::parse(&text).map_err(|e| UserError(format!("`{CONFIG_PATH}` is invalid: {e}")).into())
}

/// Sweeps a repository. Several replicas may call this at once: one sweeps, the others skip.
pub async fn run_sweep(
    state: &AppState,
    repo_name: &str,
    installation: u64,
    trigger: Trigger,
    now: DateTime<Utc>,
) -> anyhow::Result<Outcome> {
    let repo = Repo::new(state.app.installation(installation)?, repo_name)?;
    let config = repo_config(&repo).await?;
    if matches!(trigger, Trigger::Scheduled(_)) && config.schedule == Schedule::Off {
        return Ok(Outcome {
            worklog: String::new(),
            actions: Vec::new(),
            skipped: Some("schedule: off".into()),
        });
    }
    let project = config.gcp_project.clone().ok_or_else(|| {
        UserError(format!("`{CONFIG_PATH}` has no `gcp_project`: the App does not know which project's logs to read"))
    })?;
    let lock = format!("sweep:{repo_name}");
    let mut waited = 0;
    while !state
        .store
        .try_lock(
            &lock,
            &state.worker_id,
            chrono::Duration::minutes(15),
            Utc::now(),
        )
        .await?
    {
        if matches!(trigger, Trigger::Scheduled(_)) || waited >= 120 {
            return Ok(Outcome {
                worklog: String::new(),
                actions: Vec::new(),
                skipped: Some("another sweep of this repository is running".into()),
            });
        }
        waited += 1;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let result = sweep_locked(state, &repo, &config, &project, &trigger, now).await;
    if let Err(e) = state.store.unlock(&lock, &state.worker_id).await {
        tracing::warn!(error = %e, "could not release the sweep lock; it expires by itself");
    }
    result
}

async fn sweep_locked(
    state: &AppState,
    repo: &Repo,
    config: &Config,
    project: &str,
    trigger: &Trigger,
    now: DateTime<Utc>,
) -> anyhow::Result<Outcome> {
    let services: Vec<ServiceSpec> = match trigger {
        Trigger::Command { services, .. } if !services.is_empty() => {
            for s in services {
                if !config.services.is_empty() && !config.services.iter().any(|c| &c.name == s) {
                    return Err(UserError(format!(
                        "`{s}` is not one of the configured services ({})",
                        config
                            .services
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .into());
                }
            }
            services
                .iter()
                .map(|name| {
                    config
                        .services
                        .iter()
                        .find(|c| &c.name == name)
                        .cloned()
                        .unwrap_or(ServiceSpec {
                            name: name.clone(),
                            filter: String::new(),
                        })
                })
                .collect()
        }
        _ => config.services.clone(),
    };
    let dry_run = matches!(trigger, Trigger::Command { dry_run: true, .. });
    // Each service over its own window: the cursor it has reached, or the look-back asked
    // for. With no services configured, every Cloud Run service of the project.
    let services = sweep::each_service(services);
    let mut reads = Vec::with_capacity(services.len());
    for service in services {
        let window = match trigger {
            Trigger::Scheduled(_) => {
                let start = state
                    .store
                    .cursor(&repo.full_name, cursor_key(&service))
                    .await?
                    .unwrap_or(now - config.window.0)
                    // Cloud Logging keeps 30 days; a cursor older than that reads what is left.
                    .max(now - chrono::Duration::days(30));
                Window { start, end: now }
            }
            Trigger::Command { window, .. } => Window {
                start: now - window.unwrap_or(config.window.0),
                end: now,
            },
        };
        reads.push(Read { service, window });
    }
    let outcome = sweep::run(
        Sweep {
            config,
            links: Links {
                repo: Some(repo.full_name.clone()),
                git_ref: String::new(),
                source_root: config.source_root.clone(),
                gcp_project: Some(project.to_string()),
                api_url: state.config.github_api_url.clone(),
                ..Links::default()
            },
            renderer: &state.renderer,
            dry_run,
            now,
        },
        Logs::Cloud {
            client: &state.logging,
            project,
            reads: &reads,
        },
        Known::Store(repo, &state.store),
    )
    .await?;
    // The cursors move only once the whole window was read and the plan applied.
    if matches!(trigger, Trigger::Scheduled(_)) {
        for read in &reads {
            state
                .store
                .advance_cursor(&repo.full_name, cursor_key(&read.service), read.window.end)
                .await?;
        }
    }
    state
        .store
        .record_sweep(
            &repo.full_name,
            match trigger {
                Trigger::Scheduled(kind) => kind,
                Trigger::Command { dry_run: true, .. } => "dry-run",
                Trigger::Command { .. } => "command",
            },
            outcome.analysis.window.start,
            outcome.analysis.window.end,
            "done",
            &outcome.summary(),
            Utc::now(),
        )
        .await?;
    Ok(Outcome {
        worklog: outcome.worklog(&state.renderer, now)?,
        actions: outcome.actions,
        skipped: None,
    })
}

/// The key of a service's cursor; `*` for a read of every service.
fn cursor_key(service: &Option<ServiceSpec>) -> &str {
    service.as_ref().map_or("*", |s| s.name.as_str())
}
