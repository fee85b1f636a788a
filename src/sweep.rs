//! The one sweep, for the command line and the App alike: read a window of logs from a
//! source, analyse it, plan against what is known of the repository's issues, carry the plan
//! out unless it is a dry run, and say what was done. Nothing else orchestrates a sweep: the
//! CLI and the App only decide the window and the source, and print or post the outcome.

use crate::analyze::redact::Redactor;
use crate::analyze::{Analysis, Analyzer, Options, RootCause};
use crate::codeowners::CodeOwners;
use crate::config::{Config, Priority, ServiceSpec};
use crate::github::Repo;
use crate::metrics;
use crate::model::{Window, rfc3339};
use crate::plan::{self, Action, ActionKind, KnownIssue, Quiet, QuietKind, Tracked};
use crate::report::issue::{
    issue_body, issue_labels, issue_title, quiet_comment, service_label, update_comment,
};
use crate::report::{Links, Renderer};
use crate::source::cloud::{CloudLogging, filter_for};
use crate::source::logfile;
use crate::store::Store;
use anyhow::Context;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// One service read over its own window (the App keeps a cursor per service); `None` reads
/// every Cloud Run service of the project.
#[derive(Debug, Clone)]
pub struct Read {
    pub service: Option<ServiceSpec>,
    pub window: Window,
}

/// The services to read, each on its own; none named reads every service of the project.
pub fn each_service(services: Vec<ServiceSpec>) -> Vec<Option<ServiceSpec>> {
    if services.is_empty() {
        vec![None]
    } else {
        services.into_iter().map(Some).collect()
    }
}

/// Where the entries come from.
pub enum Logs<'a> {
    /// A file of entries, `-` for standard input; only the entries of `services` when some are
    /// named (the first names entries without a service), and of `window` when given.
    File {
        path: &'a str,
        window: Option<Window>,
        services: &'a [String],
    },
    /// Cloud Logging, one read per service.
    Cloud {
        client: &'a CloudLogging,
        project: &'a str,
        reads: &'a [Read],
    },
}

/// What is known of the repository's issues, and where the sweep writes.
#[derive(Clone, Copy)]
pub enum Known<'a> {
    /// No repository: the plan is what would be done on one without issues; nothing is written.
    Nothing,
    /// The repository's issues are all the state there is (`sweep --repo`, a workflow).
    Issues(&'a Repo),
    /// The App: the store remembers what the issues cannot say (mutes, merges, counts).
    Store(&'a Repo, &'a Store),
}

impl<'a> Known<'a> {
    fn repo(self) -> Option<&'a Repo> {
        match self {
            Known::Nothing => None,
            Known::Issues(repo) | Known::Store(repo, _) => Some(repo),
        }
    }

    fn store(self) -> Option<&'a Store> {
        match self {
            Known::Store(_, store) => Some(store),
            _ => None,
        }
    }
}

/// How a sweep runs.
pub struct Sweep<'a> {
    pub config: &'a Config,
    /// Links of the texts; the sweep fills in the repository's default branch.
    pub links: Links,
    pub renderer: &'a Renderer,
    /// Plan only: nothing is written anywhere.
    pub dry_run: bool,
    pub now: DateTime<Utc>,
}

/// What a sweep found and did.
pub struct Outcome {
    pub analysis: Analysis,
    /// One per root cause, in the same order, with the issue numbers they ended on.
    pub actions: Vec<Action>,
    /// Open issues whose root causes this sweep did not see, and what was due for each.
    pub quiet: Vec<Quiet>,
    pub links: Links,
    pub dry_run: bool,
}

impl Outcome {
    /// The worklog of the sweep.
    pub fn worklog(&self, renderer: &Renderer, now: DateTime<Utc>) -> anyhow::Result<String> {
        renderer
            .worklog(
                &self.analysis,
                &self.actions,
                &self.quiet,
                &self.links,
                now,
                self.dry_run,
            )
            .map_err(|e| anyhow::anyhow!("rendering the worklog: {e:?}"))
    }

    /// One line, for `/gardener status`.
    pub fn summary(&self) -> String {
        let count = |k: ActionKind| self.actions.iter().filter(|a| a.kind == k).count();
        let resolved = self
            .quiet
            .iter()
            .filter(|q| q.kind == QuietKind::Resolve)
            .count();
        format!(
            "{} entries, {} root causes; {} created, {} commented, {} reopened, {} noted quiet, {} resolved",
            self.analysis.totals.entries,
            self.analysis.root_causes.len(),
            count(ActionKind::Create),
            count(ActionKind::Comment),
            count(ActionKind::Reopen),
            self.quiet.len() - resolved,
            resolved
        )
    }
}

/// Runs a sweep: one analysis of every service read, one plan (so that `max_new_issues`
/// holds per sweep of the repository), applied unless it is a dry run.
pub async fn run(sweep: Sweep<'_>, logs: Logs<'_>, known: Known<'_>) -> anyhow::Result<Outcome> {
    let analysis = analyze(logs, sweep.config, sweep.now).await?;
    let mut links = sweep.links;
    let dry_run = sweep.dry_run || known.repo().is_none();
    if let Some(repo) = known.repo()
        && links.git_ref.is_empty()
    {
        links.git_ref = repo
            .default_branch()
            .await
            .unwrap_or_else(|_| "HEAD".into());
    }
    let config = sweep.config;
    let mut quiet = Vec::new();
    let actions = match known {
        Known::Nothing => plan::plan(
            &analysis.root_causes,
            &[],
            &HashMap::new(),
            config,
            sweep.now,
        ),
        Known::Issues(repo) | Known::Store(repo, _) => {
            let tracked = match known.store() {
                Some(store) => store.tracked(&repo.full_name).await?,
                None => HashMap::new(),
            };
            let issues = known_issues(repo, &analysis, &tracked, config).await?;
            let tracked = match known.store() {
                Some(_) => tracked,
                None => tracked_from_issues(repo, &issues, &analysis).await?,
            };
            let actions = plan::plan(&analysis.root_causes, &issues, &tracked, config, sweep.now);
            // Only the store remembers when a root cause was last seen: the issues alone
            // cannot say it (an update within comment_cooldown writes nothing).
            if known.store().is_some() {
                let seen: Vec<&str> = analysis
                    .root_causes
                    .iter()
                    .map(|rc| rc.fingerprint.as_str())
                    .collect();
                quiet = plan::quiet(
                    &seen,
                    &analysis.services,
                    &issues,
                    &tracked,
                    config,
                    sweep.now,
                );
            }
            if dry_run {
                actions
            } else {
                // A new issue names the owners of the failing code: read CODEOWNERS only then.
                if actions
                    .iter()
                    .any(|a| a.kind == ActionKind::Create || a.adopt)
                {
                    links.owners = codeowners(repo).await;
                    links.mention_owners = config.mention_owners;
                }
                let target = Target {
                    repo,
                    store: known.store(),
                    config,
                    links: &links,
                    renderer: sweep.renderer,
                };
                let actions = apply(&target, &analysis, actions, sweep.now).await?;
                if let Some(store) = known.store() {
                    remember_seen(
                        store,
                        &repo.full_name,
                        &analysis,
                        &actions,
                        &issues,
                        &tracked,
                        sweep.now,
                    )
                    .await?;
                    apply_quiet(&target, &quiet, sweep.now).await?;
                }
                actions
            }
        }
    };
    metrics::SWEEPS.inc();
    Ok(Outcome {
        analysis,
        actions,
        quiet,
        links,
        dry_run,
    })
}

/// Reads the logs through the analysis.
pub async fn analyze(
    logs: Logs<'_>,
    config: &Config,
    now: DateTime<Utc>,
) -> anyhow::Result<Analysis> {
    match logs {
        Logs::File {
            path,
            window,
            services,
        } => analyze_file(path, window, services, config, now),
        Logs::Cloud {
            client,
            project,
            reads,
        } => analyze_cloud(client, project, reads, config, now).await,
    }
}

/// A file through the analysis; skipped entries and far-off timestamps are said on stderr.
pub fn analyze_file(
    path: &str,
    window: Option<Window>,
    services: &[String],
    config: &Config,
    now: DateTime<Utc>,
) -> anyhow::Result<Analysis> {
    let mut options = Options::from_config(config);
    options.window = window;
    if let Some(first) = services.first() {
        options.default_service = first.clone();
    }
    let (redactor, mut analyzer) = analyzer(options)?;
    let mut shown = 0usize;
    let mut malformed = 0u64;
    let (summary, span) = logfile::read(
        path,
        |entry| {
            let wanted = services.is_empty()
                || entry
                    .service
                    .as_ref()
                    .is_none_or(|s| services.iter().any(|w| w == s));
            if wanted {
                analyzer.push(entry);
            }
        },
        |m| {
            malformed += 1;
            if shown < 20 {
                // Warnings quote the entry they skip: masked like the entries themselves.
                let reason = redactor.redact(&m.reason);
                eprintln!("warning: {path} {}: {reason} (skipped)", m.location);
                shown += 1;
            }
        },
    )?;
    for _ in 0..summary.malformed {
        analyzer.malformed();
    }
    if malformed > 0 {
        eprintln!("warning: {path}: {malformed} malformed entries skipped");
    }
    let analysis = analyzer.finish(now);
    if let Some(span) = span {
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

/// Each service's window from Cloud Logging into one analysis. The error names the service
/// whose window could not be read.
async fn analyze_cloud(
    client: &CloudLogging,
    project: &str,
    reads: &[Read],
    config: &Config,
    now: DateTime<Utc>,
) -> anyhow::Result<Analysis> {
    let mut options = Options::from_config(config);
    options.window = reads.iter().map(|r| r.window).reduce(|a, b| Window {
        start: a.start.min(b.start),
        end: a.end.max(b.end),
    });
    let (redactor, mut analyzer) = analyzer(options)?;
    for read in reads {
        let filter = filter_for(read.service.as_ref(), &config.filter, &read.window);
        let mut malformed = 0u64;
        client
            .read(
                project,
                &filter,
                |e| analyzer.push(e),
                |reason| {
                    malformed += 1;
                    let reason = redactor.redact(&reason);
                    tracing::warn!(%reason, "malformed Cloud Logging entry skipped");
                },
            )
            .await
            .with_context(|| match &read.service {
                Some(s) => format!("reading the logs of {}", s.name),
                None => "reading the logs".to_string(),
            })?;
        for _ in 0..malformed {
            analyzer.malformed();
        }
    }
    Ok(analyzer.finish(now))
}

/// The analyzer, and a redactor for the warnings that quote what was skipped.
fn analyzer(options: Options) -> anyhow::Result<(Redactor, Analyzer)> {
    let bad =
        |e: regex::Error| crate::error::user(format!("redact: not a regular expression: {e}"));
    let redactor = Redactor::new(&options.redact).map_err(bad)?;
    let analyzer = Analyzer::new(options).map_err(bad)?;
    Ok((redactor, analyzer))
}

/// The issues that may already track these root causes: the stored ones, the ones with the
/// service labels the App always sets, and (for adoption) open issues titled after the error.
async fn known_issues(
    repo: &Repo,
    analysis: &Analysis,
    tracked: &HashMap<String, Tracked>,
    config: &Config,
) -> anyhow::Result<Vec<KnownIssue>> {
    let mut found: HashMap<u64, KnownIssue> = HashMap::new();
    let mut services: Vec<&str> = analysis
        .root_causes
        .iter()
        .map(|rc| rc.service.as_str())
        .collect();
    services.sort();
    services.dedup();
    for service in services {
        for issue in repo.issues_labelled(&service_label(service)).await? {
            found.insert(issue.number, issue);
        }
    }
    for t in tracked.values() {
        for n in [t.issue, t.merged_into].into_iter().flatten() {
            if let std::collections::hash_map::Entry::Vacant(slot) = found.entry(n)
                && let Some(issue) = repo.issue(n).await?
            {
                slot.insert(issue);
            }
        }
    }
    for rc in &analysis.root_causes {
        let known = found
            .values()
            .any(|i| i.fingerprint.as_deref() == Some(rc.fingerprint.as_str()));
        // Only root causes that would be filed need the search fallback.
        if known || !config.file_priorities.contains(&rc.priority) {
            continue;
        }
        // Issues the labels missed (a human removed them): the marker, through search.
        // (query, whether a hit tracks this root cause for sure)
        let mut queries = vec![
            (
                format!("\"log-gardener:fingerprint={}\" in:body", rc.fingerprint),
                false,
            ),
            // An adopted issue: its body is a person's, the App's comments carry the marker.
            (
                format!(
                    "\"log-gardener:update fingerprint={}\" in:comments",
                    rc.fingerprint
                ),
                true,
            ),
        ];
        if let Some(e) = rc.exception() {
            let phrase: String = format!("{}: {}", e.kind, e.message)
                .chars()
                .filter(|c| *c != '"')
                .take(120)
                .collect();
            queries.push((format!("is:open in:title \"{phrase}\""), false));
        }
        for (query, tracks) in queries {
            // Search is a fallback: when it is down, the labels and the store still hold.
            match repo.search(&query).await {
                Ok(issues) => {
                    for mut issue in issues {
                        if tracks && issue.fingerprint.is_none() {
                            issue.fingerprint = Some(rc.fingerprint.clone());
                        }
                        let slot = found.entry(issue.number).or_insert_with(|| issue.clone());
                        if slot.fingerprint.is_none() {
                            slot.fingerprint = issue.fingerprint;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(repo = %repo.full_name, error = %format!("{e:#}"), "issue search failed")
                }
            }
        }
    }
    let mut issues: Vec<KnownIssue> = found.into_values().collect();
    issues.sort_by_key(|i| i.number);
    Ok(issues)
}

/// The repository's CODEOWNERS, the first of GitHub's places that has one. The App may read
/// it only where its single-file permission names the path: anything it cannot read (403,
/// an outage) leaves the issues without suggested owners, never fails the sweep.
async fn codeowners(repo: &Repo) -> Option<CodeOwners> {
    for path in crate::codeowners::PATHS {
        match repo.file(path).await {
            Ok(Some(text)) => return Some(CodeOwners::parse(&text)),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(repo = %repo.full_name, path, error = %format!("{e:#}"), "CODEOWNERS not readable: no suggested owners");
                return None;
            }
        }
    }
    None
}

/// Where a sweep writes: the repository, and the store when there is one (the server).
struct Target<'a> {
    pub repo: &'a Repo,
    pub store: Option<&'a Store>,
    pub config: &'a Config,
    pub links: &'a Links,
    pub renderer: &'a Renderer,
}

/// Carries the plan out; returns the actions with the issue numbers they ended on.
async fn apply(
    target: &Target<'_>,
    analysis: &Analysis,
    actions: Vec<Action>,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Action>> {
    let repo = target.repo;
    let mut done = Vec::with_capacity(actions.len());
    for (rc, mut action) in analysis.root_causes.iter().zip(actions) {
        match action.kind {
            ActionKind::None => {}
            ActionKind::Create => {
                let body = issue_body(target.renderer, rc, analysis, target.links)?;
                let number = repo
                    .create_issue(
                        &issue_title(rc),
                        &body,
                        &issue_labels(rc, target.config),
                        &rc.fingerprint,
                        &service_label(&rc.service),
                    )
                    .await?;
                metrics::ISSUES_CREATED.inc();
                action.issue = Some(number);
                // Filing is the first update: comment_cooldown starts now.
                record(target, rc, number, true, now).await?;
            }
            ActionKind::Comment | ActionKind::Reopen => {
                let Some(number) = action.issue else {
                    done.push(action);
                    continue;
                };
                let previous = match target.store {
                    Some(store) => store.last_count(&repo.full_name, &rc.fingerprint).await?,
                    None => None,
                };
                if action.kind == ActionKind::Reopen {
                    repo.reopen(number).await?;
                    metrics::ISSUES_REOPENED.inc();
                }
                let body = update_comment(
                    target.renderer,
                    rc,
                    analysis,
                    target.links,
                    &action,
                    previous,
                )?;
                repo.comment(number, &body).await?;
                metrics::ISSUES_COMMENTED.inc();
                let mut labels = issue_labels(rc, target.config);
                if action.raise_priority {
                    for p in [Priority::P0, Priority::P1, Priority::P2, Priority::P3] {
                        if p != rc.priority {
                            repo.remove_label(number, p.label()).await?;
                        }
                    }
                } else {
                    // Keep the priority a human set; only the other labels are ensured.
                    labels.retain(|l| l.parse::<Priority>().is_err());
                }
                repo.add_labels(number, &labels).await?;
                record(target, rc, number, true, now).await?;
            }
        }
        done.push(action);
    }
    Ok(done)
}

async fn record(
    target: &Target<'_>,
    rc: &RootCause,
    number: u64,
    commented: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if let Some(store) = target.store {
        store
            .record_issue(
                &target.repo.full_name,
                &rc.fingerprint,
                number,
                Some(&rc.service),
                &rc.title,
                rc.priority,
                rc.count,
                commented,
                now,
            )
            .await?;
    }
    Ok(())
}

/// What the store must know for "not seen since": when each tracked root cause of this sweep
/// last occurred, and one more quiet sweep for the open ones of a service read that it missed.
async fn remember_seen(
    store: &Store,
    repo: &str,
    analysis: &Analysis,
    actions: &[Action],
    issues: &[KnownIssue],
    before: &HashMap<String, Tracked>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    for (rc, action) in analysis.root_causes.iter().zip(actions) {
        // The rows the store has: those from before, and those this sweep's writes added.
        if before.contains_key(&rc.fingerprint) || action.kind != ActionKind::None {
            store
                .seen(repo, &rc.fingerprint, rc.last_seen.unwrap_or(now), now)
                .await?;
        }
    }
    let seen: HashSet<&str> = analysis
        .root_causes
        .iter()
        .map(|rc| rc.fingerprint.as_str())
        .collect();
    for (fingerprint, t) in before {
        let Some(issue) = t
            .merged_into
            .or(t.issue)
            .and_then(|n| issues.iter().find(|i| i.number == n))
        else {
            continue;
        };
        let read = t
            .service
            .clone()
            .or_else(|| plan::labelled_service(issue))
            .is_some_and(|s| analysis.services.contains(&s));
        if !seen.contains(fingerprint.as_str()) && read && issue.state == plan::IssueState::Open {
            store.unseen(repo, fingerprint).await?;
        }
    }
    Ok(())
}

/// Tells each quiet issue once, and closes those due as completed.
async fn apply_quiet(
    target: &Target<'_>,
    quiet: &[Quiet],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let repo = target.repo;
    for q in quiet {
        let body = quiet_comment(target.renderer, q, target.config)?;
        repo.comment(q.issue, &body).await?;
        metrics::ISSUES_COMMENTED.inc();
        if q.kind == QuietKind::Resolve {
            repo.close(q.issue).await?;
            metrics::ISSUES_RESOLVED.inc();
        }
        if let Some(store) = target.store {
            for fingerprint in &q.fingerprints {
                store.quiet_noted(&repo.full_name, fingerprint, now).await?;
            }
            if q.kind == QuietKind::Resolve {
                store
                    .set_issue_state(&repo.full_name, q.issue, "closed", now)
                    .await?;
            }
        }
    }
    Ok(())
}

/// What a repository's issues say of each fingerprint, for a sweep with no store (the CLI in
/// a GitHub Actions workflow): the issue, its priority label, and the last update comment.
async fn tracked_from_issues(
    repo: &Repo,
    issues: &[KnownIssue],
    analysis: &Analysis,
) -> anyhow::Result<HashMap<String, Tracked>> {
    let mut tracked = HashMap::new();
    for rc in &analysis.root_causes {
        let Some(issue) = plan::tracking_issue(issues, &rc.fingerprint) else {
            continue;
        };
        let priority = issue.labels.iter().find_map(|l| l.parse::<Priority>().ok());
        // Filing counts as the first update, then each update comment.
        let last_comment_at = repo
            .comments(issue.number, None)
            .await?
            .into_iter()
            .filter(|c| c.body.contains(crate::marker::UPDATE))
            .filter_map(|c| c.created_at)
            .chain(issue.created_at)
            .max();
        tracked.insert(
            rc.fingerprint.clone(),
            Tracked {
                issue: Some(issue.number),
                priority,
                last_comment_at,
                ..Tracked::default()
            },
        );
    }
    Ok(tracked)
}
