//! The command line: `sweep`, `serve`, `templates`, `config check` (SPEC section 2).
//! Results go to stdout; progress and diagnostics to stderr.

use crate::analyze::miner;
use crate::config::{CONFIG_PATH, Config, ServiceSpec};
use crate::error::user;
use crate::model::{Window, parse_duration};
use crate::report::{self, Links, Renderer};
use crate::source::cloud::CloudLogging;
use crate::source::logfile;
use crate::sweep::{Known, Logs, Read, Sweep};
use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(
    name = "log-gardener",
    version,
    about = "Turns an hour of Cloud Run logs into one GitHub issue per root cause"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Read logs, find root causes, plan (and with --repo and credentials, apply) issues.
    Sweep(SweepArgs),
    /// Run the GitHub App server; every option is also an environment variable.
    Serve(crate::server::ServeArgs),
    /// Print the template of each input line: `<cluster-id>\t<template>`.
    Templates {
        /// A file of messages, one a line, or `-` for standard input.
        #[arg(long)]
        input: String,
        #[arg(long, value_enum, default_value_t = TemplatesFormat::Tsv)]
        format: TemplatesFormat,
    },
    /// Check a `.github/log-gardener.yml`.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Parse and check a configuration file; errors name the key.
    Check { path: PathBuf },
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct SweepArgs {
    /// Read entries from a file (`-` for standard input) instead of Cloud Logging.
    #[arg(long)]
    pub logs: Option<String>,
    /// The Google Cloud project (default: gcp_project of the configuration).
    #[arg(long)]
    pub project: Option<String>,
    /// Cloud Run services to sweep (repeatable, or separated by commas); with --logs, only
    /// their entries are read.
    #[arg(long = "service", value_delimiter = ',')]
    pub services: Vec<String>,
    /// Look-back, such as 1h or 30m (default: the file's own span, or `window`).
    #[arg(long)]
    pub since: Option<String>,
    /// End of the window, RFC 3339 (default: now, or the file's last entry).
    #[arg(long)]
    pub until: Option<String>,
    /// The repository whose issues are planned (and, with credentials, written).
    #[arg(long)]
    pub repo: Option<String>,
    /// A configuration file (the repository's `.github/log-gardener.yml` format).
    #[arg(long)]
    pub config: Option<String>,
    /// Plan only: nothing is written anywhere (`--dry-run=false` for a workflow's input).
    #[arg(long, num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub dry_run: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Markdown)]
    pub format: OutputFormat,
}

#[derive(ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutputFormat {
    #[default]
    Markdown,
    Json,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplatesFormat {
    Tsv,
    Json,
}

/// Runs a parsed command line. An error is the asker's (exit 2) or a failure (exit 1), as
/// [`crate::error::exit_code`] decides.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Sweep(args) => sweep(args).await,
        Command::Serve(args) => {
            // A missing variable or a key that is not one is bad configuration (exit 2).
            let config =
                crate::server::ServerConfig::from_args(args).map_err(|e| user(format!("{e:#}")))?;
            crate::github::App::new(&config.github_api_url, config.app_id, &config.private_key)
                .map_err(|e| user(format!("{e:#}")))?;
            crate::server::serve(config).await
        }
        Command::Templates { input, format } => templates(&input, format),
        Command::Config {
            command: ConfigCommand::Check { path },
        } => config_check(&path),
    }
}

/// Reads a configuration file; its errors name the file and the key.
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| user(format!("cannot read {}: {e}", path.display())))?;
    Config::parse(&text).map_err(|e| user(format!("{}: {e}", path.display())))
}

fn config_check(path: &Path) -> anyhow::Result<()> {
    let config = load_config(path)?;
    println!(
        "{}: ok ({} service{}, schedule {}, files {})",
        path.display(),
        config.services.len(),
        if config.services.len() == 1 { "" } else { "s" },
        match config.schedule {
            crate::config::Schedule::Hourly => "hourly",
            crate::config::Schedule::Off => "off",
        },
        config
            .file_priorities
            .iter()
            .map(|p| p.label())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

fn templates(input: &str, format: TemplatesFormat) -> anyhow::Result<()> {
    let (mut reader, _) = logfile::open(input)?;
    let mut m = miner::Miner::new();
    let mut keys = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| user(format!("cannot read {input}: {e}")))?;
        if n == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        keys.push(m.add(text.trim_end_matches(['\n', '\r'])));
    }
    let templates = m.finish();
    // Cluster ids count from 1 in order of first appearance, so they read naturally.
    let mut ids: HashMap<usize, usize> = HashMap::new();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut rows = Vec::new();
    for key in keys {
        let index = templates.template_of(key);
        let next = ids.len() + 1;
        let id = *ids.entry(index).or_insert(next);
        match format {
            TemplatesFormat::Tsv => {
                writeln!(out, "{id}\t{}", templates.template(index)).map_err(write_failed)?
            }
            TemplatesFormat::Json => rows.push(serde_json::json!({
                "cluster": id, "template": templates.template(index)
            })),
        }
    }
    if format == TemplatesFormat::Json {
        serde_json::to_writer_pretty(&mut out, &rows).map_err(|e| write_failed(e.into()))?;
        writeln!(out).map_err(write_failed)?;
    }
    out.flush().map_err(write_failed)
}

fn write_failed(e: std::io::Error) -> anyhow::Error {
    anyhow::anyhow!("cannot write the output: {e}")
}

/// The sweep window the flags ask for; `None` lets the entries decide.
fn window_from_flags(
    since: Option<&str>,
    until: Option<&str>,
    default_since: chrono::Duration,
    default_until: &dyn Fn() -> anyhow::Result<DateTime<Utc>>,
) -> anyhow::Result<Option<Window>> {
    if since.is_none() && until.is_none() {
        return Ok(None);
    }
    let span = match since {
        Some(s) => parse_duration(s).map_err(|e| user(format!("--since: {e}")))?,
        None => default_since,
    };
    let end = match until {
        Some(u) => DateTime::parse_from_rfc3339(u)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| user(format!("--until {u:?} is not RFC 3339: {e}")))?,
        None => default_until()?,
    };
    Ok(Some(Window {
        // At the ends of time a window is cut short rather than overflowing.
        start: end
            .checked_sub_signed(span)
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
        end,
    }))
}

async fn sweep(mut args: SweepArgs) -> anyhow::Result<()> {
    // An empty value is no value: a workflow passes every input, set or not.
    args.services.retain(|s| !s.trim().is_empty());
    args.project = args.project.filter(|p| !p.trim().is_empty());
    args.config = args.config.filter(|c| !c.trim().is_empty());
    args.since = args.since.filter(|s| !s.trim().is_empty());
    let credentials = crate::github::Credentials::from_env().map_err(|e| user(format!("{e:#}")))?;
    let repo = match (&args.repo, credentials) {
        (Some(name), Some(credentials)) => {
            crate::github::check_repo_name(name).map_err(|e| user(e.to_string()))?;
            // Past the name, a failure is GitHub's or the network's: exit 1.
            Some(
                crate::github::connect(name, credentials)
                    .await
                    .with_context(|| format!("--repo {name}"))?,
            )
        }
        (Some(name), None) => {
            eprintln!(
                "note: no GITHUB_TOKEN or APP_ID/PRIVATE_KEY: the plan for {name} is printed, nothing is written"
            );
            None
        }
        (None, _) => None,
    };
    let config = match (&args.config, &repo) {
        (Some(path), _) => load_config(Path::new(path))?,
        // The repository's own configuration, as the App would read it.
        (None, Some(repo)) => match repo
            .file(CONFIG_PATH)
            .await
            .with_context(|| repo.full_name.clone())?
        {
            Some(text) => Config::parse(&text)
                .map_err(|e| user(format!("{}: {CONFIG_PATH}: {e}", repo.full_name)))?,
            None => Config::default(),
        },
        (None, None) => Config::default(),
    };
    let now = Utc::now();
    let project = args.project.clone().or(config.gcp_project.clone());
    let flags = |default_until: &dyn Fn() -> anyhow::Result<DateTime<Utc>>| {
        window_from_flags(
            args.since.as_deref(),
            args.until.as_deref(),
            config.window.0,
            default_until,
        )
    };
    let (client, reads);
    let logs = match &args.logs {
        Some(path) => Logs::File {
            path,
            // "The last hour" of a file means the hour before its last entry.
            window: flags(&|| match path.as_str() {
                "-" => Ok(now),
                _ => logfile::latest_timestamp(path).map(|t| t.unwrap_or(now)),
            })?,
            services: &args.services,
        },
        None => {
            let project = project.as_deref().ok_or_else(|| {
                user("no project: pass --project ID, set gcp_project in --config, or read a file with --logs PATH")
            })?;
            let window = flags(&|| Ok(now))?.unwrap_or(Window {
                start: now - config.window.0,
                end: now,
            });
            let services: Vec<ServiceSpec> = if args.services.is_empty() {
                config.services.clone()
            } else {
                args.services
                    .iter()
                    .map(|name| ServiceSpec {
                        name: name.clone(),
                        filter: String::new(),
                    })
                    .collect()
            };
            reads = crate::sweep::each_service(services)
                .into_iter()
                .map(|service| Read { service, window })
                .collect::<Vec<_>>();
            client = CloudLogging::from_env()
                .await
                .map_err(|e| user(format!("{e:#}")))?;
            Logs::Cloud {
                client: &client,
                project,
                reads: &reads,
            }
        }
    };
    let renderer = Renderer::new()?;
    let known = match &repo {
        Some(repo) => Known::Issues(repo),
        None => Known::Nothing,
    };
    let outcome = crate::sweep::run(
        Sweep {
            config: &config,
            links: Links {
                repo: args.repo.clone(),
                git_ref: String::new(),
                source_root: config.source_root.clone(),
                gcp_project: project.clone(),
                api_url: crate::github::api_url_from_env(),
                ..Links::default()
            },
            renderer: &renderer,
            dry_run: args.dry_run,
            now,
        },
        logs,
        known,
    )
    .await?;
    let output = match args.format {
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(&report::json_result(
                &outcome.analysis,
                &outcome.actions,
            ))?;
            s.push('\n');
            s
        }
        OutputFormat::Markdown => outcome.worklog(&renderer, now)?,
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(output.as_bytes())
        .and_then(|_| stdout.flush())
        .map_err(write_failed)
}
