//! Reports: the JSON result of a sweep and the worklog, rendered with tera from `templates/`.
//! Log text reaches markdown only through the filters of [`markdown`].

pub mod issue;
pub mod markdown;
pub mod status;

use crate::analyze::cluster::{Role, in_app_path};
use crate::analyze::{Analysis, Cluster, RootCause};
use crate::codeowners::CodeOwners;
use crate::config::format_span;
use crate::model::{Window, rfc3339};
use crate::plan::{Action, ActionKind, Quiet, QuietKind};
use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// What must be escaped in a path segment of a URL.
const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'(')
    .add(b')');

/// Root causes a worklog writes out in full (those acted on always are); JSON has them all.
const WORKLOG_ROOT_CAUSES: usize = 100;

/// Examples in reports are cut to this many characters.
const EXAMPLE_CHARS: usize = 1_500;

/// The JSON result of `sweep --format json` (SPEC section 2).
pub fn json_result(analysis: &Analysis, actions: &[Action]) -> Value {
    let by_severity: BTreeMap<&str, u64> = analysis
        .totals
        .by_severity
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(s, n)| (s.name(), *n))
        .collect();
    let root_causes: Vec<Value> = analysis
        .root_causes
        .iter()
        .zip(actions)
        .map(|(rc, action)| {
            let mut v = json!({
                "fingerprint": rc.fingerprint,
                "title": rc.title,
                "priority": rc.priority,
                "service": rc.service,
                "count": rc.count,
                "first_seen": rc.first_seen.as_ref().map(rfc3339),
                "last_seen": rc.last_seen.as_ref().map(rfc3339),
                "clusters": rc.clusters.iter().enumerate()
                    .map(|(i, c)| cluster_json(c, i == 0, usize::MAX))
                    .collect::<Vec<_>>(),
                "action": {"kind": action.kind, "issue": action.issue},
            });
            if let Some(deploy) = &rc.deploy {
                v["deploy"] = json!(deploy);
            }
            v
        })
        .collect();
    json!({
        "window": analysis.window,
        "services": analysis.services,
        "totals": {
            "entries": analysis.totals.entries,
            "by_severity": by_severity,
            "malformed": analysis.totals.malformed,
            "folded": analysis.totals.folded,
            "cut": analysis.totals.cut,
        },
        "root_causes": root_causes,
    })
}

/// A cluster as the SPEC's JSON result has it: template, count, severity, role and at most
/// `examples` examples.
fn cluster_json(c: &Cluster, head: bool, examples: usize) -> Value {
    json!({
        "template": c.template,
        "count": c.stats.count,
        "severity": c.stats.severity().name(),
        "role": role_name(c, head),
        "examples": c.stats.examples.iter()
            .take(examples)
            .map(|e| crate::analyze::cluster::excerpt(e, EXAMPLE_CHARS))
            .collect::<Vec<_>>(),
        "evidence": c.evidence,
    })
}

/// `cause` for the head of a root cause (unless it is a symptom whose cause is not in the
/// logs), `symptom` for everything that follows from it.
fn role_name(c: &Cluster, head: bool) -> &'static str {
    match (head, c.role) {
        (true, Role::Symptom(_)) | (false, _) => "symptom",
        (true, _) => "cause",
    }
}

/// What a cluster is, for a reader.
fn role_words(c: &Cluster, head: bool) -> String {
    match (head, c.role) {
        (true, Role::Symptom(k)) => format!("symptom ({}), cause not in the logs", k.describe()),
        (true, _) => "cause".to_string(),
        (false, Role::Symptom(k)) => format!("symptom: {}", k.describe()),
        (false, Role::Cause(_)) => "symptom: error raised while handling the cause".to_string(),
        (false, Role::FailureWarning) => "symptom: warning raised while handling the cause".into(),
        (false, Role::Noise) => "symptom".to_string(),
    }
}

/// Where links in reports point.
#[derive(Debug, Clone, Default)]
pub struct Links {
    /// `owner/name`, for links to the code.
    pub repo: Option<String>,
    /// The branch or commit the code links use.
    pub git_ref: String,
    pub source_root: String,
    /// For links to the Cloud Logging console.
    pub gcp_project: Option<String>,
    /// The REST API base (`GITHUB_API_URL`), from which the web address follows.
    pub api_url: String,
    /// The repository's CODEOWNERS, when it has one the App may read.
    pub owners: Option<CodeOwners>,
    /// `mention_owners`: name the owners as @-mentions (a notification) instead of as code.
    pub mention_owners: bool,
}

impl Links {
    /// github.com for api.github.com; `https://HOST` for GitHub Enterprise's `https://HOST/api/v3`.
    pub fn web_url(&self) -> String {
        let api = self.api_url.trim_end_matches('/');
        if api.is_empty() || api == crate::model::GITHUB_API_URL {
            return "https://github.com".to_string();
        }
        api.strip_suffix("/api/v3").unwrap_or(api).to_string()
    }

    /// A link to a file of the repository at a line.
    pub fn code_url(&self, path: &str, line: Option<u32>) -> Option<String> {
        let repo = self.repo.as_ref()?;
        let git_ref = if self.git_ref.is_empty() {
            "HEAD"
        } else {
            &self.git_ref
        };
        let path: String = path
            .split('/')
            .map(|p| utf8_percent_encode(p, PATH_SEGMENT).to_string())
            .collect::<Vec<_>>()
            .join("/");
        Some(match line {
            Some(l) => format!("{}/{repo}/blob/{git_ref}/{path}#L{l}", self.web_url()),
            None => format!("{}/{repo}/blob/{git_ref}/{path}", self.web_url()),
        })
    }

    /// The same query in the Cloud Logging console.
    pub fn console_url(&self, service: &str, window: &Window) -> Option<String> {
        let project = self.gcp_project.as_ref()?;
        let query = format!(
            "resource.type=\"cloud_run_revision\"\nresource.labels.service_name=\"{service}\"\nseverity>=WARNING"
        );
        let range = format!("{}/{}", rfc3339(&window.start), rfc3339(&window.end));
        Some(format!(
            "https://console.cloud.google.com/logs/query;query={};timeRange={}?project={}",
            utf8_percent_encode(&query, NON_ALPHANUMERIC),
            utf8_percent_encode(&range, NON_ALPHANUMERIC),
            utf8_percent_encode(project, NON_ALPHANUMERIC),
        ))
    }
}

/// A frame of the cause's stack, with its link.
#[derive(Serialize)]
struct FrameView {
    path: String,
    function: String,
    line: Option<u32>,
    url: Option<String>,
    in_app: bool,
}

fn frames(rc: &RootCause, links: &Links) -> Vec<FrameView> {
    let Some(e) = rc.exception() else {
        return Vec::new();
    };
    e.frames
        .iter()
        .map(|f| {
            let app = in_app_path(f, &links.source_root);
            FrameView {
                url: app.as_deref().and_then(|p| links.code_url(p, f.line)),
                in_app: app.is_some(),
                path: app.unwrap_or_else(|| f.file.clone()),
                function: f.function.clone(),
                line: f.line,
            }
        })
        .collect()
}

/// The deploy that brought a root cause, as the issue tells it: the revision it is new in,
/// the one before that was free of it, when and by whom it was deployed, and the suspect
/// change (the commit, and the compare view from the previous revision's commit).
fn deploy_view(rc: &RootCause, links: &Links) -> Value {
    let Some(d) = &rc.deploy else {
        return Value::Null;
    };
    let repo_url = links
        .repo
        .as_ref()
        .map(|repo| format!("{}/{repo}", links.web_url()));
    let short = |sha: &str| sha.chars().take(7).collect::<String>();
    let commit = d.commit.as_ref().map(|sha| {
        json!({
            "short": short(sha),
            "url": repo_url.as_ref().map(|r| format!("{r}/commit/{sha}")),
            "compare_url": match (&repo_url, &d.previous_commit) {
                (Some(r), Some(prev)) if prev != sha => Some(format!("{r}/compare/{prev}...{sha}")),
                _ => None,
            },
        })
    });
    json!({
        "new_in": d.new_in,
        "not_in": d.not_in,
        "deployed_at": d.deployed_at.as_ref().map(rfc3339),
        "deployed_by": d.deployed_by,
        "commit": commit,
    })
}

/// Who owns the innermost frame of the service's own code, by CODEOWNERS: the file, and each
/// owner as markdown (code, so nobody is notified, unless `mention_owners`).
fn owners_view(rc: &RootCause, links: &Links) -> Value {
    let (Some(file), Some(e)) = (&links.owners, rc.exception()) else {
        return Value::Null;
    };
    let Some(path) = e
        .frames
        .iter()
        .rev()
        .find_map(|f| in_app_path(f, &links.source_root))
    else {
        return Value::Null;
    };
    let owners: Vec<String> = file
        .owners_of(&path)
        .iter()
        .map(|o| {
            if links.mention_owners && o.starts_with('@') {
                o.clone()
            } else {
                format!("`{o}`")
            }
        })
        .collect();
    if owners.is_empty() {
        return Value::Null;
    }
    json!({"path": path, "names": owners.join(", ")})
}

/// Events per bucket of the window, at most `max` buckets of whole minutes: (first minute of
/// the bucket, events).
fn buckets(minutes: &BTreeMap<i64, u64>, window: &Window, max: usize) -> Vec<(i64, u64)> {
    let start = window.start.timestamp().div_euclid(60);
    let end = window.end.timestamp().div_euclid(60).max(start);
    let span = (end - start + 1) as u64;
    let step = span.div_ceil(max.max(1) as u64).max(1) as i64;
    (start..=end)
        .step_by(step as usize)
        .map(|m| (m, minutes.range(m..m + step).map(|(_, n)| n).sum()))
        .collect()
}

/// Events over the window as a line of block characters, one per bucket.
pub fn sparkline(minutes: &BTreeMap<i64, u64>, window: &Window, max_buckets: usize) -> String {
    let counts = buckets(minutes, window, max_buckets);
    let max = counts.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    counts
        .iter()
        .map(|&(_, n)| {
            if n == 0 {
                '·'
            } else {
                BARS[((n * 7).div_ceil(max)) as usize]
            }
        })
        .collect()
}

/// Everything a template may show of one root cause, already redacted.
pub fn root_cause_view(rc: &RootCause, window: &Window, links: &Links) -> Value {
    let by_severity: Vec<Value> = rc
        .by_severity()
        .iter()
        .rev()
        .map(|(s, n)| json!({"name": s.name(), "count": n}))
        .collect();
    let clusters: Vec<Value> = rc
        .clusters
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut v = cluster_json(c, i == 0, if i == 0 { 2 } else { 1 });
            v["role_words"] = json!(role_words(c, i == 0));
            v["first_seen"] = json!(c.stats.first_seen.as_ref().map(rfc3339));
            v["last_seen"] = json!(c.stats.last_seen.as_ref().map(rfc3339));
            v
        })
        .collect();
    let minutes = rc.minutes();
    json!({
        "fingerprint": rc.fingerprint,
        "title": rc.title,
        "priority": rc.priority.label(),
        "meaning": rc.priority.meaning(),
        "service": rc.service,
        "count": rc.count,
        "first_seen": rc.first_seen.as_ref().map(rfc3339),
        "last_seen": rc.last_seen.as_ref().map(rfc3339),
        "reasons": rc.reasons,
        "by_severity": by_severity,
        "revisions": rc.revisions(),
        "instances": rc.instances().len(),
        "clusters": clusters,
        "frames": frames(rc, links),
        "owners": owners_view(rc, links),
        "deploy": deploy_view(rc, links),
        "has_cause": rc.has_cause(),
        "sparkline": sparkline(&minutes, window, 30),
        "console_url": links.console_url(&rc.service, window),
        "chart": occurrences_chart(&minutes, window),
        "cascade": cascade(rc),
    })
}

/// The symptoms as a chain in causal order: those whose delay after the cause the start-ups
/// show, soonest first, each arrow labelled with the time from the step before; then the
/// rest, in the order of the clusters. Node `c0` is the cause.
fn cascade(rc: &RootCause) -> Vec<Value> {
    let mut steps: Vec<(usize, Option<i64>)> = rc
        .clusters
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, c)| (i, c.delay_ns.filter(|d| *d >= 0)))
        .collect();
    steps.sort_by_key(|(i, d)| (d.is_none(), *d, *i));
    let mut previous: (usize, i64) = (0, 0);
    steps
        .into_iter()
        .map(|(i, delay)| {
            let c = &rc.clusters[i];
            let arrow = delay.map(|d| {
                format!(
                    "+{}",
                    crate::analyze::correlate::describe_duration((d - previous.1).max(0))
                )
            });
            let step = json!({
                "from": format!("c{}", previous.0),
                "id": format!("c{i}"),
                "template": c.template,
                "count": c.stats.count,
                "arrow": arrow,
            });
            previous = (i, delay.unwrap_or(previous.1));
            step
        })
        .collect()
}

/// Occurrences over time, bucketed for a mermaid xychart: labels and counts.
fn occurrences_chart(minutes: &BTreeMap<i64, u64>, window: &Window) -> Value {
    let (labels, counts): (Vec<String>, Vec<u64>) = buckets(minutes, window, 12)
        .into_iter()
        .map(|(m, n)| {
            let label = DateTime::<Utc>::from_timestamp(m * 60, 0)
                .map(|t| t.format("%H:%M").to_string())
                .unwrap_or_default();
            (label, n)
        })
        .unzip();
    let max = counts.iter().copied().max().unwrap_or(0);
    json!({"labels": labels, "counts": counts, "max": max.max(1)})
}

/// Renders templates with the markdown-safety filters registered.
pub struct Renderer {
    tera: tera::Tera,
}

impl Renderer {
    pub fn new() -> Result<Self, tera::Error> {
        let mut tera = tera::Tera::default();
        tera.add_raw_templates([
            ("worklog.md", include_str!("../../templates/worklog.md")),
            ("issue.md", include_str!("../../templates/issue.md")),
            ("comment.md", include_str!("../../templates/comment.md")),
            ("quiet.md", include_str!("../../templates/quiet.md")),
        ])?;
        tera.autoescape_on(vec![]);
        tera.register_filter("md", text_filter(markdown::inline));
        tera.register_filter("code", text_filter(markdown::code));
        tera.register_filter("cell", text_filter(markdown::cell));
        tera.register_filter("mermaid", text_filter(markdown::mermaid_label));
        tera.register_filter(
            "fence",
            |v: &Value, args: &HashMap<String, Value>| -> tera::Result<Value> {
                let lang = args.get("lang").and_then(Value::as_str).unwrap_or("text");
                Ok(Value::String(markdown::fence(&value_text(v), lang)))
            },
        );
        Ok(Renderer { tera })
    }

    pub fn render(&self, name: &str, context: &Value) -> Result<String, tera::Error> {
        let context = tera::Context::from_value(context.clone())?;
        self.tera.render(name, &context)
    }

    /// The worklog of a sweep.
    pub fn worklog(
        &self,
        analysis: &Analysis,
        actions: &[Action],
        quiet: &[Quiet],
        links: &Links,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<String, tera::Error> {
        // The most urgent root causes, and every one the sweep acted on, are written out.
        let root_causes: Vec<Value> = analysis
            .root_causes
            .iter()
            .zip(actions)
            .enumerate()
            .filter(|(i, (_, a))| *i < WORKLOG_ROOT_CAUSES || a.kind != ActionKind::None)
            .map(|(_, (rc, a))| {
                let mut v = root_cause_view(rc, &analysis.window, links);
                v["action"] = action_view(a, dry_run);
                v
            })
            .collect();
        let hidden = analysis.root_causes.len() - root_causes.len();
        let t = &analysis.totals;
        let by_severity: Vec<Value> = t
            .by_severity
            .iter()
            .rev()
            .filter(|(_, n)| **n > 0)
            .map(|(s, n)| json!({"name": s.name(), "count": n}))
            .collect();
        let filed = actions
            .iter()
            .filter(|a| a.kind != ActionKind::None)
            .count();
        let context = json!({
            "generated_at": rfc3339(&now),
            "span": format_span(analysis.window.duration()),
            "window": {"start": rfc3339(&analysis.window.start), "end": rfc3339(&analysis.window.end)},
            "services": analysis.services,
            "totals": {
                "entries": t.entries, "events": t.events, "malformed": t.malformed,
                "outside_window": t.outside_window, "below_min_severity": t.below_min_severity,
                "folded": t.folded, "cut": t.cut,
                "by_severity": by_severity,
            },
            "root_causes": root_causes,
            "total_root_causes": analysis.root_causes.len(),
            "hidden": hidden,
            "written": filed + quiet.len(),
            "quiet": quiet
                .iter()
                .map(|q| json!({
                    "issue": q.issue,
                    "service": q.service,
                    "since": rfc3339(&q.since),
                    "sweeps": q.sweeps,
                    "verb": match (q.kind, dry_run) {
                        (QuietKind::Note, true) => "would say it is not seen since",
                        (QuietKind::Note, false) => "said it is not seen since",
                        (QuietKind::Resolve, true) => "would close as completed",
                        (QuietKind::Resolve, false) => "closed as completed",
                    },
                }))
                .collect::<Vec<_>>(),
            "dry_run": dry_run,
            "repo": links.repo,
        });
        self.render("worklog.md", &context)
    }
}

fn action_view(a: &Action, dry_run: bool) -> Value {
    let verb = match (a.kind, dry_run) {
        (ActionKind::Create, true) => "would file a new issue",
        (ActionKind::Create, false) => "filed a new issue",
        (ActionKind::Comment, true) if a.adopt => "would adopt and comment on",
        (ActionKind::Comment, false) if a.adopt => "adopted and commented on",
        (ActionKind::Comment, true) => "would comment on",
        (ActionKind::Comment, false) => "commented on",
        (ActionKind::Reopen, true) => "would reopen",
        (ActionKind::Reopen, false) => "reopened",
        (ActionKind::None, _) => "nothing written",
    };
    json!({"kind": a.kind, "issue": a.issue, "verb": verb, "reason": a.reason})
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn text_filter(
    f: fn(&str) -> String,
) -> impl Fn(&Value, &HashMap<String, Value>) -> tera::Result<Value> + Sync + Send {
    move |v: &Value, _: &HashMap<String, Value>| Ok(Value::String(f(&value_text(v))))
}
