//! Carrying a plan out on GitHub: one issue per root cause, found again by its marker.

use super::{Credentials, Repo, marker};
use crate::analyze::{Analysis, RootCause};
use crate::config::{Config, Priority};
use crate::metrics;
use crate::model::rfc3339;
use crate::plan::{self, Action, ActionKind, KnownIssue, Tracked};
use crate::report::{Links, Renderer, root_cause_view};
use crate::store::Store;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::HashMap;

/// GitHub's limit on an issue body or comment.
const BODY_LIMIT: usize = 65_536;
/// The part of an update comment that says which root cause it is about.
const UPDATE_MARKER: &str = "<!-- log-gardener:update";

/// The title of a root cause's issue: `[P0] service: what failed`.
pub fn issue_title(rc: &RootCause) -> String {
    let title: String = format!(
        "[{}] {}: {}",
        rc.priority,
        crate::report::markdown::name(&rc.service, SERVICE_NAME_MAX),
        crate::report::markdown::plain(&rc.title)
    )
    .chars()
    .map(|c| if c.is_control() { ' ' } else { c })
    .collect();
    crate::analyze::cluster::truncate(&title, 240)
}

/// The longest service name a title or label shows: `service:` and it fit GitHub's 50
/// characters of a label (Cloud Run's own names are at most 49).
const SERVICE_NAME_MAX: usize = 42;

/// The label every issue of a service carries; how the App lists its issues.
pub fn service_label(service: &str) -> String {
    format!(
        "service:{}",
        crate::report::markdown::name(service, SERVICE_NAME_MAX)
    )
}

/// Labels of a new issue: the configuration's, the priority, the service.
pub fn issue_labels(rc: &RootCause, config: &Config) -> Vec<String> {
    let mut labels = config.labels.clone();
    labels.push(rc.priority.label().to_string());
    labels.push(service_label(&rc.service));
    labels.dedup();
    labels
}

/// Renders a body under GitHub's limit: fewer and shorter examples until it fits.
fn fit(render: impl Fn(usize) -> Result<String, tera::Error>) -> anyhow::Result<String> {
    for example_chars in [1_500, 400, 120] {
        let body = render(example_chars)?;
        if body.len() < BODY_LIMIT {
            return Ok(body);
        }
    }
    let body = render(60)?;
    let cut = crate::analyze::cluster::truncate(&body, 30_000);
    Ok(cut)
}

fn view(
    rc: &RootCause,
    analysis: &Analysis,
    links: &Links,
    example_chars: usize,
) -> serde_json::Value {
    let mut v = root_cause_view(rc, &analysis.window, links);
    if let Some(clusters) = v["clusters"].as_array_mut() {
        for c in clusters {
            if let Some(examples) = c["examples"].as_array_mut() {
                for e in examples.iter_mut() {
                    if let Some(text) = e.as_str() {
                        *e = json!(crate::analyze::cluster::truncate(text, example_chars));
                    }
                }
            }
        }
    }
    v
}

/// The body of a new issue, ending with its marker.
pub fn issue_body(
    renderer: &Renderer,
    rc: &RootCause,
    analysis: &Analysis,
    links: &Links,
) -> anyhow::Result<String> {
    let body = fit(|chars| {
        renderer.render(
            "issue.md",
            &json!({
                "rc": view(rc, analysis, links, chars),
                "window": {"start": rfc3339(&analysis.window.start), "end": rfc3339(&analysis.window.end)},
            }),
        )
    })?;
    // The template ends with the marker; a cut body gets it back.
    if body.contains(&marker(&rc.fingerprint)) {
        Ok(body)
    } else {
        Ok(format!("{body}\n\n{}\n", marker(&rc.fingerprint)))
    }
}

/// An update comment: what changed since the last one.
pub fn update_comment(
    renderer: &Renderer,
    rc: &RootCause,
    analysis: &Analysis,
    links: &Links,
    action: &Action,
    previous_count: Option<u64>,
) -> anyhow::Result<String> {
    let kind = match action.kind {
        ActionKind::Reopen => "reopen",
        _ => "comment",
    };
    let body = fit(|chars| {
        renderer.render(
            "comment.md",
            &json!({
                "kind": kind,
                "raised": action.raise_priority,
                "rc": view(rc, analysis, links, chars),
                "new_events": rc.count,
                "previous_count": previous_count,
                "window": {"start": rfc3339(&analysis.window.start), "end": rfc3339(&analysis.window.end)},
            }),
        )
    })?;
    let body = if action.adopt {
        // An adopted issue gets the whole analysis once, and the marker, so it is found again.
        let full = issue_body(renderer, rc, analysis, links)?;
        format!("log-gardener tracks this root cause here from now on.\n\n{full}")
    } else {
        body
    };
    Ok(format!(
        "{body}\n{UPDATE_MARKER} fingerprint={} -->\n",
        rc.fingerprint
    ))
}

/// The issues that may already track these root causes: the stored ones, the ones with the
/// service labels the App always sets, and (for adoption) open issues titled after the error.
pub async fn known_issues(
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

/// Where a sweep writes: the repository, and the store when there is one (the server).
pub struct Target<'a> {
    pub repo: &'a Repo,
    pub store: Option<&'a Store>,
    pub config: &'a Config,
    pub links: &'a Links,
    pub renderer: &'a Renderer,
}

/// Carries the plan out; returns the actions with the issue numbers they ended on.
pub async fn apply(
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
                    labels.retain(|l| !matches!(l.as_str(), "P0" | "P1" | "P2" | "P3"));
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

/// What a repository's issues say of each fingerprint, for a sweep with no store (the CLI in
/// a GitHub Actions workflow): the issue, its priority label, and the last update comment.
async fn tracked_from_issues(
    repo: &Repo,
    issues: &[KnownIssue],
    analysis: &Analysis,
) -> anyhow::Result<HashMap<String, Tracked>> {
    let mut tracked = HashMap::new();
    for rc in &analysis.root_causes {
        let Some(issue) = issues
            .iter()
            .filter(|i| i.fingerprint.as_deref() == Some(rc.fingerprint.as_str()))
            .min_by_key(|i| i.number)
        else {
            continue;
        };
        let priority = issue.labels.iter().find_map(|l| match l.as_str() {
            "P0" => Some(Priority::P0),
            "P1" => Some(Priority::P1),
            "P2" => Some(Priority::P2),
            "P3" => Some(Priority::P3),
            _ => None,
        });
        // Filing counts as the first update, then each update comment.
        let last_comment_at = repo
            .comments(issue.number, None)
            .await?
            .into_iter()
            .filter(|c| c.body.contains(UPDATE_MARKER))
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

/// A client for `repo_name` with the CLI's credentials (a token, or the App's installation).
pub async fn connect(repo_name: &str, credentials: Credentials) -> anyhow::Result<Repo> {
    let api_url = super::api_url_from_env();
    match credentials {
        Credentials::Token(token) => Repo::with_token(&api_url, &token, repo_name),
        Credentials::App {
            app_id,
            private_key,
        } => {
            let app = super::App::new(&api_url, app_id, &private_key)?;
            let installation = app.installation_for(repo_name).await?;
            Repo::new(app.installation(installation)?, repo_name)
        }
    }
}

/// `sweep --repo` from the command line: reads the repository's issues, plans, and unless
/// `dry_run` applies the plan. No store: what the issues say is the state.
pub async fn sweep_repo(
    repo: &Repo,
    analysis: &Analysis,
    config: &Config,
    links: &Links,
    dry_run: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Action>> {
    let issues = known_issues(repo, analysis, &HashMap::new(), config).await?;
    let tracked = tracked_from_issues(repo, &issues, analysis).await?;
    let actions = plan::plan(&analysis.root_causes, &issues, &tracked, config, now);
    if dry_run {
        return Ok(actions);
    }
    let mut links = links.clone();
    links.git_ref = repo
        .default_branch()
        .await
        .unwrap_or_else(|_| "HEAD".to_string());
    let renderer = Renderer::new()?;
    apply(
        &Target {
            repo,
            store: None,
            config,
            links: &links,
            renderer: &renderer,
        },
        analysis,
        actions,
        now,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_logs_cannot_mention_link_or_reorder_a_title_or_label() {
        let rc = RootCause {
            fingerprint: "0123456789abcdef".into(),
            title: "KeyError for @octocat in #99 \u{202E}gnp.exe".into(),
            priority: Priority::P1,
            reasons: Vec::new(),
            service: format!("@octocat #99 {}", "x".repeat(60)),
            count: 1,
            first_seen: None,
            last_seen: None,
            clusters: Vec::new(),
        };
        let title = issue_title(&rc);
        assert!(title.starts_with("[P1] -octocat--99-xxx"), "{title}");
        assert!(
            !title.contains("@octocat") && !title.contains("#99"),
            "{title}"
        );
        assert!(!title.contains('\u{202E}'), "{title}");
        let labels = issue_labels(&rc, &Config::default());
        let service = labels.iter().find(|l| l.starts_with("service:")).unwrap();
        assert!(service.chars().count() <= 50, "{service}");
        assert!(!service.contains(['@', '#', ' ']), "{service}");
    }
}
