//! The command line: `sweep`, `serve`, `templates`, `config check` (SPEC section 2).
//! Results go to stdout; progress and diagnostics to stderr.

use crate::analyze::redact::Redactor;
use crate::analyze::{Analysis, Analyzer, Options, miner};
use crate::config::Config;
use crate::model::{Window, parse_duration, rfc3339};
use crate::plan::{self, Action};
use crate::report::{self, Links, Renderer};
use crate::source::{Malformed, file::Timeline, read_entries};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
    /// Cloud Run services to sweep (repeatable); with --logs, only their entries are read.
    #[arg(long = "service")]
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
    pub config: Option<PathBuf>,
    /// Plan only: nothing is written anywhere.
    #[arg(long)]
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

/// A failure of a command, with its exit code: 2 for bad usage, input or configuration.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: 2,
            message: message.into(),
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        CliError {
            code: 1,
            message: message.into(),
        }
    }
}

pub type CliResult = Result<(), CliError>;

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Sweep(args) => sweep(args).await,
        Command::Serve(args) => {
            // A missing variable or a key that is not one is bad configuration (exit 2).
            let config = crate::server::ServerConfig::from_args(args)
                .map_err(|e| CliError::usage(format!("{e:#}")))?;
            crate::github::App::new(&config.github_api_url, config.app_id, &config.private_key)
                .map_err(|e| CliError::usage(format!("{e:#}")))?;
            crate::server::serve(config)
                .await
                .map_err(|e| CliError::failed(format!("{e:#}")))
        }
        Command::Templates { input, format } => templates(&input, format),
        Command::Config {
            command: ConfigCommand::Check { path },
        } => config_check(&path),
    }
}

/// Reads a configuration file; its errors name the file and the key.
pub fn load_config(path: &Path) -> Result<Config, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    Config::parse(&text).map_err(|e| CliError::usage(format!("{}: {e}", path.display())))
}

fn config_check(path: &Path) -> CliResult {
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

fn open_input(path: &str) -> Result<(Box<dyn BufRead>, Option<u64>), CliError> {
    if path == "-" {
        return Ok((Box::new(BufReader::new(std::io::stdin().lock())), None));
    }
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::usage(format!("cannot open {path}: {e}")))?;
    let size = file.metadata().ok().map(|m| m.len());
    Ok((Box::new(BufReader::with_capacity(1 << 20, file)), size))
}

fn templates(input: &str, format: TemplatesFormat) -> CliResult {
    let (mut reader, _) = open_input(input)?;
    let mut m = miner::Miner::new();
    let mut keys = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| CliError::usage(format!("cannot read {input}: {e}")))?;
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

fn write_failed(e: std::io::Error) -> CliError {
    CliError::failed(format!("cannot write the output: {e}"))
}

/// The sweep window the flags ask for; `None` lets the entries decide.
pub(crate) fn window_from_flags(
    since: Option<&str>,
    until: Option<&str>,
    default_since: chrono::Duration,
    default_until: impl FnOnce() -> Result<DateTime<Utc>, CliError>,
) -> Result<Option<Window>, CliError> {
    if since.is_none() && until.is_none() {
        return Ok(None);
    }
    let span = match since {
        Some(s) => parse_duration(s).map_err(|e| CliError::usage(format!("--since: {e}")))?,
        None => default_since,
    };
    let end = match until {
        Some(u) => DateTime::parse_from_rfc3339(u)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| CliError::usage(format!("--until {u:?} is not RFC 3339: {e}")))?,
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

async fn sweep(args: SweepArgs) -> CliResult {
    let credentials =
        crate::github::Credentials::from_env().map_err(|e| CliError::usage(format!("{e:#}")))?;
    let repo = match (&args.repo, credentials) {
        (Some(name), Some(credentials)) => {
            crate::github::check_repo_name(name).map_err(|e| CliError::usage(e.to_string()))?;
            // Past the name, a failure is GitHub's or the network's: exit 1.
            Some(
                crate::github::apply::connect(name, credentials)
                    .await
                    .map_err(|e| CliError::failed(format!("--repo {name}: {e:#}")))?,
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
        (Some(path), _) => load_config(path)?,
        // The repository's own configuration, as the App would read it.
        (None, Some(repo)) => match repo.file(crate::config::CONFIG_PATH).await {
            Ok(Some(text)) => Config::parse(&text).map_err(|e| {
                CliError::usage(format!(
                    "{}: {}: {e}",
                    repo.full_name,
                    crate::config::CONFIG_PATH
                ))
            })?,
            Ok(None) => Config::default(),
            Err(e) => return Err(CliError::failed(format!("{}: {e:#}", repo.full_name))),
        },
        (None, None) => Config::default(),
    };
    let now = Utc::now();
    let analysis = match &args.logs {
        Some(path) => sweep_file(path, &args, &config, now)?,
        None => crate::source::cloud::sweep_cloud(&args, &config, now).await?,
    };
    let links = Links {
        repo: args.repo.clone(),
        git_ref: String::new(),
        source_root: config.source_root.clone(),
        gcp_project: args.project.clone().or(config.gcp_project.clone()),
        api_url: crate::github::api_url_from_env(),
    };
    let actions: Vec<Action> = match &repo {
        Some(repo) => {
            crate::github::sweep_repo(repo, &analysis, &config, &links, args.dry_run, now)
                .await
                .map_err(|e| CliError::failed(format!("{}: {e:#}", repo.full_name)))?
        }
        None => plan::plan(&analysis.root_causes, &[], &HashMap::new(), &config, now),
    };
    let dry_run = args.dry_run || repo.is_none();
    let output = match args.format {
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(&report::json_result(&analysis, &actions))
                .map_err(|e| CliError::failed(e.to_string()))?;
            s.push('\n');
            s
        }
        OutputFormat::Markdown => Renderer::new()
            .and_then(|r| r.worklog(&analysis, &actions, &links, now, dry_run))
            .map_err(|e| CliError::failed(format!("rendering the worklog: {e:?}")))?,
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(output.as_bytes())
        .and_then(|_| stdout.flush())
        .map_err(write_failed)
}

/// Reads a log file through the analysis, with a progress line on a terminal.
pub fn sweep_file(
    path: &str,
    args: &SweepArgs,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<Analysis, CliError> {
    let window = window_from_flags(
        args.since.as_deref(),
        args.until.as_deref(),
        config.window.0,
        || {
            // "The last hour" of a file means the hour before its last entry.
            if path == "-" {
                Ok(now)
            } else {
                latest_timestamp(path).map(|t| t.unwrap_or(now))
            }
        },
    )?;
    let mut options = Options::from_config(config);
    options.window = window;
    if let Some(first) = args.services.first() {
        options.default_service = first.clone();
    }
    // Warnings quote the entry they skip: masked like the entries themselves.
    let redactor = Redactor::new(&options.redact)
        .map_err(|e| CliError::usage(format!("redact: not a regular expression: {e}")))?;
    let mut analyzer = Analyzer::new(options)
        .map_err(|e| CliError::usage(format!("redact: not a regular expression: {e}")))?;

    let (reader, size) = open_input(path)?;
    let read = Arc::new(AtomicU64::new(0));
    let counting = CountingReader {
        inner: reader,
        read: read.clone(),
    };
    let progress = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut shown = 0usize;
    let mut malformed = 0u64;
    let services = &args.services;
    let mut on_malformed = |m: Malformed| {
        malformed += 1;
        if shown < 20 {
            let reason = redactor.redact(&m.reason);
            eprintln!("warning: {path} {}: {reason} (skipped)", m.location);
            shown += 1;
        }
    };
    let mut entries = 0u64;
    let mut timeline = Timeline::default();
    let summary = read_entries(
        BufReader::with_capacity(1 << 16, counting),
        |entry| {
            entries += 1;
            if progress
                && entries.is_multiple_of(4096)
                && last_report.elapsed() > Duration::from_millis(250)
            {
                last_report = Instant::now();
                let bytes = read.load(Ordering::Relaxed);
                let pct = size
                    .filter(|s| *s > 0)
                    .map(|s| format!(" ({:.0}%)", bytes as f64 * 100.0 / s as f64))
                    .unwrap_or_default();
                eprint!(
                    "\rreading {path}: {entries} entries, {} MB{pct}   ",
                    bytes >> 20
                );
            }
            if let Some(t) = entry.timestamp {
                timeline.add(t);
            }
            let wanted = services.is_empty()
                || entry
                    .service
                    .as_ref()
                    .is_none_or(|s| services.iter().any(|w| w == s));
            if wanted {
                analyzer.push(entry);
            }
        },
        &mut on_malformed,
    )
    .map_err(|e| CliError::usage(format!("cannot read {path}: {e}")))?;
    if progress {
        eprint!("\r\x1b[2K");
    }
    for _ in 0..summary.malformed {
        analyzer.malformed();
    }
    if malformed > 0 {
        eprintln!("warning: {path}: {malformed} malformed entries skipped");
    }
    tracing::debug!(
        format = %summary.format,
        entries = summary.entries,
        seconds = started.elapsed().as_secs_f64(),
        "read"
    );
    let analysis = analyzer.finish(now);
    if let Some(span) = timeline.span() {
        let totals = &analysis.totals;
        if window.is_none() && span.set_aside > 0 {
            eprintln!(
                "warning: {path}: {} entries have timestamps far from the rest, which run from {} to {}: the window stretches from {} to {} for them (--since or --until leaves them out)",
                span.set_aside,
                rfc3339(&span.oldest),
                rfc3339(&span.newest),
                rfc3339(&span.first),
                rfc3339(&span.last)
            );
        } else if totals.entries == 0 && totals.outside_window > 0 {
            eprintln!(
                "warning: {path}: the window from {} to {} holds none of its entries, which run from {} to {}",
                rfc3339(&analysis.window.start),
                rfc3339(&analysis.window.end),
                rfc3339(&span.first),
                rfc3339(&span.last)
            );
        }
    }
    Ok(analysis)
}

/// The newest entry of a file, for "the last hour of the file": the newest of its bulk, so
/// that a few timestamps far from the rest (year 1, 9999) do not move the window off every
/// real entry; those set aside are said on stderr.
fn latest_timestamp(path: &str) -> Result<Option<DateTime<Utc>>, CliError> {
    let (reader, _) = open_input(path)?;
    let mut timeline = Timeline::default();
    read_entries(
        reader,
        |e| {
            if let Some(t) = e.timestamp {
                timeline.add(t);
            }
        },
        |_| {},
    )
    .map_err(|e| CliError::usage(format!("cannot read {path}: {e}")))?;
    let Some(span) = timeline.span() else {
        return Ok(None);
    };
    if span.set_aside > 0 {
        eprintln!(
            "warning: {path}: {} entries with timestamps far from the rest (the file runs from {} to {}) are set aside: --since counts back from {}, the newest of the others",
            span.set_aside,
            rfc3339(&span.first),
            rfc3339(&span.last),
            rfc3339(&span.newest)
        );
    }
    // The window is half-open: keep the last entry inside it.
    Ok(Some(
        span.newest
            .checked_add_signed(chrono::Duration::nanoseconds(1))
            .unwrap_or(span.newest),
    ))
}

struct CountingReader<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
