//! The texts of an issue: its title and labels, the body of a new issue and the update
//! comments, each under GitHub's size limit and ending with its marker.

use super::{Links, Renderer, root_cause_view};
use crate::analyze::cluster::truncate;
use crate::analyze::{Analysis, RootCause};
use crate::config::{Config, format_span};
use crate::marker;
use crate::model::rfc3339;
use crate::plan::{Action, ActionKind, Quiet, QuietKind};
use serde_json::json;

/// GitHub's limit on an issue body or comment.
const BODY_LIMIT: usize = 65_536;

/// The title of a root cause's issue: `[P0] service: what failed`.
pub fn issue_title(rc: &RootCause) -> String {
    let title: String = format!(
        "[{}] {}: {}",
        rc.priority,
        super::markdown::name(&rc.service, SERVICE_NAME_MAX),
        super::markdown::plain(&rc.title)
    )
    .chars()
    .map(|c| if c.is_control() { ' ' } else { c })
    .collect();
    truncate(&title, 240)
}

/// The longest service name a title or label shows: `service:` and it fit GitHub's 50
/// characters of a label (Cloud Run's own names are at most 49).
const SERVICE_NAME_MAX: usize = 42;

/// The label every issue of a service carries; how the App lists its issues.
pub fn service_label(service: &str) -> String {
    format!(
        "{}{}",
        crate::marker::SERVICE_LABEL,
        super::markdown::name(service, SERVICE_NAME_MAX)
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
    let cut = truncate(&body, 30_000);
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
                        *e = json!(truncate(text, example_chars));
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
    if body.contains(&marker::issue(&rc.fingerprint)) {
        Ok(body)
    } else {
        Ok(format!("{body}\n\n{}\n", marker::issue(&rc.fingerprint)))
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
    Ok(format!("{body}\n{}\n", marker::update(&rc.fingerprint)))
}

/// The comment on an issue whose root causes have gone quiet.
pub fn quiet_comment(
    renderer: &Renderer,
    quiet: &Quiet,
    config: &Config,
) -> anyhow::Result<String> {
    let body = renderer
        .render(
            "quiet.md",
            &json!({
                "since": rfc3339(&quiet.since),
                "service": quiet.service,
                "sweeps": quiet.sweeps,
                "resolved": quiet.kind == QuietKind::Resolve,
                "resolve_after": config.resolve_after.0.map(format_span),
            }),
        )
        .map_err(|e| anyhow::anyhow!("rendering the quiet comment: {e:?}"))?;
    let fingerprint = quiet.fingerprints.first().map_or("", String::as_str);
    Ok(format!(
        "{}\n{}\n",
        body.trim_end(),
        marker::quiet(fingerprint)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Priority;

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
            deploy: None,
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
